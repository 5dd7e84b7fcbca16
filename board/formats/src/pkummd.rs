//! PKU-MMD skeleton text files: one row per frame of 150 numbers, two bodies × 25 Kinect v2 joints × (x, y, z) in
//! metres, camera axes (the model's). A body that is absent is all zeros. The files carry no tracking state, so a
//! joint counts as tracked unless all three of its coordinates are exactly zero. PKU-MMD was captured at 30 Hz;
//! frame `i` gets sequence `i` and timestamp `⌊i · 10⁶ / 30⌋` µs, as NTU recordings do.

use crate::ntu;
use skelact_runtime::wire::{Body, Frame, Joint};

use super::SourceError;

/// Values per row.
pub const ROW_VALUES: usize = 150;

/// Parses the text of a skeleton file into frames. Body ids are 1 and 2 (the file's body order).
pub fn parse(text: &str) -> Result<Vec<Frame>, SourceError> {
    let mut frames = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut values = [0f32; ROW_VALUES];
        let mut count = 0;
        for field in line.split_whitespace() {
            let value: f32 =
                field.parse().map_err(|_| SourceError::at(number, format!("{field:?} is not a number")))?;
            if !value.is_finite() {
                return Err(SourceError::at(number, format!("{field:?} is not finite")));
            }
            if count < ROW_VALUES {
                values[count] = value;
            }
            count += 1;
        }
        if count != ROW_VALUES {
            return Err(SourceError::at(
                number,
                format!("{count} values, a PKU-MMD row has {ROW_VALUES} (2 bodies × 25 joints × xyz)"),
            ));
        }
        let index = frames.len();
        let mut bodies = heapless::Vec::new();
        for (b, body_values) in values.chunks_exact(75).enumerate() {
            if body_values.iter().all(|&v| v == 0.0) {
                continue;
            }
            let mut joints = heapless::Vec::new();
            for xyz in body_values.chunks_exact(3) {
                let tracked = xyz.iter().any(|&v| v != 0.0);
                let confidence = if tracked { 255 } else { Joint::NOT_TRACKED };
                let _ = joints.push(Joint { x: xyz[0], y: xyz[1], z: xyz[2], confidence });
            }
            let _ = bodies.push(Body { id: b as u32 + 1, joints });
        }
        frames.push(Frame {
            sequence: index as u32,
            timestamp_us: ntu::timestamp_us(index, ntu::NTU_FPS_MILLIHERTZ),
            bodies,
        });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(first: f32, second_present: bool) -> String {
        let mut values: Vec<String> = (0..75).map(|i| format!("{}", first + i as f32 * 0.001)).collect();
        values[3] = "0".into();
        values[4] = "0".into();
        values[5] = "0".into(); // joint 1 of body 1 not tracked
        values.extend((0..75).map(|i| if second_present { format!("{}", 1.0 + i as f32) } else { "0".into() }));
        values.join(" ")
    }

    #[test]
    fn rows_become_frames_with_absent_bodies_left_out() {
        let text = format!("{}\n{}\n\n", row(0.5, false), row(0.6, true));
        let frames = parse(&text).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].bodies.len(), 1);
        assert_eq!(frames[1].bodies.len(), 2);
        assert_eq!(frames[1].bodies[1].id, 2);
        assert_eq!(frames[1].timestamp_us, 33_333);
        let body = &frames[0].bodies[0];
        assert_eq!((body.joints[0].x, body.joints[0].confidence), (0.5, 255));
        assert_eq!(body.joints[1].confidence, 0);
    }

    #[test]
    fn short_rows_and_words_are_refused_with_their_line() {
        let error = parse(&format!("{}\n1 2 3", row(0.5, false))).unwrap_err().to_string();
        assert!(error.starts_with("line 2:") && error.contains("3 values"), "{error}");
        assert!(parse("abc").unwrap_err().to_string().contains("not a number"));
    }
}
