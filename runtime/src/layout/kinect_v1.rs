//! Microsoft Kinect v1 (Kinect 360, Kinect for Windows SDK 1.x `JointType` / `NUI_SKELETON_POSITION_INDEX`,
//! 20 joints), the layout of the NW-UCLA and UTD-MHAD datasets.
//!
//! Kinect v1 uses the same camera space as Kinect v2: metres, `Axes::XLeftYUpZForward`. Limbs match Kinect v2's
//! joint for joint, but the spine does not: v1's `Spine` sits just above the hip centre, well below v2's
//! `SpineMid`, and v1 has no neck and no hand tips or thumbs. The spine and neck joints are placed along v1's spine
//! where Kinect v2 puts them, with fractions measured on real data (below); thumbs are missing.

use super::JointRule::{self, Extend, Lerp, Missing, Source};
use crate::skeleton::NTU_JOINTS;

/// Joints per body.
pub const JOINT_COUNT: usize = 20;

pub const HIP_CENTER: usize = 0;
pub const SPINE: usize = 1;
pub const SHOULDER_CENTER: usize = 2;
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

/// `JointType` names in SDK order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "HipCenter",
    "Spine",
    "ShoulderCenter",
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
];

// Measured by `models/tools/measure_kinect_v1.py` (`.venv/bin/python models/tools/measure_kinect_v1.py`). Both
// sensors put the pelvis centre (v1 HipCenter, v2 SpineBase) and the head centre at the same body landmarks, so
// each spine joint is placed by its arc-length position along the pelvis-to-head chain of joints, as a fraction of
// the whole chain: medians over all 116,831 frames of NW-UCLA and UTD-MHAD for Kinect v1 (HipCenter 0, Spine 0.120,
// ShoulderCenter 0.688, Head 1; chain 0.600 m) and over the 517 body-frames of the five NTU recordings with the
// spine tracked for Kinect v2 (SpineBase 0, SpineMid 0.408, SpineShoulder 0.712, Neck 0.813, Head 1; 0.643 m).
// The shoulders are no common anchor: Kinect v1's ShoulderCenter sits 0.105 m above its shoulders' midpoint,
// Kinect v2's SpineShoulder 0.023 m above its own.

/// Kinect v2's SpineMid lies this fraction of the way from v1's Spine to v1's ShoulderCenter (0.508).
pub const SPINE_MID_ALONG_SPINE: f32 = 0.51;
/// Kinect v2's SpineShoulder lies this fraction of the way from v1's ShoulderCenter to v1's Head (0.077).
pub const SPINE_SHOULDER_ABOVE_SHOULDER_CENTER: f32 = 0.08;
/// Kinect v2's Neck lies this fraction of the way from v1's ShoulderCenter to v1's Head (0.399).
pub const NECK_ALONG_SHOULDER_HEAD: f32 = 0.40;
/// Kinect v2's HandTip lies this far beyond v1's Hand, as a fraction of v1's wrist → hand: v2's tip is 0.549
/// forearms beyond the wrist ([`super::HAND_TIP_BEYOND_WRIST`]), v1's hand 0.318 forearms (v2's hand: 0.283).
pub const HAND_TIP_BEYOND_HAND: f32 = 0.73;

/// NTU-25 joints in terms of Kinect v1 joints (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Source(HIP_CENTER),                                                            // SpineBase
    Lerp { a: SPINE, b: SHOULDER_CENTER, t: SPINE_MID_ALONG_SPINE },               // SpineMid
    Lerp { a: SHOULDER_CENTER, b: HEAD, t: NECK_ALONG_SHOULDER_HEAD },             // Neck
    Source(HEAD),                                                                  // Head
    Source(SHOULDER_LEFT),                                                         // ShoulderLeft
    Source(ELBOW_LEFT),                                                            // ElbowLeft
    Source(WRIST_LEFT),                                                            // WristLeft
    Source(HAND_LEFT),                                                             // HandLeft
    Source(SHOULDER_RIGHT),                                                        // ShoulderRight
    Source(ELBOW_RIGHT),                                                           // ElbowRight
    Source(WRIST_RIGHT),                                                           // WristRight
    Source(HAND_RIGHT),                                                            // HandRight
    Source(HIP_LEFT),                                                              // HipLeft
    Source(KNEE_LEFT),                                                             // KneeLeft
    Source(ANKLE_LEFT),                                                            // AnkleLeft
    Source(FOOT_LEFT),                                                             // FootLeft
    Source(HIP_RIGHT),                                                             // HipRight
    Source(KNEE_RIGHT),                                                            // KneeRight
    Source(ANKLE_RIGHT),                                                           // AnkleRight
    Source(FOOT_RIGHT),                                                            // FootRight
    Lerp { a: SHOULDER_CENTER, b: HEAD, t: SPINE_SHOULDER_ABOVE_SHOULDER_CENTER }, // SpineShoulder
    Extend { from: WRIST_LEFT, to: HAND_LEFT, by: HAND_TIP_BEYOND_HAND },          // HandTipLeft
    Missing,                                                                       // ThumbLeft
    Extend { from: WRIST_RIGHT, to: HAND_RIGHT, by: HAND_TIP_BEYOND_HAND },        // HandTipRight
    Missing,                                                                       // ThumbRight
];

/// Wire confidence of a Kinect v1 `JointTrackingState`: NotTracked (0) → 0, Inferred (1) → 128, Tracked (2) → 255,
/// the same scale as Kinect v2's. Any other value reads as not tracked.
pub const fn confidence_from_tracking_state(state: u8) -> u8 {
    super::kinect_v2::confidence_from_tracking_state(state)
}
