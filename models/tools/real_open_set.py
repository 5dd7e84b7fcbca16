"""Few-shot and open-set rejection on UTD-MHAD (cross-subject) with a frozen real-data STARS encoder.

    .venv/bin/python models/tools/real_open_set.py [--encoder models/zoo/stars-real/encoder.pt] [--threads 1]

Six classes are held out (`HELD_OUT`). With the encoder frozen:
- few-shot: 1 and 5 exemplars per held-out class drawn from the training subjects, nearest exemplar (cosine), scored
  on the test subjects' sequences of those classes (10 draws);
- open set: a linear probe on the training subjects' windows of the 21 known classes; on the test subjects' windows,
  known classes should be accepted and held-out ones rejected. Two scores: the device's (the probe's maximum
  softmax probability) and the cosine similarity to the nearest class prototype (mean training feature of the
  class). AUROC of known against held-out, and at thresholds calibrated on training windows only (accepting 95% and
  90% of them), the recall kept on known test windows (accepted and right) and the false-event rate on held-out ones
  (accepted at all). The five NTU recordings of ../shared/fixtures/ntu (actions outside both label sets) are scored
  too.

Limit, said plainly: the encoder's self-supervised pre-training (MAMP + STARS) saw the training subjects' sequences of
every class, held-out ones included, without labels. Held-out classes are out of every *labelled* step (probe,
prototypes), not out of pre-training; a strict protocol would pre-train again without them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from skelact_models.data import ntu, utdmhad
from skelact_models.encoders.transformer import SkeletonTransformer, TransformerConfig
from skelact_models.preprocess import PreprocessConfig
from skelact_models.train.evaluate import auroc, extract_features, few_shot, linear_probe

REPO = Path(__file__).resolve().parents[2]
# Every fourth class from the fourth: a clap, a drawing, a second drawing, a two-arm curl, a catch, a sit-to-stand.
HELD_OUT = (3, 7, 11, 15, 19, 23)


def scores(features, probe, prototypes, mean, std):
    """Per window: (score, predicted class) for both scores. Prototype similarity is the cosine in the training
    features' standardised space (raw features share a large common component: every raw cosine is about 0.998)."""
    with torch.no_grad():
        probs = torch.softmax(probe(features), dim=1)
    sims = F.normalize((features - mean) / std, dim=1) @ F.normalize((prototypes - mean) / std, dim=1).T
    return {"max_softmax": (probs.max(dim=1).values.numpy(), probs.argmax(dim=1).numpy()),
            "prototype_cosine": (sims.max(dim=1).values.numpy(), sims.argmax(dim=1).numpy())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default=str(REPO / "models" / "zoo" / "stars-real" / "encoder.pt"))
    parser.add_argument("--out", help="JSON report (default: beside the encoder, open_set.json)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if utdmhad.root() is None:
        print("SKIPPED: UTD-MHAD absent (../shared/datasets)", file=sys.stderr)
        return 0
    torch.set_num_threads(args.threads)
    payload = torch.load(args.encoder, map_location="cpu", weights_only=False)
    encoder = SkeletonTransformer(TransformerConfig(**payload["model"]))
    encoder.load_state_dict(payload["encoder"])
    encoder.eval()
    config = PreprocessConfig(frames_out=encoder.config.frames, crop_ratio=0.95)

    train, test = utdmhad.load_split("train"), utdmhad.load_split("test")
    f_train = extract_features(encoder, train.eval_windows(config))
    f_test = extract_features(encoder, test.eval_windows(config))
    held_train, held_test = np.isin(train.labels, HELD_OUT), np.isin(test.labels, HELD_OUT)
    report = {"encoder": str(Path(args.encoder).relative_to(REPO)) if Path(args.encoder).is_relative_to(REPO)
              else args.encoder, "held_out": [utdmhad.CLASSES[c] for c in HELD_OUT]}

    # Few-shot on the held-out classes.
    report["few_shot"] = {}
    for shots in (1, 5):
        mean, std = few_shot(f_train[held_train], train.labels[held_train], f_test[held_test], test.labels[held_test],
                             shots=shots, episodes=10, seed=0)
        report["few_shot"][f"{shots}_shot"] = {"mean": mean, "std": std, "episodes": 10,
                                               "test_sequences": int(held_test.sum())}

    # Open set.
    known = [c for c in range(len(utdmhad.CLASSES)) if c not in HELD_OUT]
    lookup = {c: i for i, c in enumerate(known)}
    y_train = np.array([lookup[c] for c in train.labels[~held_train]])
    y_test = np.array([lookup[c] for c in test.labels[~held_test]])
    probe = linear_probe(f_train[~held_train], y_train, len(known), epochs=300, seed=0)
    known_train = f_train[~held_train]
    prototypes = torch.stack([known_train[y_train == i].mean(dim=0) for i in range(len(known))])
    mean, std = known_train.mean(dim=0), known_train.std(dim=0).clamp_min(1e-6)
    train_scores = scores(known_train, probe, prototypes, mean, std)
    test_known = scores(f_test[~held_test], probe, prototypes, mean, std)
    test_unknown = scores(f_test[held_test], probe, prototypes, mean, std)
    ntu_dir = REPO.parent / "shared" / "fixtures" / "ntu"
    ntu_scores = None
    if ntu_dir.is_dir():
        ntu_set = ntu.load_folder(ntu_dir)
        ntu_scores = scores(extract_features(encoder, ntu_set.eval_windows(config)), probe, prototypes, mean, std)
    report["open_set"] = {"known_test": int((~held_test).sum()), "unknown_test": int(held_test.sum()),
                          "closed_set_accuracy": float((test_known["max_softmax"][1] == y_test).mean())}
    for name in ("max_softmax", "prototype_cosine"):
        s_known, pred = test_known[name]
        s_unknown = test_unknown[name][0]
        entry = {"auroc": auroc(s_known, s_unknown), "operating_points": []}
        for accept in (0.95, 0.90, 0.80):
            threshold = float(np.quantile(train_scores[name][0], 1.0 - accept))
            point = {"calibrated_to_accept_train": accept, "threshold": threshold,
                     "known_recall": float(((s_known >= threshold) & (pred == y_test)).mean()),
                     "known_accepted": float((s_known >= threshold).mean()),
                     "false_event_rate_held_out": float((s_unknown >= threshold).mean())}
            if ntu_scores is not None:
                point["false_event_rate_ntu"] = float((ntu_scores[name][0] >= threshold).mean())
            entry["operating_points"].append(point)
        if name == "max_softmax":
            device = 0.35  # the device's default unknown_threshold (docs/decisions.md)
            entry["device_default_threshold"] = {
                "threshold": device, "known_recall": float(((s_known >= device) & (pred == y_test)).mean()),
                "false_event_rate_held_out": float((s_unknown >= device).mean())}
        report["open_set"][name] = entry
    out = Path(args.out) if args.out else Path(args.encoder).with_name("open_set.json")
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
