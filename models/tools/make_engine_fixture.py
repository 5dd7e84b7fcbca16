"""Make the engine conformance fixture: a tiny STARS-shaped encoder, its ONNX export, inputs and onnxruntime outputs.

Every backend of the device (tract, TensorRT) must reproduce onnxruntime's outputs on these inputs within named
tolerances (`board/backends/conformance/src/lib.rs`). The model is small so that the fixture stays under 300 KB and the Rust
test runs in well under a second, but it has the operators of the real encoder: a segment embedding of 4 frames,
learned temporal and spatial positional embeddings, pre-norm transformer blocks with the attention written out as
matrix products and a softmax, exact (erf) GELU, mean pooling over tokens and bodies, and a linear head.

Usage (from the repository root, in any venv with torch, onnx, onnxruntime and numpy):

    python models/tools/make_engine_fixture.py [--out tests/fixtures/engine]

Writes `tiny_stars.onnx`, `tiny_stars_inputs.npy` (shape [3, 3, T, 25, 2]) and `tiny_stars_ort_outputs.npy`
(shape [3, 8]), and the same model quantized to INT8 with per-channel Q/DQ weights (`tiny_stars_int8.onnx`,
`tiny_stars_int8_ort_outputs.npy`, same inputs): per-channel Q/DQ is what tract releases before 0.23.9 got wrong.
See QUANTIZED_OPS for which operators are quantized and why not more.
The weights and inputs are seeded, so the files only change when this script or the exporter does.
"""

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from torch import nn

FRAMES = 16  # T of the window
JOINTS = 25  # V, NTU layout
BODIES = 2  # M
CHANNELS = 3  # xyz
SEGMENT = 4  # frames per segment token, as STARS/MAMP embed 4-frame segments
WIDTH = 32
HEADS = 4
BLOCKS = 2
CLASSES = 8
SAMPLES = 3
SEED = 20261121
OPSET = 17


class Attention(nn.Module):
    """Multi-head self-attention with the math spelled out, as the exported STARS encoder has it."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_width = width // heads
        # A Python constant, so the exporter writes it as one instead of tracing a shape computation.
        self.scale = 1.0 / math.sqrt(self.head_width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_width).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-2, -1)) * self.scale
        attended = scores.softmax(dim=-1) @ v
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyStars(nn.Module):
    """[N, C, T, V, M] joint window -> [N, CLASSES] logits."""

    def __init__(self):
        super().__init__()
        self.segment_embed = nn.Linear(CHANNELS * SEGMENT, WIDTH)
        self.temporal_pos = nn.Parameter(torch.randn(1, FRAMES // SEGMENT, 1, WIDTH) * 0.02)
        self.spatial_pos = nn.Parameter(torch.randn(1, 1, JOINTS, WIDTH) * 0.02)
        self.blocks = nn.ModuleList(Block(WIDTH, HEADS) for _ in range(BLOCKS))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = window.shape
        # One sequence per body, as STARS encodes each of the M bodies separately.
        x = window.permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)
        # Segment embedding: each token sees SEGMENT consecutive frames of one joint.
        x = x.reshape(n * m, t // SEGMENT, SEGMENT, v, c).permute(0, 1, 3, 2, 4).reshape(n * m, t // SEGMENT, v, SEGMENT * c)
        x = self.segment_embed(x) + self.temporal_pos + self.spatial_pos
        x = x.reshape(n * m, (t // SEGMENT) * v, WIDTH)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        # Mean over tokens, then over bodies.
        pooled = x.mean(dim=1).reshape(n, m, WIDTH).mean(dim=1)
        return self.head(pooled)


def export(model: nn.Module, path: Path) -> None:
    example = torch.zeros(1, CHANNELS, FRAMES, JOINTS, BODIES)
    kwargs = dict(input_names=["window"], output_names=["logits"], opset_version=OPSET, do_constant_folding=True)
    try:
        # The TorchScript exporter writes the requested opset directly and fixed shapes without dynamic axes.
        torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
    except TypeError:
        # torch releases before the `dynamo` argument use the TorchScript exporter anyway.
        torch.onnx.export(model, (example,), str(path), **kwargs)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    # Keep the file self-contained (no external data) and small.
    onnx.save_model(loaded, str(path), save_as_external_data=False)


class Calibration(CalibrationDataReader):
    """A few seeded windows for onnxruntime's static quantization, distinct from the test inputs."""

    def __init__(self, seed: int, count: int = 16):
        rng = np.random.default_rng(seed)
        self.windows = [
            {"window": rng.normal(0.0, 0.3, size=(1, CHANNELS, FRAMES, JOINTS, BODIES)).astype(np.float32)}
            for _ in range(count)
        ]

    def get_next(self):
        return self.windows.pop() if self.windows else None


# The operators quantized in the INT8 fixture. MatMul and Gemm carry the weights, so they exercise per-channel Q/DQ.
# Two more would be quantized by onnxruntime's defaults, and tract 0.23.9 disagrees with onnxruntime on both
# (found with this script; each is off by 0.1 to 0.3 in the logits, against 0.01 between onnxruntime's own paths):
# - Softmax: onnxruntime quantizes its [0, 1] output to int8 with zero point -128, and tract fuses
#   DequantizeLinear -> Softmax -> QuantizeLinear into an integer softmax that ignores zero points
#   (`softmax_quant_inner` in tract-core).
# - Mul, when the attention-scaling Mul that feeds Softmax is quantized together with MatMul (its int8 output then
#   reaches Softmax through a DequantizeLinear with a non-zero zero point, -10 and 26 here); quantizing the GELU
#   Muls agrees. Probably the same zero-point blind spot on the softmax input side; not yet confirmed in tract.
# Until that is resolved, the export pipeline should quantize with these operator types only (or exclude Softmax
# and the Mul nodes that feed it).
QUANTIZED_OPS = ["MatMul", "Gemm"]


def quantize(fp32_path: Path, int8_path: Path) -> None:
    """Static INT8 quantization in Q/DQ format with per-channel weight scales."""
    quantize_static(
        str(fp32_path),
        str(int8_path),
        Calibration(SEED + 1),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTIZED_OPS,
    )


def run_ort(path: Path, inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["logits"], {"window": inputs[i : i + 1]})[0] for i in range(len(inputs))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/engine"))
    parser.add_argument(
        "--bench-model",
        type=Path,
        help="instead of the fixture, export a larger untrained model for latency figures (T=64, width 128, "
        "4 blocks, 60 classes) to this path",
    )
    args = parser.parse_args()
    if args.bench_model:
        global FRAMES, WIDTH, BLOCKS, CLASSES
        FRAMES, WIDTH, BLOCKS, CLASSES = 64, 128, 4, 60
        torch.manual_seed(SEED)
        export(TinyStars().eval(), args.bench_model)
        print(f"wrote {args.bench_model} ({args.bench_model.stat().st_size} bytes)")
        return
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(SEED)
    model = TinyStars().eval()
    onnx_path = args.out / "tiny_stars.onnx"
    export(model, onnx_path)

    rng = np.random.default_rng(SEED)
    # Centred skeleton coordinates are tens of centimetres; body 1 is absent (zeros) in the last sample, as in
    # single-person windows.
    inputs = rng.normal(0.0, 0.3, size=(SAMPLES, CHANNELS, FRAMES, JOINTS, BODIES)).astype(np.float32)
    inputs[-1, ..., 1] = 0.0

    outputs = run_ort(onnx_path, inputs)
    with torch.no_grad():
        reference = model(torch.from_numpy(inputs)).numpy()
    torch_vs_ort = float(np.abs(reference - outputs).max())
    assert torch_vs_ort < 1e-4, f"PyTorch and onnxruntime disagree by {torch_vs_ort}"

    np.save(args.out / "tiny_stars_inputs.npy", inputs)
    np.save(args.out / "tiny_stars_ort_outputs.npy", outputs.astype(np.float32))

    int8_path = args.out / "tiny_stars_int8.onnx"
    quantize(onnx_path, int8_path)
    int8_outputs = run_ort(int8_path, inputs)
    np.save(args.out / "tiny_stars_int8_ort_outputs.npy", int8_outputs.astype(np.float32))
    int8_vs_fp32 = float(np.abs(int8_outputs - outputs).max())
    per_channel = sum(
        1
        for init in onnx.load(str(int8_path)).graph.initializer
        if init.name.endswith("_scale") and len(init.dims) == 1 and init.dims[0] > 1
    )
    total = sum(p.stat().st_size for p in args.out.glob("tiny_stars*"))
    print(
        f"wrote {onnx_path} and its inputs/outputs ({total} bytes); "
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, opset {OPSET}; "
        f"max |torch - ort| = {torch_vs_ort:.2e}; logits range [{outputs.min():.3f}, {outputs.max():.3f}]; "
        f"int8: {per_channel} per-channel scale tensors, max |int8 - fp32| = {int8_vs_fp32:.3f}"
    )


if __name__ == "__main__":
    main()
