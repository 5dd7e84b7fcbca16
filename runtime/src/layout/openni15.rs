//! OpenNI / NiTE user tracking (Asus Xtion, PrimeSense Carmine, Kinect 360 under OpenNI): the 15 joints NiTE
//! tracks, in NiTE 2's `nite::JointType` order (0 = `JOINT_HEAD` … 14 = `JOINT_RIGHT_FOOT`). NiTE 1.x tracks the
//! same 15 of OpenNI 1.x's `XnSkeletonJoint` values; a sender using those renumbers them into this order.
//!
//! NiTE reports millimetres, +y up and +z away from the sensor; its x axis depends on the depth stream's mirror
//! setting. Unmirrored, +x is the camera's right, which makes the frame left-handed: a sender negates x and announces
//! `Axes::XLeftYUpZForward` (Kinect axes) with `Units::Millimetres`. Mirrored, +x already points to the sensor's
//! left. Either way, check once with a person facing the sensor: their left shoulder must come out at the smaller
//! x in the model frame, as for every other layout (docs/layouts.md, "Axes").
//!
//! NiTE's joints are coarser than Kinect's: its `HAND` ends the forearm (Kinect's wrist), its `FOOT` ends the shin
//! (Kinect's ankle), its `NECK` sits between the shoulders (Kinect v2's SpineShoulder) and its `TORSO` in the middle
//! of the trunk. Hands and hand tips are extended along the forearm with Kinect v2's proportions, the neck placed
//! between the shoulders and the head, the spine base between the hips; feet and thumbs are missing. No NiTE
//! recording was available to measure these placements: they are the Kinect v2 proportions of `super`, unverified
//! on NiTE data.

use super::JointRule::{self, Extend, Lerp, Midpoint, Missing, Source};
use super::{HAND_BEYOND_WRIST, HAND_TIP_BEYOND_WRIST, NECK_FRACTION};
use crate::skeleton::NTU_JOINTS;

/// Joints per body.
pub const JOINT_COUNT: usize = 15;

pub const HEAD: usize = 0;
pub const NECK: usize = 1;
pub const LEFT_SHOULDER: usize = 2;
pub const RIGHT_SHOULDER: usize = 3;
pub const LEFT_ELBOW: usize = 4;
pub const RIGHT_ELBOW: usize = 5;
pub const LEFT_HAND: usize = 6;
pub const RIGHT_HAND: usize = 7;
pub const TORSO: usize = 8;
pub const LEFT_HIP: usize = 9;
pub const RIGHT_HIP: usize = 10;
pub const LEFT_KNEE: usize = 11;
pub const RIGHT_KNEE: usize = 12;
pub const LEFT_FOOT: usize = 13;
pub const RIGHT_FOOT: usize = 14;

/// `nite::JointType` names without the `JOINT_` prefix, in NiTE order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "HEAD",
    "NECK",
    "LEFT_SHOULDER",
    "RIGHT_SHOULDER",
    "LEFT_ELBOW",
    "RIGHT_ELBOW",
    "LEFT_HAND",
    "RIGHT_HAND",
    "TORSO",
    "LEFT_HIP",
    "RIGHT_HIP",
    "LEFT_KNEE",
    "RIGHT_KNEE",
    "LEFT_FOOT",
    "RIGHT_FOOT",
];

/// NTU-25 joints in terms of NiTE joints (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Midpoint(LEFT_HIP, RIGHT_HIP),                                           // SpineBase
    Source(TORSO),                                                           // SpineMid
    Lerp { a: NECK, b: HEAD, t: NECK_FRACTION },                             // Neck
    Source(HEAD),                                                            // Head
    Source(LEFT_SHOULDER),                                                   // ShoulderLeft
    Source(LEFT_ELBOW),                                                      // ElbowLeft
    Source(LEFT_HAND),                                                       // WristLeft
    Extend { from: LEFT_ELBOW, to: LEFT_HAND, by: HAND_BEYOND_WRIST },       // HandLeft
    Source(RIGHT_SHOULDER),                                                  // ShoulderRight
    Source(RIGHT_ELBOW),                                                     // ElbowRight
    Source(RIGHT_HAND),                                                      // WristRight
    Extend { from: RIGHT_ELBOW, to: RIGHT_HAND, by: HAND_BEYOND_WRIST },     // HandRight
    Source(LEFT_HIP),                                                        // HipLeft
    Source(LEFT_KNEE),                                                       // KneeLeft
    Source(LEFT_FOOT),                                                       // AnkleLeft
    Missing,                                                                 // FootLeft
    Source(RIGHT_HIP),                                                       // HipRight
    Source(RIGHT_KNEE),                                                      // KneeRight
    Source(RIGHT_FOOT),                                                      // AnkleRight
    Missing,                                                                 // FootRight
    Source(NECK),                                                            // SpineShoulder
    Extend { from: LEFT_ELBOW, to: LEFT_HAND, by: HAND_TIP_BEYOND_WRIST },   // HandTipLeft
    Missing,                                                                 // ThumbLeft
    Extend { from: RIGHT_ELBOW, to: RIGHT_HAND, by: HAND_TIP_BEYOND_WRIST }, // HandTipRight
    Missing,                                                                 // ThumbRight
];

/// Wire confidence of NiTE's `getPositionConfidence()` (0..=1; NiTE reports 0, 0.5 or 1 in practice): see
/// [`super::confidence_from_fraction`].
pub fn confidence_from_position_confidence(confidence: f32) -> u8 {
    super::confidence_from_fraction(confidence)
}
