"""TDSM's cost per window: the shipped scorer (`models/zoo/text-aligned-hcn/tdsm.onnx`, `tdsm.WindowScorer`: the
denoiser of `tdsm.TdsmConfig`, 96 wide and 2 deep, with its three fixed noises batched inside) scoring one window
against 10 and 50 candidate prompts, on tract (the device's, `board/text/examples/tdsm_latency.rs`, release) and on
onnxruntime, one thread each, in alternating rounds so that both meet the same load on shared cores.

Usage: .venv/bin/python models/tools/tdsm_latency.py [--rounds 3] [--runs 20]   (needs `cargo xtask text-encoder`)
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from skelact_models import tdsm, text

ROOT = Path(__file__).resolve().parents[2]
SCORER = ROOT / "models" / "zoo" / "text-aligned-hcn" / "tdsm.onnx"


def onnxruntime_round(session, feeds, runs):
    session.run(None, feeds)  # warm-up, as tract's
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - started) * 1e3)
    return float(np.percentile(times, 50))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "skelact-text", "--example", "tdsm_latency"],
                   cwd=ROOT, check=True)
    example = ROOT / "target" / "release" / "examples" / "tdsm_latency"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(SCORER), options, providers=["CPUExecutionProvider"])
    prompts = [c["prompt"] for c in json.loads((ROOT / "tests/fixtures/text/golden.json").read_text())["cases"]]
    sentences, tokens = text.encode(prompts)
    config = tdsm.TdsmConfig()
    report = {"scorer": str(SCORER.relative_to(ROOT)), "onnx_bytes": SCORER.stat().st_size, "threads": 1,
              "runs": args.runs, "rounds": args.rounds, "noises": config.noises,
              "config": {k: getattr(config, k) for k in ("width", "depth", "heads", "tokens")}}
    for candidates in (10, 50):
        pick = [i % len(prompts) for i in range(candidates)]
        feeds = {"x0": np.tile(np.linspace(-0.05, 0.05, sentences.shape[1], dtype=np.float32), (candidates, 1)),
                 "sentence": sentences[pick], "tokens": tokens[pick]}
        tract, onnxruntime = [], []
        for _ in range(args.rounds):
            line = subprocess.run([str(example), str(candidates), str(args.runs)], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout
            tract.append(json.loads(line)["p50_ms"])
            onnxruntime.append(onnxruntime_round(session, feeds, args.runs))
        ratios = [t / o for t, o in zip(tract, onnxruntime)]
        report[f"candidates_{candidates}"] = {"tract_p50_ms": float(np.median(tract)),
                                              "onnxruntime_p50_ms": float(np.median(onnxruntime)),
                                              "ratio": float(np.median(ratios)),
                                              "ratio_range": [float(min(ratios)), float(max(ratios))]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
