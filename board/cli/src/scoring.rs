//! Scoring events against ground-truth segments (the demo's summary, and the end-to-end tests).
//!
//! # Matching rule
//!
//! A predicted segment is an `End` event's `start_us..end_us` (a `Begin` that never ended counts from its start to
//! its latest evidence), **stretched back by one window span**: the decision layer stamps each window with the
//! time of its *last* frame, so the first window that shows an action reports at its end while its frames began
//! one window earlier (a 64-frame window at 30 Hz spans 2.13 s). It matches a ground-truth segment when both have
//! the **same label name** and the **same body id**, and their **temporal IoU** (intersection over union of the
//! two time intervals) is **at least 0.3**.
//! Matching is one-to-one and greedy, by IoU from highest to lowest. Per class: true positives are matched
//! predictions, false positives the unmatched predictions of that class, false negatives the unmatched
//! ground-truth segments of that class; precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic
//! mean (each 0 when its denominator is 0). Unknown events are not scored.
//!
//! IoU ≥ 0.3 is lenient on purpose: a predicted segment starts at the end of the first window that shows the
//! action (up to a window after the action began) and the decision layer smooths over a few windows, so even a
//! perfect classifier's segments lag the truth by a fraction of a second.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use skelact_device::enroll::interval_iou;
use skelact_runtime::wire::{Event, EventPhase};

/// The default minimum temporal IoU for a match.
pub const DEFAULT_MIN_IOU: f64 = 0.3;

/// One window's span in microseconds: `raw_frames` frames at `fps_millihertz`.
pub fn window_span_us(raw_frames: usize, fps_millihertz: u32) -> u64 {
    (raw_frames as u64 * 1_000_000_000) / u64::from(fps_millihertz.max(1))
}

/// A labelled time interval of one body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub label: String,
    pub body_id: u32,
    pub start_us: u64,
    pub end_us: u64,
}

impl Segment {
    /// Intersection over union of the two intervals (0 when disjoint; both are taken as closed intervals of at
    /// least one microsecond).
    pub fn iou(&self, other: &Segment) -> f64 {
        interval_iou((self.start_us, self.end_us), (other.start_us, other.end_us))
    }
}

#[derive(Debug, Deserialize)]
struct SegmentsFile {
    format: String,
    version: u32,
    segments: Vec<SegmentRecord>,
}

#[derive(Debug, Deserialize)]
struct SegmentRecord {
    class: String,
    body_id: u32,
    start_us: u64,
    end_us: u64,
}

/// Reads a `*.segments.json` ground-truth file (`docs/models.md`).
pub fn read_ground_truth(path: &Path) -> anyhow::Result<Vec<Segment>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: SegmentsFile =
        serde_json::from_str(&text).with_context(|| format!("{} is not a segments file", path.display()))?;
    anyhow::ensure!(
        file.format == "skelact-segments" && file.version == 1,
        "{}: format {:?} version {}, expected \"skelact-segments\" version 1",
        path.display(),
        file.format,
        file.version
    );
    Ok(file
        .segments
        .into_iter()
        .map(|s| Segment { label: s.class, body_id: s.body_id, start_us: s.start_us, end_us: s.end_us })
        .collect())
}

/// The segments a stream of events describes, each starting `window_us` (one window span) before its event's
/// `start_us` (see the module documentation). `label` names a label index.
pub fn predicted_segments<'l>(events: &[Event], window_us: u64, label: impl Fn(u16) -> &'l str) -> Vec<Segment> {
    let mut open: BTreeMap<(u32, u16), Event> = BTreeMap::new();
    let mut segments = Vec::new();
    let mut close = |event: &Event, end_us: u64| {
        segments.push(Segment {
            label: label(event.label_index).to_string(),
            body_id: event.body_id,
            start_us: event.start_us.saturating_sub(window_us),
            end_us,
        })
    };
    for event in events.iter().filter(|e| e.label_index != Event::UNKNOWN) {
        match event.phase {
            EventPhase::Begin => {
                open.insert((event.body_id, event.label_index), *event);
            }
            EventPhase::End => {
                open.remove(&(event.body_id, event.label_index));
                close(event, event.end_us);
            }
        }
    }
    for event in open.values() {
        close(event, event.end_us);
    }
    segments.sort_by_key(|s| (s.start_us, s.body_id));
    segments
}

/// Counts and rates of one class.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClassScore {
    pub class: String,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// A matched pair (indices into the predictions and the ground truth).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Match {
    pub predicted: usize,
    pub truth: usize,
    pub iou: f64,
}

/// The whole score.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Score {
    pub min_iou: f64,
    /// Classes that occur in the truth or the predictions, by name.
    pub classes: Vec<ClassScore>,
    /// Over all segments (micro average).
    pub overall: ClassScore,
    /// Mean of the per-class F1 (macro average).
    pub macro_f1: f64,
    pub matches: Vec<Match>,
}

fn rates(mut score: ClassScore) -> ClassScore {
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    score.precision = ratio(score.true_positives, score.true_positives + score.false_positives);
    score.recall = ratio(score.true_positives, score.true_positives + score.false_negatives);
    let sum = score.precision + score.recall;
    score.f1 = if sum == 0.0 { 0.0 } else { 2.0 * score.precision * score.recall / sum };
    score
}

/// Scores predictions against the truth by the rule in the module documentation.
pub fn score(predicted: &[Segment], truth: &[Segment], min_iou: f64) -> Score {
    let mut candidates: Vec<Match> = Vec::new();
    for (p, prediction) in predicted.iter().enumerate() {
        for (t, actual) in truth.iter().enumerate() {
            if prediction.label == actual.label && prediction.body_id == actual.body_id {
                let iou = prediction.iou(actual);
                if iou >= min_iou {
                    candidates.push(Match { predicted: p, truth: t, iou });
                }
            }
        }
    }
    candidates.sort_by(|a, b| b.iou.total_cmp(&a.iou).then(a.predicted.cmp(&b.predicted)).then(a.truth.cmp(&b.truth)));
    let (mut used_p, mut used_t) = (vec![false; predicted.len()], vec![false; truth.len()]);
    let mut matches = Vec::new();
    for candidate in candidates {
        if !used_p[candidate.predicted] && !used_t[candidate.truth] {
            used_p[candidate.predicted] = true;
            used_t[candidate.truth] = true;
            matches.push(candidate);
        }
    }
    let mut per_class: BTreeMap<&str, ClassScore> = BTreeMap::new();
    for (p, prediction) in predicted.iter().enumerate() {
        let class = class_entry(&mut per_class, &prediction.label);
        if used_p[p] {
            class.true_positives += 1;
        } else {
            class.false_positives += 1;
        }
    }
    for (t, actual) in truth.iter().enumerate() {
        if !used_t[t] {
            class_entry(&mut per_class, &actual.label).false_negatives += 1;
        } else {
            class_entry(&mut per_class, &actual.label);
        }
    }
    let classes: Vec<ClassScore> = per_class.into_values().map(rates).collect();
    let overall = rates(ClassScore {
        class: "all".into(),
        true_positives: classes.iter().map(|c| c.true_positives).sum(),
        false_positives: classes.iter().map(|c| c.false_positives).sum(),
        false_negatives: classes.iter().map(|c| c.false_negatives).sum(),
        ..ClassScore::default()
    });
    let macro_f1 =
        if classes.is_empty() { 0.0 } else { classes.iter().map(|c| c.f1).sum::<f64>() / classes.len() as f64 };
    Score { min_iou, classes, overall, macro_f1, matches }
}

/// The score of `label`, created empty (with its name) on first use.
fn class_entry<'m, 'a>(map: &'m mut BTreeMap<&'a str, ClassScore>, label: &'a str) -> &'m mut ClassScore {
    map.entry(label).or_insert_with(|| ClassScore { class: label.to_string(), ..ClassScore::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(label: &str, start_s: f64, end_s: f64) -> Segment {
        Segment { label: label.into(), body_id: 1, start_us: (start_s * 1e6) as u64, end_us: (end_s * 1e6) as u64 }
    }

    fn event(label_index: u16, start_us: u64, end_us: u64, phase: EventPhase) -> Event {
        Event {
            body_id: 1,
            action_id: label_index.wrapping_add(100),
            label_index,
            confidence: 0.9,
            start_us,
            end_us,
            phase,
        }
    }

    #[test]
    fn iou_of_intervals() {
        assert_eq!(segment("a", 0.0, 2.0).iou(&segment("a", 1.0, 3.0)), 1.0 / 3.0);
        assert_eq!(segment("a", 0.0, 1.0).iou(&segment("a", 2.0, 3.0)), 0.0);
        assert_eq!(segment("a", 0.0, 4.0).iou(&segment("a", 1.0, 2.0)), 0.25);
    }

    #[test]
    fn events_become_segments_and_open_ones_close_at_their_latest_evidence() {
        let names = ["wave", "clap"];
        let events = [
            event(0, 1_000_000, 1_400_000, EventPhase::Begin),
            event(0, 1_000_000, 2_000_000, EventPhase::End),
            event(1, 3_000_000, 3_300_000, EventPhase::Begin),
            event(Event::UNKNOWN, 4_000_000, 5_000_000, EventPhase::End),
        ];
        let segments = predicted_segments(&events, 500_000, |i| names[usize::from(i)]);
        assert_eq!(segments, vec![segment("wave", 0.5, 2.0), segment("clap", 2.5, 3.3)]);
    }

    #[test]
    fn one_to_one_matching_by_label_body_and_iou() {
        let truth = vec![segment("wave", 1.0, 3.0), segment("clap", 5.0, 7.0), segment("wave", 10.0, 12.0)];
        let predicted = vec![
            segment("wave", 1.5, 3.2), // IoU 0.68 with the first wave, but the next one's is higher: false positive
            segment("wave", 1.2, 2.9), // IoU 0.85: matches the first wave
            segment("clap", 7.5, 9.0), // disjoint from the clap: false positive, and the clap a false negative
            segment("wave", 10.5, 11.0), // IoU 0.25 < 0.3: false positive; the second wave is missed
        ];
        let mut other_body = segment("wave", 10.0, 12.0);
        other_body.body_id = 2;
        let mut predicted_all = predicted.clone();
        predicted_all.push(other_body); // same time, another body: no match
        let score = score(&predicted_all, &truth, DEFAULT_MIN_IOU);
        assert_eq!(score.matches.len(), 1);
        let wave = score.classes.iter().find(|c| c.class == "wave").unwrap();
        assert_eq!((wave.true_positives, wave.false_positives, wave.false_negatives), (1, 3, 1));
        assert_eq!((wave.precision, wave.recall), (0.25, 0.5));
        assert!((wave.f1 - 1.0 / 3.0).abs() < 1e-12);
        let clap = score.classes.iter().find(|c| c.class == "clap").unwrap();
        assert_eq!((clap.true_positives, clap.false_positives, clap.false_negatives, clap.f1), (0, 1, 1, 0.0));
        assert_eq!(
            (score.overall.true_positives, score.overall.false_positives, score.overall.false_negatives),
            (1, 4, 2)
        );
    }
}
