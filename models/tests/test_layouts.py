"""The Kinect v1 -> NTU-25 mapping of the training code against the device's (runtime/src/layout/kinect_v1.rs)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from skelact_models import layouts
from skelact_models.data import nwucla, utdmhad

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "fixtures" / "layouts" / "kinect_v1.json"
RUST = REPO / "runtime" / "src" / "layout" / "kinect_v1.rs"


def test_constants_equal_the_rust_ones():
    text = RUST.read_text()
    for name in ("SPINE_MID_ALONG_SPINE", "SPINE_SHOULDER_ABOVE_SHOULDER_CENTER", "NECK_ALONG_SHOULDER_HEAD",
                 "HAND_TIP_BEYOND_HAND"):
        rust = float(re.search(rf"pub const {name}: f32 = ([0-9.]+);", text).group(1))
        assert getattr(layouts, f"KINECT_V1_{name}") == rust, name
    names = re.search(r"JOINT_NAMES: \[&str; JOINT_COUNT\] = \[(.*?)\];", text, re.S).group(1)
    assert tuple(re.findall(r'"(\w+)"', names)) == layouts.KINECT_V1_JOINT_NAMES


def test_golden_frames_map_as_written():
    golden = json.loads(GOLDEN.read_text())
    assert golden["layout"] == "KinectV1" and len(golden["frames"]) >= 2
    for frame in golden["frames"]:
        ntu, valid = layouts.map_to_ntu(np.asarray(frame["joints"], dtype=np.float32))
        np.testing.assert_array_equal(ntu, np.asarray(frame["ntu"], dtype=np.float32), err_msg=frame["source"])
        assert valid.tolist() == frame["valid"]
    # Thumbs are the only missing joints.
    assert [i for i, v in enumerate(golden["frames"][0]["valid"]) if not v] == [22, 24]


def test_missing_inputs_make_their_dependants_missing():
    joints = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    valid = np.ones(20, dtype=bool)
    valid[layouts.HEAD] = False
    ntu, out_valid = layouts.map_to_ntu(joints, valid)
    # Head, Neck and SpineShoulder read v1's Head.
    assert [i for i, v in enumerate(out_valid) if not v] == [2, 3, 20, 22, 24]
    assert np.all(ntu[~out_valid] == 0)


def test_golden_frames_are_the_readers_frames():
    golden = json.loads(GOLDEN.read_text())
    modules = {"nw-ucla": nwucla, "utd-mhad": utdmhad}
    if nwucla.root() is None or utdmhad.root() is None:
        pytest.skip("SKIPPED: ../shared/datasets absent (set SKELACT_DATASETS)")
    for frame in golden["frames"]:
        module = modules[frame["dataset"]]
        name = frame["source"].split()[1]
        path = next(p for p in module.list_files() if p.stem.removesuffix("_skeleton") == name)
        joints = module.read_sequence(path)["joints"][frame["frame"]]
        np.testing.assert_array_equal(joints, np.asarray(frame["joints"], dtype=np.float32))
