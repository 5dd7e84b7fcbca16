#!/usr/bin/env bash
# The TensorRT backend on a real NVIDIA GPU, end to end, from a clean checkout:
#   1. installs TensorRT 10.3 from PyPI (tensorrt-cu12, with its libnvinfer in tensorrt_libs/ and the CUDA 12
#      runtime wheel beside it) into the project's .venv;
#   2. builds FP32 (TF32 off), FP16 and INT8 (explicit Q/DQ) engines from the committed conformance models,
#      tests/fixtures/engine/tiny_stars{,_int8}.onnx, with TensorRT's Python builder (the wheel has no trtexec);
#   3. runs skelact-tensorrt's tests with those engines (the conformance suite against onnxruntime's outputs,
#      and the loading tests), failing if the conformance test skipped;
#   4. times each engine with the trt_latency example.
#
# Usage: board/backends/tensorrt/gpu-check.sh [OUT_DIR]   (default target/gpu-check; everything lands there)
# Needs: an NVIDIA GPU with a driver for CUDA 12 (nvidia-smi), Python >= 3.10 with venv, cargo, g++, network
# access to PyPI. On a Jetson use JetPack 6's own TensorRT instead: the PyPI wheels are for x86_64 and SBSA.
#
# Prepared, not yet run: the machines this project was developed on have no GPU (docs/performance.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
out="$(mkdir -p "${1:-target/gpu-check}" && cd "${1:-target/gpu-check}" && pwd)"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi --query-gpu=name,compute_cap,driver_version \
        --format=csv,noheader | tee "$out/gpu.txt"; then
    echo "gpu-check: no NVIDIA GPU or driver here (nvidia-smi missing or failing); nothing to check" >&2
    exit 2
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet "tensorrt-cu12==10.3.*" "nvidia-cuda-runtime-cu12==12.*"
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# Named explicitly: the tests run in the crate's folder, where the .venv search would not see the project's.
export SKELACT_TENSORRT="$site/tensorrt_libs/libnvinfer.so.10"
export SKELACT_CUDART="$site/nvidia/cuda_runtime/lib/libcudart.so.12"
ls -l "$SKELACT_TENSORRT" "$SKELACT_CUDART"

fixtures="$root/tests/fixtures/engine"
.venv/bin/python - "$fixtures" "$out" <<'PY'
import sys

import tensorrt as trt

fixtures, out = sys.argv[1], sys.argv[2]
logger = trt.Logger(trt.Logger.WARNING)
print(f"TensorRT {trt.__version__}")


def build(onnx, plan, precision):
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    with open(onnx, "rb") as f:
        if not parser.parse(f.read()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            sys.exit(f"{onnx}: {errors}")
    # The shim serves fixed shapes only (one window, batch 1), so open dimensions are fixed at 1.
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        tensor.shape = [1 if d < 0 else d for d in tensor.shape]
    config = builder.create_builder_config()
    # FP32 means FP32: TF32 would need the FP16 tolerance.
    config.clear_flag(trt.BuilderFlag.TF32)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        # Explicit quantization: the model's Q/DQ nodes decide what runs in INT8; no calibration.
        config.set_flag(trt.BuilderFlag.INT8)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        sys.exit(f"{onnx}: TensorRT could not build a {precision} engine")
    with open(plan, "wb") as f:
        f.write(serialized)
    print(f"built {plan}")


build(f"{fixtures}/tiny_stars.onnx", f"{out}/tiny_stars.fp32.plan", "fp32")
build(f"{fixtures}/tiny_stars.onnx", f"{out}/tiny_stars.fp16.plan", "fp16")
build(f"{fixtures}/tiny_stars_int8.onnx", f"{out}/tiny_stars.int8.plan", "int8")
PY

export SKELACT_TRT_ENGINE="$out/tiny_stars.fp32.plan"
export SKELACT_TRT_ENGINE_FP16="$out/tiny_stars.fp16.plan"
export SKELACT_TRT_ENGINE_INT8="$out/tiny_stars.int8.plan"
cargo test -p skelact-tensorrt -- --nocapture 2>&1 | tee "$out/tests.log"
if grep -q "SKIPPED: TensorRT conformance" "$out/tests.log"; then
    echo "gpu-check: the conformance test skipped on a GPU machine; see $out/tests.log" >&2
    exit 1
fi

for precision in fp32 fp16 int8; do
    cargo run --quiet --release -p skelact-tensorrt --example trt_latency -- "$out/tiny_stars.$precision.plan" 1000 \
        | tee -a "$out/latency.txt"
done
echo "gpu-check: done; results in $out"
