"""Writes the REC fixture the Rust tests run: `tests/fixtures/reconstruction/tiny_rec.onnx` (a tiny DCMAE with
seeded random weights, T = 8, exported with the device's contract) and `tiny_rec.json` (inputs and onnxruntime's
`completed` for a few windows with missing joints).

`.venv/bin/python models/tools/make_reconstruction_fixture.py` (seconds). The outputs are deterministic for a
given torch and onnxruntime; regenerate only when the contract changes.

`--zoo` instead writes `models/zoo/rec/rec.json` beside the trained model `models/zoo/rec/rec.onnx`: two real
UTD-MHAD training windows with 10 % of their joints dropped, and onnxruntime's `completed`, so that the Rust
backends are held to the shipped model too (`board/backends/*/tests/conformance.rs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from skelact_models.encoders.dcmae import Dcmae, DcmaeConfig
from skelact_models.export import export_reconstruction, run_onnxruntime

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "reconstruction"
CONFIG = DcmaeConfig(frames=8, width=16, heads=2, mlp_hidden=32, encoder_depth=2, decoder_depth=2)


def cases():
    rng = np.random.default_rng(7)
    shape = (1, 3, CONFIG.frames, 25, 2)
    for name, rate, partner in (("none_missing", 0.0, False), ("some_missing", 0.15, False),
                                ("many_missing_two_bodies", 0.5, True)):
        joint = (rng.standard_normal(shape) * 0.3).astype(np.float32)
        if not partner:
            joint[..., 1] = 0.0
        missing = (rng.random((1, 1, CONFIG.frames, 25, 2)) < rate).astype(np.float32)
        if not partner:
            missing[..., 1] = 0.0
        yield name, joint, missing


def zoo_fixture():
    from skelact_models import rec
    from skelact_models.preprocess import PreprocessConfig

    folder = ROOT / "models" / "zoo" / "rec"
    items = rec.raw_items("utd-mhad", "train")[0][:2]
    joint, missing, _, _, _ = rec.occluded_windows(items, "random 10%", PreprocessConfig(frames_out=32, align=True), 0)
    out = {"frames": 32, "cases": []}
    for i in range(joint.shape[0]):
        j, m = joint[i:i + 1].numpy(), missing[i:i + 1].numpy()
        completed = run_onnxruntime(folder / "rec.onnx", {"joint": j, "missing": m})["completed"]
        out["cases"].append({"name": f"utd-mhad-train-{i}", "joint": j.ravel().tolist(), "missing": m.ravel().tolist(),
                             "completed": completed.ravel().tolist()})
    (folder / "rec.json").write_text(json.dumps(out) + "\n")
    print(f"wrote {folder / 'rec.json'}")


def main():
    import sys

    if "--zoo" in sys.argv[1:]:
        return zoo_fixture()
    torch.manual_seed(0)
    model = Dcmae(CONFIG).eval()
    with torch.no_grad():  # an untrained model returns its input (zero-initialised output layer): make it act
        torch.nn.init.normal_(model.out.weight, std=0.5)
        torch.nn.init.normal_(model.out.bias, std=0.1)
    path = export_reconstruction(model, OUT / "tiny_rec.onnx")
    out = {"frames": CONFIG.frames, "config": CONFIG.to_dict(), "cases": []}
    for name, joint, missing in cases():
        completed = run_onnxruntime(path, {"joint": joint, "missing": missing})["completed"]
        assert np.array_equal(completed[missing.repeat(3, axis=1) == 0], joint[missing.repeat(3, axis=1) == 0])
        out["cases"].append({"name": name, "joint": joint.ravel().tolist(), "missing": missing.ravel().tolist(),
                             "completed": completed.ravel().tolist()})
    (OUT / "tiny_rec.json").write_text(json.dumps(out) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes) and tiny_rec.json")


if __name__ == "__main__":
    main()
