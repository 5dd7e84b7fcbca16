"""Validate step: the same held-out raw windows through every variant of a model, against the PyTorch FP32 reference.

Variants (named `<runtime>-<precision>`):
- `pytorch-fp32`: the checkpoint in PyTorch on this package's preprocessing: the reference;
- `onnxruntime-fp32`, `onnxruntime-fp16`, `onnxruntime-int8`: the exported and quantized ONNX models;
- `tract-fp32`, `tract-int8`: the Rust runtime itself (`skelact validate`): bundle loading, the runtime's own
  preprocessing of the raw windows, the tract backend and the bundle's head;
- `tensorrt-<precision>`: outputs produced on the device (`skelact validate --backend tensorrt`), when given.

For each: max and mean absolute error of embeddings and logits, cosine similarity of the embeddings (min, mean),
top-1 agreement with the reference, accuracy and its change. Gates (configurable, defaults from the issue): FP32
variants agree on top-1 for every window with cosine >= 0.9999; reduced-precision variants (INT8, FP16) agree on
>= 99% with an accuracy drop <= 1 point; the Rust runtime's model inputs equal this package's to 1e-5.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..preprocess import PreprocessConfig, PreprocessError, preprocess_window
from ..recipes import load_encoder
from . import description as desc
from .export import OrtModel
from .windows import RawWindows, corpus_of, model_windows

REFERENCE = "pytorch-fp32"
DEFAULT_VARIANTS = ("onnxruntime-fp32", "onnxruntime-fp16", "onnxruntime-int8", "tract-fp32", "tract-int8")


@dataclass(frozen=True)
class Gates:
    fp32_min_agreement: float = 1.0
    fp32_min_cosine: float = 0.9999
    int8_min_agreement: float = 0.99
    int8_max_accuracy_drop: float = 0.01
    max_preprocess_error: float = 1e-5


@dataclass
class Outputs:
    """What one variant produced: rows of NaN where it refused or failed a window."""

    embedding: np.ndarray | None  # [N, D]
    logits: np.ndarray  # [N, K]
    seconds: float
    preprocess_max_abs: float | None = None  # Rust runtime vs this package, on the dumped model inputs
    note: str = ""


def _precision(variant):
    return variant.rsplit("-", 1)[1]


def reference_outputs(encoder, head, tensors, batch=128):
    started = time.time()
    embeddings, logits = [], []
    with torch.no_grad():
        for i in range(0, len(tensors), batch):
            e = encoder(torch.from_numpy(tensors[i:i + batch]))
            embeddings.append(e.numpy())
            logits.append(head(e).numpy())
    return Outputs(np.concatenate(embeddings), np.concatenate(logits), time.time() - started)


def onnxruntime_outputs(path, head, tensors, threads, name):
    started = time.time()
    model = OrtModel(path, threads)
    embedding = model.run_all(tensors, progress=name).astype(np.float32)
    with torch.no_grad():
        logits = head(torch.from_numpy(embedding)).numpy()
    return Outputs(embedding, logits, time.time() - started)


def rust_outputs(skelact, bundle, windows_dir, out_dir, precision, threads, python_inputs, stream="joint"):
    """Runs `skelact validate` and reads what it wrote."""
    started = time.time()
    command = [str(skelact), "validate", "--bundle", str(bundle), "--windows", str(windows_dir), "--out",
               str(out_dir), "--precision", precision, "--threads", str(threads),
               "--dump-inputs", str(len(python_inputs))]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    outputs = read_device_outputs(out_dir, stream)
    outputs.seconds = time.time() - started
    inputs = np.load(Path(out_dir) / "joint_input.npy")
    both = np.isfinite(inputs).all(axis=(1, 2, 3, 4)) & np.isfinite(python_inputs).all(axis=(1, 2, 3, 4))
    outputs.preprocess_max_abs = float(np.abs(inputs[both] - python_inputs[both]).max()) if both.any() else 0.0
    return outputs


def read_device_outputs(directory, stream="joint"):
    """`<stream>_embedding.npy` and `<stream>_logits.npy` as `skelact validate` writes them (on any backend)."""
    directory = Path(directory)
    logits_file = directory / f"{stream}_logits.npy"
    if not logits_file.is_file():
        raise FileNotFoundError(f"{logits_file} is missing: expected the output of `skelact validate`")
    embedding_file = directory / f"{stream}_embedding.npy"
    embedding = np.load(embedding_file) if embedding_file.is_file() else None
    return Outputs(embedding, np.load(logits_file), 0.0)


def _cosine(a, b):
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-12)


def compare(variant, outputs: Outputs, reference: Outputs, labels, gates: Gates):
    """Figures and gate results of one variant against the reference."""
    ok = np.isfinite(outputs.logits).all(axis=1)
    ref_top1 = reference.logits.argmax(axis=1)
    top1 = np.where(ok, np.nan_to_num(outputs.logits, nan=-np.inf).argmax(axis=1), -1)
    labelled = labels >= 0
    use_embedding = outputs.embedding is not None and reference.embedding is not None
    a = outputs.embedding if use_embedding else outputs.logits
    b = reference.embedding if use_embedding else reference.logits
    cosine = np.where(ok, _cosine(np.nan_to_num(a), b), -1.0)
    figures = {
        "variant": variant, "precision": _precision(variant), "windows": int(len(labels)),
        "refused": int((~ok).sum()),
        "top1_agreement": float((top1 == ref_top1).mean()),
        "cosine_of": "embedding" if use_embedding else "logits",
        "cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean()),
        "accuracy": float((top1[labelled] == labels[labelled]).mean()) if labelled.any() else float("nan"),
        "seconds": outputs.seconds, "ms_per_window": 1000.0 * outputs.seconds / max(len(labels), 1),
    }
    ref_accuracy = float((ref_top1[labelled] == labels[labelled]).mean()) if labelled.any() else float("nan")
    figures["accuracy_change"] = figures["accuracy"] - ref_accuracy
    for name, got, want in (("embedding", outputs.embedding, reference.embedding),
                            ("logits", outputs.logits, reference.logits)):
        if got is None or want is None:
            continue
        err = np.abs(got[ok] - want[ok]) if ok.any() else np.zeros(1)
        figures[name] = {"max_abs": float(err.max()), "mean_abs": float(err.mean())}
    if outputs.preprocess_max_abs is not None:
        figures["preprocess_max_abs"] = outputs.preprocess_max_abs
    if outputs.note:
        figures["note"] = outputs.note
    figures["gates"] = gate_results(variant, figures, gates)
    figures["passed"] = all(g["passed"] for g in figures["gates"])
    return figures, top1


def _gate(variant, name, value, threshold, at_least, what):
    passed = value >= threshold if at_least else value <= threshold
    relation = ">=" if at_least else "<="
    message = f"{variant}: {what} {value:.6g} must be {relation} {threshold:.6g}"
    if not passed:
        message += f" (off by {abs(value - threshold):.6g})"
    return {"gate": name, "value": value, "threshold": threshold, "passed": bool(passed), "message": message}


def gate_results(variant, f, gates: Gates):
    if variant == REFERENCE:
        return []
    results = []
    if f["precision"] == "fp32":
        results.append(_gate(variant, "fp32_min_agreement", f["top1_agreement"], gates.fp32_min_agreement, True,
                             "top-1 agreement"))
        results.append(_gate(variant, "fp32_min_cosine", f["cosine_min"], gates.fp32_min_cosine, True,
                             "minimum cosine similarity"))
    else:
        results.append(_gate(variant, "int8_min_agreement", f["top1_agreement"], gates.int8_min_agreement, True,
                             "top-1 agreement"))
        if not np.isnan(f["accuracy_change"]):
            results.append(_gate(variant, "int8_max_accuracy_drop", -f["accuracy_change"],
                                 gates.int8_max_accuracy_drop, False, "accuracy drop"))
    if "preprocess_max_abs" in f:
        results.append(_gate(variant, "max_preprocess_error", f["preprocess_max_abs"], gates.max_preprocess_error,
                             False, "max |Rust - Python| of the model inputs"))
    return results


def confusion(top1, labels, classes):
    matrix = np.zeros((classes, classes), dtype=np.int64)
    keep = (labels >= 0) & (top1 >= 0)
    np.add.at(matrix, (labels[keep], top1[keep]), 1)
    return matrix


def validate_model(model_dir, windows=None, count=None, seed=0, gates=Gates(), skelact=None, bundle=None,
                   tensorrt=None, threads=2, out=None, variants=None):
    """Runs every variant and writes `validation.json`, `validation.md` and `validation.png` into `out` (default
    the model directory). Returns the report; `report["passed"]` says whether every gate passed."""
    model_dir = Path(model_dir)
    out = Path(out) if out else model_dir
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    d = desc.load(model_dir)
    preprocess = PreprocessConfig(**d["preprocess"])
    classes = [label["name"] for label in d["labels"]]
    encoder, head, _ = load_encoder(_checkpoint(model_dir, d))
    corpus = corpus_of(d)
    raw = RawWindows.load(windows) if windows else model_windows(corpus, classes, "test", count, seed)
    if windows and count is not None:
        raw = raw.subset(np.arange(min(count, len(raw))))
    windows_dir = raw.save(out / "windows")
    tensors, python_refused = _python_tensors(raw, preprocess)
    labels = raw.labels

    reference = reference_outputs(encoder, head, tensors)
    reference.logits[python_refused] = np.nan
    wanted = list(variants) if variants else list(DEFAULT_VARIANTS)
    if skelact is None or bundle is None:
        skipped_rust = [v for v in wanted if v.startswith("tract-")]
        wanted = [v for v in wanted if not v.startswith("tract-")]
    else:
        skipped_rust = []
    results = {REFERENCE: reference}
    notes = {v: "not run: give --skelact and --bundle to validate the Rust runtime" for v in skipped_rust}
    for variant in wanted:
        runtime, precision = variant.rsplit("-", 1)
        if runtime == "onnxruntime":
            path = desc.onnx_path(model_dir, d, precision)
            if path is None:
                notes[variant] = f"not run: the model has no {precision} ONNX (run the quantize step)"
                continue
            try:
                key = f"{desc.sha256_file(path)}:{_windows_key(raw)}"
                results[variant] = _cached(out / "outputs" / f"{variant}.npz", key,
                                            lambda path=path, variant=variant: onnxruntime_outputs(
                                                path, head, tensors, threads, variant))
            except Exception as err:  # onnxruntime's CPU provider lacks some FP16 kernels
                if precision != "fp16":
                    raise
                notes[variant] = f"not run: onnxruntime's CPU provider cannot run it ({str(err).splitlines()[0][:160]})"
        elif runtime == "tract":
            results[variant] = rust_outputs(skelact, bundle, windows_dir, out / f"rust-{precision}", precision,
                                            1, tensors[:32])
        else:
            raise ValueError(f"unknown variant {variant!r}")
    for variant, directory in (tensorrt or {}).items():
        results[variant] = read_device_outputs(directory)
        results[variant].note = f"outputs produced on the device, read from {directory}"

    figures, predictions = [], {}
    for variant, outputs in results.items():
        if len(outputs.logits) != len(labels):
            raise ValueError(f"{variant} has {len(outputs.logits)} outputs for {len(labels)} windows")
        f, top1 = compare(variant, outputs, reference, labels, gates)
        figures.append(f)
        predictions[variant] = top1
    device_variant = next((v for v in ("tract-int8", "tensorrt-int8", "onnxruntime-int8") if v in predictions), None)
    report = {
        "model": d["model_name"], "checkpoint_sha256": d["checkpoint_sha256"],
        "windows": {"count": int(len(labels)), "source": str(windows) if windows else
                    f"{corpus} test split ({'all' if count is None else count} windows, seed {seed})",
                    "refused_by_python": int(python_refused.sum()), "longest_frames": int(raw.frames.max())},
        "reference": REFERENCE, "gates": asdict(gates), "variants": figures, "not_run": notes,
        "passed": all(f["passed"] for f in figures),
        "labels": classes,
        "confusion": {v: confusion(predictions[v], labels, len(classes)).tolist()
                      for v in (REFERENCE, device_variant) if v},
        "quantization": d.get("quantization", {}).get("method"),
        "environment": {"torch": torch.__version__, "onnxruntime": _ort_version(), "machine": platform.machine(),
                        "threads": threads},
        "files": {"json": str(out / "validation.json"), "markdown": str(out / "validation.md"),
                  "figure": str(out / "validation.png")},
    }
    (out / "validation.json").write_text(json.dumps(_public(report), indent=1) + "\n")
    (out / "validation.md").write_text(markdown(report))
    figure(report, out / "validation.png")
    return report


def _windows_key(raw):
    import hashlib

    digest = hashlib.sha256()
    for array in (raw.joints, raw.valid, raw.present, raw.frames, raw.labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _cached(path, key, compute):
    """onnxruntime outputs of the same model file on the same windows are reused: validation reruns (for example
    once the Rust runtime is built) then cost only the variants that changed."""
    if path.is_file():
        cached = np.load(path)
        if str(cached["key"]) == key:
            return Outputs(cached["embedding"], cached["logits"], float(cached["seconds"]))
    outputs = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, key=key, embedding=outputs.embedding, logits=outputs.logits, seconds=outputs.seconds)
    return outputs


def _checkpoint(model_dir, d):
    path = Path(d["checkpoint"])
    if not path.is_absolute():
        path = desc.REPO_ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"the checkpoint {path} named in {model_dir / desc.NAME} is missing")
    if desc.sha256_file(path) != d["checkpoint_sha256"]:
        raise ValueError(f"{path} changed since the export (SHA-256 differs): export again")
    return path


def _python_tensors(raw, preprocess):
    tensors = np.zeros((len(raw), 3, preprocess.frames_out, 25, 2), dtype=np.float32)
    refused = np.zeros(len(raw), dtype=bool)
    for i in range(len(raw)):
        try:
            tensors[i] = preprocess_window(*raw.item(i), preprocess)["joint"]
        except PreprocessError:
            refused[i] = True
    return tensors, refused


def _ort_version():
    import onnxruntime

    return onnxruntime.__version__


def _public(report):
    """The report without machine-specific paths (it is committed)."""
    public = dict(report)
    public["files"] = {k: Path(v).name for k, v in report["files"].items()}
    return public


def markdown(report):
    lines = [f"# Validation: {report['model']}", "",
             f"{report['windows']['count']} held-out windows ({report['windows']['source']}), raw skeleton frames "
             f"preprocessed by each runtime; reference `{report['reference']}`. Quantization calibration: "
             f"{report.get('quantization') or 'n/a'}.", "",
             "| variant | top-1 agreement | cosine min | cosine mean | max / mean abs error, embedding | "
             "max / mean abs error, logits | accuracy | change | ms/window | gates |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for f in report["variants"]:
        e, lg = f.get("embedding"), f.get("logits")
        lines.append(
            f"| {f['variant']} | {f['top1_agreement']:.4f} | {f['cosine_min']:.6f} | {f['cosine_mean']:.6f} | "
            + (f"{e['max_abs']:.2e} / {e['mean_abs']:.2e}" if e else "n/a") + " | "
            + (f"{lg['max_abs']:.2e} / {lg['mean_abs']:.2e}" if lg else "n/a") + " | "
            + f"{f['accuracy']:.4f} | {100 * f['accuracy_change']:+.2f} pt | {f['ms_per_window']:.1f} | "
            + ("reference" if not f["gates"] else "pass" if f["passed"] else "**FAIL**") + " |")
    lines += ["", "Gates: " + ", ".join(f"{k} = {v:g}" for k, v in report["gates"].items()) + ".", ""]
    rust = [f for f in report["variants"] if "preprocess_max_abs" in f]
    for f in rust:
        lines.append(f"- {f['variant']}: the Rust runtime's model inputs differ from this package's by at most "
                     f"{f['preprocess_max_abs']:.2e} (first windows compared element by element).")
    for variant, note in report["not_run"].items():
        lines.append(f"- {variant}: {note}")
    failed = [g for f in report["variants"] for g in f["gates"] if not g["passed"]]
    lines += ["", "**All gates passed.**" if not failed else "**Failed gates:**", ""]
    lines += [f"- {g['message']}" for g in failed]
    lines += ["", f"Confusion matrices: `{Path(report['files']['figure']).name}` (rows: true label, columns: predicted)."
              f" Wall-clock ms per window include process start-up and are for information only.", ""]
    return "\n".join(lines)


def figure(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrices = report["confusion"]
    labels = report["labels"]
    size = max(6.0, 0.38 * len(labels) + 3)
    fig, axes = plt.subplots(1, len(matrices), figsize=(size * len(matrices), size), squeeze=False)
    accuracy = {f["variant"]: f["accuracy"] for f in report["variants"]}
    for ax, (variant, matrix) in zip(axes[0], matrices.items()):
        m = np.asarray(matrix)
        ax.imshow(m, cmap="Blues")
        for (i, j), value in np.ndenumerate(m):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=6,
                        color="white" if value > m.max() / 2 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{variant}: accuracy {accuracy.get(variant, float('nan')):.4f}")
    fig.suptitle(f"{report['model']}: {report['windows']['count']} held-out windows")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
