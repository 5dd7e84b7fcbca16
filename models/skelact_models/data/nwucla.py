"""Northwestern-UCLA Multiview Action 3D skeletons (the CTR-GCN `all_sqe/` JSON files), Kinect v1, 20 joints.

Each `aAA_sSS_eEE_vVV.json` holds `{"file_name", "skeletons": [T][20][3], "label": 1..10}`: one person, Kinect SDK
1.x joint order, metres in Kinect camera axes. The standard protocol is cross-view: train on views 1 and 2 (1020
sequences), test on view 3 (464). Sequences go through the device's Kinect v1 -> NTU-25 mapping (`layouts`), so the
model sees what the device computes from a Kinect v1 sender.

Split selection works on file names, before any file is opened: a training run lists only its split's files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..layouts import KINECT_V1_JOINTS, map_to_ntu
from .datasets import dataset_dir

# label (1..10) -> action name; the action numbers skip 7 and 10.
CLASSES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
           "donning", "doffing", "throw", "carry")
ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
XVIEW_TRAIN_VIEWS = (1, 2)
XVIEW_TEST_VIEWS = (3,)
SEQUENCES = 1484
NAME_PATTERN = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})$")


class NwUclaFormatError(ValueError):
    """A file does not follow the NW-UCLA JSON format."""


def parse_name(name):
    """{action, subject, repetition, view} (as in the name) and `label` (0-based class index) of a file name."""
    match = NAME_PATTERN.search(Path(name).stem)
    if not match:
        raise NwUclaFormatError(f"{name}: not an NW-UCLA name (aAA_sSS_eEE_vVV)")
    action, subject, repetition, view = (int(g) for g in match.groups())
    if action not in ACTIONS:
        raise NwUclaFormatError(f"{name}: action {action} is not one of NW-UCLA's")
    return {"action": action, "subject": subject, "repetition": repetition, "view": view,
            "label": ACTIONS.index(action)}


def root(folder=None):
    """The `all_sqe/` folder: `folder` itself, its `all_sqe/`, or the shared datasets' (None when absent)."""
    if folder is None:
        base = dataset_dir("nw-ucla")
        if base is None:
            return None
        folder = base
    folder = Path(folder)
    return folder / "all_sqe" if (folder / "all_sqe").is_dir() else folder


def split_of(view):
    return "train" if view in XVIEW_TRAIN_VIEWS else "test"


def list_files(folder=None, split=None):
    """Sorted paths of the sequences, optionally of one cross-view split ("train" or "test"), chosen by name."""
    base = root(folder)
    if base is None:
        raise FileNotFoundError("NW-UCLA not found (set SKELACT_DATASETS or check out ../shared/datasets)")
    paths = sorted(base.glob("a*_s*_e*_v*.json"))
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be train or test, not {split!r}")
        paths = [p for p in paths if split_of(parse_name(p.name)["view"]) == split]
    return paths


def read_sequence(path):
    """One file: dict with `name`, `joints` [F, 20, 3] float32 (Kinect v1 order, metres), `label` (0-based) and the
    name's fields. Checks the file's own label against its name."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    meta = parse_name(path.name)
    joints = np.asarray(raw["skeletons"], dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (KINECT_V1_JOINTS, 3) or joints.shape[0] == 0:
        raise NwUclaFormatError(f"{path.name}: skeletons of shape {joints.shape}, expected [T, 20, 3]")
    if int(raw["label"]) != meta["label"] + 1:
        raise NwUclaFormatError(f"{path.name}: label {raw['label']} does not match action {meta['action']}")
    return {"name": path.stem, "joints": joints, **meta}


def to_spec_input(joints_v1):
    """Kinect v1 joints [F, 20, 3] -> spec input (present [2, F], joints [2, F, 25, 3], valid [2, F, 25]) through
    the device's Kinect v1 mapping. A joint at exactly (0, 0, 0) is taken as not tracked; body 1 is absent."""
    joints_v1 = np.asarray(joints_v1, dtype=np.float32)
    tracked = np.any(joints_v1 != 0, axis=-1)
    ntu, valid = map_to_ntu(joints_v1, tracked)
    frames = joints_v1.shape[0]
    present = np.zeros((2, frames), dtype=bool)
    present[0] = tracked.any(axis=-1)
    joints = np.zeros((2, frames, 25, 3), dtype=np.float32)
    joints[0] = ntu
    valid2 = np.zeros((2, frames, 25), dtype=bool)
    valid2[0] = valid & present[0][:, None]
    return present, joints, valid2


def load_split(split, folder=None, align=False):
    """One cross-view split as a `SequenceSet` (spec steps 1-3 done; labels 0..9; meta: subject, view, repetition)."""
    from .windows import SequenceSet

    items, labels, meta = [], [], {"subject": [], "view": [], "repetition": []}
    names = []
    for path in list_files(folder, split):
        seq = read_sequence(path)
        items.append(to_spec_input(seq["joints"]))
        labels.append(seq["label"])
        names.append(seq["name"])
        for key in meta:
            meta[key].append(seq[key])
    meta["name"] = names
    return SequenceSet.from_spec_inputs(items, labels, meta, class_names=CLASSES, align=align)
