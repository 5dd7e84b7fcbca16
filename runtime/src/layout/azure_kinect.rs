//! Azure Kinect and Orbbec Femto body tracking (`k4abt_joint_id_t`, Body Tracking SDK 1.x, 32 joints).
//!
//! k4abt reports millimetres in the depth camera's frame (`Axes::XRightYDownZForward`); its left and right are the
//! person's own. Its spine has a joint at the navel and one at the chest where Kinect v2 has one in between, and its
//! `NECK` sits at the base of the neck, where Kinect v2 puts SpineShoulder.

use super::JointRule::{self, Lerp, Midpoint, Source};
use super::NECK_FRACTION;
use crate::skeleton::NTU_JOINTS;

/// Joints per body.
pub const JOINT_COUNT: usize = 32;

pub const PELVIS: usize = 0;
pub const SPINE_NAVEL: usize = 1;
pub const SPINE_CHEST: usize = 2;
pub const NECK: usize = 3;
pub const CLAVICLE_LEFT: usize = 4;
pub const SHOULDER_LEFT: usize = 5;
pub const ELBOW_LEFT: usize = 6;
pub const WRIST_LEFT: usize = 7;
pub const HAND_LEFT: usize = 8;
pub const HANDTIP_LEFT: usize = 9;
pub const THUMB_LEFT: usize = 10;
pub const CLAVICLE_RIGHT: usize = 11;
pub const SHOULDER_RIGHT: usize = 12;
pub const ELBOW_RIGHT: usize = 13;
pub const WRIST_RIGHT: usize = 14;
pub const HAND_RIGHT: usize = 15;
pub const HANDTIP_RIGHT: usize = 16;
pub const THUMB_RIGHT: usize = 17;
pub const HIP_LEFT: usize = 18;
pub const KNEE_LEFT: usize = 19;
pub const ANKLE_LEFT: usize = 20;
pub const FOOT_LEFT: usize = 21;
pub const HIP_RIGHT: usize = 22;
pub const KNEE_RIGHT: usize = 23;
pub const ANKLE_RIGHT: usize = 24;
pub const FOOT_RIGHT: usize = 25;
pub const HEAD: usize = 26;
pub const NOSE: usize = 27;
pub const EYE_LEFT: usize = 28;
pub const EAR_LEFT: usize = 29;
pub const EYE_RIGHT: usize = 30;
pub const EAR_RIGHT: usize = 31;

/// `k4abt_joint_id_t` names without the `K4ABT_JOINT_` prefix, in SDK order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "PELVIS",
    "SPINE_NAVEL",
    "SPINE_CHEST",
    "NECK",
    "CLAVICLE_LEFT",
    "SHOULDER_LEFT",
    "ELBOW_LEFT",
    "WRIST_LEFT",
    "HAND_LEFT",
    "HANDTIP_LEFT",
    "THUMB_LEFT",
    "CLAVICLE_RIGHT",
    "SHOULDER_RIGHT",
    "ELBOW_RIGHT",
    "WRIST_RIGHT",
    "HAND_RIGHT",
    "HANDTIP_RIGHT",
    "THUMB_RIGHT",
    "HIP_LEFT",
    "KNEE_LEFT",
    "ANKLE_LEFT",
    "FOOT_LEFT",
    "HIP_RIGHT",
    "KNEE_RIGHT",
    "ANKLE_RIGHT",
    "FOOT_RIGHT",
    "HEAD",
    "NOSE",
    "EYE_LEFT",
    "EAR_LEFT",
    "EYE_RIGHT",
    "EAR_RIGHT",
];

/// NTU-25 joints in terms of k4abt joints (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Source(PELVIS),                              // SpineBase
    Midpoint(SPINE_NAVEL, SPINE_CHEST),          // SpineMid
    Lerp { a: NECK, b: HEAD, t: NECK_FRACTION }, // Neck
    Source(HEAD),                                // Head
    Source(SHOULDER_LEFT),                       // ShoulderLeft
    Source(ELBOW_LEFT),                          // ElbowLeft
    Source(WRIST_LEFT),                          // WristLeft
    Source(HAND_LEFT),                           // HandLeft
    Source(SHOULDER_RIGHT),                      // ShoulderRight
    Source(ELBOW_RIGHT),                         // ElbowRight
    Source(WRIST_RIGHT),                         // WristRight
    Source(HAND_RIGHT),                          // HandRight
    Source(HIP_LEFT),                            // HipLeft
    Source(KNEE_LEFT),                           // KneeLeft
    Source(ANKLE_LEFT),                          // AnkleLeft
    Source(FOOT_LEFT),                           // FootLeft
    Source(HIP_RIGHT),                           // HipRight
    Source(KNEE_RIGHT),                          // KneeRight
    Source(ANKLE_RIGHT),                         // AnkleRight
    Source(FOOT_RIGHT),                          // FootRight
    Source(NECK),                                // SpineShoulder
    Source(HANDTIP_LEFT),                        // HandTipLeft
    Source(THUMB_LEFT),                          // ThumbLeft
    Source(HANDTIP_RIGHT),                       // HandTipRight
    Source(THUMB_RIGHT),                         // ThumbRight
];

/// Wire confidence of a `k4abt_joint_confidence_level_t`: NONE (0) → 0, LOW (1) → 85, MEDIUM (2) → 170,
/// HIGH (3) → 255. Any other value reads as not tracked.
pub const fn confidence_from_level(level: u32) -> u8 {
    match level {
        1 => 85,
        2 => 170,
        3 => 255,
        _ => 0,
    }
}
