"""The default recipe end to end on tiny settings: files, report, determinism; the command line."""

import json

import numpy as np
import torch

from skelact_models.cli import main
from skelact_models.recipes import DefaultRecipe, load_default, run_default


def test_tiny_default_recipe_is_complete_and_deterministic(tmp_path):
    first = run_default(tmp_path / "a", DefaultRecipe.tiny(seed=3), threads=1)
    second = run_default(tmp_path / "b", DefaultRecipe.tiny(seed=3), threads=1, export=False)
    for name in ("stars_small.pt", "stars_small_joint.onnx", "report.json", "report.md"):
        assert (tmp_path / "a" / name).is_file()
    assert first["results"]["xsub"] == second["results"]["xsub"]
    assert first["results"]["unseen"] == second["results"]["unseen"]
    a = torch.load(tmp_path / "a" / "stars_small.pt", weights_only=False)["encoder"]
    b = torch.load(tmp_path / "b" / "stars_small.pt", weights_only=False)["encoder"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert 0.0 <= report["results"]["xsub"]["linear_probe"] <= 1.0
    assert report["results"]["onnx_parity"]["max_abs_logits"] < 1e-4
    assert len(report["results"]["unseen"]["classes"]) == 2
    encoder, head, payload = load_default(tmp_path / "a" / "stars_small.pt")
    x = torch.zeros(1, 3, payload["model"]["frames"], 25, 2)
    x[..., 0] = 0.1
    assert head(encoder(x)).shape == (1, len(payload["classes"]))


def test_session_command_writes_recordings(tmp_path, capsys):
    assert main(["session", "--out", str(tmp_path), "--actions", "3", "--count", "2", "--seed", "5", "--subject", "0"]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["session-s5-p000.jsonl", "session-s5-p000.segments.json", "session-s5-p001.jsonl",
                       "session-s5-p001.segments.json"]
    truth = json.loads((tmp_path / "session-s5-p001.segments.json").read_text())
    assert len(truth["segments"]) == 3
    assert np.all(np.diff([s["start_us"] for s in truth["segments"]]) > 0)
