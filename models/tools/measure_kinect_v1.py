"""Measures Kinect v1's skeleton against Kinect v2's, for the Kinect v1 -> NTU-25 rules (docs/layouts.md).

    .venv/bin/python models/tools/measure_kinect_v1.py [--datasets DIR] [--ntu DIR]

Reads NW-UCLA and UTD-MHAD (Kinect v1, `../shared/datasets`) and the NTU recordings (Kinect v2,
`../shared/fixtures/ntu`). First it checks the joint orders and axes on the Kinect v1 data: the head is the highest
joint, left and right bones have equal lengths, and a person facing the sensor has the left shoulder at smaller x
(as in the NTU recordings). Then, for both sensors, it expresses the spine joints as heights along the trunk
(hip centre -> shoulder midpoint, which both sensors place alike) in units of that trunk length, and the hand
joints along the forearm, and prints the fractions the rules need (medians over frames).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from skelact_models.data import ntu, nwucla, utdmhad
from skelact_models.layouts import (
    ELBOW_LEFT,
    ELBOW_RIGHT,
    HAND_LEFT,
    HAND_RIGHT,
    HEAD,
    HIP_CENTER,
    HIP_LEFT,
    HIP_RIGHT,
    KINECT_V1_JOINT_NAMES,
    SHOULDER_CENTER,
    SHOULDER_LEFT,
    SHOULDER_RIGHT,
    SPINE,
    WRIST_LEFT,
    WRIST_RIGHT,
)
from skelact_models.skeleton import JOINT_NAMES as NTU_NAMES

REPO = Path(__file__).resolve().parents[2]


def kinect_v1_frames(datasets):
    """(dataset name, [N, 20, 3]) for each dataset, every frame with no all-zero joint."""
    out = []
    for name, module, folder in (("NW-UCLA", nwucla, datasets / "nw-ucla"), ("UTD-MHAD", utdmhad, datasets / "utd-mhad")):
        frames = [module.read_sequence(p)["joints"] for p in module.list_files(folder)]
        joints = np.concatenate(frames)
        joints = joints[np.all(np.any(joints != 0, axis=-1), axis=-1)]
        out.append((name, joints.astype(np.float64)))
    return out


def kinect_v2_frames(ntu_dir):
    """([N, 25, 3] body-frames of the NTU recordings, [N, 25] joint tracked (state 2)). Each measurement keeps the
    body-frames whose joints it involves are all tracked, as for the Kinect v2 constants in docs/layouts.md."""
    rows, tracked = [], []
    for path in sorted(Path(ntu_dir).glob("*.skeleton")):
        skeleton = ntu.read_skeleton(path)
        for track in skeleton.bodies.values():
            for joints, tracking in zip(track.joints, track.tracking):
                rows.append(joints)
                tracked.append(tracking == 2)
    return np.asarray(rows, dtype=np.float64), np.asarray(tracked)


def chain_fractions(joints, chain):
    """Arc-length position of each joint of `chain` along the polyline chain[0] -> ... -> chain[-1], as a fraction
    of its whole length: [N, len(chain)] (0 for the first joint, 1 for the last), and the lengths [N]."""
    steps = np.stack([length(joints[:, a], joints[:, b]) for a, b in zip(chain[:-1], chain[1:])], axis=1)
    cumulative = np.concatenate([np.zeros((len(joints), 1)), np.cumsum(steps, axis=1)], axis=1)
    return cumulative / cumulative[:, -1:], cumulative[:, -1]


def place(fraction, v1_fractions, v1_names):
    """Where a point at `fraction` of Kinect v1's pelvis-to-head chain falls: (joint a, joint b, t) on a segment."""
    for i in range(len(v1_fractions) - 1):
        lo, hi = v1_fractions[i], v1_fractions[i + 1]
        if lo <= fraction <= hi or i == len(v1_fractions) - 2:
            return v1_names[i], v1_names[i + 1], (fraction - lo) / (hi - lo)
    raise AssertionError("unreachable")


def length(a, b):
    return np.linalg.norm(a - b, axis=-1)


def trunk_heights(joints, points, hip_l, hip_r, sh_l, sh_r):
    """Height of each point above the hip midpoint along the trunk axis (hip midpoint -> shoulder midpoint), in
    units of the trunk length. [N] per point."""
    base = (joints[:, hip_l] + joints[:, hip_r]) / 2
    top = (joints[:, sh_l] + joints[:, sh_r]) / 2
    axis = top - base
    trunk = np.linalg.norm(axis, axis=-1)
    return {name: np.einsum("nk,nk->n", joints[:, j] - base, axis) / trunk ** 2 for name, j in points.items()}, trunk


def check_kinect_v1(name, joints):
    names = KINECT_V1_JOINT_NAMES
    y = joints[:, :, 1]
    highest = np.bincount(np.argmax(y, axis=1), minlength=20)
    print(f"\n{name}: {len(joints)} frames")
    print("  highest joint (share of frames): " + ", ".join(
        f"{names[j]} {highest[j] / len(joints):.1%}" for j in np.argsort(-highest)[:3]))
    lowest = np.bincount(np.argmin(y, axis=1), minlength=20)
    print("  lowest joint: " + ", ".join(f"{names[j]} {lowest[j] / len(joints):.1%}" for j in np.argsort(-lowest)[:3]))
    print("  median bone lengths (m), left / right:")
    for a, b, c, d in ((SHOULDER_LEFT, ELBOW_LEFT, SHOULDER_RIGHT, ELBOW_RIGHT),
                       (ELBOW_LEFT, WRIST_LEFT, ELBOW_RIGHT, WRIST_RIGHT),
                       (WRIST_LEFT, HAND_LEFT, WRIST_RIGHT, HAND_RIGHT),
                       (HIP_LEFT, 13, HIP_RIGHT, 17), (13, 14, 17, 18), (14, 15, 18, 19)):
        print(f"    {names[a]}-{names[b]} {np.median(length(joints[:, a], joints[:, b])):.3f} / "
              f"{names[c]}-{names[d]} {np.median(length(joints[:, c], joints[:, d])):.3f}")
    for a, b in ((HIP_CENTER, SPINE), (SPINE, SHOULDER_CENTER), (SHOULDER_CENTER, HEAD)):
        print(f"    {names[a]}-{names[b]} {np.median(length(joints[:, a], joints[:, b])):.3f}")
    left_smaller_x = np.mean(joints[:, SHOULDER_LEFT, 0] < joints[:, SHOULDER_RIGHT, 0])
    print(f"  ShoulderLeft.x < ShoulderRight.x in {left_smaller_x:.1%} of frames (Kinect axes, facing the sensor)")
    print(f"  median y of Head - HipCenter: {np.median(y[:, HEAD] - y[:, HIP_CENTER]):.3f} m (y up); median z "
          f"{np.median(joints[:, HIP_CENTER, 2]):.2f} m")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=str(REPO.parent / "shared" / "datasets"))
    parser.add_argument("--ntu", default=str(REPO.parent / "shared" / "fixtures" / "ntu"))
    args = parser.parse_args(argv)
    datasets, ntu_dir = Path(args.datasets), Path(args.ntu)
    if not datasets.is_dir() or not ntu_dir.is_dir():
        print(f"SKIPPED: {datasets} or {ntu_dir} absent", file=sys.stderr)
        return 0

    v2, v2_tracked = kinect_v2_frames(ntu_dir)
    n = {name: i for i, name in enumerate(NTU_NAMES)}

    def v2_rows(*names):
        keep = np.all(v2_tracked[:, [n[k] for k in names]], axis=1)
        return v2[keep]

    v2_chain_names = ("SpineBase", "SpineMid", "SpineShoulder", "Neck", "Head")
    rows = v2_rows(*v2_chain_names)
    fractions, chain = chain_fractions(rows, [n[k] for k in v2_chain_names])
    f2 = dict(zip(v2_chain_names, np.median(fractions, axis=0)))
    print(f"Kinect v2 (NTU recordings), {len(rows)} body-frames with the spine tracked: SpineBase -> Head "
          f"{np.median(chain):.3f} m along the joints; positions along it: "
          + ", ".join(f"{k} {v:.3f}" for k, v in f2.items()))
    rows = v2_rows("SpineShoulder", "ShoulderLeft", "ShoulderRight", "Head")
    drop = (rows[:, n["SpineShoulder"], 1] - (rows[:, n["ShoulderLeft"], 1] + rows[:, n["ShoulderRight"], 1]) / 2)
    print(f"  SpineShoulder above the shoulders' midpoint: {np.median(drop):.3f} m ({len(rows)})")
    hands, tips, count = [], [], 0
    for side in ("Left", "Right"):
        rows = v2_rows(f"Elbow{side}", f"Wrist{side}", f"Hand{side}", f"HandTip{side}")
        fore = length(rows[:, n[f"Elbow{side}"]], rows[:, n[f"Wrist{side}"]])
        hands.append(length(rows[:, n[f"Wrist{side}"]], rows[:, n[f"Hand{side}"]]) / fore)
        tips.append(length(rows[:, n[f"Wrist{side}"]], rows[:, n[f"HandTip{side}"]]) / fore)
        count += len(rows)
    hand, tip = np.median(np.concatenate(hands)), np.median(np.concatenate(tips))
    print(f"  |Wrist-Hand| / forearm {hand:.3f}, |Wrist-HandTip| / forearm {tip:.3f} ({count}, both sides)")

    all_v1 = []
    for name, joints in kinect_v1_frames(datasets):
        check_kinect_v1(name, joints)
        all_v1.append(joints)
    v1 = np.concatenate(all_v1)
    v1_chain_names = ("HipCenter", "Spine", "ShoulderCenter", "Head")
    fractions, chain = chain_fractions(v1, [HIP_CENTER, SPINE, SHOULDER_CENTER, HEAD])
    f1 = np.median(fractions, axis=0)
    print(f"\nKinect v1 (both datasets), {len(v1)} frames: HipCenter -> Head {np.median(chain):.3f} m along the "
          "joints; positions along it: " + ", ".join(f"{k} {v:.3f}" for k, v in zip(v1_chain_names, f1)))
    drop = v1[:, SHOULDER_CENTER, 1] - (v1[:, SHOULDER_LEFT, 1] + v1[:, SHOULDER_RIGHT, 1]) / 2
    print(f"  ShoulderCenter above the shoulders' midpoint: {np.median(drop):.3f} m")
    hand1 = float(np.median(np.concatenate([
        length(v1[:, w], v1[:, h]) / length(v1[:, e], v1[:, w])
        for e, w, h in ((ELBOW_LEFT, WRIST_LEFT, HAND_LEFT), (ELBOW_RIGHT, WRIST_RIGHT, HAND_RIGHT))])))
    print(f"  |Wrist-Hand| / forearm {hand1:.3f} (both sides)")

    # Both sensors put the pelvis centre and the head centre at the same body landmarks; each Kinect v2 spine
    # joint goes to the same fraction of Kinect v1's pelvis-to-head chain.
    print("\nRules: Kinect v2's joint at the same fraction of the pelvis-to-head chain")
    for joint in ("SpineMid", "SpineShoulder", "Neck"):
        a, b, t = place(f2[joint], f1, v1_chain_names)
        print(f"  {joint:13s} = {a} + {t:.3f} ({b} - {a})")
    # Hand tip: Kinect v2's tip lies `tip` forearms beyond the wrist, Kinect v1's hand `hand1` forearms.
    print(f"  HandTip       = Hand + {(tip - hand1) / hand1:.3f} (Hand - Wrist)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
