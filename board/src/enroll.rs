//! Few-shot enrollment: embeddings of example windows, for the prototype head.
//!
//! An example is a time range of a recording in which someone performs the action. The recording runs through
//! the same frame side as the daemon (layouts, tracks, windows, preprocessing); of all the windows it produces,
//! the one with the highest temporal IoU with the range is the example, and the joint stream's engine turns it
//! into the exemplar embedding. One range gives one exemplar, so n ranges are n shots.

use skelact_runtime::engine::Engine;
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Frontend, FrontendConfig, WindowInfo};
use skelact_runtime::preprocess::Outputs;
use skelact_runtime::wire::Message;

use crate::model::TRACKS;
use crate::ring::{with_ring, RingVisitor};
use crate::scoring::Segment;

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

/// Finds the best window for each range (optionally of one body only) and embeds it with `engine`.
///
/// Errors when a range has no window overlapping it (too short a recording, nobody in view, or a range outside
/// the recording), naming the range.
pub fn examples<E: Engine>(
    config: FrontendConfig,
    raw_frames: usize,
    messages: &[Message],
    ranges: &[Range],
    body: Option<u32>,
    engine: &mut E,
) -> anyhow::Result<Vec<Example>> {
    struct Visit<'a> {
        config: FrontendConfig,
        messages: &'a [Message],
        ranges: &'a [Range],
        body: Option<u32>,
    }
    impl RingVisitor for Visit<'_> {
        type Output = anyhow::Result<Vec<Option<(WindowInfo, f64, Vec<f32>)>>>;
        fn visit<const N: usize>(self) -> Self::Output {
            best_windows::<N>(self.config, self.messages, self.ranges, self.body)
        }
    }
    let best = with_ring(raw_frames, Visit { config, messages, ranges, body })??;
    let mut examples = Vec::with_capacity(ranges.len());
    for (range, found) in ranges.iter().zip(best) {
        let (window, iou, joint) = found.ok_or_else(|| {
            anyhow::anyhow!(
                "no window overlaps {:.2}-{:.2} s (sensor time): is someone in view, and is the range inside the recording?",
                range.start_us as f64 / 1e6,
                range.end_us as f64 / 1e6
            )
        })?;
        let mut embedding = vec![0.0; engine.output_len()];
        engine.run(&joint, &mut embedding).map_err(|e| anyhow::anyhow!("embedding the example: {e}"))?;
        examples.push(Example { range: *range, window, iou, embedding });
    }
    Ok(examples)
}

/// For each range, the window with the highest IoU and its joint tensor.
#[allow(clippy::type_complexity)]
fn best_windows<const N: usize>(
    config: FrontendConfig,
    messages: &[Message],
    ranges: &[Range],
    body: Option<u32>,
) -> anyhow::Result<Vec<Option<(WindowInfo, f64, Vec<f32>)>>> {
    let mut frontend: Box<Frontend<TRACKS, N>> =
        Box::new(Frontend::new(config, SourceFormat::MODEL).map_err(|e| anyhow::anyhow!("{e}"))?);
    let len = frontend.tensor_len();
    let mut tensors = vec![0.0f32; 3 * len];
    let mut best: Vec<Option<(WindowInfo, f64, Vec<f32>)>> = vec![None; ranges.len()];
    for message in messages {
        match message {
            Message::Hello(hello) => frontend.on_hello(hello),
            Message::Frame(frame) => {
                if frontend.push_frame(frame).is_err() {
                    continue;
                }
                while let Some(id) = frontend.next_due() {
                    let (joint, rest) = tensors.split_at_mut(len);
                    let (bone, motion) = rest.split_at_mut(len);
                    let Ok(info) = frontend.prepare(id, Outputs { joint, bone, motion }) else { continue };
                    if body.is_some_and(|b| b != info.body_id) {
                        continue;
                    }
                    let window = Segment { label: String::new(), body_id: info.body_id, start_us: info.start_us, end_us: info.end_us };
                    for (range, slot) in ranges.iter().zip(best.iter_mut()) {
                        let wanted = Segment { label: String::new(), body_id: info.body_id, start_us: range.start_us, end_us: range.end_us };
                        let iou = window.iou(&wanted);
                        // Ties go to the later window: it has seen more of the action.
                        if iou > 0.0 && slot.as_ref().is_none_or(|(_, best_iou, _)| iou >= *best_iou) {
                            *slot = Some((info, iou, tensors[..len].to_vec()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(best)
}
