"""`python -m skelact_models export|quantize|validate|windows`: the deployment steps' command line.

`cargo xtask export|quantize|validate|pipeline` call these with the repository's defaults; every option can be
given by hand too. A step that finds a problem (parity, Q/DQ structure, a validation gate) exits with status 1 and
says what failed and by how much.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CHECKPOINT = REPO_ROOT / "models" / "zoo" / "default" / "hcn.pt"
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "build" / "default"


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 1


def _settings(items):
    """KEY=VALUE items -> {KEY: number}."""
    settings = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"error: expected KEY=VALUE, got {item!r}")
        number = float(value)
        settings[key] = int(number) if number.is_integer() and "." not in value else number
    return settings


def _export(args):
    from .export import ParityError, export_checkpoint

    try:
        d = export_checkpoint(args.checkpoint, args.out, args.name, windows=args.windows, tolerance=args.tolerance,
                              seed=args.seed, threads=args.threads, raw_frames=args.raw_frames,
                              window_settings=_settings(args.window), decision_settings=_settings(args.decision))
    except ParityError as err:
        return _fail(str(err))
    p = d["export"]["parity"]
    print(f"exported {d['model_name']} to {args.out}: opset {d['export']['opset']}, {d['export']['nodes']} nodes; "
          f"onnxruntime vs PyTorch on {p['windows']} real windows: max |d embedding| {p['max_abs_embedding']:.2e}, "
          f"max |d logits| {p['max_abs_logits']:.2e}")
    return 0


def _quantize(args):
    from .quantize import QuantizeError, quantize_model

    try:
        d = quantize_model(args.model, calibration=args.calibration, method=args.method, ops=args.ops.split(",") if args.ops else None,
                           fp16=not args.no_fp16, seed=args.seed)
    except QuantizeError as err:
        return _fail(str(err))
    q = d["quantization"]
    for stream, record in q["streams"].items():
        i = record["int8"]
        print(f"{stream}: INT8 Q/DQ ({q['method']}, {q['calibration']['windows']} calibration windows): "
              f"{i['per_channel_weight_scales']} per-channel weight scales, {i['per_tensor_activation_scales']} "
              f"per-tensor activation scales; FP16: {'yes' if 'fp16' in record else 'no'}")
    return 0


def _windows(args):
    from .description import load
    from .windows import corpus_of, model_windows

    description = load(args.model)
    classes = [label["name"] for label in description["labels"]]
    raw = model_windows(corpus_of(description), classes, args.split, args.count, args.seed)
    raw.save(args.out)
    print(f"wrote {len(raw)} {args.split} windows (longest {int(raw.frames.max())} frames) to {args.out}")
    return 0


def _validate(args):
    from .validate import Gates, validate_model

    gates = Gates(fp32_min_agreement=args.fp32_min_agreement, fp32_min_cosine=args.fp32_min_cosine,
                  int8_min_agreement=args.int8_min_agreement, int8_max_accuracy_drop=args.int8_max_accuracy_drop,
                  max_preprocess_error=args.max_preprocess_error)
    tensorrt = {}
    for item in args.tensorrt or []:
        name, _, path = item.partition("=")
        if not path:
            return _fail(f"--tensorrt takes VARIANT=DIR (for example tensorrt-int8=out/), got {item!r}")
        tensorrt[name] = Path(path)
    report = validate_model(args.model, windows=args.windows, count=args.count, seed=args.seed, gates=gates,
                            skelact=args.skelact, bundle=args.bundle, tensorrt=tensorrt, threads=args.threads,
                            out=args.out, variants=args.variants.split(",") if args.variants else None)
    print(Path(report["files"]["markdown"]).read_text())
    failed = [g for v in report["variants"] for g in v["gates"] if not g["passed"]]
    for g in failed:
        print(f"gate failed: {g['message']}", file=sys.stderr)
    return 1 if failed else 0


def _selftest(args):
    from .selftest import write_self_test

    record = write_self_test(args.model, count=args.count, min_cosine=args.min_cosine, seed=args.seed)
    print(f"wrote {Path(args.model) / 'selftest.json'}: {record['windows']} windows from {record['source']}")
    return 0


def _export_streams(args):
    from .. import acsar

    d = acsar.export_streams(args.dataset, args.out, windows=args.windows, tolerance=args.tolerance)
    reference = acsar.write_device_reference(args.dataset)
    parity = ", ".join(f"{s} {p['max_abs_logits']:.2g}" for s, p in d["export"]["parity"].items())
    print(f"wrote {Path(args.out) / 'model.json'} ({d['model_name']}; onnxruntime vs PyTorch max |d logits|: "
          f"{parity}); three-stream test accuracy in PyTorch {reference['accuracy']:.4f} (joint alone "
          f"{reference['joint_accuracy']:.4f})")
    return 0


def add_parsers(sub):
    streams = sub.add_parser("export-streams",
                             help="AC-SAR: the joint, bone and motion models of a dataset (models/zoo/acsar) -> one "
                                  "model folder of three FP32 ONNX (logits) with model.json, for `cargo xtask "
                                  "bundle --no-validation --precisions fp32`; and the PyTorch reference of every test "
                                  "sequence the bundle's test compares with")
    streams.add_argument("--dataset", choices=["utd-mhad", "nw-ucla"], default="utd-mhad")
    streams.add_argument("--out", required=True, help="model directory")
    streams.add_argument("--windows", type=int, default=32, help="real windows for the parity check (default 32)")
    streams.add_argument("--tolerance", type=float, default=1e-4)
    streams.set_defaults(func=_export_streams)
    export = sub.add_parser("export", help="checkpoint -> FP32 ONNX per stream, checker, parity on real windows")
    export.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    export.add_argument("--out", default=str(DEFAULT_MODEL_DIR), help="model directory (default models/build/default)")
    export.add_argument("--name", help="model name in the bundle (default stars-small-synthetic-xsub-<T>)")
    export.add_argument("--windows", type=int, default=64, help="real windows for the parity check (default 64)")
    export.add_argument("--tolerance", type=float, default=1e-4, help="max abs error allowed (default 1e-4)")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--threads", type=int, default=2)
    export.add_argument("--raw-frames", type=int,
                        help="frames of history in each window on the device (default: the runtime's, 64)")
    export.add_argument("--window", action="append", metavar="KEY=VALUE",
                        help="override a window setting of the runtime's defaults, e.g. stride_frames=4 (repeatable)")
    export.add_argument("--decision", action="append", metavar="KEY=VALUE",
                        help="override a decision setting, e.g. unknown_threshold=0.5 (repeatable)")
    export.set_defaults(func=_export)

    quantize = sub.add_parser("quantize", help="INT8 Q/DQ (onnxruntime quantize_static) and FP16 variants")
    quantize.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    quantize.add_argument("--calibration", type=int, default=256, help="calibration windows (default 256)")
    quantize.add_argument("--method", default="minmax", choices=["minmax", "entropy", "percentile"])
    quantize.add_argument("--ops", help="operator types to quantize (default: MatMul,Gemm for the transformer, "
                                        "Conv,Gemm for HCN)")
    quantize.add_argument("--no-fp16", action="store_true")
    quantize.add_argument("--seed", type=int, default=1)
    quantize.set_defaults(func=_quantize)

    windows = sub.add_parser("windows", help="write raw windows (.npy) of a model's corpus (synthetic or real)")
    windows.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    windows.add_argument("--out", required=True)
    windows.add_argument("--split", default="test", choices=["test", "train"])
    windows.add_argument("--count", type=int)
    windows.add_argument("--seed", type=int, default=0)
    windows.set_defaults(func=_windows)

    validate = sub.add_parser("validate", help="every variant against the PyTorch FP32 reference; gates; reports")
    validate.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    validate.add_argument("--windows", help="raw window directory (default: the test split of the model's corpus)")
    validate.add_argument("--count", type=int, help="use this many test windows (default all)")
    validate.add_argument("--seed", type=int, default=0)
    validate.add_argument("--out", help="report directory (default the model directory)")
    validate.add_argument("--variants", help="comma-separated subset, e.g. onnxruntime-fp32,tract-int8")
    validate.add_argument("--skelact", help="the `skelact` binary, to validate the Rust runtime (tract)")
    validate.add_argument("--bundle", help="the bundle the Rust runtime loads (with --skelact)")
    validate.add_argument("--tensorrt", action="append",
                          help="VARIANT=DIR with embedding.npy/logits.npy produced on the device (repeatable)")
    validate.add_argument("--threads", type=int, default=2)
    validate.add_argument("--fp32-min-agreement", type=float, default=1.0)
    validate.add_argument("--fp32-min-cosine", type=float, default=0.9999)
    validate.add_argument("--int8-min-agreement", type=float, default=0.99)
    validate.add_argument("--int8-max-accuracy-drop", type=float, default=0.01)
    validate.add_argument("--max-preprocess-error", type=float, default=1e-5,
                          help="max abs difference of the Rust and Python model inputs (default 1e-5)")
    validate.set_defaults(func=_validate)

    selftest = sub.add_parser("selftest", help="self-test windows and onnxruntime FP32 outputs for the bundle")
    selftest.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    selftest.add_argument("--count", type=int, default=8, help="windows (default 8, at most 16)")
    selftest.add_argument("--min-cosine", type=float, default=0.95)
    selftest.add_argument("--seed", type=int, default=0)
    selftest.set_defaults(func=_selftest)
