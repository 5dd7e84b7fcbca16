//! `skelact classify`'s one-line verdict on a file: which action the device says the file shows, and how sure.
//!
//! The rule, in order:
//!
//! 1. **Events**: when the file made the device report actions, the label whose event segments (`Begin` to `End`,
//!    as reported, not stretched) cover the most time, ties broken by the number of segments. This is what the
//!    daemon would have told an integrator about the file.
//! 2. **Windows**: when no event came (short files: the decision layer wants a few agreeing windows), the label that
//!    is the top label of the most windows whose top score reaches the bundle's unknown threshold.
//! 3. Otherwise **unknown**.
//!
//! The confidence is the mean top score of the windows whose top label is the verdict's label, and the verdict
//! says in how many of the file's windows that is.

use std::collections::BTreeMap;

use serde::Serialize;
use skelact_runtime::wire::Event;

use crate::scoring;

/// What a verdict rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Events,
    Windows,
    /// Neither events nor a window above the unknown threshold.
    Nothing,
}

/// One file's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The label, or `None` for unknown.
    pub label: Option<String>,
    /// Mean top score of the windows whose top label is `label` (0 for unknown).
    pub confidence: f32,
    pub basis: Basis,
    /// Windows whose top label is `label`, and all windows of the file.
    pub windows_agreeing: usize,
    pub windows: usize,
    /// Seconds `label`'s event segments cover.
    pub event_seconds: f64,
    /// Distinct labels the events name (a file of several actions names several).
    pub labels_reported: usize,
}

/// The verdict on a file from each window's top label index and score, and the events the file made.
/// `label_name` names a label index.
pub fn verdict<'l>(
    windows: &[(usize, f32)],
    events: &[Event],
    label_name: impl Fn(u16) -> &'l str,
    unknown_threshold: f32,
) -> Verdict {
    let agreeing = |label: &str| {
        let scores: Vec<f32> = windows
            .iter()
            .filter(|(index, _)| u16::try_from(*index).is_ok_and(|i| label_name(i) == label))
            .map(|&(_, score)| score)
            .collect();
        let mean = if scores.is_empty() { 0.0 } else { scores.iter().sum::<f32>() / scores.len() as f32 };
        (scores.len(), mean)
    };

    // Event segments as reported (no stretching: that is for matching against ground truth).
    let mut by_label: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for segment in scoring::predicted_segments(events, 0, &label_name) {
        let covered = segment.end_us.saturating_sub(segment.start_us);
        let entry = by_label.entry(segment.label).or_default();
        entry.0 += covered;
        entry.1 += 1;
    }
    if let Some((label, &(covered_us, _))) = by_label.iter().max_by_key(|&(_, &(us, count))| (us, count)) {
        let (count, confidence) = agreeing(label);
        return Verdict {
            label: Some(label.clone()),
            confidence,
            basis: Basis::Events,
            windows_agreeing: count,
            windows: windows.len(),
            event_seconds: covered_us as f64 / 1e6,
            labels_reported: by_label.len(),
        };
    }

    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for &(index, score) in windows {
        if score >= unknown_threshold {
            if let Ok(index) = u16::try_from(index) {
                *votes.entry(label_name(index)).or_default() += 1;
            }
        }
    }
    let best = votes.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| agreeing(a.0).1.total_cmp(&agreeing(b.0).1)));
    match best {
        Some((&label, _)) => {
            let (count, confidence) = agreeing(label);
            Verdict {
                label: Some(label.to_string()),
                confidence,
                basis: Basis::Windows,
                windows_agreeing: count,
                windows: windows.len(),
                event_seconds: 0.0,
                labels_reported: 0,
            }
        }
        None => Verdict {
            label: None,
            confidence: 0.0,
            basis: Basis::Nothing,
            windows_agreeing: 0,
            windows: windows.len(),
            event_seconds: 0.0,
            labels_reported: 0,
        },
    }
}

impl Verdict {
    /// The verdict in words: `right hand wave (confidence 0.83, top label of 7 of 9 windows; events cover 2.4 s)`.
    pub fn describe(&self) -> String {
        match &self.label {
            Some(label) => {
                let evidence = match self.basis {
                    Basis::Events if self.labels_reported > 1 => format!(
                        "; events cover {:.1} s, the most of the {} actions reported",
                        self.event_seconds, self.labels_reported
                    ),
                    Basis::Events => format!("; events cover {:.1} s", self.event_seconds),
                    _ => "; no events, by the windows above the unknown threshold".to_string(),
                };
                format!(
                    "{label} (confidence {:.2}, top label of {} of {} windows{evidence})",
                    self.confidence, self.windows_agreeing, self.windows
                )
            }
            None if self.windows == 0 => "unknown (no window: too few frames of a body)".to_string(),
            None => format!("unknown (no event, and none of the {} windows above the unknown threshold)", self.windows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skelact_runtime::wire::EventPhase;

    const LABELS: [&str; 3] = ["sit", "stand", "wave"];

    fn name(index: u16) -> &'static str {
        LABELS.get(usize::from(index)).copied().unwrap_or("unknown")
    }

    fn event(phase: EventPhase, label_index: u16, start_ms: u64, end_ms: u64) -> Event {
        Event {
            phase,
            body_id: 1,
            action_id: label_index + 1,
            label_index,
            confidence: 0.9,
            start_us: start_ms * 1000,
            end_us: end_ms * 1000,
        }
    }

    #[test]
    fn events_decide_by_the_time_they_cover() {
        let events = [
            event(EventPhase::Begin, 0, 1000, 1000),
            event(EventPhase::End, 0, 1000, 2000),
            event(EventPhase::Begin, 2, 3000, 3000),
            event(EventPhase::End, 2, 3000, 6000),
        ];
        // More windows say "sit", but "wave" was reported for longer.
        let windows = [(0, 0.9), (0, 0.8), (0, 0.7), (2, 0.6), (2, 0.8)];
        let v = verdict(&windows, &events, name, 0.5);
        assert_eq!(v.label.as_deref(), Some("wave"));
        assert_eq!(v.basis, Basis::Events);
        assert_eq!((v.windows_agreeing, v.windows), (2, 5));
        assert!((v.confidence - 0.7).abs() < 1e-6 && (v.event_seconds - 3.0).abs() < 1e-9, "{v:?}");
        assert_eq!(
            v.describe(),
            "wave (confidence 0.70, top label of 2 of 5 windows; events cover 3.0 s, the most of the 2 actions reported)"
        );
    }

    #[test]
    fn without_events_the_confident_windows_vote_and_nothing_confident_is_unknown() {
        let windows = [(1, 0.9), (0, 0.4), (0, 0.45), (0, 0.3), (1, 0.7)];
        let v = verdict(&windows, &[], name, 0.5);
        assert_eq!((v.label.as_deref(), v.basis), (Some("stand"), Basis::Windows));
        assert!((v.confidence - 0.8).abs() < 1e-6, "{v:?}");
        let v = verdict(&windows[1..4], &[], name, 0.5);
        assert_eq!((v.label.as_deref(), v.basis), (None, Basis::Nothing));
        assert!(v.describe().starts_with("unknown (no event"), "{}", v.describe());
        assert!(verdict(&[], &[], name, 0.5).describe().contains("no window"));
    }
}
