"""Quantize step: INT8 by explicit quantization (Q/DQ nodes) and an FP16 variant, from the exported FP32 model.

INT8 uses onnxruntime's `quantize_static` in QDQ format with TensorRT's rules: weights symmetric per output
channel, activations symmetric per tensor (TensorRT takes zero points of 0 only), calibrated on real windows of the
training subjects. Only the operator types in `QUANTIZED_OPS` are quantized by default: tract 0.23.9 disagrees with
onnxruntime on quantized Softmax (it ignores zero points) and on the quantized attention-scaling Mul before it
(`models/tools/make_engine_fixture.py`, docs/performance.md), so the weighted operators, which carry almost all the
weights and multiply-adds, are what is quantized: MatMul and Gemm for the transformer, Conv and Gemm for HCN
(`--ops`).

FP16 converts weights and arithmetic to float16 with onnxruntime's converter, keeping float32 input and output so
the device feeds and reads the same tensors in every precision. It is for TensorRT on the GPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from ..preprocess import PreprocessConfig
from . import description as desc
from .windows import corpus_of, model_windows

QUANTIZED_OPS = ("MatMul", "Gemm")
# What is quantized by default, by encoder family (model.json's `encoder`).
DEFAULT_OPS = {"StarsTransformer": QUANTIZED_OPS, "Hcn": ("Conv", "Gemm")}
METHODS = ("minmax", "entropy", "percentile")


class QuantizeError(RuntimeError):
    """The quantized model does not have the structure the device and TensorRT need."""


class _Windows:
    """onnxruntime's calibration reader over model tensors [N, 3, T, 25, 2]."""

    def __init__(self, input_name, tensors, progress=True):
        from onnxruntime.quantization import CalibrationDataReader  # noqa: F401 (the protocol it implements)

        self.input_name = input_name
        self.tensors = tensors
        self.index = 0
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=len(tensors), desc="calibration", unit="window", leave=False)

    def get_next(self):
        if self.index >= len(self.tensors):
            if self.bar is not None:
                self.bar.close()
            return None
        window = self.tensors[self.index:self.index + 1]
        self.index += 1
        if self.bar is not None:
            self.bar.update(1)
        return {self.input_name: np.ascontiguousarray(window, dtype=np.float32)}

    def rewind(self):
        self.index = 0


WEIGHTED_OPS = ("MatMul", "Gemm", "Conv")


def kept_in_float(path):
    """Names of the weighted nodes (MatMul, Gemm, Conv) left in float, for accuracy:
    - the first ones, which read the raw window (reached from the graph input without passing through another
      weighted node: STARS's token embedding, HCN's first convolution of the joint stream and of the motion
      stream computed in the graph): a per-tensor int8 scale over coordinates of about ±1.5 m is a step of about
      12 mm, coarser than the motions that tell actions apart. They have 3 or 12 inputs, so they are cheap;
    - the MatMuls that multiply two activations (attention's Q·Kᵀ and weights·V): they have no weights to quantize
      per channel, and quantizing both inputs per tensor costs accuracy."""
    model = onnx.load(str(path))
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    weighted = [n for n in model.graph.node if n.op_type in WEIGHTED_OPS]
    products = [n.name for n in weighted if n.op_type == "MatMul" and not any(i in constants for i in n.input)]
    # Walk forward from the input through unweighted nodes; the weighted nodes met first read the raw window.
    reached = {i.name for i in model.graph.input}
    first = []
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        if not any(i in reached for i in node.input):
            continue
        if node.op_type in WEIGHTED_OPS:
            first.append(node.name)
        else:
            reached.update(node.output)
    return first + [p for p in products if p not in first]


def quantize_int8(fp32_path, int8_path, input_name, tensors, method="minmax", ops=QUANTIZED_OPS,
                  percentile=99.999, weighted_only=True):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True}
    if method == "percentile":
        extra["CalibPercentile"] = percentile
    quantize_static(str(fp32_path), str(int8_path), _Windows(input_name, tensors), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(ops), calibrate_method=methods[method], extra_options=extra,
                    nodes_to_exclude=kept_in_float(fp32_path) if weighted_only else [])
    record = describe_qdq(int8_path)
    record["kept_in_float"] = kept_in_float(fp32_path) if weighted_only else []
    return record


def describe_qdq(path):
    """Checks the Q/DQ structure the issue and TensorRT ask for and returns counts: every zero point is 0
    (symmetric), weight scales are per channel, activation scales per tensor."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = list(model.graph.node)
    q = [n for n in nodes if n.op_type == "QuantizeLinear"]
    dq = [n for n in nodes if n.op_type == "DequantizeLinear"]
    if not q or not dq:
        raise QuantizeError(f"{Path(path).name} has no Q/DQ nodes")
    per_channel = per_tensor = 0
    for node in dq:
        scale = inits.get(node.input[1])
        zero = inits.get(node.input[2]) if len(node.input) > 2 else None
        if zero is not None and np.any(zero != 0):
            raise QuantizeError(f"{node.name}: zero point is not 0 (asymmetric quantization)")
        weight_dq = node.input[0] in inits
        if scale is None:
            raise QuantizeError(f"{node.name}: scale is not a constant")
        if weight_dq:
            if scale.size <= 1:
                raise QuantizeError(f"{node.name}: weight scale is per tensor, expected per channel")
            per_channel += 1
        else:
            if scale.size != 1:
                raise QuantizeError(f"{node.name}: activation scale is not per tensor")
            per_tensor += 1
    quantized = sorted({n.op_type for n in nodes for i in n.input if any(i == d.output[0] for d in dq)})
    return {"quantize_nodes": len(q), "dequantize_nodes": len(dq), "per_channel_weight_scales": per_channel,
            "per_tensor_activation_scales": per_tensor, "consumers_of_dequantized": quantized}


def convert_fp16(fp32_path, fp16_path):
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    # The converter appends the casts of the kept float32 input and output at the end of the node list; the
    # ONNX checker (and some runtimes) want nodes in topological order.
    sorted_model = OnnxModel(model)
    sorted_model.topological_sort()
    model = sorted_model.model
    onnx.checker.check_model(model)
    onnx.save(model, str(fp16_path))
    return {"nodes": len(model.graph.node)}


def quantize_model(model_dir, calibration=256, method="minmax", ops=None, fp16=True, seed=1):
    """Runs the quantize step on every stream of the model in `model_dir`; updates model.json. `ops`: the operator
    types to quantize (default: `DEFAULT_OPS` of the model's encoder family)."""
    model_dir = Path(model_dir)
    description = desc.load(model_dir)
    ops = tuple(ops) if ops else DEFAULT_OPS.get(description["encoder"], QUANTIZED_OPS)
    preprocess = PreprocessConfig(**description["preprocess"])
    classes = [label["name"] for label in description["labels"]]
    raw = model_windows(corpus_of(description), classes, "train", calibration, seed)
    records = {}
    for entry in description["streams"]:
        stream = entry["stream"]
        fp32 = model_dir / entry["onnx"]["fp32"]
        tensors = raw.tensors(preprocess, stream)
        int8 = model_dir / f"{stream}.int8.onnx"
        records[stream] = {"int8": quantize_int8(fp32, int8, description["input"]["name"], tensors, method, ops)}
        entry["onnx"]["int8"] = int8.name
        if fp16:
            half = model_dir / f"{stream}.fp16.onnx"
            records[stream]["fp16"] = convert_fp16(fp32, half)
            entry["onnx"]["fp16"] = half.name
    description["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "weights": "int8 symmetric per channel",
        "activations": "int8 symmetric per tensor", "operators": list(ops), "method": method,
        "kept_in_float": "the weighted nodes that read the raw window, and activation-by-activation MatMuls",
        "calibration": {"windows": len(raw), "corpus": corpus_of(description), "split": "train", "seed": seed},
        "streams": records,
    }
    desc.save(model_dir, description)
    return description
