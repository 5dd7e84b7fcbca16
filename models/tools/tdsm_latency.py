"""TDSM's cost per window: the denoiser of `tdsm.TdsmConfig` (the protocol's size) exported to ONNX and run by
onnxruntime on one thread, scoring one window against 10 and 50 candidate prompts (three fixed noises: three
batched runs of N candidates each). Weights are random: the cost does not depend on them.

Usage: .venv/bin/python models/tools/tdsm_latency.py [--runs 20]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from skelact_models import tdsm


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    config = tdsm.TdsmConfig()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = tdsm.export_denoiser(tdsm.Denoiser(config), Path(tmp) / "tdsm.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        size = path.stat().st_size
    rng = np.random.default_rng(0)
    report = {"config": {k: getattr(config, k) for k in ("width", "depth", "heads", "tokens", "noises")},
              "onnx_bytes": size, "threads": 1, "runs": args.runs}
    for candidates in (10, 50):
        feeds = {"x_t": rng.standard_normal((candidates, config.feature), dtype=np.float32),
                 "t": np.full(candidates, config.t_test, dtype=np.int64),
                 "sentence": rng.standard_normal((candidates, config.text_width), dtype=np.float32),
                 "tokens": rng.standard_normal((candidates, config.tokens, config.text_width), dtype=np.float32)}
        session.run(None, feeds)  # warm-up
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            for _ in range(config.noises):
                session.run(None, feeds)
            times.append((time.perf_counter() - started) * 1e3)
        report[f"candidates_{candidates}_ms"] = {"p50": float(np.percentile(times, 50)),
                                                 "p90": float(np.percentile(times, 90))}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
