//! Microsoft Kinect v2 (Kinect for Windows SDK 2.0 `JointType`), also the layout of NTU RGB+D recordings.
//!
//! This is the model layout, so the mapping is the identity. Positions are metres in Kinect camera space
//! (`Axes::XLeftYUpZForward`).

use super::JointRule;
use crate::skeleton::{NTU_JOINTS, NTU_JOINT_NAMES};

/// Joints per body.
pub const JOINT_COUNT: usize = NTU_JOINTS;

/// `JointType` names in SDK order (the same as NTU-25).
pub const JOINT_NAMES: [&str; JOINT_COUNT] = NTU_JOINT_NAMES;

/// Every NTU joint is the Kinect joint with the same index.
pub const TO_NTU: [JointRule; NTU_JOINTS] = {
    let mut table = [JointRule::Missing; NTU_JOINTS];
    let mut i = 0;
    while i < NTU_JOINTS {
        table[i] = JointRule::Source(i);
        i += 1;
    }
    table
};

/// Wire confidence of a Kinect `TrackingState`: NotTracked (0) → 0, Inferred (1) → 128, Tracked (2) → 255.
/// Any other value is not a tracking state and reads as not tracked.
pub const fn confidence_from_tracking_state(state: u8) -> u8 {
    match state {
        1 => 128,
        2 => 255,
        _ => 0,
    }
}
