//! Synthetic session recordings (`models/zoo/sessions/*.jsonl`, written by `cargo xtask models session`; format in
//! `docs/models.md`): a header line, then one JSON object per frame.
//!
//! The file's `sequence` counts frames as they were *sent*, so frames lost on the simulated link leave no gap in
//! it, only in `timestamp_us`. A device sees losses as sequence gaps, so each frame's sequence number is derived
//! from its timestamp instead: `round(timestamp_us · rate_hz / 10⁶)`.

use std::num::NonZeroU32;

use serde::Deserialize;
use skelact_runtime::wire::{self, Axes, Body, Frame, Hello, Joint, LayoutId, Units, MAX_BODIES};

use super::SourceError;

/// The header line.
#[derive(Debug, Deserialize)]
struct Header {
    format: String,
    version: u32,
    layout: String,
    units: String,
    axes: String,
    rate_hz: f64,
    joints: usize,
}

#[derive(Debug, Deserialize)]
struct SessionFrame {
    #[allow(dead_code)]
    sequence: u64,
    timestamp_us: u64,
    bodies: Vec<SessionBody>,
}

#[derive(Debug, Deserialize)]
struct SessionBody {
    id: u32,
    joints: Vec<[f64; 4]>,
}

/// A session as protocol messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub hello: Hello,
    pub frames: Vec<Frame>,
    pub rate_hz: f64,
}

/// Parses a session recording. Errors name the line.
pub fn parse(text: &str) -> Result<Session, SourceError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or_else(|| SourceError::at(1, "empty file, expected a skelact-session header"))?;
    let header: Header = serde_json::from_str(first).map_err(|e| SourceError::at(1, format!("header: {e}")))?;
    if header.format != "skelact-session" || header.version != 1 {
        return Err(SourceError::at(
            1,
            format!("format {:?} version {}, expected \"skelact-session\" version 1", header.format, header.version),
        ));
    }
    if header.layout != "ntu25" || header.joints != 25 || header.units != "m" || header.axes != "kinect-v2" {
        return Err(SourceError::at(
            1,
            format!(
                "layout {:?} with {} joints in {:?}, axes {:?}: only ntu25, 25 joints, m, kinect-v2 are defined",
                header.layout, header.joints, header.units, header.axes
            ),
        ));
    }
    if !(header.rate_hz.is_finite() && header.rate_hz > 0.0 && header.rate_hz < 10_000.0) {
        return Err(SourceError::at(1, format!("rate_hz {} is not a frame rate", header.rate_hz)));
    }
    let millihertz = NonZeroU32::new((header.rate_hz * 1000.0).round() as u32)
        .ok_or_else(|| SourceError::at(1, "rate_hz rounds to 0 mHz"))?;
    let mut frames = Vec::new();
    let mut previous: Option<(u32, u64)> = None;
    for (index, line) in lines {
        let number = index + 1;
        let record: SessionFrame = serde_json::from_str(line).map_err(|e| SourceError::at(number, e.to_string()))?;
        let sequence_f = (record.timestamp_us as f64 * header.rate_hz / 1e6).round();
        let sequence = (sequence_f as u64 % (1u64 << 32)) as u32;
        if let Some((last_sequence, last_us)) = previous {
            if record.timestamp_us <= last_us || sequence == last_sequence {
                return Err(SourceError::at(
                    number,
                    format!("timestamp {} µs does not advance by a frame after {last_us} µs", record.timestamp_us),
                ));
            }
        }
        previous = Some((sequence, record.timestamp_us));
        if record.bodies.len() > MAX_BODIES {
            return Err(SourceError::at(
                number,
                format!("{} bodies, a frame carries at most {MAX_BODIES}", record.bodies.len()),
            ));
        }
        let mut bodies = heapless::Vec::new();
        for body in &record.bodies {
            if body.joints.len() != 25 {
                return Err(SourceError::at(
                    number,
                    format!("body {} has {} joints, expected 25", body.id, body.joints.len()),
                ));
            }
            let mut joints = heapless::Vec::new();
            for [x, y, z, confidence] in &body.joints {
                if !(x.is_finite() && y.is_finite() && z.is_finite()) {
                    return Err(SourceError::at(number, format!("body {} has a non-finite coordinate", body.id)));
                }
                if !(0.0..=255.0).contains(confidence) || confidence.fract() != 0.0 {
                    return Err(SourceError::at(number, format!("confidence {confidence} is not an integer 0..255")));
                }
                let joint = Joint { x: *x as f32, y: *y as f32, z: *z as f32, confidence: *confidence as u8 };
                // 25 joints fit the 38 a body holds.
                let _ = joints.push(joint);
            }
            let _ = bodies.push(Body { id: body.id, joints });
        }
        frames.push(Frame { sequence, timestamp_us: record.timestamp_us, bodies });
    }
    let hello = Hello {
        protocol_major: wire::PROTOCOL_MAJOR,
        protocol_minor: wire::PROTOCOL_MINOR,
        layout: LayoutId::KinectV2,
        units: Units::Metres,
        axes: Axes::XLeftYUpZForward,
        nominal_fps_millihertz: millihertz.get(),
        sensor_name: heapless::String::try_from("skelact synthetic session").unwrap_or_default(),
    };
    Ok(Session { hello, frames, rate_hz: header.rate_hz })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"format": "skelact-session", "version": 1, "layout": "ntu25", "units": "m", "axes": "kinect-v2", "rate_hz": 30.0, "joints": 25, "frames": 3}"#;

    fn frame_line(sequence: u32, timestamp_us: u64) -> String {
        let joints: Vec<String> = (0..25).map(|j| format!("[{}, 0.5, 3.0, 255]", j as f32 * 0.01)).collect();
        format!(
            r#"{{"sequence":{sequence},"timestamp_us":{timestamp_us},"bodies":[{{"id":1,"joints":[{}]}}]}}"#,
            joints.join(",")
        )
    }

    #[test]
    fn sequence_numbers_come_from_timestamps_so_link_losses_show_as_gaps() {
        // The second frame of the file is sequence 1 but its timestamp is frame 2's: frame 1 was lost.
        let text = [HEADER.to_string(), frame_line(0, 0), frame_line(1, 66_667), frame_line(2, 100_000)].join("\n");
        let session = parse(&text).unwrap();
        let sequences: Vec<u32> = session.frames.iter().map(|f| f.sequence).collect();
        assert_eq!(sequences, [0, 2, 3]);
        assert_eq!(session.hello.nominal_fps_millihertz, 30_000);
        assert_eq!(session.frames[1].bodies[0].joints.len(), 25);
        assert_eq!(session.frames[1].bodies[0].joints[3].x, 0.03);
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let text = [HEADER.to_string(), frame_line(0, 0), "{\"sequence\": 1}".to_string()].join("\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("line 3:"), "{error}");
        let short = [HEADER.to_string(), frame_line(0, 0).replacen("[0, 0.5, 3.0, 255],", "", 1)].join("\n");
        assert!(parse(&short).unwrap_err().to_string().contains("24 joints"));
        let backwards = [HEADER.to_string(), frame_line(0, 100_000), frame_line(1, 0)].join("\n");
        assert!(parse(&backwards).unwrap_err().to_string().contains("does not advance"));
        assert!(parse(&HEADER.replace("ntu25", "coco17")).is_err());
    }
}
