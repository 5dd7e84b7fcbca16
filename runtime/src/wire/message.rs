//! Protocol v1 message types. The byte layout is postcard's, specified in `docs/protocol.md`.
//!
//! Field order is part of the wire format: never reorder fields or enum variants; append new variants at the end
//! and bump the minor version.

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Protocol major version. A packet with another major version is refused.
pub const PROTOCOL_MAJOR: u8 = 1;
/// Protocol minor version. Minor versions only append; a v1.x receiver reads every v1.y packet it knows.
pub const PROTOCOL_MINOR: u8 = 1;

/// Most bodies one `Frame` may carry (Kinect v2 tracks six).
pub const MAX_BODIES: usize = 6;
/// Most joints one body may carry (ZED BODY_38 is the largest supported layout).
pub const MAX_JOINTS: usize = 38;
/// Most bytes of UTF-8 in a sensor name.
pub const MAX_SENSOR_NAME: usize = 32;

/// Joint layout of the bodies a sensor sends. The numbering is part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LayoutId {
    /// Kinect v2 / NTU RGB+D, 25 joints. This is the model layout.
    KinectV2 = 0,
    /// Azure Kinect and Orbbec body tracking (k4abt), 32 joints.
    AzureKinect32 = 1,
    /// Stereolabs ZED BODY_34.
    ZedBody34 = 2,
    /// Stereolabs ZED BODY_38.
    ZedBody38 = 3,
    /// MediaPipe Pose world landmarks, 33 points.
    MediaPipe33 = 4,
    /// Xsens MVN, 23 segments.
    XsensMvn23 = 5,
    /// Kinect v1 (Kinect 360, Kinect for Windows SDK 1.x), 20 joints.
    KinectV1 = 6,
    /// OpenNI / NiTE user tracking (Asus Xtion and other PrimeSense devices), 15 joints.
    OpenNi15 = 7,
}

impl LayoutId {
    /// Number of joints each body of this layout carries.
    pub const fn joint_count(self) -> usize {
        match self {
            LayoutId::KinectV2 => 25,
            LayoutId::AzureKinect32 => 32,
            LayoutId::ZedBody34 => 34,
            LayoutId::ZedBody38 => 38,
            LayoutId::MediaPipe33 => 33,
            LayoutId::XsensMvn23 => 23,
            LayoutId::KinectV1 => 20,
            LayoutId::OpenNi15 => 15,
        }
    }
}

/// Length unit of joint coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Units {
    Metres = 0,
    Centimetres = 1,
    Millimetres = 2,
}

impl Units {
    /// Factor that converts a coordinate in these units to metres.
    pub const fn to_metres(self) -> f32 {
        match self {
            Units::Metres => 1.0,
            Units::Centimetres => 0.01,
            Units::Millimetres => 0.001,
        }
    }
}

/// Axis convention of joint coordinates. All are right-handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Axes {
    /// Kinect v2 camera space (the model's): +x to the sensor's left, +y up, +z away from the sensor.
    XLeftYUpZForward = 0,
    /// Image-style camera space (Azure Kinect, ZED `IMAGE`, MediaPipe): +x right, +y down, +z away.
    XRightYDownZForward = 1,
    /// OpenGL-style (ZED `RIGHT_HANDED_Y_UP`): +x right, +y up, +z towards the viewer.
    XRightYUpZBackward = 2,
    /// ROS / Xsens world: +x forward (away from the viewpoint), +y left, +z up.
    XForwardYLeftZUp = 3,
}

/// One joint: position and how much the sensor trusts it.
///
/// `confidence` 0 means the joint is not tracked and its position must be ignored; 255 is full confidence.
/// `docs/layouts.md` gives each sensor's mapping onto this scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Joint {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub confidence: u8,
}

impl Joint {
    /// Confidence value that marks a joint as not tracked.
    pub const NOT_TRACKED: u8 = 0;
}

/// One tracked body in a frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Body {
    /// Stable id for as long as the sensor tracks this body.
    pub id: u32,
    /// Joints in the order of the layout announced by `Hello`.
    pub joints: Vec<Joint, MAX_JOINTS>,
}

/// Announces a sensor and how to read its frames. Sent at connect and whenever a setting changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    pub protocol_major: u8,
    pub protocol_minor: u8,
    pub layout: LayoutId,
    pub units: Units,
    pub axes: Axes,
    /// Nominal frame rate in millihertz (30 Hz = 30000), so that 29.97 Hz is exact.
    pub nominal_fps_millihertz: u32,
    pub sensor_name: String<MAX_SENSOR_NAME>,
}

/// One capture instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame {
    /// Increments by one per frame; gaps count as dropped frames. Wraps at `u32::MAX`.
    pub sequence: u32,
    /// Sensor clock at capture, microseconds.
    pub timestamp_us: u64,
    pub bodies: Vec<Body, MAX_BODIES>,
}

/// Keeps the link alive when no body is in view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heartbeat {
    pub timestamp_us: u64,
}

/// Whether an event opens or closes an action segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EventPhase {
    /// The action was recognised and has lasted the minimum duration; `end_us` is the latest evidence so far.
    Begin = 0,
    /// The action ended; `start_us..end_us` is the whole segment.
    End = 1,
}

/// A recognised action of one body.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event {
    pub body_id: u32,
    /// The bundle's action id for the label (for example an NTU class number); [`Event::UNKNOWN`] for unknown.
    pub action_id: u16,
    /// Index into the bundle's label list; [`Event::UNKNOWN`] for unknown.
    pub label_index: u16,
    /// Smoothed score of the label, 0..=1.
    pub confidence: f32,
    pub start_us: u64,
    pub end_us: u64,
    pub phase: EventPhase,
}

impl Event {
    /// `action_id` and `label_index` of an action the model does not know.
    pub const UNKNOWN: u16 = u16::MAX;
}

/// Counters a device reports so that a host can see the link's and the pipeline's health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status {
    pub uptime_ms: u64,
    pub packets_ok: u32,
    pub crc_errors: u32,
    pub cobs_errors: u32,
    pub length_errors: u32,
    pub decode_errors: u32,
    pub version_errors: u32,
    pub invalid_values: u32,
    pub dropped_frames: u32,
    pub windows_run: u32,
    pub windows_dropped: u32,
    pub events: u32,
    pub active_tracks: u8,
    pub health: Health,
}

/// Overall state in one word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Health {
    #[default]
    Ok = 0,
    /// No frame for longer than the configured link timeout.
    NoSensor = 1,
    /// Windows are being dropped because inference falls behind.
    Overloaded = 2,
    /// Errors on the link exceed the configured rate.
    LinkErrors = 3,
}

/// Everything that travels on a skelact link, in either direction.
///
/// `Frame` makes this 3.7 kB; boxing it would need an allocator, and the decoder keeps exactly one `Message`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message {
    Hello(Hello),
    Frame(Frame),
    Heartbeat(Heartbeat),
    Event(Event),
    Status(Status),
}
