//! Few-shot enrollment: embeddings of example windows, for the prototype head.
//!
//! An example is a time range of a recording in which someone performs the action. The recording runs through
//! the same frame side as the daemon (layouts, tracks, windows, preprocessing); of all the windows it produces,
//! the one with the highest temporal IoU with the range is the example, and the joint stream's engine turns it
//! into the exemplar embedding. One range gives one exemplar, so n ranges are n shots.

use skelact_runtime::engine::{Engine, EngineError};
use skelact_runtime::pipeline::{FrontendConfig, HelloError, WindowInfo};
use skelact_runtime::preprocess::Outputs;
use skelact_runtime::wire::Message;

use crate::model::{boxed_frontend, FrontendError};

/// Why a recording's windows could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    #[error("embedding a window: {0}")]
    Engine(EngineError),
    #[error("the recording's {0}")]
    Hello(HelloError),
    #[error("no window overlaps {start_s:.2}-{end_s:.2} s (sensor time): is someone in view, and is the range inside the recording?")]
    NoWindow { start_s: f64, end_s: f64 },
}

/// A time range of the recording, in sensor microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start_us: u64,
    pub end_us: u64,
}

/// The example window chosen for a range.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub range: Range,
    pub window: WindowInfo,
    /// Temporal IoU of the window with the range.
    pub iou: f64,
    pub embedding: Vec<f32>,
}

/// The sensor timestamp of the first frame, against which ranges given in seconds are measured.
pub fn first_timestamp(messages: &[Message]) -> Option<u64> {
    messages.iter().find_map(|m| match m {
        Message::Frame(frame) => Some(frame.timestamp_us),
        _ => None,
    })
}

/// One window of a recording and its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowEmbedding {
    pub window: WindowInfo,
    pub embedding: Vec<f32>,
}

/// Runs a recording through the frame side and embeds every window (of `body` only, when given) with `engine`.
/// `raw_frames` is the model's window, the history each track keeps.
pub fn embed_windows<E: Engine>(
    config: FrontendConfig,
    raw_frames: usize,
    messages: &[Message],
    body: Option<u32>,
    engine: &mut E,
) -> Result<Vec<WindowEmbedding>, EnrollError> {
    let mut frontend = boxed_frontend(config, raw_frames)?;
    let len = frontend.tensor_len();
    let mut tensors = vec![0.0f32; 3 * len];
    let mut found = Vec::new();
    for message in messages {
        match message {
            // A recording whose Hello is refused would be read in the wrong layout: say so rather than enroll it.
            Message::Hello(hello) => frontend.on_hello(hello).map_err(EnrollError::Hello)?,
            Message::Frame(frame) => {
                if frontend.push_frame(frame).is_err() {
                    continue;
                }
                while let Some(id) = frontend.next_due() {
                    let (joint, rest) = tensors.split_at_mut(len);
                    let (bone, motion) = rest.split_at_mut(len);
                    let Ok(window) = frontend.prepare(id, Outputs { joint, bone, motion, missing: &mut [] }) else {
                        continue;
                    };
                    if body.is_some_and(|b| b != window.body_id) {
                        continue;
                    }
                    let mut embedding = vec![0.0; engine.output_len()];
                    engine.run(&tensors[..len], &mut embedding).map_err(EnrollError::Engine)?;
                    found.push(WindowEmbedding { window, embedding });
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

/// Temporal IoU of a window with a range.
pub fn iou(window: &WindowInfo, range: &Range) -> f64 {
    interval_iou((window.start_us, window.end_us), (range.start_us, range.end_us))
}

/// Intersection over union of two time intervals `(start, end)` in microseconds. An interval that ends before
/// it starts counts as one microsecond long, so the result is always defined.
pub fn interval_iou(a: (u64, u64), b: (u64, u64)) -> f64 {
    let (a0, a1) = (a.0, a.1.max(a.0.saturating_add(1)));
    let (b0, b1) = (b.0, b.1.max(b.0.saturating_add(1)));
    let intersection = a1.min(b1).saturating_sub(a0.max(b0));
    let union = a1.max(b1) - a0.min(b0);
    intersection as f64 / union as f64
}

/// For each range, the window with the highest IoU (ties to the later window, which has seen more of the action).
///
/// Errors when a range has no window overlapping it (too short a recording, nobody in view, or a range outside
/// the recording), naming the range.
pub fn examples(windows: &[WindowEmbedding], ranges: &[Range]) -> Result<Vec<Example>, EnrollError> {
    ranges
        .iter()
        .map(|range| {
            let mut best: Option<(&WindowEmbedding, f64)> = None;
            for w in windows {
                let score = iou(&w.window, range);
                if score > 0.0 && best.is_none_or(|(_, b)| score >= b) {
                    best = Some((w, score));
                }
            }
            let (w, score) = best.ok_or(EnrollError::NoWindow {
                start_s: range.start_us as f64 / 1e6,
                end_s: range.end_us as f64 / 1e6,
            })?;
            Ok(Example { range: *range, window: w.window, iou: score, embedding: w.embedding.clone() })
        })
        .collect()
}

/// Cosine similarity of `a - center` and `b - center` (plain cosine without a centre).
pub fn centred_cosine(a: &[f32], b: &[f32], center: Option<&[f32]>) -> f64 {
    let c = |v: &[f32], i: usize| f64::from(v[i]) - center.map_or(0.0, |c| f64::from(c[i]));
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for i in 0..a.len().min(b.len()) {
        let (x, y) = (c(a, i), c(b, i));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    dot / (na * nb).sqrt().max(1e-12)
}
