"""Sensor joint layouts mapped to NTU-25, exactly as the device maps them (`runtime/src/layout/`).

Training on a Kinect v1 dataset must see what the device computes from a Kinect v1 sender, so the rules here are
the Rust tables, written again, and evaluated in float32 in the same order of operations (a golden file in
`tests/fixtures/layouts/` holds both sides to it). Positions are metres in Kinect camera axes (+x to the sensor's
left, +y up, +z away from the sensor); Kinect v1 and v2 share that camera space.
"""

from __future__ import annotations

import numpy as np

from .skeleton import NTU_JOINTS

# Proportions measured on the data (`models/tools/measure_kinect_v1.py`; docs/layouts.md). Kept equal to the
# constants of the same names in `runtime/src/layout/`.
NECK_FRACTION = 0.35
SPINE_MID_FRACTION = 0.57
HAND_BEYOND_WRIST = 0.28
HAND_TIP_BEYOND_WRIST = 0.55
KINECT_V1_SPINE_MID_ALONG_SPINE = 0.51
KINECT_V1_SPINE_SHOULDER_ABOVE_SHOULDER_CENTER = 0.08
KINECT_V1_NECK_ALONG_SHOULDER_HEAD = 0.40
KINECT_V1_HAND_TIP_BEYOND_HAND = 0.73

# Kinect for Windows SDK 1.x `JointType` (NUI_SKELETON_POSITION_INDEX), in SDK order.
KINECT_V1_JOINT_NAMES = (
    "HipCenter", "Spine", "ShoulderCenter", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)
KINECT_V1_JOINTS = 20
(HIP_CENTER, SPINE, SHOULDER_CENTER, HEAD, SHOULDER_LEFT, ELBOW_LEFT, WRIST_LEFT, HAND_LEFT, SHOULDER_RIGHT,
 ELBOW_RIGHT, WRIST_RIGHT, HAND_RIGHT, HIP_LEFT, KNEE_LEFT, ANKLE_LEFT, FOOT_LEFT, HIP_RIGHT, KNEE_RIGHT,
 ANKLE_RIGHT, FOOT_RIGHT) = range(KINECT_V1_JOINTS)


def source(a):
    return ("source", a)


def midpoint(a, b):
    return ("midpoint", a, b)


def lerp(a, b, t):
    return ("lerp", a, b, t)


def extend(frm, to, by):
    return ("extend", frm, to, by)


MISSING = ("missing",)

# NTU-25 joints (NTU order) in terms of Kinect v1 joints: `runtime/src/layout/kinect_v1.rs`, `TO_NTU`.
KINECT_V1_TO_NTU = (
    source(HIP_CENTER),                                                     # SpineBase
    lerp(SPINE, SHOULDER_CENTER, KINECT_V1_SPINE_MID_ALONG_SPINE),          # SpineMid
    lerp(SHOULDER_CENTER, HEAD, KINECT_V1_NECK_ALONG_SHOULDER_HEAD),        # Neck
    source(HEAD),                                                           # Head
    source(SHOULDER_LEFT), source(ELBOW_LEFT), source(WRIST_LEFT), source(HAND_LEFT),
    source(SHOULDER_RIGHT), source(ELBOW_RIGHT), source(WRIST_RIGHT), source(HAND_RIGHT),
    source(HIP_LEFT), source(KNEE_LEFT), source(ANKLE_LEFT), source(FOOT_LEFT),
    source(HIP_RIGHT), source(KNEE_RIGHT), source(ANKLE_RIGHT), source(FOOT_RIGHT),
    lerp(SHOULDER_CENTER, HEAD, KINECT_V1_SPINE_SHOULDER_ABOVE_SHOULDER_CENTER),  # SpineShoulder
    extend(WRIST_LEFT, HAND_LEFT, KINECT_V1_HAND_TIP_BEYOND_HAND),          # HandTipLeft
    MISSING,                                                                # ThumbLeft
    extend(WRIST_RIGHT, HAND_RIGHT, KINECT_V1_HAND_TIP_BEYOND_HAND),        # HandTipRight
    MISSING,                                                                # ThumbRight
)
assert len(KINECT_V1_TO_NTU) == NTU_JOINTS


def _inputs(rule):
    kind = rule[0]
    if kind == "source":
        return (rule[1],)
    if kind in ("midpoint", "lerp", "extend"):
        return (rule[1], rule[2])
    return ()


def map_to_ntu(joints, valid=None, rules=KINECT_V1_TO_NTU):
    """Maps source joints [..., J, 3] (metres, Kinect camera axes) to NTU-25: returns (joints [..., 25, 3] float32,
    valid [..., 25] bool). A rule's output is valid when all its inputs are valid and it is finite; invalid joints
    are zeros, as on the device (`layout::map_body`)."""
    src = np.asarray(joints, dtype=np.float32)
    ok = np.all(np.isfinite(src), axis=-1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    out = np.zeros(src.shape[:-2] + (NTU_JOINTS, 3), dtype=np.float32)
    out_valid = np.zeros(src.shape[:-2] + (NTU_JOINTS,), dtype=bool)
    with np.errstate(all="ignore"):
        for ntu, rule in enumerate(rules):
            kind = rule[0]
            if kind == "missing":
                continue
            if kind == "source":
                value = src[..., rule[1], :]
            elif kind == "midpoint":
                value = (src[..., rule[1], :] + src[..., rule[2], :]) * np.float32(0.5)
            elif kind == "lerp":
                a, b = src[..., rule[1], :], src[..., rule[2], :]
                value = a + np.float32(rule[3]) * (b - a)
            elif kind == "extend":
                frm, to = src[..., rule[1], :], src[..., rule[2], :]
                value = to + np.float32(rule[3]) * (to - frm)
            else:
                raise ValueError(f"unknown rule {rule}")
            good = np.all([ok[..., i] for i in _inputs(rule)], axis=0) & np.all(np.isfinite(value), axis=-1)
            out[..., ntu, :] = np.where(good[..., None], value, np.float32(0.0))
            out_valid[..., ntu] = good
    return out, out_valid
