"""Self-test step: a few model-input windows and the reference's outputs for them, for the bundle's `SelfTest`
section (`docs/bundle.md`). A device runs them through the engine it will use before it trusts a new bundle
(`skelact install`, and the daemon when the bundle is on trial) and compares its outputs with these.

The windows come from the training split of the model's own corpus (nothing of the test split travels in a bundle),
preprocessed by this package; the reference is onnxruntime on the FP32 ONNX, the model the others are checked
against; a model of several streams (AC-SAR) is tested on its joint stream, the one the device's self-test runs.
The windows kept are those the model is most decided about (largest gap between its two best logits), so
that a healthy reduced-precision engine (INT8, FP16) agrees on every one of them and only a broken one does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..preprocess import PreprocessConfig
from ..recipes import load_encoder
from . import description as desc
from .export import OrtModel
from .validate import _checkpoint, _python_tensors
from .windows import corpus_of, model_windows

FILE = "selftest.json"
# A healthy INT8 engine stays far above this on the windows kept (the validation gates ask for 0.9999 in FP32 and
# top-1 agreement in INT8); a wrong or damaged model falls far below it.
DEFAULT_MIN_COSINE = 0.95


def write_self_test(model_dir, count=8, candidates=128, min_cosine=DEFAULT_MIN_COSINE, seed=0):
    """Writes `selftest.json` into the model directory and returns its contents."""
    model_dir = Path(model_dir)
    d = desc.load(model_dir)
    preprocess = PreprocessConfig(**d["preprocess"])
    classes = [label["name"] for label in d["labels"]]
    raw = model_windows(corpus_of(d), classes, "train", candidates, seed)
    tensors, refused = _python_tensors(raw, preprocess)
    tensors = tensors[~refused]
    outputs = OrtModel(desc.onnx_path(model_dir, d, "fp32")).run_all(tensors).astype(np.float32)
    logits = outputs
    if d["head"]["kind"] == "linear":  # models whose ONNX ends in logits (AC-SAR's streams) need no checkpoint here
        _, head, _ = load_encoder(_checkpoint(model_dir, d))
        with torch.no_grad():
            logits = head(torch.from_numpy(outputs)).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    keep = np.sort(np.argsort(top2[:, 1] - top2[:, 0])[::-1][:count])
    record = {
        "windows": int(len(keep)),
        "min_cosine": min_cosine,
        "reference": "onnxruntime-fp32",
        "source": f"{corpus_of(d)} training split: the {len(keep)} most decided of {len(tensors)} windows (seed {seed})",
        "inputs": tensors[keep].reshape(len(keep), -1).tolist(),
        "outputs": outputs[keep].reshape(len(keep), -1).tolist(),
    }
    (model_dir / FILE).write_text(json.dumps(record) + "\n")
    return record
