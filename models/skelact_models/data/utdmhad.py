"""UTD Multimodal Human Action Dataset, skeleton part: `aA_sS_tT_skeleton.mat` (MATLAB v5), Kinect v1, 20 joints.

Each file holds `d_skel`, a double array [20, 3, T] in metres, Kinect camera axes, in the dataset's own joint order
(head first, `Skeleton_joint_order.txt`); `read_sequence` reorders it to the Kinect SDK 1.x order used everywhere
else (`layouts.KINECT_V1_JOINT_NAMES`). The standard protocol is cross-subject: train on subjects 1, 3, 5, 7, test
on 2, 4, 6, 8. Split selection works on file names, before any file is opened.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..layouts import KINECT_V1_JOINTS
from .datasets import dataset_dir
from .nwucla import to_spec_input

CLASSES = (
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave", "two hand front clap",
    "right arm throw", "cross arms in the chest", "basketball shoot", "right hand draw x",
    "right hand draw circle (clockwise)", "right hand draw circle (counter clockwise)", "draw triangle",
    "bowling (right hand)", "front boxing", "baseball swing from right", "tennis right hand forehand swing",
    "arm curl (two arms)", "tennis serve", "two hand push", "right hand knock on door", "right hand catch an object",
    "right hand pick up and throw", "jogging in place", "walking in place", "sit to stand", "stand to sit",
    "forward lunge (left foot forward)", "squat (two arms stretch out)",
)
XSUB_TRAIN_SUBJECTS = (1, 3, 5, 7)
XSUB_TEST_SUBJECTS = (2, 4, 6, 8)
SEQUENCES = 861
MISSING = ("a8_s1_t4", "a23_s6_t4", "a27_s8_t4")

# The dataset's joint order (Skeleton_joint_order.txt, 1-based there).
UTD_JOINT_NAMES = (
    "head", "shoulder_center", "spine", "hip_center",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)
# SDK_FROM_UTD[k] is the UTD row holding Kinect SDK joint k: only the four spine joints are in the reverse order.
SDK_FROM_UTD = (3, 2, 1, 0) + tuple(range(4, 20))
NAME_PATTERN = re.compile(r"a(\d+)_s(\d+)_t(\d+)_skeleton$")


class UtdFormatError(ValueError):
    """A file does not follow the UTD-MHAD skeleton format."""


def parse_name(name):
    match = NAME_PATTERN.search(Path(name).stem)
    if not match:
        raise UtdFormatError(f"{name}: not a UTD-MHAD skeleton name (aA_sS_tT_skeleton.mat)")
    action, subject, trial = (int(g) for g in match.groups())
    if not 1 <= action <= len(CLASSES):
        raise UtdFormatError(f"{name}: action {action} out of range")
    return {"action": action, "subject": subject, "trial": trial, "label": action - 1}


def root(folder=None):
    if folder is None:
        return dataset_dir("utd-mhad")
    return Path(folder)


def split_of(subject):
    return "train" if subject in XSUB_TRAIN_SUBJECTS else "test"


def list_files(folder=None, split=None):
    """Sorted paths (by action, subject, trial), optionally of one cross-subject split, chosen by name."""
    base = root(folder)
    if base is None:
        raise FileNotFoundError("UTD-MHAD not found (set SKELACT_DATASETS or check out ../shared/datasets)")
    paths = sorted(base.glob("a*_s*_t*_skeleton.mat"),
                   key=lambda p: tuple(parse_name(p.name)[k] for k in ("action", "subject", "trial")))
    if split is not None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be train or test, not {split!r}")
        paths = [p for p in paths if split_of(parse_name(p.name)["subject"]) == split]
    return paths


def read_sequence(path):
    """One file: dict with `name`, `joints` [F, 20, 3] float32 in Kinect SDK 1.x order (metres), `label`
    (0-based) and the name's fields."""
    from scipy.io import loadmat

    path = Path(path)
    with open(path, "rb") as f:
        mat = loadmat(f)
    if "d_skel" not in mat:
        raise UtdFormatError(f"{path.name}: no d_skel variable")
    skel = np.asarray(mat["d_skel"], dtype=np.float64)
    if skel.ndim != 3 or skel.shape[:2] != (KINECT_V1_JOINTS, 3) or skel.shape[2] == 0:
        raise UtdFormatError(f"{path.name}: d_skel of shape {skel.shape}, expected [20, 3, T]")
    joints = np.transpose(skel, (2, 0, 1))[:, SDK_FROM_UTD].astype(np.float32)
    return {"name": path.stem.removesuffix("_skeleton"), "joints": joints, **parse_name(path.name)}


def load_split(split, folder=None, align=False, actions=None):
    """One cross-subject split as a `SequenceSet` (spec steps 1-3 done; labels 0..26; meta: subject, trial, name).
    `actions` (1-based action numbers) keeps only those classes; labels stay the dataset's."""
    from .windows import SequenceSet

    items, labels, meta = [], [], {"subject": [], "trial": [], "name": []}
    for path in list_files(folder, split):
        if actions is not None and parse_name(path.name)["action"] not in actions:
            continue
        seq = read_sequence(path)
        items.append(to_spec_input(seq["joints"]))
        labels.append(seq["label"])
        for key in meta:
            meta[key].append(seq[key])
    return SequenceSet.from_spec_inputs(items, labels, meta, class_names=CLASSES, align=align)
