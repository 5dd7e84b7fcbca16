"""Unknown actions on real data with the shipped recipe (HCN on UTD-MHAD): which score rejects them, at which
threshold.

    .venv/bin/python models/tools/real_open_set_hcn.py [--epochs 60] [--threads 2]

Protocol (training data only for everything but the final figures):
- Six classes are held out of all training (`HELD_OUT`, the same six as `real_open_set.py`).
- HCN is trained with the default model's recipe (`skelact_models.real.RealHcnRecipe`, the settings the sweep chose)
  on the 21 known classes of training subjects 1, 3 and 5.
- Training subject 7 (known classes only) is the calibration set: each score's threshold is the value that accepts
  a given share (95%, 90%, 80%) of its windows. Calibrating on windows the model was trained on would be
  over-confident; subject 7 is a person the model has not seen, as users are.
- Test subjects 2, 4, 6, 8: the known classes measure the recall kept (accepted *and* right), the held-out classes
  the false-event rate (accepted at all), as do the five NTU recordings of ../shared/fixtures/ntu (other sensor,
  other people, actions in neither label set). AUROC is known against held-out test windows.

Scores, all computable on the device from the window's embedding (fc7) and logits (fc8):
- `max_softmax`: the top class's probability (what the device compared with `unknown_threshold` so far);
- `max_logit`: the top logit;
- `energy`: logsumexp of the logits (Liu et al. 2020, the negative free energy);
- `prototype_cosine`: cosine of the embedding with the nearest class prototype (mean training embedding of the
  class), the few-shot heads' similarity.

Writes `models/zoo/default/open_set.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
HELD_OUT = (3, 7, 11, 15, 19, 23)
CALIBRATION_SUBJECT = 7
ACCEPT = (0.95, 0.90, 0.80)


@torch.no_grad()
def outputs(hcn, windows):
    from skelact_models.preprocess import motion_stream

    hcn.eval()
    embedding = torch.cat([hcn(w, motion_stream(w)) for w in windows.split(128)])
    return embedding, hcn.fc8(embedding)


def scores(embedding, logits, prototypes):
    probs = torch.softmax(logits, dim=1)
    cos = F.normalize(embedding, dim=1) @ F.normalize(prototypes, dim=1).T
    top = logits.argmax(dim=1).numpy()
    return {"max_softmax": probs.max(dim=1).values.numpy(), "max_logit": logits.max(dim=1).values.numpy(),
            "energy": torch.logsumexp(logits, dim=1).numpy(), "prototype_cosine": cos.max(dim=1).values.numpy(),
            "_top": top}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "models" / "zoo" / "default" / "open_set.json"))
    args = parser.parse_args(argv)

    from skelact_models import real
    from skelact_models.data import ntu, utdmhad
    from skelact_models.encoders.hcn import Hcn
    from skelact_models.preprocess import PreprocessConfig
    from skelact_models.train.evaluate import auroc, fine_tune

    if utdmhad.root() is None:
        print("SKIPPED: UTD-MHAD absent (../shared/datasets)", file=sys.stderr)
        return 0
    started = time.time()
    torch.set_num_threads(args.threads)
    recipe = real.DEFAULT_RECIPE
    if args.epochs:
        recipe = replace(recipe, epochs=args.epochs)
    known = [c for c in range(len(utdmhad.CLASSES)) if c not in HELD_OUT]
    lookup = {c: i for i, c in enumerate(known)}

    train = real.load_train("utd-mhad", recipe.align)
    is_known = np.isin(train.labels, known)
    calibration_mask = is_known & (train.meta["subject"] == CALIBRATION_SUBJECT)
    fit = train.subset(is_known & (train.meta["subject"] != CALIBRATION_SUBJECT))
    fit.labels = np.array([lookup[c] for c in fit.labels])
    calibration = train.subset(calibration_mask)

    torch.manual_seed(recipe.seed)
    hcn = Hcn(recipe.model, len(known))
    fine_tune(hcn, hcn.fc8, fit, recipe.model.frames, epochs=recipe.epochs, batch_size=recipe.batch_size,
              lr=recipe.lr, weight_decay=recipe.weight_decay, seed=recipe.seed, forward=real._hcn_forward,
              scale=recipe.scale, label_smoothing=recipe.label_smoothing, yaw=float(np.radians(recipe.yaw_deg)))
    config = PreprocessConfig(frames_out=recipe.model.frames, crop_ratio=recipe.crop_ratio, align=recipe.align)
    fit_embedding, _ = outputs(hcn, fit.eval_windows(config))
    prototypes = torch.stack([fit_embedding[torch.as_tensor(fit.labels == i)].mean(dim=0)
                              for i in range(len(known))])

    def scored(windows):
        return scores(*outputs(hcn, windows), prototypes)

    calibration_scores = scored(calibration.eval_windows(config))
    # The test split is read here, after training and calibration, for the figures only.
    test = real.load_test("utd-mhad", recipe.align)
    held = np.isin(test.labels, HELD_OUT)
    test_known_set, test_unknown_set = test.subset(~held), test.subset(held)
    y_known = np.array([lookup[c] for c in test_known_set.labels])
    s_known = scored(test_known_set.eval_windows(config))
    s_unknown = scored(test_unknown_set.eval_windows(config))
    ntu_dir = REPO.parent / "shared" / "fixtures" / "ntu"
    s_ntu = scored(ntu.load_folder(ntu_dir, align=recipe.align).eval_windows(config)) if ntu_dir.is_dir() else None

    right = s_known["_top"] == y_known
    report = {"command": "models/tools/real_open_set_hcn.py" + (f" --epochs {args.epochs}" if args.epochs else ""),
              "recipe": {k: v for k, v in recipe.__dict__.items() if k != "model"},
              "held_out": [utdmhad.CLASSES[c] for c in HELD_OUT], "calibration_subject": CALIBRATION_SUBJECT,
              "sequences": {"fit": len(fit), "calibration": len(calibration), "known_test": int((~held).sum()),
                            "held_out_test": int(held.sum()), "ntu": 0 if s_ntu is None else len(s_ntu["_top"])},
              "closed_set_accuracy_known_test": float(right.mean()), "scores": {}}
    for name in ("max_softmax", "max_logit", "energy", "prototype_cosine"):
        entry = {"auroc_known_vs_held_out": auroc(s_known[name], s_unknown[name]),
                 "auroc_right_vs_held_out": auroc(s_known[name][right], s_unknown[name]), "operating_points": []}
        for accept in ACCEPT:
            threshold = float(np.quantile(calibration_scores[name], 1.0 - accept))
            point = {"accepts_calibration": accept, "threshold": threshold,
                     "known_recall": float(((s_known[name] >= threshold) & right).mean()),
                     "known_accepted": float((s_known[name] >= threshold).mean()),
                     "false_events_held_out": float((s_unknown[name] >= threshold).mean())}
            if s_ntu is not None:
                point["false_events_ntu"] = float((s_ntu[name] >= threshold).mean())
            entry["operating_points"].append(point)
        report["scores"][name] = entry
    report["seconds"] = time.time() - started
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
