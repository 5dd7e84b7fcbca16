"""Session recordings: the file format the device-side tools convert to protocol-v1 replays.

Two files per session (documented in docs/models.md, "Session recordings"):

`NAME.jsonl`: JSON lines. The first line is a header object:
    {"format": "skelact-session", "version": 1, "layout": "ntu25", "units": "m", "axes": "kinect-v2",
     "rate_hz": 30.0, "joints": 25, "frames": N, ...provenance...}
then one object per frame, in time order:
    {"sequence": 0, "timestamp_us": 0, "bodies": [{"id": 1, "joints": [[x, y, z, confidence] x 25]}]}
`sequence` counts frames as sent (0, 1, 2, ...); frames the sensor never delivered leave gaps in `timestamp_us`
only.
`bodies` may be empty (the sensor saw nobody in that frame). x, y, z are metres in Kinect v2 camera axes
(+x to the sensor's left, +y up, +z away from the sensor); confidence is an integer 0..255, 0 = not tracked (its
coordinates are then 0 and carry no information), 255 = tracked.

`NAME.segments.json`: the ground truth.
    {"format": "skelact-segments", "version": 1, "classes": ["hand waving", ...],
     "segments": [{"label": 0, "class": "hand waving", "ntu_action": 23, "body_id": 1,
                   "start_us": 1000000, "end_us": 3000000}, ...]}
`label` indexes `classes`; start_us and end_us are the timestamps of the first and last frame of the action.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..skeleton import NTU_JOINTS
from .synthetic import CLASS_NAMES, CLASSES, Session

FORMAT = "skelact-session"
SEGMENTS_FORMAT = "skelact-segments"
VERSION = 1


class RecordingError(ValueError):
    """A recording file does not follow the format."""


def _joint_row(xyz, valid):
    if not valid:
        return [0.0, 0.0, 0.0, 0]
    return [round(float(xyz[0]), 5), round(float(xyz[1]), 5), round(float(xyz[2]), 5), 255]


def write_session(session: Session, prefix, classes, provenance=None, names=None):
    """Writes PREFIX.jsonl and PREFIX.segments.json; returns the two paths. `names` renames classes in the ground
    truth (synthetic name -> the name a model knows the action by, e.g. `synthetic.UTD_MHAD_COUNTERPARTS`)."""
    names = names or {}
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    frames_path = prefix.with_name(prefix.name + ".jsonl")
    segments_path = prefix.with_name(prefix.name + ".segments.json")
    header = {
        "format": FORMAT, "version": VERSION, "layout": "ntu25", "units": "m", "axes": "kinect-v2",
        "rate_hz": session.rate_hz, "joints": NTU_JOINTS, "frames": int(session.timestamps_us.shape[0]),
        "subject": session.subject, "camera": asdict(session.camera), **(provenance or {}),
    }
    with open(frames_path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for i, t in enumerate(session.timestamps_us):
            bodies = []
            if session.present[i]:
                rows = [_joint_row(session.joints[i, v], session.valid[i, v]) for v in range(NTU_JOINTS)]
                bodies.append({"id": session.body_id, "joints": rows})
            out.write(json.dumps({"sequence": i, "timestamp_us": int(t), "bodies": bodies}, separators=(",", ":")))
            out.write("\n")
    segments = []
    for seg in session.segments:
        name = classes[seg.label]
        segments.append({
            "label": seg.label, "class": names.get(name, name), "ntu_action": CLASSES[CLASS_NAMES.index(name)].ntu_id,
            "body_id": session.body_id, "start_us": int(session.timestamps_us[seg.start_frame]),
            "end_us": int(session.timestamps_us[seg.end_frame]),
        })
    with open(segments_path, "w", encoding="utf-8") as out:
        json.dump({"format": SEGMENTS_FORMAT, "version": VERSION, "classes": [names.get(c, c) for c in classes],
                   "segments": segments},
                  out, indent=1)
        out.write("\n")
    return frames_path, segments_path


def read_session(frames_path):
    """Reads a .jsonl recording back: (header, frames) where frames is a list of
    (sequence, timestamp_us, {body_id: (joints[25, 3] float32, confidence[25] uint8)})."""
    frames = []
    with open(frames_path, encoding="utf-8") as lines:
        try:
            header = json.loads(next(lines))
        except (StopIteration, json.JSONDecodeError) as err:
            raise RecordingError(f"{frames_path}: missing or unreadable header") from err
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise RecordingError(f"{frames_path}: not a {FORMAT} v{VERSION} file")
        for number, line in enumerate(lines, start=2):
            try:
                record = json.loads(line)
                bodies = {}
                for body in record["bodies"]:
                    rows = np.asarray(body["joints"], dtype=np.float64)
                    if rows.shape != (NTU_JOINTS, 4):
                        raise RecordingError(f"{frames_path}:{number}: a body needs 25 rows of [x, y, z, c]")
                    confidence = rows[:, 3]
                    if np.any((confidence < 0) | (confidence > 255) | (confidence != np.round(confidence))):
                        raise RecordingError(f"{frames_path}:{number}: confidence must be an integer 0..255")
                    bodies[int(body["id"])] = (rows[:, :3].astype(np.float32), confidence.astype(np.uint8))
                frames.append((int(record["sequence"]), int(record["timestamp_us"]), bodies))
            except (KeyError, TypeError, ValueError) as err:
                if isinstance(err, RecordingError):
                    raise
                raise RecordingError(f"{frames_path}:{number}: {err}") from err
    return header, frames


def segment_inputs(frames, segments, frame_margin=0):
    """Spec inputs of the ground-truth segments of a recording read by `read_session`, one per segment:
    (present[2, F], joints[2, F, 25, 3], valid[2, F, 25]) for the frames from start_us to end_us of the segment's
    body (body 1 left empty), trimmed to the frames where that body is present."""
    times = np.array([t for _, t, _ in frames])
    out = []
    for seg in segments:
        lo = max(0, int(np.searchsorted(times, seg["start_us"], side="left")) - frame_margin)
        hi = min(len(frames), int(np.searchsorted(times, seg["end_us"], side="right")) + frame_margin)
        count = hi - lo
        present = np.zeros((2, count), dtype=bool)
        joints = np.zeros((2, count, NTU_JOINTS, 3), dtype=np.float32)
        valid = np.zeros((2, count, NTU_JOINTS), dtype=bool)
        for i, (_, _, bodies) in enumerate(frames[lo:hi]):
            body = bodies.get(seg["body_id"])
            if body is not None:
                present[0, i] = True
                joints[0, i] = body[0]
                valid[0, i] = body[1] > 0
        idx = np.flatnonzero(present[0])
        if idx.size == 0:
            out.append(None)
            continue
        keep = slice(int(idx[0]), int(idx[-1]) + 1)
        out.append((present[:, keep], joints[:, keep], valid[:, keep]))
    return out
