"""The deployment steps on a tiny model (seconds): export with parity, INT8 Q/DQ structure, FP16, validation reports
and gates, and the Rust runtime's validation through `skelact validate` on a bundle written by `xtask bundle`.

The Rust binaries are found through SKELACT_BIN and SKELACT_XTASK_BIN, which `cargo xtask test` sets after building
them; run alone, pytest skips the one test that needs them and says so.
"""

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from skelact_models.cli import main
from skelact_models.deploy import description as desc
from skelact_models.deploy.export import ParityError, export_checkpoint, parity
from skelact_models.deploy.quantize import QUANTIZED_OPS, describe_qdq, quantize_model
from skelact_models.deploy.validate import Gates, validate_model
from skelact_models.deploy.windows import RawWindows, synthetic_windows
from skelact_models.encoders.transformer import SkeletonTransformer, TransformerConfig
from skelact_models.preprocess import PreprocessConfig

CLASSES = ["hand waving", "clapping", "jump up", "squat down"]


def tiny_checkpoint(path, seed=0):
    """An untrained tiny STARS encoder and a random head, saved in the default recipe's checkpoint format."""
    torch.manual_seed(seed)
    config = TransformerConfig(frames=16, width=16, depth=1, heads=2, mlp_hidden=32, decoder_width=16,
                               decoder_depth=1, decoder_heads=2)
    encoder = SkeletonTransformer(config).eval()
    head = torch.nn.Linear(config.width, len(CLASSES))
    torch.save({"format": "skelact-stars", "version": 1, "model": config.to_dict(), "encoder": encoder.state_dict(),
                "head": head.state_dict(), "classes": CLASSES, "class_labels": list(range(len(CLASSES))),
                "preprocess": asdict(PreprocessConfig(frames_out=16)), "stream": "joint", "seed": seed}, path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    checkpoint = tiny_checkpoint(root / "tiny.pt")
    model_dir = root / "model"
    export_checkpoint(checkpoint, model_dir, "tiny", windows=6, threads=1)
    quantize_model(model_dir, calibration=8)
    return model_dir


def test_export_writes_a_checked_fixed_shape_model_and_its_description(exported):
    d = desc.load(exported)
    model = onnx.load(str(exported / "joint.fp32.onnx"))
    assert [i.name for i in model.graph.input] == ["window"] and [o.name for o in model.graph.output] == ["embedding"]
    dims = [x.dim_value for x in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 16, 25, 2]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert d["export"]["parity"]["max_abs_embedding"] < 1e-4 and d["export"]["parity"]["windows"] == 6
    assert [label["action_id"] for label in d["labels"]] == [23, 10, 27, 80]  # NTU-120 action numbers
    assert len(d["head"]["weights"]) == 4 and len(d["head"]["weights"][0]) == 16
    assert d["checkpoint_sha256"] == desc.sha256_file(Path(d["checkpoint"]))


def test_parity_fails_when_onnxruntime_and_pytorch_disagree(exported, tmp_path):
    """A perturbed graph must fail the export's parity check."""
    from skelact_models.recipes import load_default

    d = desc.load(exported)
    encoder, head, _ = load_default(d["checkpoint"])
    broken = perturbed_copy(exported / "joint.fp32.onnx", tmp_path / "broken.onnx", scale=0.05)
    tensors = synthetic_windows(CLASSES, "test", 3).tensors(PreprocessConfig(frames_out=16))
    with pytest.raises(ParityError, match="max \\|d embedding\\|"):
        parity(encoder, head, broken, tensors, tolerance=1e-4)


def test_int8_is_explicit_symmetric_per_channel_qdq_on_matmul_and_gemm_only(exported):
    d = desc.load(exported)
    record = describe_qdq(exported / d["streams"][0]["onnx"]["int8"])
    assert record["per_channel_weight_scales"] > 0 and record["per_tensor_activation_scales"] > 0
    # Only MatMul/Gemm are quantized (their outputs reach the bias Add through Q/DQ); never Softmax or the Mul
    # before it, where tract 0.23.9 and onnxruntime disagree.
    assert "MatMul" in record["consumers_of_dequantized"] and QUANTIZED_OPS == ("MatMul", "Gemm")
    assert not {"Softmax", "Mul"} & set(record["consumers_of_dequantized"])
    # The input embedding and attention's activation products stay in float (see quantize.kept_in_float).
    int8 = onnx.load(str(exported / d["streams"][0]["onnx"]["int8"]))
    dequantized = {n.output[0] for n in int8.graph.node if n.op_type == "DequantizeLinear"}
    kept = d["quantization"]["streams"]["joint"]["int8"]["kept_in_float"]
    assert kept[0].endswith("joint_embed/MatMul") and len(kept) == 3  # one block: embedding, Q·Kᵀ, weights·V
    for node in int8.graph.node:
        if node.name in kept:
            assert not set(node.input) & dequantized, node.name
    q = d["quantization"]
    assert q["format"] == "QDQ" and q["calibration"]["windows"] == 8 and q["method"] == "minmax"
    fp16 = onnx.load(str(exported / d["streams"][0]["onnx"]["fp16"]))
    # The FP16 model keeps float32 input and output so every precision takes the same tensors.
    assert fp16.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)


def test_validation_writes_reports_and_fp32_passes(exported, tmp_path):
    report = validate_model(exported, count=10, out=tmp_path, threads=1,
                            variants=["onnxruntime-fp32", "onnxruntime-int8", "tract-fp32"])
    names = [v["variant"] for v in report["variants"]]
    assert names == ["pytorch-fp32", "onnxruntime-fp32", "onnxruntime-int8"]
    fp32 = report["variants"][1]
    assert fp32["passed"] and fp32["top1_agreement"] == 1.0 and fp32["cosine_min"] > 0.9999
    assert fp32["embedding"]["max_abs"] < 1e-4
    assert "tract-fp32" in report["not_run"]
    for name in ("validation.json", "validation.md", "validation.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "validation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "validation.json").read_text())
    assert np.asarray(saved["confusion"]["pytorch-fp32"]).sum() == 10


def test_a_perturbed_model_fails_its_gate_and_the_command_says_by_how_much(exported, tmp_path, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    d = desc.load(exported)
    perturbed_copy(exported / "joint.fp32.onnx", model_dir / "joint.fp32.onnx", scale=0.5)
    d["streams"][0]["onnx"] = {"fp32": "joint.fp32.onnx"}
    desc.save(model_dir, d)
    status = main(["validate", "--model", str(model_dir), "--count", "10", "--threads", "1",
                   "--variants", "onnxruntime-fp32"])
    assert status == 1
    err = capsys.readouterr().err
    assert "gate failed: onnxruntime-fp32: minimum cosine similarity" in err and "off by" in err
    report = json.loads((model_dir / "validation.json").read_text())
    assert not report["passed"]
    failed = {g["gate"] for g in report["variants"][1]["gates"] if not g["passed"]}
    assert "fp32_min_cosine" in failed
    # Loosened gates let the same model through: the gates are what decides, and they are configurable.
    loose = validate_model(model_dir, count=10, out=tmp_path / "loose", threads=1, variants=["onnxruntime-fp32"],
                           gates=Gates(fp32_min_agreement=0.0, fp32_min_cosine=-1.0))
    assert loose["passed"]


def test_raw_windows_round_trip_through_npy(tmp_path):
    raw = synthetic_windows(CLASSES, "train", 3, seed=4)
    back = RawWindows.load(raw.save(tmp_path / "w"))
    assert np.array_equal(back.frames, raw.frames) and np.array_equal(back.labels, raw.labels)
    assert np.array_equal(back.present, raw.present) and np.array_equal(back.valid, raw.valid)
    assert np.array_equal(back.joints, raw.joints)
    with pytest.raises(FileNotFoundError, match="labels.npy"):
        (tmp_path / "w" / "labels.npy").unlink()
        RawWindows.load(tmp_path / "w")


def test_the_rust_runtime_validates_a_bundle_written_by_xtask(exported, tmp_path):
    skelact, xtask = os.environ.get("SKELACT_BIN"), os.environ.get("SKELACT_XTASK_BIN")
    if not (skelact and xtask and Path(skelact).is_file() and Path(xtask).is_file()):
        pytest.skip("SKELACT_BIN / SKELACT_XTASK_BIN not set: run through `cargo xtask test`")
    bundle = tmp_path / "tiny.skb"
    subprocess.run([xtask, "bundle", "--model", str(exported), "--out", str(bundle), "--no-validation"], check=True,
                   capture_output=True)
    report = validate_model(exported, count=8, out=tmp_path / "v", threads=1, skelact=skelact, bundle=bundle,
                            variants=["onnxruntime-fp32", "tract-fp32", "tract-int8"])
    tract = {v["variant"]: v for v in report["variants"]}
    assert tract["tract-fp32"]["passed"], tract["tract-fp32"]["gates"]
    assert tract["tract-fp32"]["preprocess_max_abs"] <= 1e-5
    assert tract["tract-int8"]["refused"] == 0 and tract["tract-int8"]["cosine_min"] > 0.99
    # Outputs produced on a device (`skelact validate --backend tensorrt` there) come back as a directory in the
    # same format; the tract run's directory stands in for one, as the same binary wrote it.
    device = validate_model(exported, count=8, out=tmp_path / "d", threads=1, variants=["onnxruntime-fp32"],
                            tensorrt={"tensorrt-fp32": tmp_path / "v" / "rust-fp32"})
    from_device = {v["variant"]: v for v in device["variants"]}["tensorrt-fp32"]
    for figure in ("top1_agreement", "cosine_min", "accuracy"):
        assert from_device[figure] == tract["tract-fp32"][figure], figure
    assert from_device["passed"]
    with pytest.raises(FileNotFoundError, match="joint_logits.npy is missing"):
        validate_model(exported, count=8, out=tmp_path / "e", threads=1, variants=["onnxruntime-fp32"],
                       tensorrt={"tensorrt-int8": tmp_path / "nothing-here"})
    # With validation figures, the bundle carries them and the report's hash.
    (exported / "validation.json").write_text((tmp_path / "v" / "validation.json").read_text())
    done = subprocess.run([xtask, "bundle", "--model", str(exported), "--out", str(bundle)], check=True,
                          capture_output=True, text=True)
    assert "validated tract-fp32" in done.stdout
    (exported / "validation.json").unlink()


def perturbed_copy(source, target, scale):
    """Copies an ONNX model with its largest weight matrix scaled by (1 + scale): a deliberately wrong model."""
    model = onnx.load(str(source))
    largest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = onnx.numpy_helper.to_array(largest).astype(np.float32)
    largest.CopyFrom(onnx.numpy_helper.from_array(values * np.float32(1.0 + scale), largest.name))
    onnx.save(model, str(target))
    return target
