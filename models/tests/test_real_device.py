"""The device's evaluation of real test sequences (`skelact eval`) against PyTorch on the same windows, with the
committed real-data bundles. Needs ../shared/datasets (or $SKELACT_DATASETS) and the `skelact` binary that
`cargo xtask test` builds (SKELACT_BIN); skips with a message otherwise."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from skelact_models.data import nwucla, utdmhad
from skelact_models.deploy.windows import real_windows
from skelact_models.preprocess import PreprocessConfig
from skelact_models.recipes import load_encoder

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO / "models" / "zoo"
# The committed bundle of each dataset and the checkpoint it was exported from.
MODELS = {"utd-mhad": ("default.skb", "default/hcn.pt", utdmhad),
          "nw-ucla": ("nw-ucla.skb", "hcn-nw-ucla-aligned/hcn.pt", nwucla)}
SEQUENCES = 24


def skelact_binary():
    binary = os.environ.get("SKELACT_BIN")
    if not (binary and Path(binary).is_file()):
        pytest.skip("SKIPPED: SKELACT_BIN not set: run through `cargo xtask test`")
    return binary


@pytest.mark.parametrize("dataset", sorted(MODELS))
def test_device_eval_matches_pytorch_on_the_same_windows(dataset, tmp_path):
    bundle, checkpoint, module = MODELS[dataset]
    if module.root() is None:
        pytest.skip(f"SKIPPED: {dataset} absent (../shared/datasets)")
    binary = skelact_binary()
    out = tmp_path / "eval.json"
    subprocess.run([binary, "eval", "--dataset", dataset, "--bundle", str(ZOO / bundle), "--limit", str(SEQUENCES),
                    "--json", str(out)], check=True, capture_output=True)
    device = json.loads(out.read_text())
    # The Rust readers' class lists are the Python readers'.
    assert device["classes"] == list(module.CLASSES)

    # PyTorch on the same sequences (the device's first SEQUENCES test files): whole sequence, spec test-time window.
    encoder, head, payload = load_encoder(ZOO / checkpoint)
    assert payload["classes"] == list(module.CLASSES)
    # The device lists files by path (Rust's byte order: "a10_..." before "a1_..."); find the same ones here.
    raw = real_windows(dataset, list(module.CLASSES), "test")
    index = {p.stem: i for i, p in enumerate(module.list_files(split="test"))}
    raw = raw.subset(np.array([index[r["name"]] for r in device["results"]]))
    config = PreprocessConfig(**payload["preprocess"])
    tensors = torch.from_numpy(raw.tensors(config))
    with torch.no_grad():
        pytorch_top1 = head(encoder(tensors)).argmax(dim=1).numpy()
    # Every sequence fits the bundle's window, so the device classifies the same frames.
    assert all(r["window_frames"] == r["frames"] for r in device["results"])
    assert [r["top1"] for r in device["results"]] == pytorch_top1.tolist()
    assert [r["truth"] for r in device["results"]] == raw.labels.tolist()
