"""Preprocessing spec v1: hand-computed cases, and the shared golden vectors written by the Rust side."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from skelact_models import preprocess as pp
from skelact_models.skeleton import BONE_PAIRS_1BASED, PARENT, ROOT, ROOT_FIRST

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = Path(os.environ.get("SKELACT_GOLDEN_DIR", REPO / "tests" / "fixtures" / "preprocess"))


def blank(frames):
    present = np.zeros((2, frames), dtype=bool)
    joints = np.zeros((2, frames, 25, 3), dtype=np.float32)
    valid = np.zeros((2, frames, 25), dtype=bool)
    return present, joints, valid


def standing(frames, offset=(0.0, 0.0, 3.0)):
    """Body 0 present everywhere, every joint valid, joint v at offset + (v / 10, v / 20, f / 100)."""
    present, joints, valid = blank(frames)
    present[0] = True
    valid[0] = True
    for f in range(frames):
        for v in range(25):
            joints[0, f, v] = np.asarray(offset, dtype=np.float32) + np.float32([v / 10, v / 20, f / 100])
    return present, joints, valid


def test_parents_follow_the_spec_pairs():
    assert PARENT[7] == 6  # HandLeft's parent is WristLeft
    assert PARENT[ROOT] == ROOT == 20
    assert PARENT[0] == 1 and PARENT[1] == 20
    seen = set()
    for v in ROOT_FIRST:
        assert PARENT[v] in seen or v == ROOT
        seen.add(v)


def test_fill_interpolates_between_observed_samples_and_holds_at_the_ends():
    present, joints, valid = standing(6)
    joints[0, :, 5] = [[f, 2 * f, 0] for f in range(6)]
    valid[0, :, 5] = [False, True, False, False, True, False]
    filled, in_range = pp.fill_body(present[0], joints[0], valid[0])
    assert in_range.all()
    np.testing.assert_array_equal(filled[:, 5, 0], np.float32([1, 1, 2, 3, 4, 4]))
    # a + (b - a) * w in float32 with w = 1/3 and 2/3
    w = np.float32(1) / np.float32(3)
    assert filled[2, 5, 1] == np.float32(2) + (np.float32(8) - np.float32(2)) * w


def test_fill_uses_observed_value_in_absent_frames_inside_the_range():
    present, joints, valid = standing(5)
    present[0, 2] = False  # a dropped frame inside the range: filled from frames 1 and 3
    joints[0, 2] = 99.0
    filled, in_range = pp.fill_body(present[0], joints[0], valid[0])
    assert in_range.all()
    np.testing.assert_allclose(filled[2], 0.5 * (joints[0, 1] + joints[0, 3]), atol=1e-6)


def test_joint_never_observed_takes_its_parents_value():
    present, joints, valid = standing(3)
    valid[0, :, 7] = False  # HandLeft never seen -> WristLeft's value
    valid[0, :, 21] = False  # HandTipLeft -> its parent ThumbLeft (22) ...
    valid[0, :, 22] = False  # ... which is also missing -> HandLeft -> WristLeft
    filled, _ = pp.fill_body(present[0], joints[0], valid[0])
    np.testing.assert_array_equal(filled[:, 7], joints[0, :, 6])
    np.testing.assert_array_equal(filled[:, 22], joints[0, :, 6])
    np.testing.assert_array_equal(filled[:, 21], joints[0, :, 6])


def test_body_outside_its_present_range_is_absent_and_zero():
    present, joints, valid = standing(6)
    present[1, 2:4] = True
    valid[1, 2:4] = True
    joints[1, 2:4] = 1.0
    joints[1, [0, 1, 4, 5]] = 7.0  # not present: must not leak
    seq, in_range = pp.prepare_sequence(present, joints, valid)
    assert in_range[1].tolist() == [False, False, True, True, False, False]
    assert np.all(seq[1, [0, 1, 4, 5]] == 0)
    np.testing.assert_array_equal(seq[1, 2, 0], np.float32(1.0) - joints[0, 0, 1])


def test_centre_subtracts_spine_mid_of_body0_first_frame():
    present, joints, valid = standing(4)
    seq, _ = pp.prepare_sequence(present, joints, valid)
    np.testing.assert_array_equal(seq[0, 0, 1], np.zeros(3, np.float32))
    np.testing.assert_array_equal(seq[0, 3, 4], joints[0, 3, 4] - joints[0, 0, 1])


def test_unusable_body0_is_refused_with_a_clear_error():
    present, joints, valid = standing(4)
    valid[0, :, ROOT] = False
    with pytest.raises(pp.PreprocessError, match="SpineShoulder"):
        pp.prepare_sequence(present, joints, valid)
    present, joints, valid = standing(4)
    present[0, 3] = False
    with pytest.raises(pp.PreprocessError, match="first and the last"):
        pp.prepare_sequence(present, joints, valid)
    with pytest.raises(pp.PreprocessError) as refused:
        pp.prepare_sequence(np.zeros((2, 0), bool), np.zeros((2, 0, 25, 3)), np.zeros((2, 0, 25), bool))
    assert refused.value.code == "empty_window"


def test_implausible_or_non_finite_samples_are_not_observed():
    present, joints, valid = standing(5)
    joints[0, 2, 3] = [np.nan, 0.0, 0.0]
    joints[0, 3, 3] = [1500.0, 0.0, 0.0]  # valid-flagged, a kilometre and a half away
    filled, _ = pp.fill_body(present[0], joints[0], valid[0])
    expected = joints[0, 1, 3] + (joints[0, 4, 3] - joints[0, 1, 3]) * (np.float32(1) / np.float32(3))
    np.testing.assert_array_equal(filled[2, 3], expected)
    assert np.all(np.isfinite(filled))
    joints[0, 0, 3] = [0.0, -1000.0, 0.0]  # the bound itself is still observed
    assert pp.observed_samples(present[0], joints[0], valid[0])[0, 3]


def test_body1_without_root_counts_as_absent():
    present, joints, valid = standing(3)
    present[1] = True
    valid[1] = True
    valid[1, :, ROOT] = False
    joints[1] = 5.0
    seq, in_range = pp.prepare_sequence(present, joints, valid)
    assert not in_range[1].any() and np.all(seq[1] == 0)


def test_alignment_puts_the_spine_on_z_and_the_shoulders_on_x():
    rng = np.random.default_rng(0)
    present, joints, valid = standing(3)
    # A body whose shoulder line is perpendicular to its spine, turned and moved at random: alignment must bring
    # the spine onto +z and then the shoulders onto +x (MS-G3D's two rotations).
    body = rng.normal(scale=0.3, size=(3, 25, 3))
    body[:, 0] = [0.0, 0.0, 0.0]
    body[:, 1] = [0.0, 0.3, 0.0]
    body[:, 4] = [0.2, 0.5, 0.0]
    body[:, 8] = [-0.2, 0.5, 0.0]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    joints[0] = (body @ q.T + [0.3, -0.2, 3.0]).astype(np.float32)
    seq, _ = pp.prepare_sequence(present, joints, valid, align=True)
    spine = seq[0, 0, 1].astype(np.float64) - seq[0, 0, 0]
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 0, 1], atol=1e-5)
    shoulders = seq[0, 0, 8].astype(np.float64) - seq[0, 0, 4]
    np.testing.assert_allclose(shoulders / np.linalg.norm(shoulders), [1, 0, 0], atol=1e-5)
    # rotations keep lengths
    before = np.linalg.norm(joints[0, 2, 3].astype(np.float64) - joints[0, 2, 9])
    after = np.linalg.norm(seq[0, 2, 3].astype(np.float64) - seq[0, 2, 9])
    assert abs(before - after) < 1e-5


def test_rotation_matrix_is_orthonormal_and_identity_for_tiny_axes():
    r = pp.rotation_matrix([0.3, -1.0, 0.5], 1.1)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert abs(np.linalg.det(r) - 1) < 1e-12
    np.testing.assert_array_equal(pp.rotation_matrix([1e-7, 0, 0], 1.0), np.eye(3))
    np.testing.assert_array_equal(pp.rotation_matrix([1, 0, 0], 1e-7), np.eye(3))


def test_crop_bias_is_floor_of_f64_product():
    assert pp.crop_bias(40, 0.95) == 1
    assert pp.crop_bias(100, 0.95) == 2
    assert pp.crop_bias(1, 0.95) == 0
    assert pp.crop_bias(300, 0.9) == math.floor((1 - 0.9) * 300 / 2)


def test_resize_matches_the_written_out_formula():
    rng = np.random.default_rng(1)
    for length, frames_out in ((2, 4), (37, 64), (120, 64), (64, 64), (1, 8), (200, 120)):
        data = rng.normal(size=(3, length, 25, 2)).astype(np.float32)
        torch_out = pp.resize_time(data, frames_out)
        ref = pp.resize_time_reference(data, frames_out)
        assert torch_out.shape == (3, frames_out, 25, 2)
        np.testing.assert_allclose(torch_out, ref, rtol=0, atol=1e-6)
    x = np.zeros((1, 2, 1, 1), np.float32)
    x[0, :, 0, 0] = [0.0, 1.0]
    np.testing.assert_allclose(pp.resize_time(x, 4)[0, :, 0, 0], [0.0, 0.25, 0.75, 1.0])
    same = rng.normal(size=(3, 64, 25, 2)).astype(np.float32)
    np.testing.assert_array_equal(pp.resize_time(same, 64), same)


def test_bone_and_motion_streams():
    joint = np.random.default_rng(2).normal(size=(3, 8, 25, 2)).astype(np.float32)
    bone = pp.bone_stream(joint)
    assert np.all(bone[:, :, 20] == 0)
    for v1, v2 in BONE_PAIRS_1BASED:
        np.testing.assert_array_equal(bone[:, :, v1 - 1], joint[:, :, v1 - 1] - joint[:, :, v2 - 1])
    motion = pp.motion_stream(joint)
    np.testing.assert_array_equal(motion[:, :-1], joint[:, 1:] - joint[:, :-1])
    assert np.all(motion[:, -1] == 0)
    np.testing.assert_array_equal(pp.bone_stream(torch.from_numpy(joint)).numpy(), bone)


def test_whole_window_shape_and_layout():
    present, joints, valid = standing(40)
    out = pp.preprocess_window(present, joints, valid, pp.PreprocessConfig(frames_out=64))
    for key in ("joint", "bone", "motion"):
        assert out[key].shape == (3, 64, 25, 2) and out[key].dtype == np.float32
        assert out[key].flags["C_CONTIGUOUS"]
    # channel x of joint 4 at the first output frame: frames [1, 39) resized, first sample at source 0 -> frame 1
    assert abs(out["joint"][0, 0, 4, 0] - (joints[0, 1, 4, 0] - joints[0, 0, 1, 0])) < 1e-6
    assert np.all(out["joint"][..., 1] == 0)


# --- golden vectors shared with the Rust runtime -----------------------------------------------------------------

GOLDEN = sorted(GOLDEN_DIR.glob("*.json")) if GOLDEN_DIR.is_dir() else []


def _golden_inputs(case):
    frames = case["frames_in"]
    present, joints, valid = blank(frames)
    for b, body in enumerate(case["bodies"][:2]):
        present[b] = np.asarray(body["present"], dtype=bool)
        joints[b] = np.asarray(body["joints"], dtype=np.float32).reshape(frames, 25, 3)
        valid[b] = np.asarray(body["valid"], dtype=bool).reshape(frames, 25)
    return present, joints, valid


@pytest.mark.skipif(not GOLDEN, reason=f"no golden vectors in {GOLDEN_DIR} yet (the Rust runtime writes them)")
@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_vectors(path):
    case = json.loads(path.read_text())
    config = pp.PreprocessConfig(frames_out=case["config"]["frames_out"], crop_ratio=case["config"]["crop_ratio"],
                                 align=case["config"]["align"])
    present, joints, valid = _golden_inputs(case)
    if case.get("expected") is None:
        assert case.get("error"), f"{path.name}: a case without expected output must name its error"
        with pytest.raises(pp.PreprocessError) as refused:
            pp.preprocess_window(present, joints, valid, config)
        assert refused.value.code == case["error"]
        return
    out = pp.preprocess_window(present, joints, valid, config)
    shape = tuple(case["shape"])
    for key in ("joint", "bone", "motion"):
        expected = np.asarray(case["expected"][key], dtype=np.float64).reshape(shape)
        err = np.abs(out[key].astype(np.float64) - expected).max()
        assert err <= 1e-6, f"{path.name}: {key} differs from the Rust output by {err:.3g}"
    # The missing mask (what REC reconstructs) and its fraction, where the golden file carries them.
    if "missing" in case["expected"]:
        missing, fraction = pp.missing_mask(present, joints, valid, config)
        expected = np.asarray(case["expected"]["missing"], dtype=np.float32).reshape(missing.shape)
        np.testing.assert_array_equal(missing, expected, err_msg=f"{path.name}: missing mask")
        assert fraction == pytest.approx(case["expected"]["missing_fraction"], abs=1e-6)
