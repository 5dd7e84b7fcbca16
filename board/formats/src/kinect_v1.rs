//! The two real Kinect v1 benchmarks, as a Kinect v1 sensor would send them: NW-UCLA (`*.json`, one sequence a
//! file, as preprocessed for CTR-GCN) and UTD-MHAD (`*_skeleton.mat`, MATLAB v5, read with the `matfile` crate).
//!
//! Both hold one person, 20 joints × (x, y, z) in metres and Kinect camera axes, at 30 Hz, without tracking
//! states. A joint at exactly (0, 0, 0) is taken as not tracked, and a frame whose joints are all zero has no
//! body, as the desktop readers (`models/skelact_models/data/`) take them. Frames become protocol-v1 frames in the
//! Kinect SDK 1.x joint order ([`skelact_runtime::layout::kinect_v1`]); the device maps them to NTU-25 itself.
//!
//! - NW-UCLA: `{"file_name": ..., "skeletons": [T][20][3], "label": L}`, already in SDK order.
//! - UTD-MHAD: `d_skel`, a double array of shape (20, 3, T) stored column-major, in the dataset's own joint order
//!   (head first); only the four spine joints differ from the SDK's, in reverse ([`SDK_FROM_UTD`]).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use skelact_runtime::layout::kinect_v1::JOINT_COUNT;
use skelact_runtime::wire::{Body, Frame, Hello, Joint, LayoutId, MAX_BODIES};

use crate::ntu;

/// Both datasets were recorded at 30 Hz.
pub const FPS_MILLIHERTZ: NonZeroU32 = ntu::NTU_FPS_MILLIHERTZ;

/// `SDK_FROM_UTD[k]` is the UTD-MHAD row that holds Kinect SDK joint `k` (hip centre, spine, shoulder centre and
/// head are stored head first).
pub const SDK_FROM_UTD: [usize; JOINT_COUNT] = [3, 2, 1, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];

/// One frame of 20 joints in Kinect SDK 1.x order.
pub type KinectV1Frame = [[f32; 3]; JOINT_COUNT];

/// Why a dataset file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("not an NW-UCLA sequence: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a MATLAB v5 file: {0}")]
    Mat(String),
    #[error("{0}")]
    Shape(String),
    #[error("cannot read it: {0}")]
    Io(std::io::Error),
}

/// One of the two benchmarks, with its class names, file naming and standard split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Dataset {
    /// NW-UCLA, cross-view: train on views 1 and 2, test on view 3.
    NwUcla,
    /// UTD-MHAD, cross-subject: train on subjects 1, 3, 5, 7, test on 2, 4, 6, 8.
    UtdMhad,
}

/// A split of a dataset's standard protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Test,
}

/// NW-UCLA's classes by label (the file's action numbers skip 7 and 10: [`NWUCLA_ACTIONS`]).
pub const NWUCLA_CLASSES: [&str; 10] = [
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
];
/// The action number in NW-UCLA file names of each label.
pub const NWUCLA_ACTIONS: [u32; 10] = [1, 2, 3, 4, 5, 6, 8, 9, 11, 12];

/// UTD-MHAD's 27 actions, as the dataset's publication lists them (action `a` is label `a - 1`).
pub const UTDMHAD_CLASSES: [&str; 27] = [
    "right arm swipe to the left",
    "right arm swipe to the right",
    "right hand wave",
    "two hand front clap",
    "right arm throw",
    "cross arms in the chest",
    "basketball shoot",
    "right hand draw x",
    "right hand draw circle (clockwise)",
    "right hand draw circle (counter clockwise)",
    "draw triangle",
    "bowling (right hand)",
    "front boxing",
    "baseball swing from right",
    "tennis right hand forehand swing",
    "arm curl (two arms)",
    "tennis serve",
    "two hand push",
    "right hand knock on door",
    "right hand catch an object",
    "right hand pick up and throw",
    "jogging in place",
    "walking in place",
    "sit to stand",
    "stand to sit",
    "forward lunge (left foot forward)",
    "squat (two arms stretch out)",
];

/// A sequence file of a dataset: where it is, its label and its split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceFile {
    pub path: PathBuf,
    /// Index into the dataset's classes.
    pub label: usize,
    pub split: Split,
}

impl Dataset {
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            Dataset::NwUcla => &NWUCLA_CLASSES,
            Dataset::UtdMhad => &UTDMHAD_CLASSES,
        }
    }

    /// Its folder under the shared datasets folder.
    pub fn folder(self) -> &'static str {
        match self {
            Dataset::NwUcla => "nw-ucla",
            Dataset::UtdMhad => "utd-mhad",
        }
    }

    /// The sequence a file name describes (`aAA_sSS_eEE_vVV.json`, `aA_sS_tT_skeleton.mat`), or `None` for a file
    /// of another kind. Labels and splits come from the name alone, so a split is chosen without opening files.
    pub fn sequence(self, path: &Path) -> Option<SequenceFile> {
        let name = path.file_name()?.to_str()?;
        let stem = match self {
            Dataset::NwUcla => name.strip_suffix(".json")?,
            Dataset::UtdMhad => name.strip_suffix("_skeleton.mat")?,
        };
        let number = |prefix: char| -> Option<u32> {
            stem.split('_').find_map(|f| f.strip_prefix(prefix)).and_then(|v| v.parse().ok())
        };
        let action = number('a')?;
        let (label, split) = match self {
            Dataset::NwUcla => {
                let label = NWUCLA_ACTIONS.iter().position(|&a| a == action)?;
                (label, if matches!(number('v')?, 1 | 2) { Split::Train } else { Split::Test })
            }
            Dataset::UtdMhad => {
                let label = usize::try_from(action).ok()?.checked_sub(1).filter(|&l| l < UTDMHAD_CLASSES.len())?;
                (label, if number('s')? % 2 == 1 { Split::Train } else { Split::Test })
            }
        };
        Some(SequenceFile { path: path.to_path_buf(), label, split })
    }

    /// The dataset's sequences under `root` (the shared datasets folder), of one split or all, sorted by path.
    pub fn sequences(self, root: &Path, split: Option<Split>) -> std::io::Result<Vec<SequenceFile>> {
        let dir = match self {
            Dataset::NwUcla => root.join(self.folder()).join("all_sqe"),
            Dataset::UtdMhad => root.join(self.folder()),
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            if let Some(sequence) = self.sequence(&entry?.path()) {
                if split.is_none_or(|s| s == sequence.split) {
                    found.push(sequence);
                }
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// The frames of one of its files.
    pub fn read(self, path: &Path) -> Result<Vec<KinectV1Frame>, DatasetError> {
        match self {
            Dataset::NwUcla => parse_nwucla(&std::fs::read_to_string(path).map_err(DatasetError::Io)?),
            Dataset::UtdMhad => parse_utdmhad(&std::fs::read(path).map_err(DatasetError::Io)?),
        }
    }
}

#[derive(serde::Deserialize)]
struct NwUclaFile {
    skeletons: Vec<Vec<[f32; 3]>>,
}

/// The frames of an NW-UCLA sequence file.
pub fn parse_nwucla(text: &str) -> Result<Vec<KinectV1Frame>, DatasetError> {
    let file: NwUclaFile = serde_json::from_str(text)?;
    if file.skeletons.is_empty() {
        return Err(DatasetError::Shape("the sequence has no frames".into()));
    }
    file.skeletons
        .iter()
        .enumerate()
        .map(|(t, joints)| {
            let frame: KinectV1Frame = joints.as_slice().try_into().map_err(|_| {
                DatasetError::Shape(format!("frame {t} has {} joints, Kinect v1 has {JOINT_COUNT}", joints.len()))
            })?;
            finite(frame, t)
        })
        .collect()
}

/// The frames of a UTD-MHAD `*_skeleton.mat` file, reordered to the Kinect SDK order.
pub fn parse_utdmhad(bytes: &[u8]) -> Result<Vec<KinectV1Frame>, DatasetError> {
    let mat = matfile::MatFile::parse(bytes).map_err(|e| DatasetError::Mat(format!("{e:?}")))?;
    let array = mat.find_by_name("d_skel").ok_or_else(|| DatasetError::Shape("no d_skel variable".into()))?;
    let size = array.size();
    let frames = match size.as_slice() {
        [JOINT_COUNT, 3, t] if *t > 0 => *t,
        other => return Err(DatasetError::Shape(format!("d_skel has shape {other:?}, expected [20, 3, T]"))),
    };
    let values: Vec<f64> = match array.data() {
        matfile::NumericData::Double { real, .. } => real.clone(),
        matfile::NumericData::Single { real, .. } => real.iter().map(|&v| f64::from(v)).collect(),
        _ => return Err(DatasetError::Shape("d_skel is not a floating-point array".into())),
    };
    if values.len() != JOINT_COUNT * 3 * frames {
        return Err(DatasetError::Shape(format!("d_skel holds {} values for shape [20, 3, {frames}]", values.len())));
    }
    // MATLAB stores column-major: element (j, c, t) is at j + 20·(c + 3·t).
    (0..frames)
        .map(|t| {
            let frame: KinectV1Frame = core::array::from_fn(|k| {
                core::array::from_fn(|c| values[SDK_FROM_UTD[k] + JOINT_COUNT * (c + 3 * t)] as f32)
            });
            finite(frame, t)
        })
        .collect()
}

fn finite(frame: KinectV1Frame, t: usize) -> Result<KinectV1Frame, DatasetError> {
    if frame.iter().flatten().all(|v| v.is_finite()) {
        Ok(frame)
    } else {
        Err(DatasetError::Shape(format!("frame {t} has a coordinate that is not finite")))
    }
}

/// Protocol-v1 frames of one person (body id 0) at 30 Hz: frame `i` gets sequence `i` and timestamp
/// `⌊i · 10⁶ / 30⌋` µs, as NTU recordings do. An all-zero frame has no body.
pub fn to_protocol_frames(frames: &[KinectV1Frame]) -> Vec<Frame> {
    frames
        .iter()
        .enumerate()
        .map(|(index, joints)| {
            let mut bodies = heapless::Vec::new();
            if joints.iter().flatten().any(|&v| v != 0.0) {
                let mut wire_joints = heapless::Vec::new();
                for xyz in joints {
                    let tracked = xyz.iter().any(|&v| v != 0.0);
                    let confidence = if tracked { 255 } else { Joint::NOT_TRACKED };
                    // 20 joints always fit in a body's capacity; the check keeps this total.
                    if wire_joints.push(Joint { x: xyz[0], y: xyz[1], z: xyz[2], confidence }).is_err() {
                        break;
                    }
                }
                let _ = bodies.push(Body { id: 0, joints: wire_joints });
            }
            Frame {
                sequence: u32::try_from(index).unwrap_or(u32::MAX),
                timestamp_us: ntu::timestamp_us(index, FPS_MILLIHERTZ),
                bodies,
            }
        })
        .collect()
}

/// Where one sequence lies in a stream built by [`continuous_stream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedSequence {
    pub path: PathBuf,
    /// Index into the dataset's classes.
    pub label: usize,
    /// The body id its frames carry.
    pub body_id: u32,
    /// Timestamps of its first and last frame.
    pub start_us: u64,
    pub end_us: u64,
}

/// Several sequences of a dataset as one continuous 30 Hz recording, as a sensor watching one person after
/// another would send it: a `Hello`, then each sequence's frames under its own body id (1, 2, …), each followed by
/// `gap_frames` frames with nobody in view. Frame numbers and timestamps run on across sequences. Returns the
/// frames and where each sequence lies (the ground truth for scoring the events).
pub fn continuous_stream(
    dataset: Dataset,
    sequences: &[SequenceFile],
    gap_frames: usize,
) -> Result<(Vec<Frame>, Vec<PlacedSequence>), DatasetError> {
    /// Appends a frame numbered and timed after the ones before it; returns its timestamp.
    fn append(frames: &mut Vec<Frame>, bodies: heapless::Vec<Body, MAX_BODIES>) -> u64 {
        let index = frames.len();
        let timestamp_us = ntu::timestamp_us(index, FPS_MILLIHERTZ);
        frames.push(Frame { sequence: u32::try_from(index).unwrap_or(u32::MAX), timestamp_us, bodies });
        timestamp_us
    }
    let mut frames = Vec::new();
    let mut placed = Vec::with_capacity(sequences.len());
    for (i, sequence) in sequences.iter().enumerate() {
        let body_id = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut span: Option<(u64, u64)> = None;
        for mut frame in to_protocol_frames(&dataset.read(&sequence.path)?) {
            for body in &mut frame.bodies {
                body.id = body_id;
            }
            let at = append(&mut frames, frame.bodies);
            span = Some((span.map_or(at, |s| s.0), at));
        }
        for _ in 0..gap_frames {
            append(&mut frames, heapless::Vec::new());
        }
        let (start_us, end_us) = span.unwrap_or_default();
        placed.push(PlacedSequence { path: sequence.path.clone(), label: sequence.label, body_id, start_us, end_us });
    }
    Ok((frames, placed))
}

/// The `Hello` a Kinect v1 sender announces: Kinect v1 layout, metres, Kinect camera axes, 30 Hz.
pub fn kinect_v1_hello(sensor_name: &str) -> Hello {
    crate::kinect_camera_hello(LayoutId::KinectV1, sensor_name, FPS_MILLIHERTZ)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_nwucla_sequence_becomes_frames_with_untracked_zeros() {
        let mut joints: Vec<[f32; 3]> = (0..20).map(|j| [j as f32 * 0.01, 1.0, 3.0]).collect();
        joints[7] = [0.0, 0.0, 0.0];
        let text = serde_json::json!({"file_name": "a01_s01_e00_v01", "skeletons": [joints, vec![[0.0f32; 3]; 20]], "label": 1})
            .to_string();
        let frames = parse_nwucla(&text).unwrap();
        let wire = to_protocol_frames(&frames);
        assert_eq!(wire.len(), 2);
        assert_eq!(wire[0].bodies[0].joints.len(), 20);
        assert_eq!(wire[0].bodies[0].joints[7].confidence, Joint::NOT_TRACKED);
        assert_eq!(wire[0].bodies[0].joints[3].confidence, 255);
        assert!(wire[1].bodies.is_empty(), "an all-zero frame has no body");
        assert_eq!(wire[1].timestamp_us, 33_333);
    }

    #[test]
    fn malformed_sequences_are_refused_saying_why() {
        let short = serde_json::json!({"skeletons": [vec![[0.0f32; 3]; 19]]}).to_string();
        assert!(parse_nwucla(&short).unwrap_err().to_string().contains("19 joints"));
        assert!(parse_nwucla("{}").is_err());
        assert!(parse_utdmhad(b"not a mat file").is_err());
    }
}
