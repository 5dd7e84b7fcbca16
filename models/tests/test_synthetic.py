"""Synthetic actions: classes, shapes, determinism, splits, sessions and their recordings."""

import json

import numpy as np
import pytest

from skelact_models.data import synthetic as sy
from skelact_models.data.recording import RecordingError, read_session, write_session
from skelact_models.data.windows import SequenceSet
from skelact_models.preprocess import prepare_sequence
from skelact_models.recipes import splits

SMALL = sy.SyntheticConfig(subjects=4)


def test_classes_cover_the_required_actions():
    assert len(sy.CLASSES) >= 16
    two_person = [c.name for c in sy.CLASSES if c.persons == 2]
    assert {"handshaking", "hugging other person"} <= set(two_person)
    required = {"hand waving", "clapping", "jump up", "sitting down", "standing up", "kicking something",
                "squat down", "arm circles", "hands up (both hands)", "cross hands in front (say stop)", "salute",
                "falling", "hopping (one foot jumping)", "nod head/bow"}
    assert required <= set(sy.CLASS_NAMES)
    assert len({c.ntu_id for c in sy.CLASSES}) == len(sy.CLASSES)
    assert set(sy.HELD_OUT_CLASSES) <= set(sy.CLASS_NAMES)


@pytest.mark.parametrize("label", range(len(sy.CLASSES)))
def test_every_class_makes_a_valid_sample(label):
    s = sy.generate_sample(SMALL, 1, label, 0, 2)
    frames = s.present.shape[1]
    assert 40 <= frames <= 200
    assert s.joints.shape == (2, frames, 25, 3) and s.joints.dtype == np.float32
    assert s.present[0, 0] and s.present[0, -1]
    assert np.all(np.isfinite(s.joints))
    assert s.present[1].any() == (sy.CLASSES[label].persons == 2)
    # seen from 2.5-4 m: body 0 stands in front of the sensor
    z = s.joints[0][s.valid[0]][:, 2]
    assert 1.0 < np.median(z) < 5.5
    seq, _ = prepare_sequence(s.present, s.joints, s.valid)
    # the action moves: some joint travels at least 10 cm over the sample
    travel = np.abs(seq[0] - seq[0, :1]).max()
    assert travel > 0.1, f"{sy.CLASS_NAMES[label]} barely moves ({travel:.3f} m)"


def test_generation_is_deterministic_from_the_seed():
    a = sy.generate_sample(SMALL, 2, 5, 0, 1)
    b = sy.generate_sample(SMALL, 2, 5, 0, 1)
    np.testing.assert_array_equal(a.joints, b.joints)
    np.testing.assert_array_equal(a.valid, b.valid)
    c = sy.generate_sample(sy.SyntheticConfig(subjects=4, seed=1), 2, 5, 0, 1)
    assert a.joints.shape != c.joints.shape or not np.array_equal(a.joints, c.joints)


def test_cameras_see_the_same_performance_from_different_azimuths():
    views = [sy.generate_sample(SMALL, 0, 0, 0, k) for k in range(5)]
    assert len({v.joints.shape[1] for v in views}) == 1
    azimuths = [v.azimuth_deg for v in views]
    assert min(azimuths) <= -52 and max(azimuths) >= 52
    assert not np.allclose(views[0].joints, views[4].joints)


def test_subjects_differ_in_size():
    heights = [sy.make_subject(0, i).height for i in range(10)]
    assert max(heights) - min(heights) > 0.15


def test_sensor_drops_joints_and_frames():
    config = sy.SyntheticConfig(subjects=2, sensor=sy.SensorModel(joint_drop=(0.2, 0.2), frame_drop=(0.2, 0.2)))
    s = sy.generate_sample(config, 0, 0, 0, 0)
    assert 0.05 < 1 - s.valid[0].mean() < 0.6
    assert 0.05 < 1 - s.present[0].mean() < 0.5
    assert np.all(s.joints[0][~s.valid[0]] == 0)


def test_splits_are_disjoint_and_hold_out_classes():
    config = sy.SyntheticConfig(subjects=4, classes=("hand waving", "clapping", "side kick"))
    samples = sy.generate(config)
    data = SequenceSet([np.zeros((3, 2, 25, 2), np.float32)] * len(samples), [s.label for s in samples],
                       {"subject": [s.subject for s in samples], "camera": [s.camera for s in samples]})
    m = splits(data, config, sy.HELD_OUT_CLASSES)
    assert not (m["xsub_train"] & m["xsub_test"]).any()
    assert not (m["xview_train"] & m["xview_test"]).any()
    assert set(data.labels[m["unseen_bank"]]) == {2}
    assert 2 not in set(data.labels[m["pool"]])
    assert set(data.meta["subject"][m["xsub_test"]]).isdisjoint(data.meta["subject"][m["pool"]])
    assert set(data.meta["camera"][m["xview_test"]]).isdisjoint(data.meta["camera"][m["pool"]])


def test_session_segments_and_recording_round_trip(tmp_path):
    session = sy.session(SMALL, subject_index=1, actions=5)
    assert len(session.segments) == 5
    frames = session.timestamps_us.shape[0]
    assert np.all(np.diff(session.timestamps_us) > 0)
    starts = [s.start_frame for s in session.segments]
    assert starts == sorted(starts)
    for a, b in zip(session.segments, session.segments[1:]):
        assert a.end_frame < b.start_frame  # idle between actions
    assert session.segments[-1].end_frame < frames
    frames_path, segments_path = write_session(session, tmp_path / "s", SMALL.classes)
    header, records = read_session(frames_path)
    assert header["frames"] == frames == len(records)
    seq, t, bodies = records[10]
    assert seq == 10 and t == session.timestamps_us[10]
    if session.present[10]:
        joints, confidence = bodies[1]
        assert joints.shape == (25, 3) and confidence.dtype == np.uint8
        ok = session.valid[10]
        np.testing.assert_allclose(joints[ok], session.joints[10][ok], atol=1e-5)
        assert np.all(confidence[ok] == 255) and np.all(confidence[~ok] == 0)
    truth = json.loads(segments_path.read_text())
    assert [s["class"] for s in truth["segments"]] == [s.name for s in session.segments]
    assert all(s["start_us"] < s["end_us"] for s in truth["segments"])


def test_a_utd_mhad_session_names_its_actions_as_utd_mhad_does(tmp_path):
    from skelact_models.data import utdmhad

    counterparts = sy.UTD_MHAD_COUNTERPARTS
    assert set(counterparts.values()) <= set(utdmhad.CLASSES)
    labels = [SMALL.classes.index(n) for n in counterparts if n in SMALL.classes]
    session = sy.session(SMALL, subject_index=1, actions=6, labels=labels)
    _, segments_path = write_session(session, tmp_path / "s", SMALL.classes, names=counterparts)
    truth = json.loads(segments_path.read_text())
    assert [s["class"] for s in truth["segments"]] == [counterparts[s.name] for s in session.segments]
    # The NTU action numbers still say which simulated action was performed.
    assert [s["ntu_action"] for s in truth["segments"]] == [sy.CLASSES[sy.CLASS_NAMES.index(s.name)].ntu_id
                                                           for s in session.segments]


def test_recording_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "something-else", "version": 1}\n')
    with pytest.raises(RecordingError):
        read_session(bad)
    bad.write_text('{"format": "skelact-session", "version": 1}\n{"sequence": 0, "timestamp_us": 0, '
                   '"bodies": [{"id": 1, "joints": [[0, 0, 0, 300]]}]}\n')
    with pytest.raises(RecordingError):
        read_session(bad)
