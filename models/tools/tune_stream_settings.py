"""Chooses the default bundle's stream settings (window stride, decision smoothing and minimum duration) on the
training split, never the test split.

    .venv/bin/python models/tools/tune_stream_settings.py [--model models/build/default] [--per-class 2]

For each candidate, a copy of the exported model directory gets the candidate's `window` and `decision` settings,
`cargo xtask bundle` writes a bundle from it, and `skelact demo --real-only --split train` plays `--per-class`
training-split recordings of every class as one continuous stream through the device (pseudo-terminal, daemon,
decisions) and scores the events against the recordings' labels. The candidate with the best F1 is the one to
ship; its settings go into the pipeline's export (`cargo xtask pipeline default`).

The model has seen these recordings in training, so its scores on them are higher than on new people: the figures
compare settings with each other, they are not an estimate of accuracy. Writes
`models/zoo/default/stream_settings.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# (name, window overrides, decision overrides): the runtime's defaults, then what short actions (UTD-MHAD's last
# 1.4-4.2 s) may need: windows twice as often, a shorter minimum duration, less smoothing.
CANDIDATES = [
    ("defaults", {}, {}),
    ("stride4", {"stride_frames": 4}, {}),
    ("stride4-min200ms", {"stride_frames": 4}, {"min_duration_us": 200_000}),
    ("stride4-smooth2", {"stride_frames": 4}, {"smoothing_windows": 2}),
    ("stride4-min200ms-smooth2", {"stride_frames": 4}, {"min_duration_us": 200_000, "smoothing_windows": 2}),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "build" / "default"))
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--skelact", default=os.environ.get("SKELACT_BIN", str(REPO / "target" / "debug" / "skelact")))
    parser.add_argument("--out", default=str(REPO / "models" / "zoo" / "default" / "stream_settings.json"))
    args = parser.parse_args(argv)
    source = Path(args.model)
    work = REPO / "models" / "build" / "stream-settings"
    results = []
    for name, window, decision in CANDIDATES:
        directory = work / name
        if directory.exists():
            shutil.rmtree(directory)
        shutil.copytree(source, directory, ignore=shutil.ignore_patterns("outputs", "windows", "rust-*", "*.skb"))
        description = json.loads((directory / "model.json").read_text())
        description["window"].update(window)
        description["decision"].update(decision)
        (directory / "model.json").write_text(json.dumps(description, indent=1) + "\n")
        bundle = directory / "candidate.skb"
        subprocess.run(["cargo", "xtask", "bundle", "--model", str(directory), "--out", str(bundle),
                        "--no-validation", "--precisions", "fp32"], check=True, cwd=REPO, capture_output=True)
        summary = directory / "summary.json"
        subprocess.run([args.skelact, "demo", "--bundle", str(bundle), "--real-only", "--split", "train",
                        "--per-class", str(args.per_class), "--speed", "8", "--queue-windows", "1000", "--quiet",
                        "--summary", str(summary)], check=True, cwd=REPO, capture_output=True)
        real = json.loads(summary.read_text())["real"]
        overall = real["score"]["overall"]
        results.append({"name": name, "window": window, "decision": decision, "f1": overall["f1"],
                        "precision": overall["precision"], "recall": overall["recall"],
                        "macro_f1": real["score"]["macro_f1"], "windows_run": real["daemon"]["windows_run"],
                        "sequences": len(real["sequences"])})
        print(json.dumps(results[-1]))
    best = max(results, key=lambda r: r["f1"])
    report = {"command": f"models/tools/tune_stream_settings.py --per-class {args.per_class}",
              "split": "train", "results": results, "best": best["name"]}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print("best:", best["name"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
