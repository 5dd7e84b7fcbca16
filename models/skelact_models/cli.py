"""Command line: `python -m skelact_models ...` (or `cargo xtask train ...` / `cargo xtask models ...`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ZOO = REPO_ROOT / "models" / "zoo"


def _train(args):
    from .recipes import DefaultRecipe, HcnRecipe, run_default, run_hcn

    if args.recipe == "default":
        recipe = DefaultRecipe.tiny(args.seed) if args.tiny else DefaultRecipe(seed=args.seed)
        out = Path(args.out) if args.out else ZOO / ("default-tiny" if args.tiny else "default")
        report = run_default(out, recipe, threads=args.threads)
        print(json.dumps({k: report["results"][k] for k in ("xsub", "xview", "unseen")}, indent=1, default=str))
    elif args.recipe == "hcn":
        out = Path(args.out) if args.out else ZOO / "hcn"
        report = run_hcn(out, HcnRecipe(seed=args.seed), threads=args.threads)
        print(json.dumps(report, indent=1))


def _session(args):
    from .data import synthetic
    from .data.recording import write_session

    config = synthetic.SyntheticConfig(seed=args.seed)
    out = Path(args.out)
    for i in range(args.count):
        subject = args.subject + i
        session = synthetic.session(config, subject_index=subject, actions=args.actions, seed=args.seed,
                                    camera_deg=args.azimuth)
        name = out / f"session-s{args.seed}-p{subject:03d}"
        frames, segments = write_session(session, name, config.classes,
                                         provenance={"generator": "skelact_models.data.synthetic", "seed": args.seed,
                                                     "actions": args.actions})
        print(f"wrote {frames} ({len(session.timestamps_us)} frames) and {segments} ({len(session.segments)} segments)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skelact_models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a recipe into models/zoo/")
    train.add_argument("recipe", choices=["default", "hcn"],
                       help="default: small STARS (MAMP, STARS tuning, head, evaluation, ONNX); hcn: supervised HCN")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2, help="torch threads (results are reproducible for a given "
                                                               "seed and thread count)")
    train.add_argument("--out", help="output folder (default models/zoo/<recipe>)")
    train.add_argument("--tiny", action="store_true", help="seconds-scale settings, to check the pipeline end to end")
    train.set_defaults(func=_train)
    session = sub.add_parser("session", help="write synthetic session recordings (JSON lines + ground truth)")
    session.add_argument("--out", required=True, help="output folder")
    session.add_argument("--seed", type=int, default=0)
    session.add_argument("--subject", type=int, default=0, help="first subject index")
    session.add_argument("--count", type=int, default=1, help="number of sessions (consecutive subjects)")
    session.add_argument("--actions", type=int, default=12, help="actions per session")
    session.add_argument("--azimuth", type=float, default=None, help="camera azimuth in degrees (default: random)")
    session.set_defaults(func=_session)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
