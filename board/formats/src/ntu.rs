//! Reader for NTU RGB+D `.skeleton` files (Kinect v2 recordings) and their conversion into protocol frames, for
//! replay and tests. Needs the `std` feature.
//!
//! The format is text, one record per line, values separated by spaces, CRLF or LF line ends:
//!
//! ```text
//! frameCount
//! per frame:  bodyCount
//!   per body: bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
//!             isRestricted leanX leanY trackingState
//!             jointCount                                   (always 25)
//!             per joint: x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
//!                        trackingState
//! ```
//!
//! Positions are metres in Kinect camera space, which is the model layout. The parser keeps every field, rejects
//! anything else with the line number and what it expected, and never panics. Numbers are parsed by Rust's
//! `str::parse::<f32>`, so each value is exactly the f32 nearest to the text.

use std::num::NonZeroU32;
use std::path::Path;
use std::vec::Vec;

use skelact_runtime::layout::kinect_v2;
use skelact_runtime::skeleton::NTU_JOINTS;
use skelact_runtime::wire::{self, Body, Frame, Hello, Joint, LayoutId};

/// NTU RGB+D was recorded at 30 Hz.
pub const NTU_FPS_MILLIHERTZ: NonZeroU32 = match NonZeroU32::new(30_000) {
    Some(fps) => fps,
    None => unreachable!(),
};

/// Most bodies a frame may hold: Kinect v2 tracks six, and a protocol frame carries no more.
pub const MAX_BODIES_PER_FRAME: usize = wire::MAX_BODIES;

/// Names of the twelve values of a joint line, in file order.
const JOINT_FIELDS: [&str; 12] = [
    "x",
    "y",
    "z",
    "depthX",
    "depthY",
    "colorX",
    "colorY",
    "orientationW",
    "orientationX",
    "orientationY",
    "orientationZ",
    "trackingState",
];

/// Names of the ten values of a body line, in file order.
const BODY_FIELDS: [&str; 10] = [
    "bodyID",
    "clippedEdges",
    "handLeftConfidence",
    "handLeftState",
    "handRightConfidence",
    "handRightState",
    "isRestricted",
    "leanX",
    "leanY",
    "trackingState",
];

/// A whole `.skeleton` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub frames: Vec<NtuFrame>,
}

/// One frame: the bodies Kinect tracked at that instant (possibly none).
#[derive(Clone, Debug, PartialEq)]
pub struct NtuFrame {
    pub bodies: Vec<NtuBody>,
}

/// One tracked body with every field of its file record.
#[derive(Clone, Debug, PartialEq)]
pub struct NtuBody {
    /// Kinect's 64-bit tracking id.
    pub body_id: u64,
    /// Kinect `FrameEdges` flags: which image edges clip the body.
    pub clipped_edges: u32,
    /// Kinect `TrackingConfidence` of the left hand state (0 low, 1 high).
    pub hand_left_confidence: u8,
    /// Kinect `HandState` of the left hand (0 unknown, 1 not tracked, 2 open, 3 closed, 4 lasso).
    pub hand_left_state: u8,
    pub hand_right_confidence: u8,
    pub hand_right_state: u8,
    /// 1 when Kinect restricted tracking of this body.
    pub is_restricted: u8,
    pub lean_x: f32,
    pub lean_y: f32,
    /// Kinect `TrackingState` of the body.
    pub tracking_state: u8,
    pub joints: [NtuJoint; NTU_JOINTS],
}

/// One joint with every field of its file record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NtuJoint {
    /// Camera-space position, metres (Kinect v2 axes).
    pub x: f32,
    pub y: f32,
    pub z: f32,
    /// Position in the 512×424 depth image, pixels.
    pub depth_x: f32,
    pub depth_y: f32,
    /// Position in the 1920×1080 colour image, pixels.
    pub color_x: f32,
    pub color_y: f32,
    /// Joint orientation quaternion.
    pub orientation_w: f32,
    pub orientation_x: f32,
    pub orientation_y: f32,
    pub orientation_z: f32,
    /// Kinect `TrackingState`: 0 not tracked, 1 inferred, 2 tracked.
    pub tracking_state: u8,
}

/// Why a `.skeleton` text was refused. Lines count from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtuError {
    /// The text ended before line `line`, which should have held `expected`.
    UnexpectedEnd { line: usize, expected: &'static str },
    /// Line `line` should hold `expected` values (`record` names them) but holds `found`.
    FieldCount { line: usize, record: &'static str, expected: usize, found: usize },
    /// The value `field` on line `line` is not `expected`.
    InvalidValue { line: usize, field: &'static str, expected: &'static str },
    /// Line `line` holds text after the last frame the file announced.
    TrailingData { line: usize },
    /// Line `line` is not valid UTF-8 (the format is ASCII).
    NotText { line: usize },
}

impl core::fmt::Display for NtuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NtuError::UnexpectedEnd { line, expected } => {
                write!(f, "line {line}: file ends where {expected} was expected")
            }
            NtuError::FieldCount { line, record, expected, found } => {
                write!(f, "line {line}: expected {expected} values ({record}), found {found}")
            }
            NtuError::InvalidValue { line, field, expected } => {
                write!(f, "line {line}: {field} must be {expected}")
            }
            NtuError::TrailingData { line } => write!(f, "line {line}: text after the last announced frame"),
            NtuError::NotText { line } => write!(f, "line {line}: not UTF-8 text"),
        }
    }
}

impl std::error::Error for NtuError {}

/// Why [`read_file`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The file could not be read.
    Io(std::io::ErrorKind),
    /// The file was read but is not a valid `.skeleton` text.
    Parse(NtuError),
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReadError::Io(kind) => write!(f, "cannot read the file: {kind}"),
            ReadError::Parse(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads and parses a `.skeleton` file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Recording, ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io(e.kind()))?;
    parse_bytes(&bytes).map_err(ReadError::Parse)
}

/// Parses the bytes of a `.skeleton` file.
pub fn parse_bytes(bytes: &[u8]) -> Result<Recording, NtuError> {
    match core::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            Err(NtuError::NotText { line })
        }
    }
}

/// Parses the text of a `.skeleton` file.
pub fn parse(text: &str) -> Result<Recording, NtuError> {
    let mut lines = Lines::new(text);
    let frame_count: usize = lines.single("frame count", "a non-negative integer")?;
    // Don't trust the announced count for the allocation: a garbled header must not reserve gigabytes.
    let mut frames = Vec::with_capacity(frame_count.min(1 << 16));
    for _ in 0..frame_count {
        frames.push(parse_frame(&mut lines)?);
    }
    lines.expect_end()?;
    Ok(Recording { frames })
}

fn parse_frame(lines: &mut Lines<'_>) -> Result<NtuFrame, NtuError> {
    let line = lines.next_number();
    let body_count: usize = lines.single("body count", "a non-negative integer")?;
    if body_count > MAX_BODIES_PER_FRAME {
        return Err(NtuError::InvalidValue { line, field: "body count", expected: "at most 6" });
    }
    let mut bodies = Vec::with_capacity(body_count);
    for _ in 0..body_count {
        bodies.push(parse_body(lines)?);
    }
    Ok(NtuFrame { bodies })
}

fn parse_body(lines: &mut Lines<'_>) -> Result<NtuBody, NtuError> {
    let record = "bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState \
                  isRestricted leanX leanY trackingState";
    let values = lines.fields::<10>("body record", record)?;
    let integer = "a non-negative integer";
    let mut body = NtuBody {
        body_id: values.parse(0, integer)?,
        clipped_edges: values.parse(1, integer)?,
        hand_left_confidence: values.parse(2, "an integer 0..=255")?,
        hand_left_state: values.parse(3, "an integer 0..=255")?,
        hand_right_confidence: values.parse(4, "an integer 0..=255")?,
        hand_right_state: values.parse(5, "an integer 0..=255")?,
        is_restricted: values.parse(6, "an integer 0..=255")?,
        lean_x: values.float(7)?,
        lean_y: values.float(8)?,
        tracking_state: values.parse(9, "an integer 0..=255")?,
        joints: [NtuJoint::default(); NTU_JOINTS],
    };

    let line = lines.next_number();
    let joint_count: usize = lines.single("joint count", "25")?;
    if joint_count != NTU_JOINTS {
        return Err(NtuError::InvalidValue { line, field: "joint count", expected: "25" });
    }
    for joint in body.joints.iter_mut() {
        *joint = parse_joint(lines)?;
    }
    Ok(body)
}

fn parse_joint(lines: &mut Lines<'_>) -> Result<NtuJoint, NtuError> {
    let record = "x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ \
                  trackingState";
    let values = lines.fields::<12>("joint record", record)?;
    let tracking_state: u8 = values.parse(11, "0, 1 or 2")?;
    if tracking_state > 2 {
        return Err(values.invalid(11, "0, 1 or 2"));
    }
    Ok(NtuJoint {
        x: values.float(0)?,
        y: values.float(1)?,
        z: values.float(2)?,
        depth_x: values.float(3)?,
        depth_y: values.float(4)?,
        color_x: values.float(5)?,
        color_y: values.float(6)?,
        orientation_w: values.float(7)?,
        orientation_x: values.float(8)?,
        orientation_y: values.float(9)?,
        orientation_z: values.float(10)?,
        tracking_state,
    })
}

/// Walks the text line by line, knowing each line's number.
struct Lines<'a> {
    rest: core::str::Split<'a, char>,
    /// Number of the line `next` returns.
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines { rest: text.split('\n'), number: 1 }
    }

    /// Number of the line the next read will consume.
    fn next_number(&self) -> usize {
        self.number
    }

    /// The next line without its line end, or an error naming what was expected there.
    fn next(&mut self, expected: &'static str) -> Result<(usize, &'a str), NtuError> {
        let line = self.number;
        match self.rest.next() {
            // `split` yields one empty piece after a final line end; that is the end of the text, not a line.
            Some(text) if !(text.is_empty() && self.rest.clone().next().is_none()) => {
                self.number += 1;
                Ok((line, text.strip_suffix('\r').unwrap_or(text)))
            }
            _ => Err(NtuError::UnexpectedEnd { line, expected }),
        }
    }

    /// A line holding exactly `N` values.
    fn fields<const N: usize>(&mut self, record: &'static str, names: &'static str) -> Result<Fields<'a, N>, NtuError> {
        let (line, text) = self.next(record)?;
        let mut values = [""; N];
        let mut found = 0;
        for token in text.split_ascii_whitespace() {
            if let Some(slot) = values.get_mut(found) {
                *slot = token;
            }
            found += 1;
        }
        if found != N {
            return Err(NtuError::FieldCount { line, record: names, expected: N, found });
        }
        let names = if N == JOINT_FIELDS.len() { &JOINT_FIELDS[..] } else { &BODY_FIELDS[..] };
        Ok(Fields { line, values, names })
    }

    /// A line holding one value.
    fn single<T: core::str::FromStr>(&mut self, field: &'static str, expected: &'static str) -> Result<T, NtuError> {
        let (line, text) = self.next(field)?;
        let found = text.split_ascii_whitespace().count();
        match text.split_ascii_whitespace().next() {
            Some(token) if found == 1 => token.parse().map_err(|_| NtuError::InvalidValue { line, field, expected }),
            _ => Err(NtuError::FieldCount { line, record: field, expected: 1, found }),
        }
    }

    /// Only blank lines may follow the last frame.
    fn expect_end(&mut self) -> Result<(), NtuError> {
        for text in self.rest.by_ref() {
            if !text.trim().is_empty() {
                return Err(NtuError::TrailingData { line: self.number });
            }
            self.number += 1;
        }
        Ok(())
    }
}

/// The values of one record line.
struct Fields<'a, const N: usize> {
    line: usize,
    values: [&'a str; N],
    names: &'static [&'static str],
}

impl<const N: usize> Fields<'_, N> {
    fn invalid(&self, index: usize, expected: &'static str) -> NtuError {
        let field = self.names.get(index).copied().unwrap_or("value");
        NtuError::InvalidValue { line: self.line, field, expected }
    }

    fn parse<T: core::str::FromStr>(&self, index: usize, expected: &'static str) -> Result<T, NtuError> {
        let text = self.values.get(index).copied().unwrap_or("");
        text.parse().map_err(|_| self.invalid(index, expected))
    }

    fn float(&self, index: usize) -> Result<f32, NtuError> {
        let value: f32 = self.parse(index, "a finite number")?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(self.invalid(index, "a finite number"))
        }
    }
}

/// Turns a recording into protocol frames, as a Kinect v2 sender would have sent them.
///
/// Frame `i` gets `sequence = i` (wrapping at `u32::MAX` like the protocol's counter) and
/// `timestamp_us = ⌊i · 10⁹ / fps_millihertz⌋`, computed exactly in integers. A body's id is the low 32 bits of its
/// 64-bit Kinect id; joints keep their parsed f32 positions, and their tracking state becomes the wire confidence
/// (0 → 0, 1 → 128, 2 → 255). A hand-built recording with more than six bodies in a frame keeps the first six.
pub fn to_protocol_frames(recording: &Recording, fps_millihertz: NonZeroU32) -> Vec<Frame> {
    recording
        .frames
        .iter()
        .enumerate()
        .map(|(index, frame)| {
            let mut bodies = heapless::Vec::new();
            for body in &frame.bodies {
                if bodies.push(to_wire_body(body)).is_err() {
                    break;
                }
            }
            Frame { sequence: index as u32, timestamp_us: timestamp_us(index, fps_millihertz), bodies }
        })
        .collect()
}

/// `⌊index · 10⁹ / fps_millihertz⌋` microseconds, saturating at `u64::MAX` (reached only after ~584 000 years).
pub fn timestamp_us(index: usize, fps_millihertz: NonZeroU32) -> u64 {
    let micros = index as u128 * 1_000_000_000 / u128::from(fps_millihertz.get());
    u64::try_from(micros).unwrap_or(u64::MAX)
}

fn to_wire_body(body: &NtuBody) -> Body {
    let mut joints = heapless::Vec::new();
    for joint in &body.joints {
        let confidence = kinect_v2::confidence_from_tracking_state(joint.tracking_state);
        // 25 joints always fit in a body's 38; the check only keeps this function total.
        if joints.push(Joint { x: joint.x, y: joint.y, z: joint.z, confidence }).is_err() {
            break;
        }
    }
    // Keeping the low 32 bits is the documented id rule, so the truncation is intended.
    Body { id: body.body_id as u32, joints }
}

/// The `Hello` a Kinect v2 sender of NTU recordings announces: Kinect v2 layout, metres, Kinect camera axes.
/// `sensor_name` is cut to the protocol's 32 bytes at a character boundary.
pub fn kinect_v2_hello(sensor_name: &str, fps_millihertz: NonZeroU32) -> Hello {
    crate::kinect_camera_hello(LayoutId::KinectV2, sensor_name, fps_millihertz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use skelact_runtime::layout::{map_body, SourceFormat};
    use skelact_runtime::skeleton::{joint, Pose};
    use std::path::PathBuf;
    use std::string::String;

    /// (file, frames, most bodies in one frame), as listed in the fixtures' PROVENANCE.md.
    const FIXTURES: [(&str, usize, usize); 5] = [
        ("S001C001P001R001A011.skeleton", 82, 1),
        ("S001C003P008R002A058.skeleton", 70, 2),
        ("S002C001P003R001A003.skeleton", 100, 1),
        ("S003C001P015R001A034.skeleton", 71, 1),
        ("S004C002P003R001A017.skeleton", 124, 1),
    ];

    /// The shared NTU fixtures: `$SKELACT_FIXTURES/ntu` (or `$SKELACT_FIXTURES` itself), else `../shared/fixtures/ntu`
    /// beside the repository. `None` (and a `SKIPPED:` line) when they are not there.
    fn fixture_dir() -> Option<PathBuf> {
        let mut candidates = Vec::new();
        if let Some(root) = std::env::var_os("SKELACT_FIXTURES") {
            let root = PathBuf::from(root);
            candidates.push(root.join("ntu"));
            candidates.push(root);
        }
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ntu"));
        let found = candidates.into_iter().find(|dir| dir.join(FIXTURES[0].0).is_file());
        if found.is_none() {
            std::println!("SKIPPED: NTU fixtures not found (set SKELACT_FIXTURES or check out ../shared)");
        }
        found
    }

    fn fixture_text(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).expect("fixture is readable")
    }

    #[test]
    fn parses_every_real_recording_with_the_documented_frame_and_body_counts() {
        let Some(dir) = fixture_dir() else { return };
        // The table in PROVENANCE.md is the authority; check our copy of it first.
        let provenance = fixture_text(&dir, "PROVENANCE.md");
        for (name, frames, bodies) in FIXTURES {
            let row = format!("| {name} |");
            let line = provenance.lines().find(|l| l.starts_with(&row)).expect("file listed in PROVENANCE.md");
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells[3], frames.to_string(), "{name} frames");
            assert_eq!(cells[4], bodies.to_string(), "{name} bodies");
        }

        for (name, frames, bodies) in FIXTURES {
            let recording = read_file(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(recording.frames.len(), frames, "{name}");
            let most = recording.frames.iter().map(|f| f.bodies.len()).max();
            assert_eq!(most, Some(bodies), "{name}");
            for body in recording.frames.iter().flat_map(|f| &f.bodies) {
                assert!(body.joints.iter().all(|j| j.z > 0.0), "{name}: every joint is in front of the sensor");
            }
        }
    }

    #[test]
    fn keeps_every_field_with_the_exact_f32_values() {
        let Some(dir) = fixture_dir() else { return };
        let text = fixture_text(&dir, "S001C003P008R002A058.skeleton");
        let recording = parse(&text).expect("parses");
        // Lines 3 to 5 of the file:
        // 72057594037944738 0 1 1 1 1 0 0.01119184 -0.256052 2
        // 25
        // 0.7201789 0.1647426 3.561895 336.5812 192.8021 1184.537 489.4118 -0.2218947 0.03421978 0.968875 -0.1042736 2
        let body = &recording.frames[0].bodies[0];
        let f = |s: &str| s.parse::<f32>().expect("literal");
        assert_eq!(body.body_id, 72_057_594_037_944_738);
        assert_eq!((body.clipped_edges, body.hand_left_confidence, body.hand_left_state), (0, 1, 1));
        assert_eq!((body.hand_right_confidence, body.hand_right_state, body.is_restricted), (1, 1, 0));
        assert_eq!((body.lean_x, body.lean_y, body.tracking_state), (f("0.01119184"), f("-0.256052"), 2));
        let first = body.joints[0];
        let expected = NtuJoint {
            x: f("0.7201789"),
            y: f("0.1647426"),
            z: f("3.561895"),
            depth_x: f("336.5812"),
            depth_y: f("192.8021"),
            color_x: f("1184.537"),
            color_y: f("489.4118"),
            orientation_w: f("-0.2218947"),
            orientation_x: f("0.03421978"),
            orientation_y: f("0.968875"),
            orientation_z: f("-0.1042736"),
            tracking_state: 2,
        };
        assert_eq!(first, expected);
        // Kinect gives the head no orientation.
        assert_eq!(body.joints[joint::HEAD].orientation_w, 0.0);
        // Compare every joint of every frame with a naive re-reading of the text.
        let numbers: Vec<&str> = text.split_ascii_whitespace().collect();
        let mut at = 1;
        for frame in &recording.frames {
            assert_eq!(numbers[at].parse::<usize>().ok(), Some(frame.bodies.len()));
            at += 1;
            for body in &frame.bodies {
                assert_eq!(numbers[at].parse::<u64>().ok(), Some(body.body_id));
                at += 11; // ten body values and the joint count
                for joint in &body.joints {
                    assert_eq!(joint.x, f(numbers[at]));
                    assert_eq!(joint.orientation_z, f(numbers[at + 10]));
                    assert_eq!(joint.tracking_state.to_string(), numbers[at + 11]);
                    at += 12;
                }
            }
        }
        assert_eq!(at, numbers.len());
    }

    #[test]
    fn lf_line_ends_and_trailing_whitespace_parse_identically() {
        let Some(dir) = fixture_dir() else { return };
        for (name, _, _) in FIXTURES {
            let crlf = fixture_text(&dir, name);
            assert!(crlf.contains("\r\n"), "{name}: the fixtures use CRLF");
            let original = parse(&crlf).expect("parses");
            let lf = crlf.replace("\r\n", "\n");
            assert_eq!(parse(&lf), Ok(original.clone()), "{name} with LF");
            let padded = crlf.replace("\r\n", " \t \r\n");
            assert_eq!(parse(&padded), Ok(original.clone()), "{name} with trailing whitespace");
            let unterminated = lf.trim_end();
            assert_eq!(parse(unterminated), Ok(original.clone()), "{name} without a final line end");
            let blank_tail = format!("{lf}\n\n  \n");
            assert_eq!(parse(&blank_tail), Ok(original), "{name} with blank lines at the end");
        }
    }

    /// What each line of a fixture is, so that errors can be predicted without the parser.
    fn line_kinds(text: &str) -> Vec<&'static str> {
        let lines: Vec<&str> = text.lines().collect();
        let mut kinds = vec!["frame count"];
        let mut i = 1;
        let frames: usize = lines[0].trim().parse().expect("frame count");
        for _ in 0..frames {
            let bodies: usize = lines[i].trim().parse().expect("body count");
            kinds.extend(["body count"]);
            i += 1;
            for _ in 0..bodies {
                kinds.extend(["body record", "joint count"]);
                kinds.extend(std::iter::repeat_n("joint record", 25));
                i += 27;
            }
        }
        assert_eq!(i, lines.len());
        kinds
    }

    #[test]
    fn truncated_files_name_the_line_that_is_missing() {
        let Some(dir) = fixture_dir() else { return };
        let text = fixture_text(&dir, "S001C003P008R002A058.skeleton").replace("\r\n", "\n");
        let lines: Vec<&str> = text.lines().collect();
        let kinds = line_kinds(&text);
        // Cut after k whole lines: the error is at line k + 1, expecting what that line holds.
        for k in (0..lines.len()).step_by(7).chain([1, 2, 3, 4, 29, 30, lines.len() - 1]) {
            let cut: String = lines[..k].iter().map(|l| format!("{l}\n")).collect();
            let expected = NtuError::UnexpectedEnd { line: k + 1, expected: kinds[k] };
            assert_eq!(parse(&cut), Err(expected), "cut after {k} lines");
        }
        // Cut inside a joint line (line 5): too few values on that very line.
        let offset = text.match_indices('\n').nth(3).expect("5 lines").0 + 1 + 20;
        match parse(&text[..offset]) {
            Err(NtuError::FieldCount { line: 5, expected: 12, found, .. }) => assert!(found < 12),
            other => panic!("{other:?}"),
        }
    }

    /// The fixture with line `number` (1-based) replaced.
    fn with_line(text: &str, number: usize, replacement: &str) -> String {
        text.lines()
            .enumerate()
            .map(|(i, l)| if i + 1 == number { format!("{replacement}\r\n") } else { format!("{l}\r\n") })
            .collect()
    }

    #[test]
    fn garbled_files_name_the_line_and_the_value() {
        let Some(dir) = fixture_dir() else { return };
        let text = fixture_text(&dir, "S001C001P001R001A011.skeleton");
        let joint_line = text.lines().nth(4).expect("line 5");
        let mut fields: Vec<&str> = joint_line.split_ascii_whitespace().collect();
        // Compare errors only: a wrongly accepted file would print half a megabyte of recording.
        let parse = |text: &str| parse(text).err();
        let invalid = |line, field, expected| Some(NtuError::InvalidValue { line, field, expected });

        fields[2] = "3.5x";
        assert_eq!(parse(&with_line(&text, 5, &fields.join(" "))), invalid(5, "z", "a finite number"));
        fields[2] = "NaN";
        assert_eq!(parse(&with_line(&text, 5, &fields.join(" "))), invalid(5, "z", "a finite number"));
        fields[2] = "1e39"; // overflows f32 to infinity
        assert_eq!(parse(&with_line(&text, 5, &fields.join(" "))), invalid(5, "z", "a finite number"));
        fields[2] = "3.5";
        fields[11] = "3";
        assert_eq!(parse(&with_line(&text, 5, &fields.join(" "))), invalid(5, "trackingState", "0, 1 or 2"));
        fields.pop();
        let short = parse(&with_line(&text, 5, &fields.join(" ")));
        assert!(matches!(short, Some(NtuError::FieldCount { line: 5, expected: 12, found: 11, .. })), "{short:?}");

        assert_eq!(parse(&with_line(&text, 1, "eighty-two")), invalid(1, "frame count", "a non-negative integer"));
        assert_eq!(parse(&with_line(&text, 2, "7")), invalid(2, "body count", "at most 6"));
        assert_eq!(parse(&with_line(&text, 4, "24")), invalid(4, "joint count", "25"));
        let body_line = text.lines().nth(2).expect("line 3");
        let body = body_line.replacen(body_line.split(' ').next().expect("bodyID"), "-1", 1);
        assert_eq!(parse(&with_line(&text, 3, &body)), invalid(3, "bodyID", "a non-negative integer"));
        assert!(matches!(
            parse(&with_line(&text, 3, "")),
            Some(NtuError::FieldCount { line: 3, expected: 10, found: 0, .. })
        ));
        // One frame fewer announced than present: the rest is trailing data.
        let lines = text.lines().count();
        let trailing = parse(&with_line(&text, 1, "81"));
        assert_eq!(trailing, Some(NtuError::TrailingData { line: lines - 27 }));
        // One more announced than present.
        assert_eq!(
            parse(&with_line(&text, 1, "83")),
            Some(NtuError::UnexpectedEnd { line: lines + 1, expected: "body count" })
        );
        // Bytes that are not UTF-8, on line 6.
        let mut bytes = text.clone().into_bytes();
        let sixth = text.match_indices('\n').nth(4).expect("6 lines").0 + 3;
        bytes[sixth] = 0xFF;
        assert_eq!(parse_bytes(&bytes).err(), Some(NtuError::NotText { line: 6 }));
        // Messages carry the line.
        let message = format!("{}", NtuError::InvalidValue { line: 5, field: "z", expected: "a finite number" });
        assert_eq!(message, "line 5: z must be a finite number");
    }

    #[test]
    fn missing_files_are_io_errors() {
        let error = read_file("/nonexistent/skelact/none.skeleton");
        assert_eq!(error, Err(ReadError::Io(std::io::ErrorKind::NotFound)));
    }

    #[test]
    fn protocol_frames_carry_sequence_time_ids_and_confidence() {
        let Some(dir) = fixture_dir() else { return };
        let recording = read_file(dir.join("S001C003P008R002A058.skeleton")).expect("parses");
        let frames = to_protocol_frames(&recording, NTU_FPS_MILLIHERTZ);
        assert_eq!(frames.len(), 70);
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(frame.sequence as usize, i);
            assert_eq!(frame.bodies.len(), recording.frames[i].bodies.len());
        }
        // 30 Hz: 33 333 µs per frame, rounded down, without drift.
        assert_eq!(frames.iter().take(4).map(|f| f.timestamp_us).collect::<Vec<_>>(), [0, 33_333, 66_666, 100_000]);
        assert_eq!(frames[69].timestamp_us, 2_300_000);
        // 29.97 Hz: 1001/30 ms per frame.
        let ntsc = NonZeroU32::new(29_970).expect("non-zero");
        assert_eq!(timestamp_us(1, ntsc), 33_366);
        assert_eq!(timestamp_us(2997, ntsc), 100_000_000);
        // 72057594037944738 = 2^56 + 16802.
        assert_eq!(frames[0].bodies[0].id, 16_802);
        for (frame, parsed) in frames.iter().zip(&recording.frames) {
            for (body, parsed) in frame.bodies.iter().zip(&parsed.bodies) {
                assert_eq!(body.joints.len(), 25);
                for (joint, parsed) in body.joints.iter().zip(&parsed.joints) {
                    assert_eq!((joint.x, joint.y, joint.z), (parsed.x, parsed.y, parsed.z));
                    let expected = [0, 128, 255][usize::from(parsed.tracking_state)];
                    assert_eq!(joint.confidence, expected);
                }
            }
        }
        // The recordings do contain inferred joints, so the 128 case is exercised.
        assert!(frames.iter().flat_map(|f| &f.bodies).flat_map(|b| &b.joints).any(|j| j.confidence == 128));
    }

    #[test]
    fn hand_built_recordings_with_too_many_bodies_keep_the_first_six() {
        let body = |id| NtuBody {
            body_id: id,
            clipped_edges: 0,
            hand_left_confidence: 0,
            hand_left_state: 0,
            hand_right_confidence: 0,
            hand_right_state: 0,
            is_restricted: 0,
            lean_x: 0.0,
            lean_y: 0.0,
            tracking_state: 2,
            joints: [NtuJoint::default(); NTU_JOINTS],
        };
        let recording = Recording { frames: vec![NtuFrame { bodies: (0..8).map(body).collect() }] };
        let frames = to_protocol_frames(&recording, NTU_FPS_MILLIHERTZ);
        assert_eq!(frames[0].bodies.iter().map(|b| b.id).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn hello_announces_kinect_v2_in_metres_and_kinect_axes() {
        let hello = kinect_v2_hello("S001C001P001R001A011", NTU_FPS_MILLIHERTZ);
        assert_eq!(SourceFormat::from(&hello), SourceFormat::MODEL);
        assert_eq!(hello.nominal_fps_millihertz, 30_000);
        assert_eq!(hello.sensor_name.as_str(), "S001C001P001R001A011");
        assert_eq!((hello.protocol_major, hello.protocol_minor), (wire::PROTOCOL_MAJOR, wire::PROTOCOL_MINOR));
        // 31 ASCII bytes and a two-byte 'é' exceed 32 bytes: the 'é' goes whole.
        let long = kinect_v2_hello(&format!("{}é", "a".repeat(31)), NTU_FPS_MILLIHERTZ);
        assert_eq!(long.sensor_name.as_str(), "a".repeat(31));
    }

    /// Grounds the model's axis convention in real Kinect v2 data: the performers face the sensor, and their left
    /// shoulder has the smaller x. The layout tests rely on this.
    #[test]
    fn real_recordings_show_the_left_shoulder_at_smaller_x_and_map_unchanged() {
        let Some(dir) = fixture_dir() else { return };
        let (mut agree, mut total) = (0, 0);
        for (name, _, _) in FIXTURES {
            let recording = read_file(dir.join(name)).expect("parses");
            let hello = kinect_v2_hello(name, NTU_FPS_MILLIHERTZ);
            let format = SourceFormat::from(&hello);
            for frame in to_protocol_frames(&recording, NTU_FPS_MILLIHERTZ) {
                for body in &frame.bodies {
                    let mut pose = Pose::MISSING;
                    map_body(&format, &body.joints, 255, &mut pose).expect("25 joints");
                    for (i, j) in body.joints.iter().enumerate() {
                        assert_eq!(pose.valid[i], j.confidence == 255);
                        if pose.valid[i] {
                            assert_eq!(pose.joints[i], [j.x, j.y, j.z], "the model layout maps unchanged");
                        }
                    }
                    if pose.valid[joint::SHOULDER_LEFT] && pose.valid[joint::SHOULDER_RIGHT] {
                        total += 1;
                        let (left, right) = (pose.joints[joint::SHOULDER_LEFT], pose.joints[joint::SHOULDER_RIGHT]);
                        agree += usize::from(left[0] < right[0]);
                    }
                }
            }
        }
        assert!(total > 300, "enough tracked frames: {total}");
        assert!(agree * 100 >= total * 95, "left shoulder at smaller x in {agree} of {total}");
    }

    /// A random edit of a real file.
    #[derive(Clone, Debug)]
    enum Mutation {
        Replace { at: usize, byte: u8 },
        Delete { at: usize, len: usize },
        Insert { at: usize, bytes: Vec<u8> },
        Truncate { at: usize },
        DuplicateLine { at: usize },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        // Bytes biased towards those that matter to the format.
        let byte = prop_oneof![
            Just(b' '),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'-'),
            Just(b'.'),
            Just(b'e'),
            b'0'..=b'9',
            any::<u8>()
        ];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Mutation::Replace { at, byte }),
            (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
            (any::<usize>(), proptest::collection::vec(byte, 1..16))
                .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
            any::<usize>().prop_map(|at| Mutation::Truncate { at }),
            any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
        ]
    }

    fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Replace { at, byte } => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b = *byte;
                }
            }
            Mutation::Delete { at, len: n } => {
                let start = (at % len).min(bytes.len());
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert { at, bytes: new } => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Truncate { at } => bytes.truncate(at % len),
            Mutation::DuplicateLine { at } => {
                let start = at % len;
                let start = bytes[..start.min(bytes.len())].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                let end = bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| start + p + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(start..start, line);
            }
        }
    }

    fn error_line(error: &NtuError) -> usize {
        match *error {
            NtuError::UnexpectedEnd { line, .. }
            | NtuError::FieldCount { line, .. }
            | NtuError::InvalidValue { line, .. }
            | NtuError::TrailingData { line }
            | NtuError::NotText { line } => line,
        }
    }

    /// Random edits of a real recording never panic, and any error points at a line that exists (or the one just
    /// past the end) and says so in its message.
    #[test]
    fn mutated_real_files_never_panic() {
        let Some(dir) = fixture_dir() else { return };
        let texts: Vec<Vec<u8>> =
            FIXTURES.iter().map(|(name, _, _)| std::fs::read(dir.join(name)).expect("readable")).collect();
        let edits = (0..texts.len(), proptest::collection::vec(mutation(), 1..6));
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 256, ..Default::default() });
        let outcome = runner.run(&edits, |(file, edits)| {
            let mut bytes = texts[file].clone();
            for edit in &edits {
                apply(&mut bytes, edit);
            }
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            match parse_bytes(&bytes) {
                Ok(recording) => {
                    prop_assert!(recording.frames.iter().all(|f| f.bodies.len() <= MAX_BODIES_PER_FRAME))
                }
                Err(error) => {
                    let line = error_line(&error);
                    prop_assert!((1..=lines + 1).contains(&line), "{error:?} in a text of {lines} lines");
                    let message = error.to_string();
                    prop_assert!(message.starts_with(&format!("line {line}:")), "{}", message);
                }
            }
            Ok(())
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}
