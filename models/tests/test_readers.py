"""NTU RGB+D and PKU-MMD readers. The NTU tests read the real Kinect recordings in ../shared/fixtures/ntu/."""

from pathlib import Path

import numpy as np
import pytest

from skelact_models.data import ntu, pkummd
from skelact_models.preprocess import PreprocessConfig, preprocess_window

REPO = Path(__file__).resolve().parents[2]
NTU_DIR = REPO.parent / "shared" / "fixtures" / "ntu"
NTU_FILES = sorted(NTU_DIR.glob("*.skeleton")) if NTU_DIR.is_dir() else []
needs_ntu = pytest.mark.skipif(not NTU_FILES, reason=f"NTU fixtures not found in {NTU_DIR}")


@needs_ntu
@pytest.mark.parametrize("path", NTU_FILES, ids=[p.stem for p in NTU_FILES])
def test_ntu_files_parse_and_preprocess(path):
    skeleton = ntu.read_skeleton(path)
    first_line = path.read_text().splitlines()[0]
    assert skeleton.frame_count == int(first_line)
    assert skeleton.bodies
    sample = ntu.load_sample(path)
    present, joints, valid = sample["present"], sample["joints"], sample["valid"]
    assert joints.shape[0] == 2 and joints.shape[2:] == (25, 3)
    assert present[0].any()
    # Kinect v2 depth range: people stand between 0.5 and 5 m in front of the sensor
    z = joints[0][present[0]][:, :, 2]
    assert 0.5 < np.median(z) < 5.0
    body0 = np.flatnonzero(present[0])
    window = slice(body0[0], body0[-1] + 1)
    out = preprocess_window(present[:, window], joints[:, window], valid[:, window])
    assert out["joint"].shape == (3, 64, 25, 2) and np.all(np.isfinite(out["joint"]))
    assert sample["action"] == int(path.stem[-3:])


@needs_ntu
def test_ntu_handshaking_has_two_actors():
    path = NTU_DIR / "S001C003P008R002A058.skeleton"
    sample = ntu.load_sample(path)
    assert sample["present"][0].mean() > 0.9 and sample["present"][1].mean() > 0.9
    # the two people stand apart
    gap = np.linalg.norm(sample["joints"][0, :, 1] - sample["joints"][1, :, 1], axis=1).mean()
    assert gap > 0.3
    meta = ntu.parse_name(path.stem)
    assert meta == {"setup": 1, "camera": 3, "subject": 8, "replication": 2, "action": 58}


@needs_ntu
def test_ntu_folder_becomes_a_sequence_set():
    data = ntu.load_folder(NTU_DIR)
    assert len(data) == len(NTU_FILES)
    assert sorted(data.labels.tolist()) == sorted(int(p.stem[-3:]) - 1 for p in NTU_FILES)
    windows = data.eval_windows(PreprocessConfig())
    assert windows.shape == (len(NTU_FILES), 3, 64, 25, 2)
    # centred on SpineMid of body 0's first frame: the first output frame is close to the origin there
    assert float(windows[:, :, 0, 1, 0].abs().max()) < 0.2
    assert data.meta["xsub_train"].dtype == bool


@needs_ntu
def test_ntu_crlf_and_lf_read_the_same(tmp_path):
    path = NTU_FILES[0]
    lf = tmp_path / path.name
    lf.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    assert b"\r" in path.read_bytes()
    a, b = ntu.read_skeleton(path), ntu.read_skeleton(lf)
    key = next(iter(a.bodies))
    np.testing.assert_array_equal(a.bodies[key].joints_array(), b.bodies[key].joints_array())


def _write_ntu(path, frames):
    """frames: list of lists of (body_id, joints[25, 3])."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, joints in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.0 0.0 2")
            lines.append("25")
            for x, y, z in joints:
                lines.append(f"{x} {y} {z} 0 0 0 0 0 0 0 0 2")
    path.write_text("\n".join(lines) + "\n")


def _person(rng, spread_x=0.3, spread_y=1.5, offset=0.0):
    joints = rng.uniform(0, 1, size=(25, 3)) * [spread_x, spread_y, 0.2]
    joints[:, 2] += 3.0
    joints[:, 0] += offset
    return joints


def test_ntu_denoising_drops_short_and_flat_bodies(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for f in range(30):
        bodies = [("111", _person(rng) + [0, 0, 0.01 * f])]
        if f < 5:
            bodies.append(("222", _person(rng, offset=1.0)))  # 5 frames: noise by length
        bodies.append(("333", _person(rng, spread_x=2.0, spread_y=0.3, offset=-1.0)))  # wider than tall: noise
        frames.append(bodies)
    frames.insert(10, [])  # an empty frame is dropped
    path = tmp_path / "S001C001P001R001A001.skeleton"
    _write_ntu(path, frames)
    skeleton = ntu.read_skeleton(path)
    assert skeleton.empty_frames == [10] and skeleton.valid_frames == 30
    kept = [t.body_id for t, _ in ntu.denoise_bodies(skeleton)]
    assert kept == ["111"]
    joints, _ = ntu.two_actors(skeleton)
    assert joints.shape == (2, 30, 25, 3) and np.all(joints[1] == 0)


def test_ntu_two_actors_orders_by_motion(tmp_path):
    rng = np.random.default_rng(1)
    frames = []
    for f in range(20):
        calm = _person(rng) * 0.0 + _person(np.random.default_rng(5))
        busy = _person(rng, offset=1.0) + [0.05 * f, 0, 0]
        frames.append([("calm", calm), ("busy", busy)])
    path = tmp_path / "S001C001P001R001A050.skeleton"
    _write_ntu(path, frames)
    order = [t.body_id for t, _ in ntu.denoise_bodies(ntu.read_skeleton(path))]
    assert order == ["busy", "calm"]


def test_ntu_reader_reports_truncated_files(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("3\n1\n72057594037931648 0 1 1 1 1 0 0 0 2\n25\n0 0 0 0 0 0 0 0 0 0 0 2\n")
    with pytest.raises(ntu.NtuFormatError, match="ends"):
        ntu.read_skeleton(path)
    with pytest.raises(ntu.NtuFormatError):
        ntu.parse_name("not-a-sample")


def test_pkummd_reader_and_clips(tmp_path):
    rng = np.random.default_rng(0)
    frames = 50
    data = np.zeros((frames, 150), np.float32)
    data[:, :75] = rng.normal(size=(frames, 75)) + 3.0
    data[20:30, 75:] = rng.normal(size=(10, 75)) + 3.0  # a second person for a while
    skeleton = tmp_path / "0002-L.txt"
    skeleton.write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in data) + "\n")
    labels = tmp_path / "0002-L-label.txt"
    labels.write_text("3,5,14,1\n12,18,33,2\n51,45,80,1\n")
    joints = pkummd.read_skeleton(skeleton)
    assert joints.shape == (2, frames, 25, 3)
    np.testing.assert_allclose(joints[0, 7].reshape(-1), data[7, :75], atol=1e-6)
    parsed = pkummd.read_labels(labels)
    assert parsed[0] == pkummd.PkuLabel(3, 5, 14, 1)
    clips = pkummd.cut_clips(joints, parsed)
    assert [c["label"] for c in clips] == [2, 11, 50]
    assert clips[0]["joints"].shape == (2, 10, 25, 3)
    assert clips[1]["present"][1].sum() == 10
    assert clips[2]["joints"].shape[1] == 5  # clipped to the end of the file
    out = preprocess_window(clips[1]["present"], clips[1]["joints"], clips[1]["valid"])
    assert out["joint"].shape == (3, 64, 25, 2)


def test_pkummd_rejects_malformed_rows(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n")
    with pytest.raises(pkummd.PkuFormatError, match="150"):
        pkummd.read_skeleton(bad)
    bad.write_text("3,10,5,1\n")
    with pytest.raises(pkummd.PkuFormatError):
        pkummd.read_labels(bad)
