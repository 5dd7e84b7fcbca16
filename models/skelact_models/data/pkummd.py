"""PKU-MMD skeleton reader (Kinect v2, NTU-25 joint order) and clip cutting.

Skeleton files: one text row per frame of 150 floats, two bodies x 25 joints x (x, y, z); the second body is all
zeros when nobody else is there. Separators are spaces (or commas). Label files: one row per action instance,
`action_id,start_frame,end_frame,confidence`, with action ids 1..51. Frame numbers are taken as zero-based row
indices and the end frame as inclusive (a clip is rows[start : end + 1], clipped to the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import NTU_JOINTS


class PkuFormatError(ValueError):
    """A PKU-MMD skeleton or label file does not follow the format."""


@dataclass(frozen=True)
class PkuLabel:
    action: int  # 1..51
    start_frame: int
    end_frame: int  # inclusive
    confidence: int


def read_skeleton(path):
    """Returns joints[2, F, 25, 3] float32."""
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        values = line.replace(",", " ").split()
        if len(values) != 2 * NTU_JOINTS * 3:
            raise PkuFormatError(f"{path.name}:{number}: a frame has 150 values, got {len(values)}")
        try:
            rows.append([float(v) for v in values])
        except ValueError as err:
            raise PkuFormatError(f"{path.name}:{number}: {err}") from err
    if not rows:
        raise PkuFormatError(f"{path.name}: no frames")
    data = np.asarray(rows, dtype=np.float32).reshape(-1, 2, NTU_JOINTS, 3)
    return np.ascontiguousarray(data.transpose(1, 0, 2, 3))


def read_labels(path):
    path = Path(path)
    labels = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        values = [v.strip() for v in line.split(",")]
        if len(values) != 4:
            raise PkuFormatError(f"{path.name}:{number}: a label row is action_id,start_frame,end_frame,confidence")
        try:
            action, start, end, confidence = (int(float(v)) for v in values)
        except ValueError as err:
            raise PkuFormatError(f"{path.name}:{number}: {err}") from err
        if not (1 <= action <= 51) or start < 0 or end < start:
            raise PkuFormatError(f"{path.name}:{number}: invalid label {values}")
        labels.append(PkuLabel(action, start, end, confidence))
    return labels


def to_spec_input(joints):
    """(present[2, F], joints, valid[2, F, 25]): a body is present where it is not all zeros, and all of its
    joints are then valid (PKU-MMD carries no per-joint tracking state)."""
    present = np.abs(joints).reshape(2, joints.shape[1], -1).sum(axis=2) > 0
    valid = np.broadcast_to(present[:, :, None], present.shape + (NTU_JOINTS,)).copy()
    return present, joints, valid


def cut_clips(joints, labels):
    """Cuts a sequence into labelled clips. Returns a list of dicts with the spec input of each clip, trimmed so
    that body 0 is present in its first and last frame; clips where body 0 never appears are skipped."""
    clips = []
    frames = joints.shape[1]
    for label in labels:
        start, end = label.start_frame, min(label.end_frame, frames - 1)
        if start > end:
            continue
        present, clip, valid = to_spec_input(joints[:, start:end + 1])
        if not present[0].any() and present[1].any():
            # Only the second slot is filled: make it body 0, the body the clip is about.
            present, clip, valid = present[::-1].copy(), clip[::-1].copy(), valid[::-1].copy()
        body0 = np.flatnonzero(present[0])
        if body0.size == 0:
            continue
        keep = slice(int(body0[0]), int(body0[-1]) + 1)
        clips.append({"label": label.action - 1, "confidence": label.confidence, "start_frame": start + keep.start,
                      "present": present[:, keep], "joints": clip[:, keep], "valid": valid[:, keep]})
    return clips
