"""The small STARS encoder's attention layout for the CPU path: accuracy on the real datasets and latency on tract
and onnxruntime, side by side (issue 12, item 2).

`.venv/bin/python models/tools/attention_layout_study.py --tract-latency target/release/examples/tract_latency
[--jobs 2] [--epochs 30]` trains each layout below supervised from scratch on each dataset's training split (same
recipe, seed and fixed epoch count for every layout; the test split is read once, after training), exports it, then
times every export on tract (our `tract_latency` example, built with `cargo build --release -p skelact-tract
--example tract_latency`) and on onnxruntime in alternating rounds of the same run. Writes
`models/zoo/attention-study.json` and `.md`; per-run folders go to `models/build/attention-study/`.

Why supervised from scratch and not the MAMP/STARS recipe: MAMP's encoder sees a random 10 % of the tokens, which
factorised attention cannot run on, so the only recipe every layout can share is supervised training. The full-
attention layout is the seed's architecture and the reference; a variant is worth shipping only if it is at least
as accurate as the reference under the same recipe.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "models" / "build" / "attention-study"
LAYOUTS = {
    "full-l4": {"attention": "full", "segment": 4},  # the seed's layout: 8 x 25 = 200 tokens, all to all
    "factorised-l4": {"attention": "factorised", "segment": 4},  # same tokens: joints, then segments, alternating
    "full-l8": {"attention": "full", "segment": 8},  # fewer tokens: 4 x 25 = 100, all to all
}
# Settings per dataset, those the HCN validation sweep chose (`models/zoo/hcn-sweep.json`), not tuned here.
DATASET_SETTINGS = {"utd-mhad": {"align": True, "yaw_deg": 0.0}, "nw-ucla": {"align": True, "yaw_deg": 30.0}}


def train_one(job):
    import torch

    from skelact_models import real
    from skelact_models.encoders.transformer import SkeletonTransformer, count_parameters, flops_per_window
    from skelact_models.export import export_transformer, run_onnxruntime
    from skelact_models.preprocess import PreprocessConfig
    from skelact_models.train.evaluate import extract_features, fine_tune

    layout, dataset, epochs, seed = job
    torch.set_num_threads(1)
    settings = DATASET_SETTINGS[dataset]
    config = replace(real._small32(), **LAYOUTS[layout])
    names = real.classes(dataset)
    train = real.load_train(dataset, align=settings["align"])
    torch.manual_seed(seed)
    encoder = SkeletonTransformer(config)
    head = torch.nn.Linear(config.width, len(names))
    started = time.time()
    history = fine_tune(encoder, head, train, config.frames, epochs=epochs, batch_size=32, lr=1e-3, seed=seed,
                        scale=0.1, label_smoothing=0.1, yaw=np.deg2rad(settings["yaw_deg"]))
    train_s = time.time() - started
    # The test split is read from here on, after training.
    preprocess = PreprocessConfig(frames_out=config.frames, crop_ratio=0.95, align=settings["align"])
    test = real.load_test(dataset, align=settings["align"])
    windows = test.eval_windows(preprocess)
    with torch.no_grad():
        logits = head(extract_features(encoder, windows))
    folder = BUILD / f"{layout}-{dataset}"
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = export_transformer(encoder, folder / "joint.onnx", "joint", head,
                                   metadata={"skelact.classes": json.dumps(names),
                                             "skelact.preprocess": json.dumps(asdict(preprocess)),
                                             "skelact.model": json.dumps(config.to_dict())})
    with torch.no_grad():
        reference = head(encoder(windows[:8])).numpy()
    got = np.concatenate([run_onnxruntime(onnx_path, {"joint": windows[i:i + 1].numpy()})["logits"]
                          for i in range(8)])
    return {"layout": layout, "dataset": dataset, "model": config.to_dict(), "epochs": epochs, "seed": seed,
            **settings, "parameters": count_parameters(encoder), "gflop_per_window": flops_per_window(config) / 1e9,
            "accuracy": real.scores(logits, test.labels, names)["accuracy"], "final_loss": history[-1],
            "train_sequences": len(train), "test_sequences": len(test), "train_s": train_s,
            "onnx": str(onnx_path.relative_to(ROOT)), "onnx_max_abs_logits": float(np.abs(got - reference).max())}


def onnxruntime_times(path, threads, runs, feed):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(10):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def tract_times(binary, path, threads, runs):
    """Runs `tract_latency` and reads its min and p50 (it prints one summary line)."""
    out = subprocess.run([str(binary), str(path), str(threads), str(runs), "logits"], check=True, capture_output=True,
                         text=True).stdout
    found = re.search(r"min ([0-9.]+) ms, p50 ([0-9.]+) ms", out)
    if not found:
        raise RuntimeError(f"tract_latency printed no timings: {out!r}")
    return {"min": float(found[1]), "p50": float(found[2])}


def latency(binary, onnx_files, threads, runs, rounds):
    """Alternating rounds, every model on both engines in each round; min and median of the rounds' figures."""
    n = 3 * 32 * 25 * 2
    feed = {"joint": ((np.arange(n) * 7919 % 1000) / 1000.0 - 0.5).astype(np.float32).reshape(1, 3, 32, 25, 2) * 0.6}
    samples = {name: {"tract": [], "onnxruntime": []} for name in onnx_files}
    for r in range(rounds):
        for name, path in onnx_files.items():
            samples[name]["tract"].append(tract_times(binary, path, threads, runs))
            times = np.sort(onnxruntime_times(path, threads, runs, feed))
            samples[name]["onnxruntime"].append({"min": float(times[0]), "p50": float(np.median(times))})
            print(f"round {r + 1}/{rounds} {name}: tract {samples[name]['tract'][-1]}, "
                  f"onnxruntime {samples[name]['onnxruntime'][-1]}", flush=True)
    out = {}
    for name, engines in samples.items():
        out[name] = {engine: {"min_ms": min(s["min"] for s in runs_), "p50_ms": float(np.median([s["p50"] for s in
                                                                                                 runs_]))}
                     for engine, runs_ in engines.items()}
        out[name]["tract_over_onnxruntime_p50"] = out[name]["tract"]["p50_ms"] / out[name]["onnxruntime"]["p50_ms"]
    return out


def markdown(summary):
    lines = ["# The small encoder's attention layout (issue 12)", "", f"Command: `{summary['command']}`", "",
             "| layout | tokens per body | GFLOP per window | dataset | accuracy | train wall (s) |",
             "|---|---|---|---|---|---|"]
    for r in summary["results"]:
        m = r["model"]
        lines.append(f"| {r['layout']} | {m['frames'] // m['segment'] * m['joints']} | {r['gflop_per_window']:.3f} | "
                     f"{r['dataset']} | {100 * r['accuracy']:.2f}% | {r['train_s']:.0f} |")
    lines += ["", f"Latency per window, {summary['threads']} thread(s), {summary['rounds']} rounds x "
              f"{summary['runs']} runs (ms):", "",
              "| model | tract min / p50 | onnxruntime min / p50 | tract / onnxruntime at p50 |", "|---|---|---|---|"]
    for name, l in summary["latency"].items():
        lines.append(f"| {name} | {l['tract']['min_ms']:.2f} / {l['tract']['p50_ms']:.2f} | "
                     f"{l['onnxruntime']['min_ms']:.2f} / {l['onnxruntime']['p50_ms']:.2f} | "
                     f"{l['tract_over_onnxruntime_p50']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tract-latency", required=True, type=Path, help="the tract_latency example binary")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="nw-ucla,utd-mhad")
    parser.add_argument("--latency-dataset", default="utd-mhad", help="whose exports the latency rounds time")
    parser.add_argument("--reuse", action="store_true",
                        help="skip training and take the results of the last run from models/build/attention-study")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--threads", type=int, default=1, help="threads per engine for the latency rounds")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra-onnx", action="append", default=[], metavar="NAME=PATH",
                        help="also time this export (for example the previous export of a model)")
    args = parser.parse_args()
    layouts, datasets = args.layouts.split(","), args.datasets.split(",")
    jobs = [(layout, dataset, args.epochs, args.seed) for dataset in datasets for layout in layouts]
    saved = BUILD / "results.json"
    if args.reuse:
        results, train_wall = json.loads(saved.read_text()).values()
    else:
        started = time.time()
        with ProcessPoolExecutor(args.jobs) as pool:
            results = []
            for r in pool.map(train_one, jobs):
                print(json.dumps({k: v for k, v in r.items() if k != "model"}), flush=True)
                results.append(r)
        train_wall = time.time() - started
        saved.write_text(json.dumps({"results": results, "train_wall_s": train_wall}, indent=1))
    onnx_files = {f"{r['layout']} ({r['dataset']})": ROOT / r["onnx"] for r in results
                  if r["dataset"] == args.latency_dataset}
    onnx_files.update(dict(item.split("=", 1) for item in args.extra_onnx))
    timed = latency(args.tract_latency, onnx_files, args.threads, args.runs, args.rounds)
    command = ("models/tools/attention_layout_study.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("tract_latency", "extra_onnx", "reuse"))
        + f" --tract-latency {args.tract_latency}")
    summary = {"command": command, "train_wall_s": train_wall, "threads": args.threads, "runs": args.runs,
               "rounds": args.rounds, "results": results, "latency": timed}
    out = ROOT / "models" / "zoo" / "attention-study"
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
