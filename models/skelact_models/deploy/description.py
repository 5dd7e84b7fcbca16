"""`model.json`: what the export, quantize, validate, engine and bundle steps know about one model.

Each step reads it and adds its part; `cargo xtask bundle` turns it into the bundle's manifest (field for field the
manifest of `docs/bundle.md`, plus file names and the steps' own records). Paths in it are relative to its directory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = "skelact-model"
VERSION = 1
NAME = "model.json"
REPO_ROOT = Path(__file__).resolve().parents[3]

# The frame-side settings the default models are validated with (a 64-frame track ring, about 2.1 s at 30 Hz, which
# holds most of one action of the synthetic corpus and NTU; a window every 8 frames, the first one after half a ring)
# and the decision rules (`decision_from_scores` may tune them to a model). They are the runtime's
# `TrackConfig::for_frames(64)`, `WindowConfig::default()` and `DecisionConfig::default()`, not a copy of them:
# tests/fixtures/defaults.json holds them, the Rust test tests/tests/python_defaults.rs keeps that file equal to the
# Rust defaults, and it is read here.
DEFAULTS_PATH = REPO_ROOT / "tests" / "fixtures" / "defaults.json"


def _rust_defaults():
    try:
        defaults = json.loads(DEFAULTS_PATH.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{DEFAULTS_PATH} is missing: skelact_models runs from a checkout of the "
                                "repository (pip install -e models), which has it") from err
    return defaults["window"], defaults["decision"]


DEFAULT_WINDOW, DEFAULT_DECISION = _rust_defaults()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def portable_path(path):
    """`path` relative to the repository when it lies inside it, so that model.json reads the same on every clone."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load(directory):
    path = Path(directory) / NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the export step first (`cargo xtask export`)")
    description = json.loads(path.read_text())
    if description.get("format") != FORMAT or description.get("version") != VERSION:
        raise ValueError(f"{path} is not a {FORMAT} v{VERSION} description")
    return description


def save(directory, description):
    path = Path(directory) / NAME
    path.write_text(json.dumps(description, indent=1) + "\n")
    return path


def onnx_path(directory, description, precision, stream="joint"):
    """Path of a stream's ONNX model in a precision, or None when that step has not run."""
    for entry in description["streams"]:
        if entry["stream"] == stream:
            name = entry["onnx"].get(precision)
            return None if name is None else Path(directory) / name
    raise KeyError(f"the model has no {stream} stream")
