//! Stereolabs ZED SDK `sl::BODY_38_PARTS` (38 keypoints).
//!
//! BODY_38 has three spine joints, no head joint (the head is the midpoint of the ears), and a few hand and foot
//! keypoints instead of Kinect's hand, hand tip and thumb. Units and axes follow the ZED `InitParameters` and are
//! announced in `Hello`.

use super::JointRule::{self, LerpMidpoints, Mean3, Midpoint, Source};
use super::NECK_FRACTION;
use crate::skeleton::NTU_JOINTS;

/// Joints per body.
pub const JOINT_COUNT: usize = 38;

pub const PELVIS: usize = 0;
pub const SPINE_1: usize = 1;
pub const SPINE_2: usize = 2;
pub const SPINE_3: usize = 3;
pub const NECK: usize = 4;
pub const NOSE: usize = 5;
pub const LEFT_EYE: usize = 6;
pub const RIGHT_EYE: usize = 7;
pub const LEFT_EAR: usize = 8;
pub const RIGHT_EAR: usize = 9;
pub const LEFT_CLAVICLE: usize = 10;
pub const RIGHT_CLAVICLE: usize = 11;
pub const LEFT_SHOULDER: usize = 12;
pub const RIGHT_SHOULDER: usize = 13;
pub const LEFT_ELBOW: usize = 14;
pub const RIGHT_ELBOW: usize = 15;
pub const LEFT_WRIST: usize = 16;
pub const RIGHT_WRIST: usize = 17;
pub const LEFT_HIP: usize = 18;
pub const RIGHT_HIP: usize = 19;
pub const LEFT_KNEE: usize = 20;
pub const RIGHT_KNEE: usize = 21;
pub const LEFT_ANKLE: usize = 22;
pub const RIGHT_ANKLE: usize = 23;
pub const LEFT_BIG_TOE: usize = 24;
pub const RIGHT_BIG_TOE: usize = 25;
pub const LEFT_SMALL_TOE: usize = 26;
pub const RIGHT_SMALL_TOE: usize = 27;
pub const LEFT_HEEL: usize = 28;
pub const RIGHT_HEEL: usize = 29;
pub const LEFT_HAND_THUMB_4: usize = 30;
pub const RIGHT_HAND_THUMB_4: usize = 31;
pub const LEFT_HAND_INDEX_1: usize = 32;
pub const RIGHT_HAND_INDEX_1: usize = 33;
pub const LEFT_HAND_MIDDLE_4: usize = 34;
pub const RIGHT_HAND_MIDDLE_4: usize = 35;
pub const LEFT_HAND_PINKY_1: usize = 36;
pub const RIGHT_HAND_PINKY_1: usize = 37;

/// `sl::BODY_38_PARTS` names in SDK order.
pub const JOINT_NAMES: [&str; JOINT_COUNT] = [
    "PELVIS",
    "SPINE_1",
    "SPINE_2",
    "SPINE_3",
    "NECK",
    "NOSE",
    "LEFT_EYE",
    "RIGHT_EYE",
    "LEFT_EAR",
    "RIGHT_EAR",
    "LEFT_CLAVICLE",
    "RIGHT_CLAVICLE",
    "LEFT_SHOULDER",
    "RIGHT_SHOULDER",
    "LEFT_ELBOW",
    "RIGHT_ELBOW",
    "LEFT_WRIST",
    "RIGHT_WRIST",
    "LEFT_HIP",
    "RIGHT_HIP",
    "LEFT_KNEE",
    "RIGHT_KNEE",
    "LEFT_ANKLE",
    "RIGHT_ANKLE",
    "LEFT_BIG_TOE",
    "RIGHT_BIG_TOE",
    "LEFT_SMALL_TOE",
    "RIGHT_SMALL_TOE",
    "LEFT_HEEL",
    "RIGHT_HEEL",
    "LEFT_HAND_THUMB_4",
    "RIGHT_HAND_THUMB_4",
    "LEFT_HAND_INDEX_1",
    "RIGHT_HAND_INDEX_1",
    "LEFT_HAND_MIDDLE_4",
    "RIGHT_HAND_MIDDLE_4",
    "LEFT_HAND_PINKY_1",
    "RIGHT_HAND_PINKY_1",
];

/// NTU-25 joints in terms of BODY_38 keypoints (NTU order).
pub const TO_NTU: [JointRule; NTU_JOINTS] = [
    Source(PELVIS),                                                                // SpineBase
    Source(SPINE_2),                                                               // SpineMid
    LerpMidpoints { a: [NECK, NECK], b: [LEFT_EAR, RIGHT_EAR], t: NECK_FRACTION }, // Neck
    Midpoint(LEFT_EAR, RIGHT_EAR),                                                 // Head
    Source(LEFT_SHOULDER),                                                         // ShoulderLeft
    Source(LEFT_ELBOW),                                                            // ElbowLeft
    Source(LEFT_WRIST),                                                            // WristLeft
    Mean3([LEFT_WRIST, LEFT_HAND_INDEX_1, LEFT_HAND_PINKY_1]),                     // HandLeft
    Source(RIGHT_SHOULDER),                                                        // ShoulderRight
    Source(RIGHT_ELBOW),                                                           // ElbowRight
    Source(RIGHT_WRIST),                                                           // WristRight
    Mean3([RIGHT_WRIST, RIGHT_HAND_INDEX_1, RIGHT_HAND_PINKY_1]),                  // HandRight
    Source(LEFT_HIP),                                                              // HipLeft
    Source(LEFT_KNEE),                                                             // KneeLeft
    Source(LEFT_ANKLE),                                                            // AnkleLeft
    Midpoint(LEFT_BIG_TOE, LEFT_SMALL_TOE),                                        // FootLeft
    Source(RIGHT_HIP),                                                             // HipRight
    Source(RIGHT_KNEE),                                                            // KneeRight
    Source(RIGHT_ANKLE),                                                           // AnkleRight
    Midpoint(RIGHT_BIG_TOE, RIGHT_SMALL_TOE),                                      // FootRight
    Source(NECK),                                                                  // SpineShoulder
    Source(LEFT_HAND_MIDDLE_4),                                                    // HandTipLeft
    Source(LEFT_HAND_THUMB_4),                                                     // ThumbLeft
    Source(RIGHT_HAND_MIDDLE_4),                                                   // HandTipRight
    Source(RIGHT_HAND_THUMB_4),                                                    // ThumbRight
];

pub use super::zed_body34::confidence_from_keypoint_confidence;
