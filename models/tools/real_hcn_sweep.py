"""Chooses the real-data HCN settings on validation data inside each training split (never the test split).

`.venv/bin/python models/tools/real_hcn_sweep.py [--jobs 2] [--epochs 60]` trains HCN with each candidate setting on
the fit part of the training split (NW-UCLA: view 1; UTD-MHAD: subjects 1, 3, 5) and scores it on the held-out part
(NW-UCLA view 2, UTD-MHAD subject 7), see `skelact_models.real.VALIDATION`. The summary goes to
`models/zoo/hcn-sweep.json`; the final models are then trained on the whole training split with the setting that
validated best (`cargo xtask train real-hcn ...`).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [
    {"align": False, "yaw_deg": 0.0},
    {"align": True, "yaw_deg": 0.0},
    {"align": False, "yaw_deg": 60.0},
    {"align": True, "yaw_deg": 30.0},
]


def one(job):
    from skelact_models import real

    dataset, setting, epochs = job
    recipe = replace(real.RealHcnRecipe(dataset=dataset), epochs=epochs, validate=True, **setting)
    name = f"{dataset}-{'aligned' if setting['align'] else 'raw'}-yaw{setting['yaw_deg']:.0f}-e{epochs}"
    report = real.run_hcn(ROOT / "models" / "build" / "sweep" / name, recipe, threads=1, export=False)
    return {"dataset": dataset, **setting, "epochs": epochs, "validation_accuracy": report["fine_tuned"]["accuracy"],
            "fit_sequences": report["train_sequences"], "validation_sequences": report["test_sequences"],
            "seconds": report["timings_s"]["total_s"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--datasets", default="nw-ucla,utd-mhad")
    args = parser.parse_args()
    jobs = [(d, c, args.epochs) for d in args.datasets.split(",") for c in CANDIDATES]
    started = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, jobs))
    out = ROOT / "models" / "zoo" / "hcn-sweep.json"
    summary = {"command": "models/tools/real_hcn_sweep.py --jobs %d --epochs %d" % (args.jobs, args.epochs),
               "wall_s": time.time() - started, "results": results,
               "best": {d: max((r for r in results if r["dataset"] == d), key=lambda r: r["validation_accuracy"])
                        for d in args.datasets.split(",")}}
    out.write_text(json.dumps(summary, indent=1) + "\n")
    for r in results:
        print(json.dumps(r))
    print("best:", json.dumps(summary["best"]))


if __name__ == "__main__":
    main()
