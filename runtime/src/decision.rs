//! Decisions: per body, turn a sequence of per-window score vectors into action [`Event`]s.
//!
//! Rules, in the order they are applied to each window (defaults in [`DecisionConfig::default`]; the whole
//! story with examples is in `docs/decisions.md`):
//!
//! 1. **Smoothing.** The score of label `l` is the mean of `l`'s scores over the last `smoothing_windows` windows
//!    (fewer while the history fills). The best label is the one with the highest smoothed score; ties go to the
//!    smaller label index.
//! 2. **Unknown.** A window whose best smoothed score is below `unknown_threshold` is *unknown*. A window the
//!    caller reports with [`Decider::update_unknown`] (for example a prototype similarity below its threshold)
//!    enters the history as all-zero scores, so it is smoothed like any other evidence.
//! 3. **Hysteresis.** An open segment of label `l` holds while `l`'s smoothed score is at least
//!    `exit_threshold` and no other label wins clearly (smoothed score ≥ `enter_threshold` and at least
//!    `switch_margin` above `l`'s). An unknown segment holds while the best smoothed score stays below
//!    `exit_threshold`.
//! 4. **Start.** With no open segment, the best label starts a segment when its smoothed score reaches
//!    `enter_threshold` (an unknown window starts an unknown segment only if `emit_unknown`), unless that label
//!    is cooling down. A segment that ends may be followed by a new one in the same window.
//! 5. **Minimum duration.** A segment emits [`EventPhase::Begin`] once it has held for `min_duration_us`
//!    (window timestamp minus the segment's first window timestamp); one that ends sooner emits nothing.
//! 6. **End and cooldown.** When a begun segment stops holding, or its body is removed, it emits
//!    [`EventPhase::End`] with the same `start_us` as its Begin and `end_us` = the last window in which it held.
//!    The same label may not start again until `cooldown_us` after the window that ended it.
//!
//! Events go to a caller-supplied callback (`FnMut(Event)`): it never fails, needs no capacity, and lets the
//! pipeline forward events straight to the wire. One update emits at most two events, always an End before a
//! Begin. Timestamps are the caller's window timestamps, so the smoothing lag shows up in `start_us`.

use crate::wire::{Event, EventPhase};

/// Default most labels per decider.
pub const DEFAULT_MAX_CLASSES: usize = 64;
/// Default most score vectors kept per body (the upper bound of `smoothing_windows`).
pub const DEFAULT_HISTORY: usize = 8;
/// Default most bodies tracked at once by [`Decisions`] (the design's 4 bodies per frame).
pub const DEFAULT_BODIES: usize = 4;

/// Why a decision configuration or an update was refused. An update that fails changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecisionError {
    /// `smoothing_windows` is 0 or more than the history capacity (`capacity` is `usize::MAX` when
    /// [`DecisionConfig::validate`] finds 0 without knowing a capacity).
    SmoothingWindows { requested: usize, capacity: usize },
    /// A threshold is NaN or outside 0..=1.
    ThresholdRange,
    /// Thresholds are not ordered `unknown_threshold ≤ exit_threshold ≤ enter_threshold`.
    ThresholdOrder,
    /// `switch_margin` is negative or not finite.
    SwitchMargin,
    /// The action table is empty.
    NoClasses,
    /// The action table has more labels than the decider's capacity (or than label indices can name).
    TooManyClasses { classes: usize, capacity: usize },
    /// The action table maps `label` to [`Event::UNKNOWN`], which is reserved for unknown actions.
    ReservedActionId { label: u16 },
    /// A score vector's length is not the number of labels.
    ScoreLength { expected: usize, actual: usize },
    /// A score is NaN or infinite.
    NotFinite,
    /// A window timestamp is earlier than the body's previous one.
    TimeWentBackwards { previous_us: u64, timestamp_us: u64 },
    /// Every body slot is taken; remove a body whose track is gone first.
    TooManyBodies { capacity: usize },
}

impl core::fmt::Display for DecisionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecisionError::SmoothingWindows { requested, capacity } => {
                write!(f, "smoothing over {requested} windows, expected 1..={capacity}")
            }
            DecisionError::ThresholdRange => write!(f, "decision thresholds must be numbers in 0..=1"),
            DecisionError::ThresholdOrder => {
                write!(f, "decision thresholds must satisfy unknown <= exit <= enter")
            }
            DecisionError::SwitchMargin => write!(f, "switch margin must be finite and not negative"),
            DecisionError::NoClasses => write!(f, "the action table is empty"),
            DecisionError::TooManyClasses { classes, capacity } => {
                write!(f, "{classes} labels exceed the decider's capacity of {capacity}")
            }
            DecisionError::ReservedActionId { label } => {
                write!(f, "label {label} maps to the reserved unknown action id")
            }
            DecisionError::ScoreLength { expected, actual } => {
                write!(f, "score vector has {actual} values, expected {expected}")
            }
            DecisionError::NotFinite => write!(f, "score vector contains NaN or infinity"),
            DecisionError::TimeWentBackwards { previous_us, timestamp_us } => {
                write!(f, "window timestamp {timestamp_us} us is earlier than the previous {previous_us} us")
            }
            DecisionError::TooManyBodies { capacity } => {
                write!(f, "all {capacity} body slots are in use")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecisionError {}

/// Decision rules. Scores are expected to be probabilities (0..=1), so the thresholds are too.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecisionConfig {
    /// Windows averaged per label (default 3, at most the decider's `HISTORY`). 1 disables smoothing.
    pub smoothing_windows: usize,
    /// Smoothed score at which a label starts a segment (default 0.6).
    pub enter_threshold: f32,
    /// Smoothed score below which an open segment ends (default 0.4).
    pub exit_threshold: f32,
    /// How far above the current label another label at `enter_threshold` or more must be to end the current
    /// segment (default 0.1).
    pub switch_margin: f32,
    /// How long a segment must hold before its Begin is emitted, in microseconds (default 300 000 = 0.3 s).
    pub min_duration_us: u64,
    /// After an End, how long the same label may not start again, in microseconds (default 500 000 = 0.5 s).
    pub cooldown_us: u64,
    /// Best smoothed score below which a window is unknown (default 0.35).
    pub unknown_threshold: f32,
    /// Whether unknown segments emit events with label and action [`Event::UNKNOWN`] (default false: unknown
    /// windows only end segments, so an integrator sees silence rather than a stream of "unknown").
    pub emit_unknown: bool,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            smoothing_windows: 3,
            enter_threshold: 0.6,
            exit_threshold: 0.4,
            switch_margin: 0.1,
            min_duration_us: 300_000,
            cooldown_us: 500_000,
            unknown_threshold: 0.35,
            emit_unknown: false,
        }
    }
}

impl DecisionConfig {
    /// Checks the rules that do not depend on capacity: thresholds in 0..=1 and ordered
    /// unknown ≤ exit ≤ enter, a finite non-negative switch margin, at least one smoothing window.
    /// ([`Decider::new`] also checks `smoothing_windows` against its history capacity.)
    pub fn validate(&self) -> Result<(), DecisionError> {
        let thresholds = [self.unknown_threshold, self.exit_threshold, self.enter_threshold];
        if thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return Err(DecisionError::ThresholdRange);
        }
        if !(self.unknown_threshold <= self.exit_threshold && self.exit_threshold <= self.enter_threshold) {
            return Err(DecisionError::ThresholdOrder);
        }
        if !(self.switch_margin.is_finite() && self.switch_margin >= 0.0) {
            return Err(DecisionError::SwitchMargin);
        }
        if self.smoothing_windows == 0 {
            return Err(DecisionError::SmoothingWindows { requested: 0, capacity: usize::MAX });
        }
        Ok(())
    }
}

/// What a segment is about.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SegmentLabel {
    Known(usize),
    Unknown,
}

/// A run of windows that agree on one label. It is *begun* once its Begin event has been emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    label: SegmentLabel,
    start_us: u64,
    last_us: u64,
    /// Highest per-window confidence so far; reported as the events' confidence.
    peak: f32,
    begun: bool,
}

/// The decision state of one body.
///
/// `MAX_CLASSES` (default [`DEFAULT_MAX_CLASSES`]) bounds the number of labels and `HISTORY` (default
/// [`DEFAULT_HISTORY`]) the number of score vectors kept for smoothing. The state is a few kilobytes at the
/// defaults and never grows.
#[derive(Debug, Clone)]
pub struct Decider<const MAX_CLASSES: usize = DEFAULT_MAX_CLASSES, const HISTORY: usize = DEFAULT_HISTORY> {
    config: DecisionConfig,
    body_id: u32,
    classes: usize,
    /// Label index → action id, copied from the caller's table so the decider borrows nothing.
    actions: [u16; MAX_CLASSES],
    /// Ring of the latest score vectors; `newest` is the latest, `filled` how many are valid.
    history: [[f32; MAX_CLASSES]; HISTORY],
    newest: usize,
    filled: usize,
    last_timestamp_us: Option<u64>,
    segment: Option<Segment>,
    /// A label may start again at or after this time; 0 (the initial value) never blocks.
    cooldown_until_us: [u64; MAX_CLASSES],
    unknown_cooldown_until_us: u64,
}

impl<const MAX_CLASSES: usize, const HISTORY: usize> Decider<MAX_CLASSES, HISTORY> {
    /// A decider for `body_id` whose label `i` means action `actions[i]`.
    ///
    /// Errors: everything [`DecisionConfig::validate`] refuses, [`DecisionError::SmoothingWindows`] beyond
    /// `HISTORY`, [`DecisionError::NoClasses`], [`DecisionError::TooManyClasses`] and
    /// [`DecisionError::ReservedActionId`] for the action table.
    pub fn new(body_id: u32, config: DecisionConfig, actions: &[u16]) -> Result<Self, DecisionError> {
        config.validate()?;
        if config.smoothing_windows > HISTORY {
            return Err(DecisionError::SmoothingWindows { requested: config.smoothing_windows, capacity: HISTORY });
        }
        if actions.is_empty() {
            return Err(DecisionError::NoClasses);
        }
        // Label indices travel as u16 and u16::MAX means unknown, so at most u16::MAX labels are nameable.
        let capacity = MAX_CLASSES.min(usize::from(Event::UNKNOWN));
        if actions.len() > capacity {
            return Err(DecisionError::TooManyClasses { classes: actions.len(), capacity });
        }
        if let Some(label) = actions.iter().position(|a| *a == Event::UNKNOWN) {
            return Err(DecisionError::ReservedActionId { label: label as u16 });
        }
        let mut table = [0u16; MAX_CLASSES];
        table[..actions.len()].copy_from_slice(actions);
        Ok(Decider {
            config,
            body_id,
            classes: actions.len(),
            actions: table,
            history: [[0.0; MAX_CLASSES]; HISTORY],
            newest: 0,
            filled: 0,
            last_timestamp_us: None,
            segment: None,
            cooldown_until_us: [0; MAX_CLASSES],
            unknown_cooldown_until_us: 0,
        })
    }

    /// The body this decider speaks for.
    pub fn body_id(&self) -> u32 {
        self.body_id
    }

    /// The validated configuration.
    pub fn config(&self) -> &DecisionConfig {
        &self.config
    }

    /// Number of labels (the length score vectors must have).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Label index of the segment whose Begin was emitted and whose End was not yet ([`Event::UNKNOWN`] for an
    /// unknown segment), or `None`.
    pub fn active_label(&self) -> Option<u16> {
        self.segment.filter(|s| s.begun).map(|s| self.label_index(s.label))
    }

    /// Feeds the scores of the window at `timestamp_us` (one per label) and emits the events it decides.
    ///
    /// Errors, with nothing changed and nothing emitted: [`DecisionError::ScoreLength`],
    /// [`DecisionError::NotFinite`], [`DecisionError::TimeWentBackwards`] (equal timestamps are accepted).
    pub fn update(&mut self, timestamp_us: u64, scores: &[f32], emit: impl FnMut(Event)) -> Result<(), DecisionError> {
        self.check_scores(scores)?;
        self.observe(timestamp_us, Some(scores), emit)
    }

    /// Feeds a window that the head judged unknown (for example, its prototype similarity was below the
    /// caller's threshold). It enters the smoothing history as all-zero scores. Errors:
    /// [`DecisionError::TimeWentBackwards`].
    pub fn update_unknown(&mut self, timestamp_us: u64, emit: impl FnMut(Event)) -> Result<(), DecisionError> {
        self.observe(timestamp_us, None, emit)
    }

    /// Closes the body's open segment, emitting its End if it had begun, and forgets all state (history,
    /// cooldowns). Call it when the body's track is gone.
    pub fn close(&mut self, mut emit: impl FnMut(Event)) {
        if let Some(segment) = self.segment.filter(|s| s.begun) {
            emit(self.event(&segment, EventPhase::End, segment.last_us));
        }
        self.reset();
    }

    /// Clears all state but keeps configuration, action table and body id.
    fn reset(&mut self) {
        self.newest = 0;
        self.filled = 0;
        self.last_timestamp_us = None;
        self.segment = None;
        self.cooldown_until_us = [0; MAX_CLASSES];
        self.unknown_cooldown_until_us = 0;
    }

    fn check_scores(&self, scores: &[f32]) -> Result<(), DecisionError> {
        if scores.len() != self.classes {
            return Err(DecisionError::ScoreLength { expected: self.classes, actual: scores.len() });
        }
        if scores.iter().any(|s| !s.is_finite()) {
            return Err(DecisionError::NotFinite);
        }
        Ok(())
    }

    fn observe(
        &mut self,
        timestamp_us: u64,
        scores: Option<&[f32]>,
        mut emit: impl FnMut(Event),
    ) -> Result<(), DecisionError> {
        if let Some(previous_us) = self.last_timestamp_us {
            if timestamp_us < previous_us {
                return Err(DecisionError::TimeWentBackwards { previous_us, timestamp_us });
            }
        }
        self.last_timestamp_us = Some(timestamp_us);
        self.push(scores);
        self.decide(timestamp_us, &mut emit);
        Ok(())
    }

    /// Appends a score vector (all zeros for `None`) to the history ring.
    fn push(&mut self, scores: Option<&[f32]>) {
        self.newest = (self.newest + 1) % HISTORY;
        self.filled = (self.filled + 1).min(HISTORY);
        let slot = &mut self.history[self.newest];
        slot.iter_mut().for_each(|s| *s = 0.0);
        if let Some(scores) = scores {
            slot[..scores.len()].copy_from_slice(scores);
        }
    }

    /// Mean score of `label` over the last `smoothing_windows` windows (fewer while the history fills).
    fn smoothed(&self, label: usize) -> f32 {
        let count = self.filled.min(self.config.smoothing_windows);
        debug_assert!(count > 0, "smoothed before the first window");
        let sum: f32 = (0..count).map(|age| self.history[(self.newest + HISTORY - age) % HISTORY][label]).sum();
        sum / count as f32
    }

    /// The best label and its smoothed score; ties go to the smaller index.
    fn best(&self) -> (usize, f32) {
        (0..self.classes).map(|label| (label, self.smoothed(label))).fold((0, f32::NEG_INFINITY), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        })
    }

    fn decide(&mut self, now_us: u64, emit: &mut impl FnMut(Event)) {
        let (best, best_score) = self.best();
        let config = self.config;

        if let Some(mut segment) = self.segment {
            let holds = match segment.label {
                SegmentLabel::Known(label) => {
                    let score = self.smoothed(label);
                    let beaten = best != label
                        && best_score >= config.enter_threshold
                        && best_score - score >= config.switch_margin;
                    score >= config.exit_threshold && !beaten
                }
                SegmentLabel::Unknown => best_score < config.exit_threshold,
            };
            if holds {
                segment.last_us = now_us;
                segment.peak = segment.peak.max(self.confidence(segment.label, best_score));
                self.segment = Some(segment);
                self.begin_if_long_enough(now_us, emit);
                return;
            }
            if segment.begun {
                emit(self.event(&segment, EventPhase::End, segment.last_us));
                let until = now_us.saturating_add(config.cooldown_us);
                match segment.label {
                    SegmentLabel::Known(label) => self.cooldown_until_us[label] = until,
                    SegmentLabel::Unknown => self.unknown_cooldown_until_us = until,
                }
            }
            self.segment = None;
        }

        let candidate = if best_score < config.unknown_threshold {
            config.emit_unknown.then_some(SegmentLabel::Unknown)
        } else {
            (best_score >= config.enter_threshold).then_some(SegmentLabel::Known(best))
        };
        let Some(label) = candidate else { return };
        let cooldown_until_us = match label {
            SegmentLabel::Known(label) => self.cooldown_until_us[label],
            SegmentLabel::Unknown => self.unknown_cooldown_until_us,
        };
        if now_us < cooldown_until_us {
            return;
        }
        self.segment = Some(Segment {
            label,
            start_us: now_us,
            last_us: now_us,
            peak: self.confidence(label, best_score),
            begun: false,
        });
        self.begin_if_long_enough(now_us, emit);
    }

    fn begin_if_long_enough(&mut self, now_us: u64, emit: &mut impl FnMut(Event)) {
        let Some(segment) = self.segment.as_mut() else { return };
        if !segment.begun && now_us.saturating_sub(segment.start_us) >= self.config.min_duration_us {
            segment.begun = true;
            let segment = *segment;
            emit(self.event(&segment, EventPhase::Begin, now_us));
        }
    }

    /// A window's confidence in `label`: its smoothed score, or for unknown how far the best label is from 1.
    fn confidence(&self, label: SegmentLabel, best_score: f32) -> f32 {
        let confidence = match label {
            SegmentLabel::Known(label) => self.smoothed(label),
            SegmentLabel::Unknown => 1.0 - best_score,
        };
        // Scores outside 0..=1 are accepted (similarities, say), but the wire promises 0..=1.
        confidence.clamp(0.0, 1.0)
    }

    fn label_index(&self, label: SegmentLabel) -> u16 {
        match label {
            // `new` bounds the number of labels below u16::MAX.
            SegmentLabel::Known(label) => label as u16,
            SegmentLabel::Unknown => Event::UNKNOWN,
        }
    }

    fn event(&self, segment: &Segment, phase: EventPhase, end_us: u64) -> Event {
        let action_id = match segment.label {
            SegmentLabel::Known(label) => self.actions[label],
            SegmentLabel::Unknown => Event::UNKNOWN,
        };
        Event {
            body_id: self.body_id,
            action_id,
            label_index: self.label_index(segment.label),
            confidence: segment.peak,
            start_us: segment.start_us,
            end_us,
            phase,
        }
    }
}

/// One [`Decider`] per body, keyed by body id, for up to `BODIES` bodies (default [`DEFAULT_BODIES`]).
///
/// A body gets a decider on its first update. When its track is gone, [`Decisions::remove`] frees the slot and
/// emits the End of its open segment, so every Begin is matched by an End.
#[derive(Debug, Clone)]
pub struct Decisions<
    const BODIES: usize = DEFAULT_BODIES,
    const MAX_CLASSES: usize = DEFAULT_MAX_CLASSES,
    const HISTORY: usize = DEFAULT_HISTORY,
> {
    /// A fresh decider that new bodies are cloned from, so the configuration is validated once.
    template: Decider<MAX_CLASSES, HISTORY>,
    bodies: heapless::Vec<Decider<MAX_CLASSES, HISTORY>, BODIES>,
}

impl<const BODIES: usize, const MAX_CLASSES: usize, const HISTORY: usize> Decisions<BODIES, MAX_CLASSES, HISTORY> {
    /// Errors as [`Decider::new`].
    pub fn new(config: DecisionConfig, actions: &[u16]) -> Result<Self, DecisionError> {
        Ok(Decisions { template: Decider::new(0, config, actions)?, bodies: heapless::Vec::new() })
    }

    /// Feeds body `body_id`'s window scores; see [`Decider::update`]. A new body takes a free slot, and
    /// [`DecisionError::TooManyBodies`] means there is none (nothing changed).
    pub fn update(
        &mut self,
        body_id: u32,
        timestamp_us: u64,
        scores: &[f32],
        emit: impl FnMut(Event),
    ) -> Result<(), DecisionError> {
        self.template.check_scores(scores)?;
        self.get_or_insert(body_id)?.update(timestamp_us, scores, emit)
    }

    /// Feeds a window of body `body_id` that the head judged unknown; see [`Decider::update_unknown`].
    pub fn update_unknown(
        &mut self,
        body_id: u32,
        timestamp_us: u64,
        emit: impl FnMut(Event),
    ) -> Result<(), DecisionError> {
        self.get_or_insert(body_id)?.update_unknown(timestamp_us, emit)
    }

    /// Forgets body `body_id` because its track is gone, emitting the End of its open segment if it had begun.
    /// Returns whether the body was known.
    pub fn remove(&mut self, body_id: u32, emit: impl FnMut(Event)) -> bool {
        match self.bodies.iter().position(|d| d.body_id == body_id) {
            Some(index) => {
                let mut decider = self.bodies.swap_remove(index);
                decider.close(emit);
                true
            }
            None => false,
        }
    }

    /// Removes every body (for example when the sensor disconnects), emitting their Ends.
    pub fn remove_all(&mut self, mut emit: impl FnMut(Event)) {
        while let Some(mut decider) = self.bodies.pop() {
            decider.close(&mut emit);
        }
    }

    /// The decider of body `body_id`, if it has one.
    pub fn get(&self, body_id: u32) -> Option<&Decider<MAX_CLASSES, HISTORY>> {
        self.bodies.iter().find(|d| d.body_id == body_id)
    }

    /// Ids of the bodies that have a decider.
    pub fn body_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.bodies.iter().map(|d| d.body_id)
    }

    /// Number of bodies that have a decider.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    /// Whether no body has a decider.
    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }

    fn get_or_insert(&mut self, body_id: u32) -> Result<&mut Decider<MAX_CLASSES, HISTORY>, DecisionError> {
        let index = match self.bodies.iter().position(|d| d.body_id == body_id) {
            Some(index) => index,
            None => {
                let mut decider = self.template.clone();
                decider.body_id = body_id;
                self.bodies.push(decider).map_err(|_| DecisionError::TooManyBodies { capacity: BODIES })?;
                self.bodies.len() - 1
            }
        };
        self.bodies.get_mut(index).ok_or(DecisionError::TooManyBodies { capacity: BODIES })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const MS: u64 = 1000;
    const ACTIONS: [u16; 3] = [101, 102, 103];

    /// Default thresholds, but no smoothing, no minimum duration and no cooldown, so each test switches on only
    /// the rule it is about.
    fn plain() -> DecisionConfig {
        DecisionConfig { smoothing_windows: 1, min_duration_us: 0, cooldown_us: 0, ..DecisionConfig::default() }
    }

    fn decider(config: DecisionConfig) -> Decider<4, 8> {
        Decider::new(7, config, &ACTIONS).unwrap()
    }

    /// Three labels where label 0 scores `x` and the others share the rest, so label 0 is the best when x > 1/3.
    fn label0(x: f32) -> [f32; 3] {
        [x, (1.0 - x) / 2.0, (1.0 - x) / 2.0]
    }

    /// Feeds `scores[i]` at `i · step_ms` from `first_ms` and returns the events with the window index they came in.
    fn feed(d: &mut Decider<4, 8>, first_ms: u64, step_ms: u64, scores: &[[f32; 3]]) -> Vec<(usize, Event)> {
        let mut events = Vec::new();
        for (i, s) in scores.iter().enumerate() {
            d.update((first_ms + i as u64 * step_ms) * MS, s, |e| events.push((i, e))).unwrap();
        }
        events
    }

    fn event(label: u16, phase: EventPhase, start_ms: u64, end_ms: u64, confidence: f32) -> Event {
        let action_id = if label == Event::UNKNOWN { Event::UNKNOWN } else { ACTIONS[usize::from(label)] };
        Event {
            body_id: 7,
            action_id,
            label_index: label,
            confidence,
            start_us: start_ms * MS,
            end_us: end_ms * MS,
            phase,
        }
    }

    fn assert_events(actual: &[(usize, Event)], expected: &[(usize, Event)]) {
        assert_eq!(actual.len(), expected.len(), "{actual:#?}");
        for ((wa, a), (we, e)) in actual.iter().zip(expected) {
            assert_eq!(wa, we, "window of {a:?}");
            assert!((a.confidence - e.confidence).abs() < 1e-6, "{a:?} != {e:?}");
            assert_eq!(Event { confidence: e.confidence, ..*a }, *e);
        }
    }

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let c = DecisionConfig::default();
        assert_eq!(c.smoothing_windows, 3);
        assert_eq!((c.enter_threshold, c.exit_threshold, c.unknown_threshold, c.switch_margin), (0.6, 0.4, 0.35, 0.1));
        assert_eq!((c.min_duration_us, c.cooldown_us), (300_000, 500_000));
        assert!(!c.emit_unknown);
        assert_eq!(c.validate(), Ok(()));
        assert!(Decider::<64, 8>::new(0, c, &[1]).is_ok());
    }

    #[test]
    fn nonsense_configurations_are_refused() {
        let d = DecisionConfig::default();
        let refused = |c: DecisionConfig| Decider::<4, 8>::new(0, c, &ACTIONS).unwrap_err();
        assert_eq!(refused(DecisionConfig { exit_threshold: 0.7, ..d }), DecisionError::ThresholdOrder);
        assert_eq!(refused(DecisionConfig { unknown_threshold: 0.5, ..d }), DecisionError::ThresholdOrder);
        assert_eq!(refused(DecisionConfig { enter_threshold: 1.5, ..d }), DecisionError::ThresholdRange);
        assert_eq!(refused(DecisionConfig { unknown_threshold: -0.1, ..d }), DecisionError::ThresholdRange);
        assert_eq!(refused(DecisionConfig { exit_threshold: f32::NAN, ..d }), DecisionError::ThresholdRange);
        assert_eq!(refused(DecisionConfig { switch_margin: -0.1, ..d }), DecisionError::SwitchMargin);
        assert_eq!(refused(DecisionConfig { switch_margin: f32::INFINITY, ..d }), DecisionError::SwitchMargin);
        assert!(matches!(
            refused(DecisionConfig { smoothing_windows: 0, ..d }),
            DecisionError::SmoothingWindows { requested: 0, .. }
        ));
        assert_eq!(
            refused(DecisionConfig { smoothing_windows: 9, ..d }),
            DecisionError::SmoothingWindows { requested: 9, capacity: 8 }
        );
        assert_eq!(Decider::<4, 8>::new(0, d, &[]).unwrap_err(), DecisionError::NoClasses);
        assert_eq!(
            Decider::<4, 8>::new(0, d, &[1; 5]).unwrap_err(),
            DecisionError::TooManyClasses { classes: 5, capacity: 4 }
        );
        assert_eq!(
            Decider::<4, 8>::new(0, d, &[1, Event::UNKNOWN]).unwrap_err(),
            DecisionError::ReservedActionId { label: 1 }
        );
        // Equal thresholds (no hysteresis band) are allowed.
        let flat = DecisionConfig { enter_threshold: 0.5, exit_threshold: 0.5, unknown_threshold: 0.5, ..d };
        assert!(Decider::<4, 8>::new(0, flat, &ACTIONS).is_ok());
    }

    #[test]
    fn smoothing_lags_by_the_window_count() {
        // Label 0 jumps from 0 to 1 at window 3 (t = 300 ms). Smoothed over 3 windows it reads 1/3, 2/3, 1, so it
        // crosses the enter threshold 0.6 at window 4; without smoothing at window 3.
        let step = [label0(0.0), label0(0.0), label0(0.0), label0(1.0), label0(1.0), label0(1.0)];
        let mut smoothed = decider(DecisionConfig { smoothing_windows: 3, ..plain() });
        let events = feed(&mut smoothed, 0, 100, &step);
        assert_events(&events, &[(4, event(0, EventPhase::Begin, 400, 400, 2.0 / 3.0))]);
        let mut raw = decider(plain());
        let events = feed(&mut raw, 0, 100, &step);
        assert_events(&events, &[(3, event(0, EventPhase::Begin, 300, 300, 1.0))]);
        // The way down lags too: smoothed 2/3 at window 3 still holds, 1/3 at window 4 ends the segment.
        let mut down = decider(DecisionConfig { smoothing_windows: 3, ..plain() });
        let fall = [label0(1.0), label0(1.0), label0(1.0), label0(0.0), label0(0.0), label0(0.0)];
        let events = feed(&mut down, 0, 100, &fall);
        assert_events(
            &events,
            &[(0, event(0, EventPhase::Begin, 0, 0, 1.0)), (4, event(0, EventPhase::End, 0, 300, 1.0))],
        );
    }

    #[test]
    fn hysteresis_enters_high_and_exits_low() {
        let mut d = decider(plain());
        // 0.5 is below enter; 0.65 enters; 0.45 and 0.41 are between exit and enter and hold; 0.39 exits;
        // 0.55 is below enter again, so nothing restarts.
        let scores = [label0(0.5), label0(0.65), label0(0.45), label0(0.41), label0(0.39), label0(0.55)];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[(1, event(0, EventPhase::Begin, 100, 100, 0.65)), (4, event(0, EventPhase::End, 100, 300, 0.65))],
        );
        assert_eq!(d.active_label(), None);
    }

    #[test]
    fn another_label_winning_clearly_ends_the_segment() {
        let mut d = decider(plain());
        // Scores need not sum to 1 (similarities, say). Label 1 at 0.65 against label 0 at 0.6 is not clear
        // (margin 0.1), at 0.65 against 0.5 it is: End of 0 and Begin of 1 in the same window, End first.
        let scores = [[0.7, 0.1, 0.0], [0.6, 0.65, 0.0], [0.5, 0.65, 0.0], [0.5, 0.65, 0.0]];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[
                (0, event(0, EventPhase::Begin, 0, 0, 0.7)),
                (2, event(0, EventPhase::End, 0, 100, 0.7)),
                (2, event(1, EventPhase::Begin, 200, 200, 0.65)),
            ],
        );
        assert_eq!(d.active_label(), Some(1));
    }

    #[test]
    fn minimum_duration_suppresses_blips() {
        let mut d = decider(DecisionConfig { min_duration_us: 300 * MS, ..plain() });
        let high = label0(0.7);
        let low = label0(0.1);
        // 200 ms of label 0 is a blip; from 400 ms it holds, and at 700 ms it has held for 300 ms.
        let scores = [high, high, high, low, high, high, high, high, low];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[(7, event(0, EventPhase::Begin, 400, 700, 0.7)), (8, event(0, EventPhase::End, 400, 700, 0.7))],
        );
        // A blip emits nothing and so starts no cooldown.
        let mut strict = decider(DecisionConfig { min_duration_us: 300 * MS, cooldown_us: 10_000 * MS, ..plain() });
        assert_eq!(feed(&mut strict, 0, 100, &scores).len(), 2);
    }

    #[test]
    fn cooldown_blocks_the_same_label_only() {
        let mut d = decider(DecisionConfig { cooldown_us: 500 * MS, ..plain() });
        let a = label0(0.7);
        let none = [0.1; 3];
        let b = [0.1, 0.8, 0.1];
        // Label 0 ends at 100 ms, so it may start again at 600 ms; label 1 may start at once.
        let scores = [a, none, a, b, none, a, a, none];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[
                (0, event(0, EventPhase::Begin, 0, 0, 0.7)),
                (1, event(0, EventPhase::End, 0, 0, 0.7)),
                (3, event(1, EventPhase::Begin, 300, 300, 0.8)),
                (4, event(1, EventPhase::End, 300, 300, 0.8)),
                (6, event(0, EventPhase::Begin, 600, 600, 0.7)),
                (7, event(0, EventPhase::End, 600, 600, 0.7)),
            ],
        );
    }

    #[test]
    fn unknown_windows_end_segments_silently_by_default() {
        let mut d = decider(plain());
        // Best 1/3 < 0.35 is unknown: it ends label 0's segment and emits nothing itself.
        let unsure = [1.0 / 3.0; 3];
        let events = feed(&mut d, 0, 100, &[label0(0.9), unsure, unsure, unsure]);
        assert_events(
            &events,
            &[(0, event(0, EventPhase::Begin, 0, 0, 0.9)), (1, event(0, EventPhase::End, 0, 0, 0.9))],
        );
    }

    #[test]
    fn unknown_segments_are_reported_when_asked() {
        let mut d = decider(DecisionConfig { emit_unknown: true, min_duration_us: 100 * MS, ..plain() });
        let unsure = [0.3, 0.3, 0.2];
        // Unknown from 0 ms, begun at 100 ms with confidence 1 - 0.3; a best of 0.38 is still below exit 0.4, so
        // it holds; 0.45 ends it. The known label then needs 0.6 to start.
        let scores = [unsure, unsure, [0.38, 0.3, 0.2], [0.45, 0.3, 0.2], label0(0.7)];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[
                (1, event(Event::UNKNOWN, EventPhase::Begin, 0, 100, 0.7)),
                (3, event(Event::UNKNOWN, EventPhase::End, 0, 200, 0.7)),
            ],
        );
        assert_eq!(d.active_label(), None);
        let mut more = Vec::new();
        d.update(500 * MS, &label0(0.7), |e| more.push(e)).unwrap();
        assert_eq!(more, [event(0, EventPhase::Begin, 400, 500, 0.7)]);
    }

    #[test]
    fn head_reported_unknown_counts_as_zero_scores() {
        // Smoothed over 3, two unknown windows after three of 0.9 read 0.6 (holds) then 0.3 (ends).
        let mut d = decider(DecisionConfig { smoothing_windows: 3, ..plain() });
        let mut events = feed(&mut d, 0, 100, &[label0(0.9); 3]);
        d.update_unknown(300 * MS, |e| events.push((3, e))).unwrap();
        assert_eq!(d.active_label(), Some(0));
        d.update_unknown(400 * MS, |e| events.push((4, e))).unwrap();
        assert_events(
            &events,
            &[(0, event(0, EventPhase::Begin, 0, 0, 0.9)), (4, event(0, EventPhase::End, 0, 300, 0.9))],
        );
        // With unknown reporting on, the head's verdict opens an unknown segment of confidence 1 - 0.
        let mut u = decider(DecisionConfig { emit_unknown: true, ..plain() });
        let mut events = Vec::new();
        u.update_unknown(0, |e| events.push(e)).unwrap();
        assert_eq!(events, [event(Event::UNKNOWN, EventPhase::Begin, 0, 0, 1.0)]);
        assert_eq!(u.active_label(), Some(Event::UNKNOWN));
    }

    #[test]
    fn bad_updates_change_nothing() {
        // With the defaults: pending from 0 ms, begun at 400 ms (smoothed 0.5 still holds), ended at 600 ms.
        let scores = [label0(0.7), label0(0.7), label0(0.1), label0(0.0)];
        let mut clean = decider(DecisionConfig::default());
        let expected: Vec<Event> = feed(&mut clean, 0, 200, &scores).into_iter().map(|(_, e)| e).collect();
        assert_eq!(expected.len(), 2);

        let mut d = decider(DecisionConfig::default());
        let mut events = Vec::new();
        d.update(0, &scores[0], |e| events.push(e)).unwrap();
        assert_eq!(
            d.update(100, &[0.5, 0.5], |e| events.push(e)),
            Err(DecisionError::ScoreLength { expected: 3, actual: 2 })
        );
        assert_eq!(d.update(100, &[f32::NAN, 0.5, 0.5], |e| events.push(e)), Err(DecisionError::NotFinite));
        d.update(200 * MS, &scores[1], |e| events.push(e)).unwrap();
        let backwards = Err(DecisionError::TimeWentBackwards { previous_us: 200 * MS, timestamp_us: 100 });
        assert_eq!(d.update(100, &scores[1], |e| events.push(e)), backwards);
        assert_eq!(d.update_unknown(100, |e| events.push(e)), backwards);
        d.update(400 * MS, &scores[2], |e| events.push(e)).unwrap();
        d.update(600 * MS, &scores[3], |e| events.push(e)).unwrap();
        assert_eq!(events, expected);
    }

    #[test]
    fn close_ends_a_begun_segment_and_drops_a_pending_one() {
        let mut d = decider(DecisionConfig { min_duration_us: 200 * MS, ..plain() });
        let mut events = feed(&mut d, 0, 100, &[label0(0.7), label0(0.8), label0(0.7)]);
        d.close(|e| events.push((3, e)));
        assert_events(
            &events,
            &[(2, event(0, EventPhase::Begin, 0, 200, 0.8)), (3, event(0, EventPhase::End, 0, 200, 0.8))],
        );
        // Closed means fresh: earlier timestamps are accepted again and a pending segment closes silently.
        let mut events = Vec::new();
        d.update(0, &label0(0.7), |e| events.push(e)).unwrap();
        d.close(|e| events.push(e));
        assert!(events.is_empty());
    }

    #[test]
    fn bodies_are_independent_and_eviction_closes_segments() {
        let config = plain();
        let mut decisions = Decisions::<2, 4, 8>::new(config, &ACTIONS).unwrap();
        let mut events = Vec::new();
        decisions.update(10, 0, &label0(0.9), |e| events.push(e)).unwrap();
        decisions.update(20, 0, &[0.1, 0.1, 0.8], |e| events.push(e)).unwrap();
        assert_eq!(decisions.len(), 2);
        // A third body does not fit, and nothing changes.
        assert_eq!(
            decisions.update(30, 0, &label0(0.9), |e| events.push(e)),
            Err(DecisionError::TooManyBodies { capacity: 2 })
        );
        assert_eq!(decisions.len(), 2);
        decisions.update(10, 100 * MS, &label0(0.8), |e| events.push(e)).unwrap();
        // Body 10's track is gone: its segment ends at its last window.
        assert!(decisions.remove(10, |e| events.push(e)));
        assert!(!decisions.remove(10, |e| events.push(e)));
        assert!(decisions.get(10).is_none());
        // Now body 30 fits.
        decisions.update(30, 200 * MS, &label0(0.2), |e| events.push(e)).unwrap();
        let mut ids: Vec<u32> = decisions.body_ids().collect();
        ids.sort_unstable();
        assert_eq!(ids, [20, 30]);
        decisions.remove_all(|e| events.push(e));
        assert!(decisions.is_empty());

        let begin = |body_id, label: u16, confidence| Event {
            body_id,
            action_id: ACTIONS[usize::from(label)],
            label_index: label,
            confidence,
            start_us: 0,
            end_us: 0,
            phase: EventPhase::Begin,
        };
        assert_eq!(
            events,
            [
                begin(10, 0, 0.9),
                begin(20, 2, 0.8),
                Event { end_us: 100 * MS, phase: EventPhase::End, ..begin(10, 0, 0.9) },
                // Body 30 never began anything, so only body 20 ends.
                Event { phase: EventPhase::End, ..begin(20, 2, 0.8) },
            ]
        );
        // Bad scores are refused before a slot is taken.
        let mut full = Decisions::<1, 4, 8>::new(config, &ACTIONS).unwrap();
        assert_eq!(full.update(1, 0, &[0.0], |_| ()), Err(DecisionError::ScoreLength { expected: 3, actual: 1 }));
        assert!(full.is_empty());
    }

    #[test]
    fn the_example_in_docs_decisions_md() {
        let mut d = decider(DecisionConfig::default());
        let (high, low) = (label0(0.9), label0(0.1));
        let scores = [high, high, high, high, high, low, low, low, high, high, high, high, high, high, high];
        let events = feed(&mut d, 0, 100, &scores);
        assert_events(
            &events,
            &[
                (3, event(0, EventPhase::Begin, 0, 300, 0.9)),
                (6, event(0, EventPhase::End, 0, 500, 0.9)),
                // Cooling down until 1100 ms, then 300 ms more before the Begin.
                (14, event(0, EventPhase::Begin, 1100, 1400, 0.9)),
            ],
        );
        // The table's "about 3 KiB" per body at the default capacities.
        assert!(core::mem::size_of::<Decider>() <= 3 * 1024, "{}", core::mem::size_of::<Decider>());
    }

    #[test]
    fn prototype_head_drives_decisions_and_its_threshold_means_unknown() {
        use crate::head::PrototypeHead;
        // Two enrolled actions in a 2-D embedding space; label 2 is enrolled nowhere.
        let mut storage = [0.0; 8];
        let mut labels = [0; 4];
        let mut head = PrototypeHead::<4>::new(&mut storage, &mut labels, 2, 3).unwrap();
        head.enroll(0, &[1.0, 0.0]).unwrap();
        head.enroll(0, &[0.9, 0.1]).unwrap();
        head.enroll(1, &[0.0, 1.0]).unwrap();
        const SIMILARITY_THRESHOLD: f32 = 0.8;
        let mut d = decider(DecisionConfig { emit_unknown: true, ..plain() });
        let mut events = Vec::new();
        // Near label 0, then far from every exemplar (its best cosine, -0.6, is below the threshold).
        for (i, query) in [[1.0, 0.05], [0.95, 0.0], [-0.6, -0.8]].iter().enumerate() {
            let mut shares = [0.0; 3];
            let best = head.vote_shares(query, &mut shares).unwrap();
            let t = i as u64 * 100 * MS;
            if best.best_similarity < SIMILARITY_THRESHOLD {
                d.update_unknown(t, |e| events.push((i, e))).unwrap();
            } else {
                d.update(t, &shares, |e| events.push((i, e))).unwrap();
            }
        }
        // Label 0 has 2 of 3 votes in both windows (share 2/3 ≥ 0.6); the third window is unknown.
        assert_events(
            &events,
            &[
                (0, event(0, EventPhase::Begin, 0, 0, 2.0 / 3.0)),
                (2, event(0, EventPhase::End, 0, 100, 2.0 / 3.0)),
                (2, event(Event::UNKNOWN, EventPhase::Begin, 200, 200, 1.0)),
            ],
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            Scores { body: u32, advance_ms: u64, scores: Vec<f32> },
            Unknown { body: u32, advance_ms: u64 },
            Remove { body: u32 },
        }

        fn config() -> impl Strategy<Value = DecisionConfig> {
            (1usize..=4, [0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=1.0], 0.0f32..0.3, 0u64..400, 0u64..800, any::<bool>())
                .prop_map(|(smoothing_windows, mut t, switch_margin, min_ms, cooldown_ms, emit_unknown)| {
                    t.sort_by(f32::total_cmp);
                    DecisionConfig {
                        smoothing_windows,
                        unknown_threshold: t[0],
                        exit_threshold: t[1],
                        enter_threshold: t[2],
                        switch_margin,
                        min_duration_us: min_ms * MS,
                        cooldown_us: cooldown_ms * MS,
                        emit_unknown,
                    }
                })
        }

        fn op() -> impl Strategy<Value = Op> {
            // Mostly well-formed scores, sometimes the wrong length or NaN, so refusals are exercised too.
            let score = prop_oneof![8 => 0.0f32..=1.0, 1 => Just(f32::NAN), 1 => -2.0f32..2.0];
            prop_oneof![
                12 => (0u32..3, 0u64..150, proptest::collection::vec(score, 2..=4))
                    .prop_map(|(body, advance_ms, scores)| Op::Scores { body, advance_ms, scores }),
                2 => (0u32..3, 0u64..150).prop_map(|(body, advance_ms)| Op::Unknown { body, advance_ms }),
                1 => (0u32..3).prop_map(|body| Op::Remove { body }),
            ]
        }

        proptest! {
            #[test]
            fn events_pair_up_per_body(config in config(), ops in proptest::collection::vec(op(), 0..200)) {
                let mut decisions = Decisions::<2, 4, 4>::new(config, &ACTIONS).unwrap();
                let mut events = Vec::new();
                let mut now_ms = 0;
                for op in &ops {
                    // Refusals (wrong length, NaN, no free slot) are fine; panics are not.
                    let _ = match op {
                        Op::Scores { body, advance_ms, scores } => {
                            now_ms += advance_ms;
                            decisions.update(*body, now_ms * MS, scores, |e| events.push(e))
                        }
                        Op::Unknown { body, advance_ms } => {
                            now_ms += advance_ms;
                            decisions.update_unknown(*body, now_ms * MS, |e| events.push(e))
                        }
                        Op::Remove { body } => {
                            decisions.remove(*body, |e| events.push(e));
                            Ok(())
                        }
                    };
                }
                decisions.remove_all(|e| events.push(e));

                let mut open: BTreeMap<u32, Event> = BTreeMap::new();
                for e in &events {
                    prop_assert!(e.start_us <= e.end_us, "{e:?}");
                    prop_assert!((0.0..=1.0).contains(&e.confidence), "{e:?}");
                    prop_assert_eq!(e.action_id == Event::UNKNOWN, e.label_index == Event::UNKNOWN);
                    if e.label_index == Event::UNKNOWN {
                        prop_assert!(config.emit_unknown);
                    } else {
                        prop_assert_eq!(e.action_id, ACTIONS[usize::from(e.label_index)]);
                    }
                    match e.phase {
                        EventPhase::Begin => {
                            prop_assert!(e.end_us - e.start_us >= config.min_duration_us, "{e:?}");
                            prop_assert!(open.insert(e.body_id, *e).is_none(), "two Begins for body {}", e.body_id);
                        }
                        EventPhase::End => {
                            let begin = open.remove(&e.body_id);
                            prop_assert!(begin.is_some(), "End without Begin: {e:?}");
                            let begin = begin.unwrap_or(*e);
                            prop_assert_eq!(begin.start_us, e.start_us);
                            prop_assert_eq!(begin.label_index, e.label_index);
                            prop_assert!(e.end_us >= begin.end_us);
                            prop_assert!(e.confidence >= begin.confidence);
                        }
                    }
                }
                // Everything was removed at the end, so every Begin has its End.
                prop_assert!(open.is_empty(), "unclosed: {open:?}");
            }
        }
    }
}
