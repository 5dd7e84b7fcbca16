//! Movella (Xsens) MVN segment positions (23 segments, MVN segment order, zero-based).
//!
//! MVN reports the origin of each segment, which is the joint at the segment's proximal end: `LeftForeArm`'s origin
//! is the left elbow, `LeftHand`'s the left wrist, `Head`'s the top of the neck (C1), `Neck`'s its base (C7/T1).
//! MVN's world frame is +x forward (the heading at calibration), +y left, +z up (`Axes::XForwardYLeftZUp`); MVNX
//! files hold metres, and a streamer announces whatever unit it sends.
//!
//! A suit has no hand centre, hand tip, thumb or head centre. Hand and hand tip are extended along the forearm (a
//! straight wrist), the head centre one neck length above the top of the neck; thumbs are missing.

use super::JointRule::{self, Extend, Lerp, Missing, Source};
use super::{HAND_BEYOND_WRIST, HAND_TIP_BEYOND_WRIST};
use crate::skeleton::NTU_JOINTS;

/// Segments per body.
pub const JOINT_COUNT: usize = 23;

pub const PELVIS: usize = 0;
pub const L5: usize = 1;
pub const L3: usize = 2;
pub const T12: usize = 3;
pub const T8: usize = 4;
pub const NECK: usize = 5;
pub const HEAD: usize = 6;
pub const RIGHT_SHOULDER: usize = 7;
pub const RIGHT_UPPER_ARM: usize = 8;
pub const RIGHT_FORE_ARM: usize = 9;
pub const RIGHT_HAND: usize = 10;
pub const LEFT_SHOULDER: usize = 11;
pub const LEFT_UPPER_ARM: usize = 12;
pub const LEFT_FORE_ARM: usize = 13;
pub const LEFT_HAND: usize = 14;
pub const RIGHT_UPPER_LEG: usize = 15;
pub const RIGHT_LOWER_LEG: usize = 16;
pub const RIGHT_FOOT: usize = 17;
pub const RIGHT_TOE: usize = 18;
pub const LEFT_UPPER_LEG: usize = 19;
pub const LEFT_LOWER_LEG: usize = 20;
pub const LEFT_FOOT: usize = 21;
pub const LEFT_TOE: usize = 22;

/// MVN segment names in MVN order (MVN numbers them from 1; the wire from 0).
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "Pelvis",
    "L5",
    "L3",
    "T12",
    "T8",
    "Neck",
    "Head",
    "RightShoulder",
    "RightUpperArm",
    "RightForeArm",
    "RightHand",
    "LeftShoulder",
    "LeftUpperArm",
    "LeftForeArm",
    "LeftHand",
    "RightUpperLeg",
    "RightLowerLeg",
    "RightFoot",
    "RightToe",
    "LeftUpperLeg",
    "LeftLowerLeg",
    "LeftFoot",
    "LeftToe",
];

/// Kinect's Neck lies at `NECK_FRACTION` of the way from SpineShoulder to Head; with Head one neck length above C1
/// that is this fraction of the way from C7 to C1.
const NECK_ALONG_C7_C1: f32 = 2.0 * super::NECK_FRACTION;

/// NTU-25 joints in terms of MVN segment origins (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Source(PELVIS),                                                             // SpineBase
    Source(T12),                                                                // SpineMid
    Lerp { a: NECK, b: HEAD, t: NECK_ALONG_C7_C1 },                             // Neck
    Extend { from: NECK, to: HEAD, by: 1.0 },                                   // Head
    Source(LEFT_UPPER_ARM),                                                     // ShoulderLeft
    Source(LEFT_FORE_ARM),                                                      // ElbowLeft
    Source(LEFT_HAND),                                                          // WristLeft
    Extend { from: LEFT_FORE_ARM, to: LEFT_HAND, by: HAND_BEYOND_WRIST },       // HandLeft
    Source(RIGHT_UPPER_ARM),                                                    // ShoulderRight
    Source(RIGHT_FORE_ARM),                                                     // ElbowRight
    Source(RIGHT_HAND),                                                         // WristRight
    Extend { from: RIGHT_FORE_ARM, to: RIGHT_HAND, by: HAND_BEYOND_WRIST },     // HandRight
    Source(LEFT_UPPER_LEG),                                                     // HipLeft
    Source(LEFT_LOWER_LEG),                                                     // KneeLeft
    Source(LEFT_FOOT),                                                          // AnkleLeft
    Source(LEFT_TOE),                                                           // FootLeft
    Source(RIGHT_UPPER_LEG),                                                    // HipRight
    Source(RIGHT_LOWER_LEG),                                                    // KneeRight
    Source(RIGHT_FOOT),                                                         // AnkleRight
    Source(RIGHT_TOE),                                                          // FootRight
    Source(NECK),                                                               // SpineShoulder
    Extend { from: LEFT_FORE_ARM, to: LEFT_HAND, by: HAND_TIP_BEYOND_WRIST },   // HandTipLeft
    Missing,                                                                    // ThumbLeft
    Extend { from: RIGHT_FORE_ARM, to: RIGHT_HAND, by: HAND_TIP_BEYOND_WRIST }, // HandTipRight
    Missing,                                                                    // ThumbRight
];

/// MVN has no per-segment confidence: a sender marks every segment it has with this value (and 0 for a segment it
/// knows to be unavailable).
pub const CONFIDENCE: u8 = 255;
