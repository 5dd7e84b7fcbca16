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

    if args.recipe == "stars-synthetic":
        recipe = DefaultRecipe.tiny(args.seed) if args.tiny else DefaultRecipe(seed=args.seed)
        out = Path(args.out) if args.out else ZOO / ("stars-synthetic-tiny" if args.tiny else "stars-synthetic")
        report = run_default(out, recipe, threads=args.threads)
        print(json.dumps({k: report["results"][k] for k in ("xsub", "xview", "unseen")}, indent=1, default=str))
    elif args.recipe == "hcn":
        out = Path(args.out) if args.out else ZOO / "hcn"
        report = run_hcn(out, HcnRecipe(seed=args.seed), threads=args.threads)
        print(json.dumps(report, indent=1))
    elif args.recipe == "real-hcn":
        from dataclasses import replace

        from . import real

        recipe = real.RealHcnRecipe.tiny(args.dataset, args.seed) if args.tiny else \
            real.RealHcnRecipe(dataset=args.dataset, seed=args.seed)
        overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch), ("yaw_deg", args.yaw))
                     if v is not None}
        recipe = replace(recipe, align=args.align, validate=args.validate, **overrides)
        out = Path(args.out) if args.out else ZOO / f"hcn-{args.dataset}{'-aligned' if args.align else ''}"
        report = real.run_hcn(out, recipe, threads=args.threads)
        print(json.dumps({"dataset": args.dataset, "accuracy": report["fine_tuned"]["accuracy"],
                          "seconds": report["timings_s"]["total_s"]}))
    elif args.recipe == "real-stars":
        from dataclasses import replace

        from . import real

        recipe = real.RealStarsRecipe.tiny(args.seed) if args.tiny else real.RealStarsRecipe(seed=args.seed)
        recipe = replace(recipe, synthetic=args.synthetic)
        if args.mamp_epochs is not None:
            recipe = replace(recipe, mamp=replace(recipe.mamp, epochs=args.mamp_epochs))
        if args.stars_epochs is not None:
            recipe = replace(recipe, stars=replace(recipe.stars, epochs=args.stars_epochs))
        if args.epochs is not None:
            recipe = replace(recipe, fine_tune_epochs=args.epochs)
        out = Path(args.out) if args.out else ZOO / ("stars-real-synthetic" if args.synthetic else "stars-real")
        report = real.run_stars(out, recipe, threads=args.threads)
        print(json.dumps({d: {k: r[k] for k in ("linear_probe", "knn_1")}
                          | {"fine_tuned": r.get("fine_tuned", {}).get("accuracy")}
                          for d, r in report["results"].items()}))
    elif args.recipe == "text-aligned-hcn":
        from . import textaligned

        out = Path(args.out) if args.out else ZOO / "text-aligned-hcn"
        epochs = args.epochs if args.epochs is not None else (1 if args.tiny else textaligned.RECIPE.epochs)
        report = textaligned.run(out, epochs=epochs, threads=args.threads, tiny=args.tiny, reuse=args.reuse)
        print(json.dumps({k: report[k] for k in ("seen_accuracy_text_head", "zsl", "gzsl_seen", "gzsl_unseen")}))
    elif args.recipe == "acsar":
        from . import acsar

        fraction = args.fraction if args.fraction is not None else 1.0
        overrides = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
        streams = args.stream or list(acsar.STREAMS)
        out = Path(args.out) if args.out else (ZOO / "acsar-tiny" if args.tiny else acsar.ZOO)
        for stream in streams:
            recipe = acsar.recipe_for(args.dataset, stream, fraction, tiny=args.tiny, **overrides)
            acsar.run_stream(recipe, out, threads=args.threads)
        report = acsar.report(out)
        print(json.dumps({d: r["rows"] for d, r in report["results"].items()}, default=str))
    elif args.recipe == "rec":
        from dataclasses import replace

        from . import rec

        recipe = rec.RecRecipe.tiny(args.seed) if args.tiny else rec.RecRecipe(seed=args.seed)
        recipe = replace(recipe, **({"epochs": args.epochs} if args.epochs else {}))
        out = Path(args.out) if args.out else ZOO / ("rec-tiny" if args.tiny else "rec")
        report = rec.run_rec(out, recipe, threads=args.threads, measure=not args.tiny, reuse=args.reuse)
        print(json.dumps({"inference_step": report["inference_step"], "test": report.get("test")}, default=str))


def _session(args):
    from .data import synthetic
    from .data.recording import write_session

    config = synthetic.SyntheticConfig(seed=args.seed)
    labels = None if args.include_held_out else [
        i for i, name in enumerate(config.classes) if name not in synthetic.HELD_OUT_CLASSES]
    names = {}
    if args.vocabulary == "utd-mhad":
        names = synthetic.UTD_MHAD_COUNTERPARTS
        labels = [i for i, name in enumerate(config.classes) if name in names]
    out = Path(args.out)
    for i in range(args.count):
        subject = args.subject + i
        session = synthetic.session(config, subject_index=subject, actions=args.actions, seed=args.seed,
                                    camera_deg=args.azimuth, labels=labels)
        vocabulary = "" if args.vocabulary == "synthetic" else f"{args.vocabulary}-"
        name = out / f"session-{vocabulary}s{args.seed}-p{subject:03d}"
        frames, segments = write_session(session, name, config.classes, names=names,
                                         provenance={"generator": "skelact_models.data.synthetic", "seed": args.seed,
                                                     "actions": args.actions, "vocabulary": args.vocabulary,
                                                     "held_out_included": args.include_held_out})
        print(f"wrote {frames} ({len(session.timestamps_us)} frames) and {segments} ({len(session.segments)} segments)")


def _classify_segments(args):
    import numpy as np
    import torch

    from .data.recording import read_session, segment_inputs
    from .preprocess import PreprocessConfig, PreprocessError, preprocess_window
    from .recipes import load_default

    torch.set_num_threads(args.threads)
    encoder, head, payload = load_default(args.model)
    config = PreprocessConfig(**payload["preprocess"])
    names = payload["classes"]
    _, frames = read_session(args.session)
    truth = json.loads(Path(str(args.session).replace(".jsonl", ".segments.json")).read_text())
    correct = total = 0
    for seg, item in zip(truth["segments"], segment_inputs(frames, truth["segments"])):
        if item is None:
            continue
        try:
            window = preprocess_window(*item, config)
        except PreprocessError as err:
            print(f"{seg['class']}: refused ({err})")
            continue
        with torch.no_grad():
            probs = torch.softmax(head(encoder(torch.from_numpy(window["joint"])[None])), dim=1)[0]
        best = int(probs.argmax())
        known = seg["class"] in names
        total += known
        correct += known and names[best] == seg["class"]
        print(f"{seg['start_us'] / 1e6:8.2f}-{seg['end_us'] / 1e6:8.2f} s  truth {seg['class']!r:40} "
              f"predicted {names[best]!r} ({float(probs[best]):.2f}){'' if known else '  [class unknown to the model]'}")
    if total:
        print(f"segment accuracy {correct}/{total} = {correct / total:.3f}")
    if args.window:
        # What a device with a ring of `window` frames sees: windows ending every `stride` frames inside each
        # segment, starting no earlier than the segment (oracle boundaries, no smoothing).
        hits = count = 0
        for seg, item in zip(truth["segments"], segment_inputs(frames, truth["segments"])):
            if item is None or seg["class"] not in names:
                continue
            present, joints, valid = item
            length = present.shape[1]
            for end in range(min(args.window, length), length + 1, args.stride):
                start = max(0, end - args.window)
                first = start + int(np.flatnonzero(present[0, start:end])[0])
                last = start + int(np.flatnonzero(present[0, start:end])[-1]) + 1
                try:
                    window = preprocess_window(present[:, first:last], joints[:, first:last], valid[:, first:last],
                                               config)
                except PreprocessError:
                    continue
                with torch.no_grad():
                    best = int(head(encoder(torch.from_numpy(window["joint"])[None])).argmax())
                hits += names[best] == seg["class"]
                count += 1
        if count:
            print(f"window accuracy ({args.window}-frame windows every {args.stride} frames) {hits}/{count} = "
                  f"{hits / count:.3f}")
    return np.nan if not total else correct / total


def _text_encoder(args):
    from . import text

    model = text.load_sentence_model()
    path = text.export_text_encoder(args.out, model)
    print(f"wrote {path} ({path.stat().st_size} bytes) and {Path(args.out) / 'tokenizer.json'}")
    if args.golden:
        text.write_golden(args.golden, model)
        print(f"wrote {args.golden}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skelact_models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a recipe into models/zoo/")
    train.add_argument("recipe", choices=["stars-synthetic", "hcn", "real-hcn", "real-stars", "rec", "text-aligned-hcn",
                                            "acsar"],
                       help="stars-synthetic: small STARS on the synthetic corpus (MAMP, STARS tuning, head, evaluation, "
                            "ONNX); hcn: supervised HCN on the synthetic corpus; real-hcn, real-stars: on real data; rec: the DCMAE "
                            "reconstruction model on real data, with its measurements; text-aligned-hcn: HCN mapped into the text "
                            "encoder's space, five UTD-MHAD classes held out (labels typed on the device); acsar: AC-SAR per "
                            "stream on --dataset (pre-training, linear probe, fine-tuning), then the report with the "
                            "three-stream fusion")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2, help="torch threads (results are reproducible for a given "
                                                               "seed and thread count)")
    train.add_argument("--out", help="output folder (default models/zoo/<recipe>)")
    train.add_argument("--tiny", action="store_true", help="seconds-scale settings, to check the pipeline end to end")
    train.add_argument("--dataset", choices=["nw-ucla", "utd-mhad"], default="nw-ucla",
                       help="real-hcn, acsar: the dataset (its standard protocol)")
    train.add_argument("--epochs", type=int,
                       help="real-hcn, rec: training epochs; real-stars: fine-tuning epochs (0: linear probe and 1-NN only)")
    train.add_argument("--batch", type=int, help="real-hcn: batch size")
    train.add_argument("--align", action="store_true", help="real-hcn: spec step 3, view alignment (MS-G3D)")
    train.add_argument("--yaw", type=float, help="real-hcn: random turns about the vertical, up to this many degrees")
    train.add_argument("--validate", action="store_true",
                       help="real-hcn: train on part of the training split and report the rest (NW-UCLA view 2, "
                            "UTD-MHAD subject 7); the test split is not read")
    train.add_argument("--mamp-epochs", type=int, help="real-stars: MAMP epochs")
    train.add_argument("--stars-epochs", type=int, help="real-stars: STARS tuning epochs")
    train.add_argument("--synthetic", action="store_true",
                       help="real-stars: add the synthetic corpus's pre-training pool to MAMP and STARS")
    train.add_argument("--stream", action="append", choices=["joint", "bone", "motion"],
                       help="acsar: the stream to train (repeat; default all three)")
    train.add_argument("--fraction", type=float,
                       help="acsar: the labelled fraction of the training split (semi-supervised protocol; default 1)")
    train.add_argument("--reuse", action="store_true",
                       help="rec, text-aligned-hcn: load the trained model from the output folder instead of training it "
                            "again")
    train.set_defaults(func=_train)
    session = sub.add_parser("session", help="write synthetic session recordings (JSON lines + ground truth)")
    session.add_argument("--out", required=True, help="output folder")
    session.add_argument("--seed", type=int, default=0)
    session.add_argument("--subject", type=int, default=1,
                         help="first subject index (odd subjects are the cross-subject test half; default 1)")
    session.add_argument("--count", type=int, default=1, help="number of sessions (consecutive subjects)")
    session.add_argument("--actions", type=int, default=12, help="actions per session")
    session.add_argument("--azimuth", type=float, default=None, help="camera azimuth in degrees (default: random)")
    session.add_argument("--include-held-out", action="store_true",
                         help="also use the classes held out of the default model's training (they should come out "
                              "as unknown)")
    session.add_argument("--vocabulary", choices=["synthetic", "utd-mhad"], default="synthetic",
                         help="utd-mhad: only the synthetic actions with a UTD-MHAD counterpart, named as in UTD-MHAD "
                              "(the labels of the default model, trained on UTD-MHAD)")
    session.set_defaults(func=_session)
    classify = sub.add_parser("classify-segments",
                              help="classify each ground-truth segment of a session recording with a default-recipe "
                                   "checkpoint (reads the recording format back, runs spec v1 on the segment)")
    classify.add_argument("session", help="NAME.jsonl (NAME.segments.json beside it)")
    classify.add_argument("--model", default=str(ZOO / "stars-synthetic" / "stars_small.pt"))
    classify.add_argument("--threads", type=int, default=2)
    classify.add_argument("--window", type=int, default=0,
                          help="also classify sliding windows of this many frames inside each segment (0: off)")
    classify.add_argument("--stride", type=int, default=8, help="frames between sliding windows")
    classify.set_defaults(func=_classify_segments)
    text = sub.add_parser("text-encoder", help="export the text encoder (all-MiniLM-L6-v2, offline) for the device: "
                                               "text.onnx and tokenizer.json")
    text.add_argument("--out", default=str(REPO_ROOT / "models" / "build" / "text"), help="output folder")
    text.add_argument("--golden", help="also write the golden file the Rust tests compare against (every action "
                                       "description, ids, masks and embeddings)")
    text.set_defaults(func=_text_encoder)
    from .deploy.cli import add_parsers

    add_parsers(sub)
    args = parser.parse_args(argv)
    status = args.func(args)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
