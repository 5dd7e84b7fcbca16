//! Stereolabs ZED SDK `sl::BODY_34_PARTS` (34 keypoints).
//!
//! BODY_34's first 32 keypoints are k4abt's joints in k4abt's order (under ZED's names); it adds the heels.
//! Units and axes follow the ZED `InitParameters` (`coordinate_units`, `coordinate_system`; the defaults are
//! millimetres and `IMAGE` = `Axes::XRightYDownZForward`), and the sender announces them in `Hello`.

use super::JointRule::{self, Lerp, Midpoint, Source};
use super::NECK_FRACTION;
use crate::skeleton::NTU_JOINTS;

/// Joints per body.
pub const JOINT_COUNT: usize = 34;

pub const PELVIS: usize = 0;
pub const NAVAL_SPINE: usize = 1;
pub const CHEST_SPINE: usize = 2;
pub const NECK: usize = 3;
pub const LEFT_CLAVICLE: usize = 4;
pub const LEFT_SHOULDER: usize = 5;
pub const LEFT_ELBOW: usize = 6;
pub const LEFT_WRIST: usize = 7;
pub const LEFT_HAND: usize = 8;
pub const LEFT_HANDTIP: usize = 9;
pub const LEFT_THUMB: usize = 10;
pub const RIGHT_CLAVICLE: usize = 11;
pub const RIGHT_SHOULDER: usize = 12;
pub const RIGHT_ELBOW: usize = 13;
pub const RIGHT_WRIST: usize = 14;
pub const RIGHT_HAND: usize = 15;
pub const RIGHT_HANDTIP: usize = 16;
pub const RIGHT_THUMB: usize = 17;
pub const LEFT_HIP: usize = 18;
pub const LEFT_KNEE: usize = 19;
pub const LEFT_ANKLE: usize = 20;
pub const LEFT_FOOT: usize = 21;
pub const RIGHT_HIP: usize = 22;
pub const RIGHT_KNEE: usize = 23;
pub const RIGHT_ANKLE: usize = 24;
pub const RIGHT_FOOT: usize = 25;
pub const HEAD: usize = 26;
pub const NOSE: usize = 27;
pub const LEFT_EYE: usize = 28;
pub const LEFT_EAR: usize = 29;
pub const RIGHT_EYE: usize = 30;
pub const RIGHT_EAR: usize = 31;
pub const LEFT_HEEL: usize = 32;
pub const RIGHT_HEEL: usize = 33;

/// `sl::BODY_34_PARTS` names in SDK order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "PELVIS",
    "NAVAL_SPINE",
    "CHEST_SPINE",
    "NECK",
    "LEFT_CLAVICLE",
    "LEFT_SHOULDER",
    "LEFT_ELBOW",
    "LEFT_WRIST",
    "LEFT_HAND",
    "LEFT_HANDTIP",
    "LEFT_THUMB",
    "RIGHT_CLAVICLE",
    "RIGHT_SHOULDER",
    "RIGHT_ELBOW",
    "RIGHT_WRIST",
    "RIGHT_HAND",
    "RIGHT_HANDTIP",
    "RIGHT_THUMB",
    "LEFT_HIP",
    "LEFT_KNEE",
    "LEFT_ANKLE",
    "LEFT_FOOT",
    "RIGHT_HIP",
    "RIGHT_KNEE",
    "RIGHT_ANKLE",
    "RIGHT_FOOT",
    "HEAD",
    "NOSE",
    "LEFT_EYE",
    "LEFT_EAR",
    "RIGHT_EYE",
    "RIGHT_EAR",
    "LEFT_HEEL",
    "RIGHT_HEEL",
];

/// NTU-25 joints in terms of BODY_34 keypoints (NTU order); the same rules as for k4abt.
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Source(PELVIS),                              // SpineBase
    Midpoint(NAVAL_SPINE, CHEST_SPINE),          // SpineMid
    Lerp { a: NECK, b: HEAD, t: NECK_FRACTION }, // Neck
    Source(HEAD),                                // Head
    Source(LEFT_SHOULDER),                       // ShoulderLeft
    Source(LEFT_ELBOW),                          // ElbowLeft
    Source(LEFT_WRIST),                          // WristLeft
    Source(LEFT_HAND),                           // HandLeft
    Source(RIGHT_SHOULDER),                      // ShoulderRight
    Source(RIGHT_ELBOW),                         // ElbowRight
    Source(RIGHT_WRIST),                         // WristRight
    Source(RIGHT_HAND),                          // HandRight
    Source(LEFT_HIP),                            // HipLeft
    Source(LEFT_KNEE),                           // KneeLeft
    Source(LEFT_ANKLE),                          // AnkleLeft
    Source(LEFT_FOOT),                           // FootLeft
    Source(RIGHT_HIP),                           // HipRight
    Source(RIGHT_KNEE),                          // KneeRight
    Source(RIGHT_ANKLE),                         // AnkleRight
    Source(RIGHT_FOOT),                          // FootRight
    Source(NECK),                                // SpineShoulder
    Source(LEFT_HANDTIP),                        // HandTipLeft
    Source(LEFT_THUMB),                          // ThumbLeft
    Source(RIGHT_HANDTIP),                       // HandTipRight
    Source(RIGHT_THUMB),                         // ThumbRight
];

/// Wire confidence of a ZED `keypoint_confidence` (0..=100, NaN when the keypoint was not detected): the fraction
/// of 100 scaled to 0..=255 (see [`super::confidence_from_fraction`]). BODY_38 uses the same scale.
pub fn confidence_from_keypoint_confidence(percent: f32) -> u8 {
    super::confidence_from_fraction(percent / 100.0)
}
