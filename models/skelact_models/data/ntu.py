"""NTU RGB+D `.skeleton` reader, with the cleaning of CTR-GCN's `get_raw_denoised_data` and its two-body selection.

File layout (Kinect v2, one file per sample, CRLF or LF line endings):
    frame count
    per frame: body count, then per body:
        10 body values (bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
                        isRestricted leanX leanY trackingState)
        joint count (25)
        per joint 12 values: x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
                             trackingState
File names follow SsssCcccPpppRrrrAaaa (setup, camera, performer, replication, action).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..skeleton import NTU_JOINTS

# CTR-GCN's thresholds (data/ntu/get_raw_denoised_data.py).
NOISE_LENGTH_THRESHOLD = 11  # a body tracked for at most this many frames is noise
NOISE_SPREAD_THRESHOLD_1 = 0.8  # a frame is noisy when x-spread > 0.8 * y-spread
NOISE_SPREAD_THRESHOLD_2 = 0.69754  # a body with at least this ratio of noisy frames is noise

# The standard benchmarks of NTU RGB+D 60 (Shahroudy et al., 2016).
XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XVIEW_TRAIN_CAMERAS = (2, 3)

NAME_PATTERN = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


class NtuFormatError(ValueError):
    """A `.skeleton` file does not follow the format."""


@dataclass
class NtuBodyTrack:
    """One body id's data over the frames it appears in (frame indices count only frames with bodies)."""

    body_id: str
    frames: list = field(default_factory=list)  # frame indices
    joints: list = field(default_factory=list)  # [25, 3] float32 arrays
    tracking: list = field(default_factory=list)  # [25] uint8 joint tracking states (0 not tracked, 1 inferred, 2)

    def joints_array(self):
        return np.stack(self.joints).astype(np.float32)

    def motion(self):
        """CTR-GCN's motion: the summed variance of x, y, z over all joints of all frames."""
        return float(np.sum(np.var(self.joints_array().reshape(-1, 3), axis=0)))


@dataclass
class NtuSkeleton:
    name: str
    frame_count: int  # as the header says, empty frames included
    empty_frames: list  # indices (in the file) of frames with no body; CTR-GCN drops them
    bodies: dict  # body id -> NtuBodyTrack, in order of first appearance

    @property
    def valid_frames(self):
        return self.frame_count - len(self.empty_frames)


def parse_name(name):
    """Returns {setup, camera, subject, replication, action} (1-based) from an NTU file name."""
    match = NAME_PATTERN.search(name)
    if not match:
        raise NtuFormatError(f"{name}: not an NTU sample name (SsssCcccPpppRrrrAaaa)")
    setup, camera, subject, replication, action = (int(g) for g in match.groups())
    return {"setup": setup, "camera": camera, "subject": subject, "replication": replication, "action": action}


def read_skeleton(path) -> NtuSkeleton:
    path = Path(path)
    text = path.read_text(encoding="ascii", errors="strict")
    lines = [line.strip() for line in text.splitlines()]
    cursor = 0

    def take(what):
        nonlocal cursor
        if cursor >= len(lines):
            raise NtuFormatError(f"{path.name}: file ends while reading {what} (line {cursor + 1})")
        line = lines[cursor]
        cursor += 1
        return line

    def take_int(what):
        line = take(what)
        try:
            return int(line)
        except ValueError as err:
            raise NtuFormatError(f"{path.name}:{cursor}: expected {what}, got {line!r}") from err

    frame_count = take_int("the frame count")
    bodies = {}
    empty = []
    valid_index = -1
    for f in range(frame_count):
        body_count = take_int(f"the body count of frame {f}")
        if body_count == 0:
            empty.append(f)
            continue
        valid_index += 1
        for _ in range(body_count):
            info = take("a body header").split()
            if len(info) != 10:
                raise NtuFormatError(f"{path.name}:{cursor}: a body header has 10 values, got {len(info)}")
            joint_count = take_int("the joint count")
            if joint_count != NTU_JOINTS:
                raise NtuFormatError(f"{path.name}:{cursor}: expected 25 joints, got {joint_count}")
            joints = np.zeros((NTU_JOINTS, 3), dtype=np.float32)
            tracking = np.zeros(NTU_JOINTS, dtype=np.uint8)
            for v in range(NTU_JOINTS):
                values = take("a joint").split()
                if len(values) != 12:
                    raise NtuFormatError(f"{path.name}:{cursor}: a joint has 12 values, got {len(values)}")
                try:
                    joints[v] = [float(x) for x in values[:3]]
                    tracking[v] = int(values[11])
                except ValueError as err:
                    raise NtuFormatError(f"{path.name}:{cursor}: {err}") from err
            track = bodies.setdefault(info[0], NtuBodyTrack(info[0]))
            track.frames.append(valid_index)
            track.joints.append(joints)
            track.tracking.append(tracking)
    if valid_index < 0:
        raise NtuFormatError(f"{path.name}: every frame is empty")
    return NtuSkeleton(name=path.stem, frame_count=frame_count, empty_frames=empty, bodies=bodies)


def _noisy_by_spread(joints):
    """Indices of frames whose x-spread exceeds 0.8 times their y-spread (CTR-GCN: such a 'body' is a chair or
    a wall rather than a person)."""
    spread_x = joints[:, :, 0].max(axis=1) - joints[:, :, 0].min(axis=1)
    spread_y = joints[:, :, 1].max(axis=1) - joints[:, :, 1].min(axis=1)
    return spread_x > NOISE_SPREAD_THRESHOLD_1 * spread_y


def denoise_bodies(skeleton: NtuSkeleton):
    """CTR-GCN's `denoising_bodies_data`: drop short bodies, then (while more than one remains) spread-noisy bodies,
    and order the rest by motion, largest first. Returns a list of (NtuBodyTrack, motion)."""
    tracks = {k: t for k, t in skeleton.bodies.items() if len(t.frames) > NOISE_LENGTH_THRESHOLD}
    if not tracks:
        # CTR-GCN would have no body left; keep the longest so that a short clip still yields something.
        longest = max(skeleton.bodies.values(), key=lambda t: len(t.frames))
        tracks = {longest.body_id: longest}
    if len(tracks) == 1:
        return [(t, 0.0) for t in tracks.values()]
    motion = {k: t.motion() for k, t in tracks.items()}
    for key in list(tracks):
        if len(tracks) == 1:
            break
        joints = tracks[key].joints_array()
        noisy = _noisy_by_spread(joints)
        if not noisy.any():
            continue
        if noisy.mean() >= NOISE_SPREAD_THRESHOLD_2:
            del tracks[key]
        else:
            clean = joints[~noisy].reshape(-1, 3)
            motion[key] = min(motion[key], float(np.sum(np.var(clean, axis=0))))
    if len(tracks) == 1:
        return [(t, 0.0) for t in tracks.values()]
    ordered = sorted(tracks, key=lambda k: motion[k], reverse=True)
    return [(tracks[k], motion[k]) for k in ordered]


def two_actors(skeleton: NtuSkeleton):
    """CTR-GCN's `get_two_actors_points` followed by `remove_missing_frames`.

    Returns `(joints[2, F, 25, 3] float32, tracking[2, F, 25] uint8)`: actor 1 is the body with the most motion,
    later bodies fill actor 1's slot when they do not overlap it in time, else actor 2's; frames where both
    actors are all zeros are removed.
    """
    frames = skeleton.valid_frames
    joints = np.zeros((2, frames, NTU_JOINTS, 3), dtype=np.float32)
    tracking = np.zeros((2, frames, NTU_JOINTS), dtype=np.uint8)
    tracks = [t for t, _ in denoise_bodies(skeleton)]

    def place(slot, track):
        idx = np.asarray(track.frames)
        joints[slot, idx] = track.joints_array()
        tracking[slot, idx] = np.stack(track.tracking)

    first = tracks[0]
    place(0, first)
    start1, end1 = first.frames[0], first.frames[-1]
    start2, end2 = 0, 0
    for track in tracks[1:]:
        start, end = track.frames[0], track.frames[-1]
        if min(end1, end) - max(start1, start) <= 0:
            place(0, track)
            start1, end1 = min(start, start1), max(end, end1)
        elif min(end2, end) - max(start2, start) <= 0:
            place(1, track)
            start2, end2 = min(start, start2), max(end, end2)
    keep = joints.reshape(2, frames, -1).sum(axis=(0, 2)) != 0
    return joints[:, keep], tracking[:, keep]


def to_spec_input(joints, tracking):
    """Spec input from `two_actors` output: (present[2, F], joints[2, F, 25, 3], valid[2, F, 25]).

    A body is present in a frame when any of its coordinates is non-zero; a joint is valid when Kinect tracked or
    inferred it (tracking state > 0) in a present frame.
    """
    present = np.abs(joints).reshape(2, joints.shape[1], -1).sum(axis=2) > 0
    valid = (tracking > 0) & present[:, :, None]
    return present, joints, valid


def load_sample(path):
    """Reads and cleans one `.skeleton` file: returns a dict with the spec input and the name's metadata."""
    skeleton = read_skeleton(path)
    joints, tracking = two_actors(skeleton)
    present, joints, valid = to_spec_input(joints, tracking)
    meta = parse_name(skeleton.name)
    return {"name": skeleton.name, "present": present, "joints": joints, "valid": valid, **meta}


def trim_to_body0(present, joints, valid):
    """Keeps the frames from body 0's first to its last present frame (the spec needs body 0 at both ends)."""
    idx = np.flatnonzero(present[0])
    if idx.size == 0:
        raise NtuFormatError("body 0 is never present")
    keep = slice(int(idx[0]), int(idx[-1]) + 1)
    return present[:, keep], joints[:, keep], valid[:, keep]


def load_folder(folder, align=False):
    """Every `.skeleton` file of a folder as a `SequenceSet` (labels = action - 1; meta: subject, camera, setup,
    xsub_train, xview_train), preprocessed with spec steps 1-3."""
    from .windows import SequenceSet

    items, labels, meta = [], [], {"subject": [], "camera": [], "setup": [], "xsub_train": [], "xview_train": []}
    for path in sorted(Path(folder).glob("*.skeleton")):
        sample = load_sample(path)
        items.append(trim_to_body0(sample["present"], sample["joints"], sample["valid"]))
        labels.append(sample["action"] - 1)
        for key in ("subject", "camera", "setup"):
            meta[key].append(sample[key])
        meta["xsub_train"].append(sample["subject"] in XSUB_TRAIN_SUBJECTS)
        meta["xview_train"].append(sample["camera"] in XVIEW_TRAIN_CAMERAS)
    return SequenceSet.from_spec_inputs(items, labels, meta, align=align)
