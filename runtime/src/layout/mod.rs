//! Mapping of a sensor's joint layout into the model layout (NTU RGB+D 25 joints, metres, Kinect v2 camera axes).
//!
//! A sender announces its layout, units and axes in [`Hello`]; [`SourceFormat`] keeps those three, and
//! [`map_body`] turns one body's joints into a [`Pose`]. Each source layout has a small module with the SDK's joint
//! order, names, a table of [`JointRule`]s (one per NTU joint, in NTU order) and the conversion of the SDK's
//! confidence onto the wire's `0..=255`. `docs/layouts.md` renders every table; a test keeps it in sync.
//!
//! A joint is missing (`valid == false`, coordinates zero) when its source joint is not tracked, is below the
//! caller's confidence threshold, has a non-finite coordinate or lies implausibly far from the sensor (more than
//! [`MAX_JOINT_DISTANCE_M`]), when a rule's input is missing, or when the source has no such joint. Missing joints are filled later by the preprocessing (interpolation, then the parent joint).
//!
//! Synthesized joints use proportions measured on Kinect v2 itself (medians over the five NTU recordings in the
//! shared fixtures), so that a synthesized joint sits roughly where Kinect v2 would have put it; Kinect v1's spine
//! fractions were measured on Kinect v1 data against those recordings (`kinect_v1`).

mod axes;
pub mod azure_kinect;
pub mod kinect_v1;
pub mod kinect_v2;
pub mod mediapipe;
pub mod openni15;
mod rule;
pub mod xsens_mvn;
pub mod zed_body34;
pub mod zed_body38;

#[cfg(test)]
mod tests;

pub use axes::{rotation_to_model, to_model_axes};
pub use rule::JointRule;

use crate::skeleton::{Pose, Vec3, NTU_JOINTS};
use crate::wire::{Axes, Hello, Joint, LayoutId, Units};

/// Kinect v2's Neck lies this fraction of the way from SpineShoulder to Head (0.066 m of 0.192 m).
pub const NECK_FRACTION: f32 = 0.35;
/// Kinect v2's SpineMid lies this fraction of the way from SpineBase to SpineShoulder.
pub const SPINE_MID_FRACTION: f32 = 0.57;
/// Kinect v2's HandLeft/Right lies this far beyond the wrist, as a fraction of the forearm (elbow to wrist).
pub const HAND_BEYOND_WRIST: f32 = 0.28;
/// Kinect v2's HandTipLeft/Right lies this far beyond the wrist, as a fraction of the forearm.
pub const HAND_TIP_BEYOND_WRIST: f32 = 0.55;

/// Farthest a joint may lie from the sensor's origin, in metres, once converted to the model's units. Depth sensors
/// see a few metres and motion-capture suits roam a hall; a coordinate beyond this is a sender's bug (garbage that
/// happens to be finite, ±3e38 or a unit mix-up), and kept it would wreck centring and scaling of the whole window.
/// Such a joint is treated as missing and counted ([`MapReport::implausible_joints`]).
pub const MAX_JOINT_DISTANCE_M: f32 = 100.0;

/// What [`map_body`] left out of a body it mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MapReport {
    /// Source joints with finite coordinates farther than [`MAX_JOINT_DISTANCE_M`] from the origin, treated as
    /// missing.
    pub implausible_joints: u8,
}

/// Why a body could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LayoutError {
    /// The body carries `actual` joints but its layout has `expected`. Nothing was written.
    JointCount { expected: usize, actual: usize },
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LayoutError::JointCount { expected, actual } => {
                write!(f, "body has {actual} joints, its layout has {expected}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LayoutError {}

/// How a sender's bodies are to be read: joint layout, length unit and axis convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SourceFormat {
    pub layout: LayoutId,
    pub units: Units,
    pub axes: Axes,
}

impl SourceFormat {
    /// The model's own format: Kinect v2 joints in metres and Kinect camera axes (mapping is the identity).
    pub const MODEL: SourceFormat =
        SourceFormat { layout: LayoutId::KinectV2, units: Units::Metres, axes: Axes::XLeftYUpZForward };

    pub const fn new(layout: LayoutId, units: Units, axes: Axes) -> Self {
        SourceFormat { layout, units, axes }
    }

    /// The format a `Hello` announces.
    pub const fn from_hello(hello: &Hello) -> Self {
        SourceFormat { layout: hello.layout, units: hello.units, axes: hello.axes }
    }

    /// Joints per body in this format.
    pub const fn joint_count(&self) -> usize {
        self.layout.joint_count()
    }

    /// One source position converted to metres and model axes.
    ///
    /// Divides by the number of units per metre rather than multiplying by [`Units::to_metres`]: 0.001 has no
    /// exact f32, so `3000.0 * 0.001` is 3.0000002, whereas `3000.0 / 1000.0` is the nearest f32 to the true value,
    /// as a float64 conversion on the training side would give.
    pub fn to_model(&self, x: f32, y: f32, z: f32) -> Vec3 {
        let per_metre = units_per_metre(self.units);
        to_model_axes(self.axes, [x / per_metre, y / per_metre, z / per_metre])
    }
}

impl From<&Hello> for SourceFormat {
    fn from(hello: &Hello) -> Self {
        SourceFormat::from_hello(hello)
    }
}

/// The rules that build each NTU joint (NTU order) from a source layout.
/// The NTU-25 joints `layout` provides at all: false where its rule is [`JointRule::Missing`] (Kinect v1's thumbs,
/// for example). Those are filled from their parent in every window and are not "missing" to reconstruction.
pub fn provided_joints(layout: LayoutId) -> [bool; NTU_JOINTS] {
    let mut provided = [true; NTU_JOINTS];
    for (joint, rule) in provided.iter_mut().zip(rules(layout)) {
        *joint = !matches!(rule, JointRule::Missing);
    }
    provided
}

pub const fn rules(layout: LayoutId) -> &'static [JointRule; NTU_JOINTS] {
    match layout {
        LayoutId::KinectV2 => &kinect_v2::TO_NTU,
        LayoutId::AzureKinect32 => &azure_kinect::TO_NTU,
        LayoutId::ZedBody34 => &zed_body34::TO_NTU,
        LayoutId::ZedBody38 => &zed_body38::TO_NTU,
        LayoutId::MediaPipe33 => &mediapipe::TO_NTU,
        LayoutId::XsensMvn23 => &xsens_mvn::TO_NTU,
        LayoutId::KinectV1 => &kinect_v1::TO_NTU,
        LayoutId::OpenNi15 => &openni15::TO_NTU,
    }
}

/// The SDK's joint names of a source layout, in wire order.
pub const fn joint_names(layout: LayoutId) -> &'static [&'static str] {
    match layout {
        LayoutId::KinectV2 => &kinect_v2::JOINT_NAMES,
        LayoutId::AzureKinect32 => &azure_kinect::JOINT_NAMES,
        LayoutId::ZedBody34 => &zed_body34::JOINT_NAMES,
        LayoutId::ZedBody38 => &zed_body38::JOINT_NAMES,
        LayoutId::MediaPipe33 => &mediapipe::JOINT_NAMES,
        LayoutId::XsensMvn23 => &xsens_mvn::JOINT_NAMES,
        LayoutId::KinectV1 => &kinect_v1::JOINT_NAMES,
        LayoutId::OpenNi15 => &openni15::JOINT_NAMES,
    }
}

/// Maps one body from its source layout into `out` (model layout).
///
/// A source joint counts only if its confidence is at least `min_confidence` and at least 1 (0 always means not
/// tracked), all three coordinates are finite, and it lies within [`MAX_JOINT_DISTANCE_M`] of the origin (those
/// beyond are counted in the report). On error `out` is left untouched. Never allocates.
pub fn map_body(
    format: &SourceFormat,
    joints: &[Joint],
    min_confidence: u8,
    out: &mut Pose,
) -> Result<MapReport, LayoutError> {
    let expected = format.joint_count();
    if joints.len() != expected {
        return Err(LayoutError::JointCount { expected, actual: joints.len() });
    }
    let threshold = min_confidence.max(1);
    let tracked = |joint: &Joint| joint.confidence >= threshold;
    let point = |index: usize| -> Option<Vec3> {
        let joint = joints.get(index).filter(|j| tracked(j))?;
        plausible(format.to_model(joint.x, joint.y, joint.z))
    };
    let implausible = joints
        .iter()
        .filter(|j| tracked(j))
        .map(|j| format.to_model(j.x, j.y, j.z))
        .filter(|v| finite(*v).is_some() && plausible(*v).is_none())
        .count();
    for (ntu, rule) in rules(format.layout).iter().enumerate() {
        // A rule extrapolates (a hand beyond the wrist), so its result is checked like an input.
        match rule.evaluate(point).and_then(plausible) {
            Some(position) => {
                out.joints[ntu] = position;
                out.valid[ntu] = true;
            }
            None => {
                out.joints[ntu] = [0.0; 3];
                out.valid[ntu] = false;
            }
        }
    }
    // At most MAX_JOINTS (38) joints per body, so this fits.
    Ok(MapReport { implausible_joints: u8::try_from(implausible).unwrap_or(u8::MAX) })
}

/// How many of `units` make a metre: the exact reciprocal of [`Units::to_metres`].
pub const fn units_per_metre(units: Units) -> f32 {
    match units {
        Units::Metres => 1.0,
        Units::Centimetres => 100.0,
        Units::Millimetres => 1000.0,
    }
}

fn finite(v: Vec3) -> Option<Vec3> {
    v.iter().all(|c| c.is_finite()).then_some(v)
}

/// `v` if it is finite and within [`MAX_JOINT_DISTANCE_M`] of the origin. Each coordinate is bounded first, so the
/// squares below cannot overflow.
fn plausible(v: Vec3) -> Option<Vec3> {
    let bounded = v.iter().all(|c| c.is_finite() && c.abs() <= MAX_JOINT_DISTANCE_M);
    let squared: f32 = v.iter().map(|c| c * c).sum();
    (bounded && squared <= MAX_JOINT_DISTANCE_M * MAX_JOINT_DISTANCE_M).then_some(v)
}

/// Wire confidence of a probability-like score in `0..=1` (MediaPipe visibility, ZED confidence / 100):
/// `round(score · 255)`, clamped to `0..=255`. A positive score never rounds down to 0, because 0 means "not
/// tracked" on the wire; a score that is not positive (or NaN) gives 0.
pub fn confidence_from_fraction(score: f32) -> u8 {
    if score.is_nan() || score <= 0.0 {
        return 0;
    }
    // `as` saturates, so scores above 1 give 255. Adding 0.5 then truncating rounds half up for non-negative input.
    let scaled = (score * 255.0 + 0.5) as u8;
    scaled.max(1)
}
