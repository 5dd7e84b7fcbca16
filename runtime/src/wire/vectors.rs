//! The golden messages behind the byte vectors in `docs/protocol.md`.
//!
//! Tests decode the doc's bytes and compare with these values, and encode these values and compare with the
//! doc's bytes, so the spec and the code cannot drift apart.

use heapless::{String, Vec};

use super::message::*;

/// A name (as written in the doc after `vector:`) and the message it encodes.
pub fn golden_messages() -> [(&'static str, Message); 7] {
    let mut name = String::new();
    let _ = name.push_str("kinect-v2");
    let mut two_joints = Vec::new();
    let _ = two_joints.push(Joint { x: 0.25, y: -0.5, z: 2.0, confidence: 255 });
    let _ = two_joints.push(Joint { x: 0.0, y: 1.0, z: 2.5, confidence: 128 });
    let mut bodies = Vec::new();
    let _ = bodies.push(Body { id: 3, joints: two_joints });
    [
        (
            "hello",
            Message::Hello(Hello {
                protocol_major: PROTOCOL_MAJOR,
                protocol_minor: PROTOCOL_MINOR,
                layout: LayoutId::KinectV2,
                units: Units::Metres,
                axes: Axes::XLeftYUpZForward,
                nominal_fps_millihertz: 30_000,
                sensor_name: name,
            }),
        ),
        ("frame-empty", Message::Frame(Frame { sequence: 7, timestamp_us: 233_333, bodies: Vec::new() })),
        ("frame-two-joints", Message::Frame(Frame { sequence: 300, timestamp_us: 10_000_000, bodies })),
        ("heartbeat", Message::Heartbeat(Heartbeat { timestamp_us: 1_000_000 })),
        (
            "event",
            Message::Event(Event {
                body_id: 3,
                action_id: 23,
                label_index: 1,
                confidence: 0.875,
                start_us: 1_000_000,
                end_us: 2_500_000,
                phase: EventPhase::End,
            }),
        ),
        ("status-zero", Message::Status(Status::default())),
        (
            "status",
            Message::Status(Status {
                uptime_ms: 60_000,
                packets_ok: 1800,
                crc_errors: 2,
                cobs_errors: 0,
                length_errors: 1,
                decode_errors: 0,
                version_errors: 0,
                invalid_values: 0,
                dropped_frames: 3,
                windows_run: 225,
                windows_dropped: 0,
                events: 4,
                active_tracks: 1,
                health: Health::Ok,
            }),
        ),
    ]
}
