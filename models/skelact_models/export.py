"""ONNX export of the encoders, one file per encoder stream, fixed shapes, named inputs and outputs.

A STARS transformer exports with input `joint` (or `bone` / `motion`, the stream it was trained on) of shape
[1, 3, T, 25, 2] and outputs `embedding` [1, D] and, when a head is fitted, `logits` [1, K]. The HCN exports with
inputs `joint` and `motion` (both [1, 3, T, 25, 2]; HCN fuses its two streams inside the network). Opset 17, the
TorchScript-based exporter (dynamo=False) so the graph is plain MatMul / Softmax / LayerNormalization / Erf / Conv
/ MaxPool / Gemm, which tract and TensorRT run. The DCMAE reconstruction model (`export_reconstruction`) takes
`joint` and `missing` and gives `completed` (docs/bundle.md, the reconstruction section).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

from .encoders.transformer import explicit_attention

OPSET = 17


class _WithHead(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, *inputs):
        embedding = self.encoder(*inputs)
        if self.head is None:
            return embedding
        return embedding, self.head(embedding)


def export_onnx(encoder, path, input_names, example_inputs, head=None, metadata=None, output_name="embedding"):
    """Exports `encoder` (+ optional `head`) to `path`. Returns the path. The model is put in eval mode and its
    attention switched to the explicit form for the export (and back afterwards). `output_name` names the
    encoder's output (a model whose "encoder" ends in its classifier outputs `logits`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _WithHead(encoder, head).eval()
    explicit_attention(model, True)
    output_names = [output_name] + (["logits"] if head is not None else [])
    try:
        with torch.no_grad():
            torch.onnx.export(model, tuple(example_inputs), str(path), input_names=list(input_names),
                              output_names=output_names, opset_version=OPSET, dynamo=False,
                              do_constant_folding=True)
    finally:
        explicit_attention(model, False)
    proto = onnx.load(str(path))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def export_transformer(encoder, path, stream="joint", head=None, metadata=None):
    c = encoder.config
    example = torch.zeros(1, c.channels, c.frames, c.joints, c.bodies)
    example[..., 0] = torch.randn(1, c.channels, c.frames, c.joints)
    return export_onnx(encoder, path, [stream], [example], head, metadata)


def export_reconstruction(model, path, metadata=None):
    """Exports a DCMAE reconstruction model (`encoders.dcmae.Dcmae`) with the device's contract: inputs `joint`
    [1, 3, T, 25, 2] and `missing` [1, 1, T, 25, 2], output `completed` [1, 3, T, 25, 2]."""
    from .encoders.dcmae import RecExport

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = model.config
    wrapper = RecExport(model).eval()
    joint = torch.randn(1, c.channels, c.frames, c.joints, c.bodies) * 0.3
    missing = (torch.rand(1, 1, c.frames, c.joints, c.bodies) < 0.2).float()
    with torch.no_grad():
        torch.onnx.export(wrapper, (joint, missing), str(path), input_names=["joint", "missing"],
                          output_names=["completed"], opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    for key, value in {"skelact.reconstruction": json.dumps(c.to_dict()), **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


class _HcnClassifier(nn.Module):
    """HCN's own fc8 as the head, so the export has `embedding` and `logits`."""

    def __init__(self, hcn):
        super().__init__()
        self.fc8 = hcn.fc8

    def forward(self, embedding):
        return self.fc8(embedding)


def export_hcn(hcn, path, metadata=None):
    c = hcn.config
    example = torch.randn(1, c.channels, c.frames, c.joints, c.bodies)
    motion = torch.zeros_like(example)
    motion[:, :, :-1] = example[:, :, 1:] - example[:, :, :-1]
    return export_onnx(hcn, path, ["joint", "motion"], [example, motion], _HcnClassifier(hcn), metadata)


def run_onnxruntime(path, inputs):
    """Runs an exported model with onnxruntime on CPU: inputs {name: array}, float inputs as float32 and integer
    ones (the text encoder's token ids) as int64. Returns {name: array}."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feeds = {k: np.ascontiguousarray(v, dtype=np.int64 if np.issubdtype(np.asarray(v).dtype, np.integer)
                                      else np.float32) for k, v in inputs.items()}
    return dict(zip(names, session.run(names, feeds)))


def operator_types(path):
    """The set of ONNX operator types in an exported graph."""
    return sorted({node.op_type for node in onnx.load(str(path)).graph.node})
