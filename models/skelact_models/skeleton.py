"""The NTU RGB+D 25-joint layout (Kinect v2), shared with `runtime/src/skeleton.rs`.

Joint indices are zero-based. Coordinates are metres in Kinect v2 camera axes: +x to the sensor's left, +y up,
+z away from the sensor.
"""

NTU_JOINTS = 25

JOINT_NAMES = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)

SPINE_BASE, SPINE_MID, NECK, HEAD = 0, 1, 2, 3
SHOULDER_LEFT, ELBOW_LEFT, WRIST_LEFT, HAND_LEFT = 4, 5, 6, 7
SHOULDER_RIGHT, ELBOW_RIGHT, WRIST_RIGHT, HAND_RIGHT = 8, 9, 10, 11
HIP_LEFT, KNEE_LEFT, ANKLE_LEFT, FOOT_LEFT = 12, 13, 14, 15
HIP_RIGHT, KNEE_RIGHT, ANKLE_RIGHT, FOOT_RIGHT = 16, 17, 18, 19
SPINE_SHOULDER, HAND_TIP_LEFT, THUMB_LEFT, HAND_TIP_RIGHT, THUMB_RIGHT = 20, 21, 22, 23, 24

# The bone pairs of the preprocessing spec (1-based, as CTR-GCN's `ntu_pairs`): bone[v1] = joint[v1] - joint[v2].
# (21, 21) is the root SpineShoulder, whose bone is zero.
BONE_PAIRS_1BASED = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
    (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (21, 21), (23, 8),
    (24, 25), (25, 12),
)

# PARENT[v] is v2 of the pair whose v1 is v (zero-based). The root is its own parent.
PARENT = tuple(v2 - 1 for _, v2 in sorted(BONE_PAIRS_1BASED))
ROOT = SPINE_SHOULDER


def _root_first_order():
    """Joints ordered so that every joint comes after its parent (breadth-first from the root)."""
    order = [ROOT]
    frontier = [ROOT]
    while frontier:
        nxt = [v for v in range(NTU_JOINTS) for p in frontier if PARENT[v] == p and v != ROOT]
        order.extend(nxt)
        frontier = nxt
    return tuple(order)


ROOT_FIRST = _root_first_order()

# The pairs of the spec include (22, 23) and (24, 25): HandTipLeft's parent is ThumbLeft and ThumbLeft's is
# HandLeft; HandTipRight's parent is ThumbRight and ThumbRight's is HandRight (CTR-GCN's graph, kept as is).
assert len(ROOT_FIRST) == NTU_JOINTS and sorted(ROOT_FIRST) == list(range(NTU_JOINTS))
