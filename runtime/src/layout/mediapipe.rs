//! Google MediaPipe Pose / Pose Landmarker world landmarks (`PoseLandmark`, 33 points).
//!
//! World landmarks are metres with the origin between the hips, in the camera's image axes (+x right, +y down,
//! +z away from the camera: `Axes::XRightYDownZForward`). The names are the person's own left and right, which holds
//! only for an image that is not mirrored: a sender must not feed selfie-mirrored frames. MediaPipe has no spine or
//! neck points, so those joints are built from the hips, shoulders and ears; its hand points are the wrist and the
//! pinky, index and thumb knuckles.

use super::JointRule::{self, LerpMidpoints, Mean3, Midpoint, Source};
use super::{NECK_FRACTION, SPINE_MID_FRACTION};
use crate::skeleton::NTU_JOINTS;

/// Landmarks per body.
pub const JOINT_COUNT: usize = 33;

pub const NOSE: usize = 0;
pub const LEFT_EYE_INNER: usize = 1;
pub const LEFT_EYE: usize = 2;
pub const LEFT_EYE_OUTER: usize = 3;
pub const RIGHT_EYE_INNER: usize = 4;
pub const RIGHT_EYE: usize = 5;
pub const RIGHT_EYE_OUTER: usize = 6;
pub const LEFT_EAR: usize = 7;
pub const RIGHT_EAR: usize = 8;
pub const MOUTH_LEFT: usize = 9;
pub const MOUTH_RIGHT: usize = 10;
pub const LEFT_SHOULDER: usize = 11;
pub const RIGHT_SHOULDER: usize = 12;
pub const LEFT_ELBOW: usize = 13;
pub const RIGHT_ELBOW: usize = 14;
pub const LEFT_WRIST: usize = 15;
pub const RIGHT_WRIST: usize = 16;
pub const LEFT_PINKY: usize = 17;
pub const RIGHT_PINKY: usize = 18;
pub const LEFT_INDEX: usize = 19;
pub const RIGHT_INDEX: usize = 20;
pub const LEFT_THUMB: usize = 21;
pub const RIGHT_THUMB: usize = 22;
pub const LEFT_HIP: usize = 23;
pub const RIGHT_HIP: usize = 24;
pub const LEFT_KNEE: usize = 25;
pub const RIGHT_KNEE: usize = 26;
pub const LEFT_ANKLE: usize = 27;
pub const RIGHT_ANKLE: usize = 28;
pub const LEFT_HEEL: usize = 29;
pub const RIGHT_HEEL: usize = 30;
pub const LEFT_FOOT_INDEX: usize = 31;
pub const RIGHT_FOOT_INDEX: usize = 32;

/// `PoseLandmark` names in MediaPipe order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "NOSE",
    "LEFT_EYE_INNER",
    "LEFT_EYE",
    "LEFT_EYE_OUTER",
    "RIGHT_EYE_INNER",
    "RIGHT_EYE",
    "RIGHT_EYE_OUTER",
    "LEFT_EAR",
    "RIGHT_EAR",
    "MOUTH_LEFT",
    "MOUTH_RIGHT",
    "LEFT_SHOULDER",
    "RIGHT_SHOULDER",
    "LEFT_ELBOW",
    "RIGHT_ELBOW",
    "LEFT_WRIST",
    "RIGHT_WRIST",
    "LEFT_PINKY",
    "RIGHT_PINKY",
    "LEFT_INDEX",
    "RIGHT_INDEX",
    "LEFT_THUMB",
    "RIGHT_THUMB",
    "LEFT_HIP",
    "RIGHT_HIP",
    "LEFT_KNEE",
    "RIGHT_KNEE",
    "LEFT_ANKLE",
    "RIGHT_ANKLE",
    "LEFT_HEEL",
    "RIGHT_HEEL",
    "LEFT_FOOT_INDEX",
    "RIGHT_FOOT_INDEX",
];

/// How far past the knuckles the hand tip lies, as a fraction of the wrist-to-knuckles distance.
const HAND_TIP_BEYOND_KNUCKLES: f32 = 0.5;
/// The hand tip as a point on wrist → mid-knuckles (past its end).
const HAND_TIP_ALONG_HAND: f32 = 1.0 + HAND_TIP_BEYOND_KNUCKLES;

/// NTU-25 joints in terms of MediaPipe landmarks (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Midpoint(LEFT_HIP, RIGHT_HIP), // SpineBase
    // SpineMid
    LerpMidpoints { a: [LEFT_HIP, RIGHT_HIP], b: [LEFT_SHOULDER, RIGHT_SHOULDER], t: SPINE_MID_FRACTION },
    // Neck
    LerpMidpoints { a: [LEFT_SHOULDER, RIGHT_SHOULDER], b: [LEFT_EAR, RIGHT_EAR], t: NECK_FRACTION },
    Midpoint(LEFT_EAR, RIGHT_EAR),                  // Head
    Source(LEFT_SHOULDER),                          // ShoulderLeft
    Source(LEFT_ELBOW),                             // ElbowLeft
    Source(LEFT_WRIST),                             // WristLeft
    Mean3([LEFT_WRIST, LEFT_PINKY, LEFT_INDEX]),    // HandLeft
    Source(RIGHT_SHOULDER),                         // ShoulderRight
    Source(RIGHT_ELBOW),                            // ElbowRight
    Source(RIGHT_WRIST),                            // WristRight
    Mean3([RIGHT_WRIST, RIGHT_PINKY, RIGHT_INDEX]), // HandRight
    Source(LEFT_HIP),                               // HipLeft
    Source(LEFT_KNEE),                              // KneeLeft
    Source(LEFT_ANKLE),                             // AnkleLeft
    Source(LEFT_FOOT_INDEX),                        // FootLeft
    Source(RIGHT_HIP),                              // HipRight
    Source(RIGHT_KNEE),                             // KneeRight
    Source(RIGHT_ANKLE),                            // AnkleRight
    Source(RIGHT_FOOT_INDEX),                       // FootRight
    Midpoint(LEFT_SHOULDER, RIGHT_SHOULDER),        // SpineShoulder
    // HandTipLeft
    LerpMidpoints { a: [LEFT_WRIST, LEFT_WRIST], b: [LEFT_PINKY, LEFT_INDEX], t: HAND_TIP_ALONG_HAND },
    Source(LEFT_THUMB), // ThumbLeft
    // HandTipRight
    LerpMidpoints { a: [RIGHT_WRIST, RIGHT_WRIST], b: [RIGHT_PINKY, RIGHT_INDEX], t: HAND_TIP_ALONG_HAND },
    Source(RIGHT_THUMB), // ThumbRight
];

/// Wire confidence of a landmark's `visibility` (0..=1): see [`super::confidence_from_fraction`].
pub fn confidence_from_visibility(visibility: f32) -> u8 {
    super::confidence_from_fraction(visibility)
}
