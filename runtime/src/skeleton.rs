//! The model's skeleton: NTU RGB+D 25 joints (Kinect v2 order), metres, Kinect v2 camera axes.
//!
//! Every source layout is mapped into this one (see [`crate::layout`]), and everything after the mapping
//! (tracks, windows, preprocessing) only ever sees a [`Pose`].

/// Number of joints in the model layout.
pub const NTU_JOINTS: usize = 25;

/// A point in metres. Axes follow Kinect v2 camera space: +x to the sensor's left, +y up, +z away from the sensor.
pub type Vec3 = [f32; 3];

/// Zero-based NTU-25 joint indices. The NTU papers count from one; `SPINE_MID` here is their "joint 2".
pub mod joint {
    pub const SPINE_BASE: usize = 0;
    pub const SPINE_MID: usize = 1;
    pub const NECK: usize = 2;
    pub const HEAD: usize = 3;
    pub const SHOULDER_LEFT: usize = 4;
    pub const ELBOW_LEFT: usize = 5;
    pub const WRIST_LEFT: usize = 6;
    pub const HAND_LEFT: usize = 7;
    pub const SHOULDER_RIGHT: usize = 8;
    pub const ELBOW_RIGHT: usize = 9;
    pub const WRIST_RIGHT: usize = 10;
    pub const HAND_RIGHT: usize = 11;
    pub const HIP_LEFT: usize = 12;
    pub const KNEE_LEFT: usize = 13;
    pub const ANKLE_LEFT: usize = 14;
    pub const FOOT_LEFT: usize = 15;
    pub const HIP_RIGHT: usize = 16;
    pub const KNEE_RIGHT: usize = 17;
    pub const ANKLE_RIGHT: usize = 18;
    pub const FOOT_RIGHT: usize = 19;
    pub const SPINE_SHOULDER: usize = 20;
    pub const HAND_TIP_LEFT: usize = 21;
    pub const THUMB_LEFT: usize = 22;
    pub const HAND_TIP_RIGHT: usize = 23;
    pub const THUMB_RIGHT: usize = 24;
}

/// Joint names in NTU-25 order, for documentation, logs and reports.
pub const NTU_JOINT_NAMES: [&str; NTU_JOINTS] = [
    "SpineBase",
    "SpineMid",
    "Neck",
    "Head",
    "ShoulderLeft",
    "ElbowLeft",
    "WristLeft",
    "HandLeft",
    "ShoulderRight",
    "ElbowRight",
    "WristRight",
    "HandRight",
    "HipLeft",
    "KneeLeft",
    "AnkleLeft",
    "FootLeft",
    "HipRight",
    "KneeRight",
    "AnkleRight",
    "FootRight",
    "SpineShoulder",
    "HandTipLeft",
    "ThumbLeft",
    "HandTipRight",
    "ThumbRight",
];

/// One body in the model layout at one instant.
///
/// A joint with `valid[j] == false` is missing (not tracked, or absent from the source layout); its
/// coordinates are meaningless and later stages fill it by interpolation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub joints: [Vec3; NTU_JOINTS],
    pub valid: [bool; NTU_JOINTS],
}

impl Pose {
    /// A pose with every joint missing.
    pub const MISSING: Pose = Pose { joints: [[0.0; 3]; NTU_JOINTS], valid: [false; NTU_JOINTS] };

    /// Number of joints marked valid.
    pub fn valid_count(&self) -> usize {
        self.valid.iter().filter(|v| **v).count()
    }
}

impl Default for Pose {
    fn default() -> Self {
        Pose::MISSING
    }
}

/// Root of the NTU-25 bone tree: SpineShoulder (NTU "joint 21").
pub const NTU_ROOT: usize = joint::SPINE_SHOULDER;

/// Parent of each joint in the 24 NTU bones used by ST-GCN, CTR-GCN and MS-G3D (zero-based; the root is its own
/// parent). Entry `v` is the `v2` of the 1-based pair `(v + 1, v2 + 1)` of that list, so the bone stream is
/// `joint[v] - joint[NTU_BONE_PARENTS[v]]` and the root's bone is zero. The list's quirks are kept on purpose
/// (HandTipLeft hangs from ThumbLeft, ThumbLeft from HandLeft) because trained models expect them.
pub const NTU_BONE_PARENTS: [usize; NTU_JOINTS] =
    [1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11];
