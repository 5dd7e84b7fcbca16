"""Export step: checkpoint -> one FP32 ONNX model per encoder stream, checked, with onnxruntime-vs-PyTorch parity
on real windows, and the model description (`model.json`) the later steps extend.

The exported graph takes `window` [1, 3, T, 25, 2] (fixed shape, opset 17) and outputs `embedding` [1, D]: the
device applies the linear head itself (the bundle's `LinearHead` section), so one export serves the linear head,
few-shot prototypes enrolled on the device, and validation of both embeddings and logits.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import torch

from ..data import synthetic
from ..export import export_onnx
from ..preprocess import PreprocessConfig
from ..recipes import load_encoder
from . import description as desc
from .windows import model_windows

INPUT_NAME = "window"
OUTPUT_NAME = "embedding"


class ParityError(RuntimeError):
    """onnxruntime and PyTorch disagree beyond the tolerance, or the graph fails a check."""


class OrtModel:
    """One onnxruntime CPU session, reused for every window (single-threaded unless told otherwise)."""

    def __init__(self, path, threads=1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, window):
        """window [3, T, 25, 2] or [1, 3, T, 25, 2] -> the first output, [D]."""
        x = np.ascontiguousarray(window, dtype=np.float32).reshape((1,) + tuple(window.shape[-4:]))
        return self.session.run(self.outputs[:1], {self.input: x})[0][0]

    def run_all(self, windows, progress=None):
        it = range(len(windows))
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc=progress, unit="window", leave=False)
        return np.stack([self.run(windows[i]) for i in it])


def class_action_ids(class_names, corpus="synthetic"):
    """The action number each class has in its corpus: NTU RGB+D 120's for the synthetic classes named after NTU
    actions, the dataset's own (`a<N>` in its file names) for NW-UCLA and UTD-MHAD."""
    if corpus == "synthetic":
        by_name = {c.name: c.ntu_id for c in synthetic.CLASSES}
    else:
        from ..data import nwucla, utdmhad

        if corpus == "nw-ucla":
            by_name = dict(zip(nwucla.CLASSES, nwucla.ACTIONS))
        else:
            by_name = {name: i + 1 for i, name in enumerate(utdmhad.CLASSES)}
    missing = [n for n in class_names if n not in by_name]
    if missing:
        raise ValueError(f"no NTU action number is known for class {missing[0]!r}")
    return [by_name[n] for n in class_names]


def check_graph(path, frames, dim, output_name=OUTPUT_NAME):
    """The ONNX checker (with strict shape inference) plus the contract the device relies on: input `window`
    [1, 3, T, 25, 2], one output `output_name` [1, dim]."""
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # the checker raises several exception types
        raise ParityError(f"{path.name}: the ONNX checker refuses the model: {err}") from err
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 17:
        raise ParityError(f"{path.name}: opset {opset} is below 17")

    def shape(value):
        return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]

    inputs, outputs = list(model.graph.input), list(model.graph.output)
    if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [output_name]:
        raise ParityError(f"{path.name}: expected input {INPUT_NAME!r} and output {output_name!r}, found "
                          f"{[i.name for i in inputs]} and {[o.name for o in outputs]}")
    if shape(inputs[0]) != [1, 3, frames, 25, 2] or shape(outputs[0]) != [1, dim]:
        raise ParityError(f"{path.name}: shapes {shape(inputs[0])} -> {shape(outputs[0])}, expected "
                          f"[1, 3, {frames}, 25, 2] -> [1, {dim}]")
    return {"opset": opset, "operators": sorted({n.op_type for n in model.graph.node}), "nodes": len(model.graph.node)}


def parity(encoder, head, onnx_file, tensors, tolerance, threads=1):
    """Max and mean |onnxruntime - PyTorch| on embeddings and logits over `tensors` [N, 3, T, 25, 2]."""
    got = OrtModel(onnx_file, threads).run_all(tensors, progress="parity")
    with torch.no_grad():
        ref = encoder(torch.from_numpy(tensors)).numpy()
        ref_logits = head(torch.from_numpy(ref)).numpy()
        got_logits = head(torch.from_numpy(got)).numpy()
    err_e, err_l = np.abs(got - ref), np.abs(got_logits - ref_logits)
    result = {"windows": int(tensors.shape[0]), "max_abs_embedding": float(err_e.max()),
              "mean_abs_embedding": float(err_e.mean()), "max_abs_logits": float(err_l.max()),
              "mean_abs_logits": float(err_l.mean()), "tolerance": tolerance,
              "top1_agreement": float((got_logits.argmax(1) == ref_logits.argmax(1)).mean())}
    if result["max_abs_embedding"] > tolerance or result["max_abs_logits"] > tolerance:
        raise ParityError(f"onnxruntime vs PyTorch on {result['windows']} real windows: max |d embedding| "
                          f"{result['max_abs_embedding']:.3g}, max |d logits| {result['max_abs_logits']:.3g}, "
                          f"tolerance {tolerance:g}")
    return result


def export_checkpoint(checkpoint, out_dir, model_name=None, windows=32, tolerance=1e-4, seed=0, threads=1,
                      raw_frames=None, window_settings=None, decision_settings=None):
    """Runs the export step. Returns the model description (also written to `out_dir/model.json`). `raw_frames`:
    the device window's history in frames (default the runtime's); a model whose actions run longer than the
    runtime's default window (UTD-MHAD's last up to 125 frames) needs a longer one to see them whole.
    `window_settings` and `decision_settings` override fields of the runtime's window and decision defaults (the
    bundle's reader checks them)."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    encoder, head, payload = load_encoder(checkpoint)
    config = encoder.config
    stream = payload.get("stream", "joint")
    preprocess = PreprocessConfig(**payload["preprocess"])
    classes = list(payload["classes"])
    corpus = payload.get("dataset", "synthetic")
    family = payload["encoder_family"]
    name = model_name or (f"stars-small-synthetic-xsub-{config.frames}" if family == "StarsTransformer"
                          else f"{family.lower()}-{corpus}-{config.frames}")

    onnx_file = out_dir / f"{stream}.fp32.onnx"
    example = torch.zeros(1, config.channels, config.frames, config.joints, config.bodies)
    example[..., 0] = torch.randn(1, config.channels, config.frames, config.joints)
    export_onnx(encoder, onnx_file, [INPUT_NAME], [example], head=None,
                metadata={"skelact.model": name, "skelact.stream": stream,
                          "skelact.preprocess": json.dumps(asdict(preprocess))})
    graph = check_graph(onnx_file, config.frames, encoder.width)

    raw = model_windows(corpus, classes, "test", windows, seed)
    tensors = raw.tensors(preprocess, stream)
    result = parity(encoder, head, onnx_file, tensors, tolerance, threads)

    window = dict(desc.DEFAULT_WINDOW)
    if raw_frames:
        window["raw_frames"] = raw_frames
    decision = dict(desc.DEFAULT_DECISION)
    for defaults, overrides in ((window, window_settings or {}), (decision, decision_settings or {})):
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            raise ValueError(f"no setting named {unknown[0]!r} (settings: {', '.join(defaults)})")
        defaults.update(overrides)
    weight = head.weight.detach().numpy().astype(np.float32)
    bias = head.bias.detach().numpy().astype(np.float32)
    description = {
        "format": desc.FORMAT, "version": desc.VERSION, "model_name": name, "encoder": family,
        "layout": "KinectV2", "bodies": config.bodies,
        "checkpoint": desc.portable_path(checkpoint), "checkpoint_sha256": desc.sha256_file(checkpoint),
        "model": dict(payload["model"]),
        "preprocess": asdict(preprocess), "window": window, "decision": decision,
        "input": {"name": INPUT_NAME, "shape": [1, config.channels, config.frames, config.joints, config.bodies]},
        "output": {"name": OUTPUT_NAME, "shape": [1, encoder.width]},
        # float32 values written as Python floats: each converts back to the same float32 exactly.
        "head": {"kind": "linear", "dim": encoder.width, "weights": weight.astype(float).tolist(),
                 "bias": bias.astype(float).tolist()},
        "labels": [{"name": n, "action_id": a} for n, a in zip(classes, class_action_ids(classes, corpus))],
        "streams": [{"stream": stream, "weight": 1.0, "onnx": {"fp32": onnx_file.name}}],
        "engines": [],
        "data": {"corpus": corpus},
        "export": {**graph, "parity": result, "data": {"corpus": corpus, "split": "test", "seed": seed}},
    }
    desc.save(out_dir, description)
    return description

