"""Text encoding latency per prompt, tract (the device's, `board/text/examples/text_latency.rs`) against
onnxruntime on the same ONNX, in alternating rounds of one run (docs/performance.md, "Text encoder").

    .venv/bin/python models/tools/text_latency.py [--rounds 3] [--runs 5]

Needs `cargo xtask text-encoder` first. Both run one thread; onnxruntime gets the same token ids (from the same
tokenizer.json) and its time includes Python's tokenization, as tract's includes the Rust tokenizer's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def onnxruntime_round(prompts, runs):
    import onnxruntime as ort

    from skelact_models import text

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(ROOT / "models/build/text/text.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    tok = text.tokenizer()
    times = []
    for prompt in prompts:
        for i in range(runs + 1):
            started = time.perf_counter()
            e = tok.encode(prompt)
            session.run(None, {"input_ids": np.array([e.ids], np.int64),
                               "attention_mask": np.array([e.attention_mask], np.int64)})
            if i:  # the first is the warm-up, as tract's
                times.append((time.perf_counter() - started) * 1e3)
    return float(np.percentile(times, 50))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    prompts = [c["prompt"] for c in json.loads((ROOT / "tests/fixtures/text/golden.json").read_text())["cases"]]
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "skelact-text", "--example", "text_latency"],
                   cwd=ROOT, check=True)
    binary = ROOT / "target/release/examples/text_latency"
    rows = []
    for _ in range(args.rounds):
        tract = json.loads(subprocess.run([str(binary), str(args.runs)], cwd=ROOT, check=True, capture_output=True,
                                          text=True).stdout)
        ort_p50 = onnxruntime_round(prompts, args.runs)
        rows.append({"tract_p50_ms": tract["encode_p50_ms"], "tract_tokenize_p50_ms": tract["tokenize_p50_ms"],
                     "tract_load_ms": tract["load_ms"], "onnxruntime_p50_ms": ort_p50,
                     "ratio": tract["encode_p50_ms"] / ort_p50})
        print(json.dumps(rows[-1]))
    ratios = [r["ratio"] for r in rows]
    print(json.dumps({"prompts": len(prompts), "rounds": args.rounds, "runs": args.runs,
                      "tract_p50_ms_median": float(np.median([r["tract_p50_ms"] for r in rows])),
                      "onnxruntime_p50_ms_median": float(np.median([r["onnxruntime_p50_ms"] for r in rows])),
                      "ratio_median": float(np.median(ratios))}))


if __name__ == "__main__":
    main()
