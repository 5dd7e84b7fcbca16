//! Per-body tracks: a bounded set of ring buffers of poses, one per body id, aligned frame by frame.
//!
//! Every sensor frame advances every track that holds history by exactly one slot, present or absent, so the
//! newest slot of every track is always the same sensor frame. That is what lets [`crate::window`] pair a body
//! with its partner by counting back from the newest slot, without comparing timestamps.
//!
//! Rules (defaults in [`TrackConfig`]):
//! - A sequence gap of `g` frames (the sensor's sequence number jumps by `g`) inserts `g - 1` absent slots.
//! - A track whose body has been missing for more than `max_gap_frames` consecutive frames (seen frames, dropped
//!   frames, or both) loses its history; it keeps its [`TrackId`] and starts afresh when the body comes back.
//! - A track whose body has not been seen for `timeout_us` of sensor time is evicted and its slot freed.
//! - When every slot holds a live track, a new body is refused and counted; live tracks are never evicted for it.
//! - A body is *due* for a window when it is present in the newest frame, its history spans at least
//!   `min_frames` frames, and `stride_frames` frames have passed since [`Tracks::mark_inferred`].

use crate::skeleton::Pose;

/// Identifies one track for as long as it lives. A body that comes back after its track was evicted gets a new id,
/// so per-body state downstream (smoothing, open events) can tell the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrackId {
    slot: u32,
    serial: u32,
}

impl TrackId {
    /// Index of the storage slot this track occupies.
    pub fn slot(self) -> usize {
        self.slot as usize
    }

    /// Creation number of the track, unique within one [`Tracks`] until it wraps after 2^32 tracks.
    pub fn serial(self) -> u32 {
        self.serial
    }
}

/// Settings of [`Tracks`]. `Default` suits a 30 Hz sensor and 64-frame rings; see [`TrackConfig::for_frames`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrackConfig {
    /// Most consecutive frames a body may be missing (not seen, or dropped on the link) while its history is kept.
    /// Default 10 (a third of a second at 30 Hz; preprocessing interpolates across such gaps).
    pub max_gap_frames: u32,
    /// Sensor time without seeing a body after which its track is evicted. Default 1 000 000 µs (1 s).
    pub timeout_us: u64,
    /// Frames between two windows of the same body. Default 8. Must be at least 1.
    pub stride_frames: u32,
    /// Fewest frames, from the first present frame to the newest, before a body's window is due.
    /// Default half the ring length (32 for 64 frames). Must be in `1..=FRAMES`.
    pub min_frames: usize,
}

impl TrackConfig {
    /// The defaults for rings of `frames` frames (`min_frames = frames / 2`, at least 1).
    pub const fn for_frames(frames: usize) -> Self {
        TrackConfig {
            max_gap_frames: 10,
            timeout_us: 1_000_000,
            stride_frames: 8,
            min_frames: if frames >= 2 { frames / 2 } else { 1 },
        }
    }
}

impl Default for TrackConfig {
    /// The defaults for the default ring length of 64 frames.
    fn default() -> Self {
        TrackConfig::for_frames(64)
    }
}

/// Why a track operation failed. Nothing is changed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrackError {
    /// The frame repeats the previous frame's sequence number; it was ignored.
    DuplicateSequence { sequence: u32 },
    /// The [`TrackId`] names a track that has been evicted (or never existed).
    UnknownTrack,
    /// `stride_frames` is 0, `timeout_us` is 0, the history is not in `1..=FRAMES`, or `min_frames` is not in
    /// `1..=history`.
    InvalidConfig,
}

impl core::fmt::Display for TrackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TrackError::DuplicateSequence { sequence } => {
                write!(f, "frame {sequence} repeats the previous sequence number")
            }
            TrackError::UnknownTrack => f.write_str("no such track (it was evicted)"),
            TrackError::InvalidConfig => {
                f.write_str("invalid track config: stride and timeout must be > 0, history in 1..=FRAMES, min_frames in 1..=history")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TrackError {}

/// What one [`Tracks::push_frame`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameReport {
    /// Frames the sequence number skipped before this one.
    pub dropped_frames: u32,
    /// Bodies that got a new track.
    pub new_tracks: u8,
    /// Bodies refused because every slot holds a live track.
    pub refused_bodies: u8,
    /// Bodies whose id appeared a second time in the frame (the repeat is ignored).
    pub duplicate_bodies: u8,
    /// Tracks evicted (timed out, or dropped because the sensor clock went backwards).
    pub evicted: u8,
    /// Tracks whose history was cleared by a long gap.
    pub resets: u8,
    /// The sensor clock went backwards (a sensor restart): every track was evicted first.
    pub clock_restart: bool,
}

impl FrameReport {
    /// Adds `other` (the report of a later grid frame of the same sensor frame) to this one.
    pub fn merge(&mut self, other: &FrameReport) {
        self.dropped_frames = self.dropped_frames.saturating_add(other.dropped_frames);
        self.new_tracks = self.new_tracks.saturating_add(other.new_tracks);
        self.refused_bodies = self.refused_bodies.saturating_add(other.refused_bodies);
        self.duplicate_bodies = self.duplicate_bodies.saturating_add(other.duplicate_bodies);
        self.evicted = self.evicted.saturating_add(other.evicted);
        self.resets = self.resets.saturating_add(other.resets);
        self.clock_restart |= other.clock_restart;
    }
}

/// Counters over the lifetime of one [`Tracks`]. They wrap rather than panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TracksCounters {
    /// Frames accepted by [`Tracks::push_frame`].
    pub frames: u32,
    /// Frames the sequence numbers skipped.
    pub dropped_frames: u32,
    /// Sequence gaps (a jump of more than one).
    pub sequence_gaps: u32,
    /// Sequence numbers that went backwards (sensor restart); every history was cleared.
    pub sequence_restarts: u32,
    /// Frames refused as repeats of the previous sequence number.
    pub duplicate_sequences: u32,
    /// Sensor clock restarts (timestamp went backwards); every track was evicted.
    pub clock_restarts: u32,
    pub tracks_created: u32,
    pub tracks_evicted: u32,
    /// Bodies refused because every slot held a live track.
    pub bodies_refused: u32,
    /// Repeated body ids within one frame.
    pub duplicate_bodies: u32,
}

/// Counters of one track.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrackCounters {
    /// Frames in which the body was present.
    pub frames_seen: u32,
    /// Frames in which the body was missing while the track held history (absent slots written).
    pub frames_missing: u32,
    /// Sequence gaps that happened while this track was alive.
    pub sequence_gaps: u32,
    /// Frames those gaps dropped.
    pub dropped_frames: u32,
    /// Times the history was cleared by a gap longer than `max_gap_frames`.
    pub resets: u32,
}

/// One slot of a track, as [`Track::frame`] returns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackFrame<'a> {
    /// The body's pose, or `None` when it was missing in this frame.
    pub pose: Option<&'a Pose>,
    /// Sensor time of the frame. For frames the link dropped it is interpolated between its neighbours.
    pub timestamp_us: u64,
}

/// The ring buffer of one body. Slot 0 back is the newest frame.
#[derive(Clone, Debug)]
pub struct Track<const FRAMES: usize> {
    active: bool,
    id: TrackId,
    body_id: u32,
    poses: [Pose; FRAMES],
    present: [bool; FRAMES],
    timestamps_us: [u64; FRAMES],
    /// Ring index of the newest slot (meaningless while `len == 0`).
    newest: usize,
    /// Slots of history held, at most `capacity`.
    len: usize,
    /// Slots of the ring in use (`1..=FRAMES`): the history length the device was configured with at run time.
    capacity: usize,
    last_seen_us: u64,
    /// Consecutive frames the body has been missing since it was last seen.
    missing_run: u32,
    frames_since_window: u32,
    counters: TrackCounters,
}

impl<const FRAMES: usize> Track<FRAMES> {
    fn empty(capacity: usize) -> Self {
        Track {
            capacity,
            active: false,
            id: TrackId { slot: 0, serial: 0 },
            body_id: 0,
            poses: [Pose::MISSING; FRAMES],
            present: [false; FRAMES],
            timestamps_us: [0; FRAMES],
            newest: 0,
            len: 0,
            last_seen_us: 0,
            missing_run: 0,
            frames_since_window: 0,
            counters: TrackCounters::default(),
        }
    }

    /// Re-initialises this slot in place for a new body (no large temporaries on the stack).
    fn start(&mut self, id: TrackId, body_id: u32, timestamp_us: u64, stride: u32) {
        self.active = true;
        self.id = id;
        self.body_id = body_id;
        self.len = 0;
        self.newest = 0;
        self.last_seen_us = timestamp_us;
        self.missing_run = 0;
        self.frames_since_window = stride;
        self.counters = TrackCounters::default();
    }

    fn clear_history(&mut self, stride: u32) {
        self.len = 0;
        // The first window after a reset runs as soon as enough history has built up again.
        self.frames_since_window = stride;
        self.counters.resets = self.counters.resets.wrapping_add(1);
    }

    fn push(&mut self, pose: Option<&Pose>, timestamp_us: u64) {
        self.newest = if self.len == 0 { 0 } else { (self.newest + 1) % self.capacity };
        self.present[self.newest] = pose.is_some();
        if let Some(pose) = pose {
            self.poses[self.newest] = *pose;
        }
        self.timestamps_us[self.newest] = timestamp_us;
        self.len = (self.len + 1).min(self.capacity);
        self.frames_since_window = self.frames_since_window.saturating_add(1);
    }

    /// Records one missing frame; clears the history when the body has been missing too long.
    /// Returns true when it cleared the history.
    fn push_missing(&mut self, timestamp_us: u64, config: &TrackConfig) -> bool {
        if self.len == 0 {
            return false;
        }
        self.missing_run = self.missing_run.saturating_add(1);
        if self.missing_run > config.max_gap_frames {
            self.clear_history(config.stride_frames);
            return true;
        }
        self.counters.frames_missing = self.counters.frames_missing.wrapping_add(1);
        self.push(None, timestamp_us);
        false
    }

    pub fn id(&self) -> TrackId {
        self.id
    }

    /// The body id the sensor sent.
    pub fn body_id(&self) -> u32 {
        self.body_id
    }

    /// Frames of history held (present or absent), at most the configured history. Zero after a reset until the
    /// body returns.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sensor time at which the body was last present.
    pub fn last_seen_us(&self) -> u64 {
        self.last_seen_us
    }

    pub fn counters(&self) -> TrackCounters {
        self.counters
    }

    /// The frame `back` frames before the newest (0 = newest), or `None` beyond the history.
    pub fn frame(&self, back: usize) -> Option<TrackFrame<'_>> {
        if back >= self.len {
            return None;
        }
        let index = (self.newest + self.capacity - back) % self.capacity;
        let pose = if self.present[index] { Some(&self.poses[index]) } else { None };
        Some(TrackFrame { pose, timestamp_us: self.timestamps_us[index] })
    }

    /// Whether the body is present in the newest frame.
    pub fn present_now(&self) -> bool {
        self.len > 0 && self.present[self.newest]
    }

    /// Frames from the oldest present frame in the history to the newest frame (0 when none is present).
    /// This is the length of the window [`crate::window::extract`] would build.
    pub fn span(&self) -> usize {
        (0..self.len).rev().find(|&back| self.frame(back).is_some_and(|f| f.pose.is_some())).map_or(0, |b| b + 1)
    }
}

/// A bounded set of tracks: at most `TRACKS` bodies, `FRAMES` frames of history each.
///
/// Memory is fixed at construction, about `TRACKS × FRAMES × 340` bytes (87 kB with the defaults); nothing
/// allocates afterwards.
#[derive(Clone, Debug)]
pub struct Tracks<const TRACKS: usize = 4, const FRAMES: usize = 64> {
    config: TrackConfig,
    slots: [Track<FRAMES>; TRACKS],
    last_sequence: Option<u32>,
    last_timestamp_us: u64,
    next_serial: u32,
    counters: TracksCounters,
}

impl<const TRACKS: usize, const FRAMES: usize> Tracks<TRACKS, FRAMES> {
    /// Empty tracks that keep `FRAMES` frames of history each. Fails with [`TrackError::InvalidConfig`] when the
    /// config cannot work with `FRAMES`.
    pub fn new(config: TrackConfig) -> Result<Self, TrackError> {
        Self::with_history(config, FRAMES)
    }

    /// Empty tracks that keep `history_frames` (`1..=FRAMES`) frames of history each: the storage is sized at
    /// compile time for the longest history a build supports, and the history a model needs is chosen at run
    /// time, so that one build serves every model without a copy of the code per length.
    pub fn with_history(config: TrackConfig, history_frames: usize) -> Result<Self, TrackError> {
        let history_ok = (1..=FRAMES).contains(&history_frames);
        let config_ok = config.stride_frames > 0 && config.timeout_us > 0 && config.min_frames > 0;
        if !history_ok || !config_ok || config.min_frames > history_frames {
            return Err(TrackError::InvalidConfig);
        }
        Ok(Self::empty(config, history_frames))
    }

    /// Empty tracks with [`TrackConfig::for_frames`]`(FRAMES)`, which is always valid.
    pub fn with_defaults() -> Self {
        Self::empty(TrackConfig::for_frames(FRAMES), FRAMES)
    }

    fn empty(config: TrackConfig, history_frames: usize) -> Self {
        const { assert!(FRAMES > 0, "a track needs at least one frame of history") };
        Tracks {
            config,
            slots: core::array::from_fn(|_| Track::empty(history_frames)),
            last_sequence: None,
            last_timestamp_us: 0,
            next_serial: 0,
            counters: TracksCounters::default(),
        }
    }

    pub fn config(&self) -> &TrackConfig {
        &self.config
    }

    pub fn counters(&self) -> TracksCounters {
        self.counters
    }

    /// Tracks currently alive (with or without history).
    pub fn active_count(&self) -> usize {
        self.slots.iter().filter(|t| t.active).count()
    }

    /// Every live track.
    pub fn iter(&self) -> impl Iterator<Item = &Track<FRAMES>> + '_ {
        self.slots.iter().filter(|t| t.active)
    }

    /// The track `id`, unless it has been evicted.
    pub fn get(&self, id: TrackId) -> Option<&Track<FRAMES>> {
        self.slots.get(id.slot()).filter(|t| t.active && t.id == id)
    }

    /// The live track of the sensor's body `body_id`.
    pub fn find_body(&self, body_id: u32) -> Option<TrackId> {
        self.iter().find(|t| t.body_id == body_id).map(|t| t.id)
    }

    /// Adds one sensor frame: `bodies` yields each body's wire id and pose in the model layout.
    ///
    /// Every track with history advances by one slot (present for the bodies in `bodies`, absent for the rest),
    /// after the absent slots of any sequence gap. A repeated sequence number is refused with
    /// [`TrackError::DuplicateSequence`] and changes nothing else; every other problem (refused or repeated
    /// bodies, resets, evictions) is reported in the [`FrameReport`] and counted.
    pub fn push_frame<'p, I>(&mut self, sequence: u32, timestamp_us: u64, bodies: I) -> Result<FrameReport, TrackError>
    where
        I: IntoIterator<Item = (u32, &'p Pose)>,
    {
        let mut report = FrameReport::default();
        let previous = self.last_sequence.map(|last| (last, self.last_timestamp_us));
        if let Some((last, _)) = previous {
            if sequence == last {
                self.counters.duplicate_sequences = self.counters.duplicate_sequences.wrapping_add(1);
                return Err(TrackError::DuplicateSequence { sequence });
            }
        }
        self.counters.frames = self.counters.frames.wrapping_add(1);

        if let Some((last_sequence, last_timestamp)) = previous {
            if timestamp_us < last_timestamp {
                // A sensor restart: ids, clock and sequence all start over, so nothing held is comparable any more
                // and the sequence step means nothing.
                self.evict_where(&mut report, |_| true);
                report.clock_restart = true;
                self.counters.clock_restarts = self.counters.clock_restarts.wrapping_add(1);
            } else {
                self.evict_timed_out(timestamp_us, &mut report);
                let step = sequence.wrapping_sub(last_sequence);
                self.account_sequence_step(step, last_timestamp, timestamp_us, &mut report);
            }
        }

        let mut written = [false; TRACKS];
        for (body_id, pose) in bodies {
            self.place_body(body_id, pose, timestamp_us, &mut written, &mut report);
        }
        for (slot, track) in self.slots.iter_mut().enumerate() {
            if track.active && !written[slot] && track.push_missing(timestamp_us, &self.config) {
                report.resets = report.resets.saturating_add(1);
            }
        }

        self.last_sequence = Some(sequence);
        self.last_timestamp_us = timestamp_us;
        Ok(report)
    }

    fn account_sequence_step(&mut self, step: u32, last_timestamp: u64, timestamp_us: u64, report: &mut FrameReport) {
        if step > i32::MAX as u32 {
            // The sequence number went backwards: treat it as an unbounded gap.
            self.counters.sequence_restarts = self.counters.sequence_restarts.wrapping_add(1);
            for track in self.slots.iter_mut().filter(|t| t.active && t.len > 0) {
                track.clear_history(self.config.stride_frames);
                report.resets = report.resets.saturating_add(1);
            }
        } else if step > 1 {
            report.dropped_frames = step - 1;
            self.counters.sequence_gaps = self.counters.sequence_gaps.wrapping_add(1);
            self.counters.dropped_frames = self.counters.dropped_frames.wrapping_add(step - 1);
            self.insert_dropped(step - 1, last_timestamp, timestamp_us, report);
        }
    }

    fn place_body(
        &mut self,
        body_id: u32,
        pose: &Pose,
        timestamp_us: u64,
        written: &mut [bool; TRACKS],
        report: &mut FrameReport,
    ) {
        let slot = match self.slots.iter().position(|t| t.active && t.body_id == body_id) {
            Some(slot) => slot,
            None => match self.slots.iter().position(|t| !t.active) {
                Some(slot) => {
                    let id = TrackId { slot: slot as u32, serial: self.next_serial };
                    self.next_serial = self.next_serial.wrapping_add(1);
                    self.slots[slot].start(id, body_id, timestamp_us, self.config.stride_frames);
                    self.counters.tracks_created = self.counters.tracks_created.wrapping_add(1);
                    report.new_tracks = report.new_tracks.saturating_add(1);
                    slot
                }
                None => {
                    // Timed-out tracks were evicted at the start of the frame, so every slot is live: refuse.
                    self.counters.bodies_refused = self.counters.bodies_refused.wrapping_add(1);
                    report.refused_bodies = report.refused_bodies.saturating_add(1);
                    return;
                }
            },
        };
        if written[slot] {
            self.counters.duplicate_bodies = self.counters.duplicate_bodies.wrapping_add(1);
            report.duplicate_bodies = report.duplicate_bodies.saturating_add(1);
            return;
        }
        written[slot] = true;
        let track = &mut self.slots[slot];
        track.push(Some(pose), timestamp_us);
        track.missing_run = 0;
        track.last_seen_us = timestamp_us;
        track.counters.frames_seen = track.counters.frames_seen.wrapping_add(1);
    }

    fn insert_dropped(&mut self, dropped: u32, last_timestamp: u64, timestamp_us: u64, report: &mut FrameReport) {
        for track in self.slots.iter_mut().filter(|t| t.active) {
            track.counters.sequence_gaps = track.counters.sequence_gaps.wrapping_add(1);
            track.counters.dropped_frames = track.counters.dropped_frames.wrapping_add(dropped);
            if track.len == 0 {
                continue;
            }
            if track.missing_run.saturating_add(dropped) > self.config.max_gap_frames {
                track.missing_run = track.missing_run.saturating_add(dropped);
                track.clear_history(self.config.stride_frames);
                report.resets = report.resets.saturating_add(1);
                continue;
            }
            for k in 1..=dropped {
                let estimate = interpolate_timestamp(last_timestamp, timestamp_us, k, dropped + 1);
                // Cannot clear the history: the run stays within max_gap_frames (checked above).
                track.push_missing(estimate, &self.config);
            }
        }
    }

    fn evict_timed_out(&mut self, timestamp_us: u64, report: &mut FrameReport) {
        let timeout = self.config.timeout_us;
        self.evict_where(report, |t| timestamp_us.saturating_sub(t.last_seen_us) >= timeout);
    }

    fn evict_where(&mut self, report: &mut FrameReport, mut condition: impl FnMut(&Track<FRAMES>) -> bool) {
        for track in self.slots.iter_mut() {
            if track.active && condition(track) {
                track.active = false;
                track.len = 0;
                self.counters.tracks_evicted = self.counters.tracks_evicted.wrapping_add(1);
                report.evicted = report.evicted.saturating_add(1);
            }
        }
    }

    /// Whether `id` is due for a window now.
    pub fn is_due(&self, id: TrackId) -> bool {
        self.get(id).is_some_and(|t| self.track_is_due(t))
    }

    fn track_is_due(&self, track: &Track<FRAMES>) -> bool {
        track.present_now()
            && track.frames_since_window >= self.config.stride_frames
            && track.span() >= self.config.min_frames
    }

    /// The tracks due for a window now, in slot order. A due track stays due until [`Tracks::mark_inferred`].
    pub fn due(&self) -> impl Iterator<Item = TrackId> + '_ {
        self.iter().filter(|t| self.track_is_due(t)).map(|t| t.id)
    }

    /// Records that a window of `id` was run (or deliberately skipped): the next is due `stride_frames` later.
    pub fn mark_inferred(&mut self, id: TrackId) -> Result<(), TrackError> {
        match self.slots.get_mut(id.slot()) {
            Some(track) if track.active && track.id == id => {
                track.frames_since_window = 0;
                Ok(())
            }
            _ => Err(TrackError::UnknownTrack),
        }
    }
}

/// Sensor time of the `k`-th of `parts - 1` dropped frames between two received frames, assuming an even rate.
fn interpolate_timestamp(from: u64, to: u64, k: u32, parts: u32) -> u64 {
    let span = to.saturating_sub(from) as u128;
    from.saturating_add((span * k as u128 / parts.max(1) as u128) as u64)
}

#[cfg(test)]
// Tests may panic on a broken invariant: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;

    use super::*;
    use crate::skeleton::joint;
    use std::vec::Vec;

    const MS: u64 = 1000;
    /// 30 Hz frame period in µs (rounded).
    const PERIOD: u64 = 33_333;

    fn pose(marker: f32) -> Pose {
        let mut p = Pose::MISSING;
        p.joints[joint::SPINE_MID] = [marker, 0.0, 2.0];
        p.valid[joint::SPINE_MID] = true;
        p
    }

    fn marker(frame: TrackFrame<'_>) -> Option<f32> {
        frame.pose.map(|p| p.joints[joint::SPINE_MID][0])
    }

    fn config() -> TrackConfig {
        TrackConfig { max_gap_frames: 3, timeout_us: 200 * MS, stride_frames: 4, min_frames: 4 }
    }

    type Small = Tracks<2, 8>;

    #[test]
    fn defaults_are_documented_values() {
        let c = TrackConfig::default();
        assert_eq!((c.max_gap_frames, c.timeout_us, c.stride_frames, c.min_frames), (10, 1_000_000, 8, 32));
        assert_eq!(TrackConfig::for_frames(120).min_frames, 60);
        assert_eq!(TrackConfig::for_frames(1).min_frames, 1);
    }

    #[test]
    fn invalid_configs_are_refused() {
        for bad in [
            TrackConfig { stride_frames: 0, ..config() },
            TrackConfig { timeout_us: 0, ..config() },
            TrackConfig { min_frames: 0, ..config() },
            TrackConfig { min_frames: 9, ..config() },
        ] {
            assert_eq!(Small::new(bad).err(), Some(TrackError::InvalidConfig));
        }
        assert!(Small::new(TrackConfig { min_frames: 8, ..config() }).is_ok());
        assert_eq!(Small::with_history(config(), 9).err(), Some(TrackError::InvalidConfig));
        assert_eq!(Small::with_history(config(), 3).err(), Some(TrackError::InvalidConfig));
    }

    #[test]
    fn a_shorter_history_than_the_storage_behaves_like_a_ring_of_that_length() {
        fn push<const N: usize>(tracks: &mut Tracks<2, N>, n: u32) {
            for i in 0..n {
                let mut pose = Pose::MISSING;
                pose.joints[joint::SPINE_MID] = [i as f32, 0.0, 2.5];
                pose.valid[joint::SPINE_MID] = true;
                tracks.push_frame(i, u64::from(i) * 33 * MS, [(7, &pose)]).unwrap();
            }
        }
        let mut short = Tracks::<2, 8>::with_history(config(), 5).unwrap();
        let mut exact = Tracks::<2, 5>::new(config()).unwrap();
        push(&mut short, 12);
        push(&mut exact, 12);
        let (s, e) = (short.iter().next().unwrap(), exact.iter().next().unwrap());
        assert_eq!(s.len(), 5);
        assert_eq!(s.len(), e.len());
        for back in 0..6 {
            assert_eq!(s.frame(back).and_then(marker), e.frame(back).and_then(marker), "{back} frames back");
        }
    }

    #[test]
    fn rings_keep_the_newest_frames_in_order() {
        let mut tracks = Small::new(config()).unwrap();
        for seq in 0..11u32 {
            tracks.push_frame(seq, seq as u64 * PERIOD, [(7, &pose(seq as f32))]).unwrap();
        }
        let id = tracks.find_body(7).unwrap();
        let track = tracks.get(id).unwrap();
        assert_eq!(track.len(), 8);
        let markers: Vec<_> = (0..8).map(|b| marker(track.frame(b).unwrap()).unwrap()).collect();
        assert_eq!(markers, [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]);
        assert_eq!(track.frame(0).unwrap().timestamp_us, 10 * PERIOD);
        assert!(track.frame(8).is_none());
        assert_eq!(track.counters().frames_seen, 11);
    }

    #[test]
    fn absent_bodies_get_placeholders_and_stay_aligned() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(0, 0, [(1, &pose(0.0)), (2, &pose(100.0))]).unwrap();
        tracks.push_frame(1, PERIOD, [(1, &pose(1.0))]).unwrap();
        tracks.push_frame(2, 2 * PERIOD, [(1, &pose(2.0)), (2, &pose(102.0))]).unwrap();
        let two = tracks.get(tracks.find_body(2).unwrap()).unwrap();
        assert_eq!(two.len(), 3);
        assert_eq!(marker(two.frame(0).unwrap()), Some(102.0));
        assert_eq!(marker(two.frame(1).unwrap()), None);
        assert_eq!(two.frame(1).unwrap().timestamp_us, PERIOD);
        assert_eq!(marker(two.frame(2).unwrap()), Some(100.0));
        assert_eq!(two.counters().frames_missing, 1);
    }

    #[test]
    fn a_sequence_gap_inserts_absent_frames_with_interpolated_times() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(10, 1000, [(1, &pose(0.0))]).unwrap();
        // Sequence 11 and 12 were lost on the link: a gap of g = 3 inserts 2 absent slots.
        let report = tracks.push_frame(13, 1300, [(1, &pose(3.0))]).unwrap();
        assert_eq!(report.dropped_frames, 2);
        let t = tracks.get(tracks.find_body(1).unwrap()).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(marker(t.frame(0).unwrap()), Some(3.0));
        assert_eq!((marker(t.frame(1).unwrap()), t.frame(1).unwrap().timestamp_us), (None, 1200));
        assert_eq!((marker(t.frame(2).unwrap()), t.frame(2).unwrap().timestamp_us), (None, 1100));
        assert_eq!(marker(t.frame(3).unwrap()), Some(0.0));
        assert_eq!((t.counters().sequence_gaps, t.counters().dropped_frames), (1, 2));
        assert_eq!((tracks.counters().sequence_gaps, tracks.counters().dropped_frames), (1, 2));
    }

    #[test]
    fn a_gap_longer_than_max_gap_resets_history_but_keeps_the_track() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(0, 0, [(1, &pose(0.0))]).unwrap();
        tracks.push_frame(1, PERIOD, [(1, &pose(1.0))]).unwrap();
        let id = tracks.find_body(1).unwrap();
        // Exactly max_gap_frames (3) dropped frames are bridged...
        tracks.push_frame(5, 5 * PERIOD, [(1, &pose(5.0))]).unwrap();
        assert_eq!(tracks.get(id).unwrap().len(), 6);
        // ...one more is not.
        let report = tracks.push_frame(10, 10 * PERIOD, [(1, &pose(10.0))]).unwrap();
        assert_eq!(report.resets, 1);
        let t = tracks.get(id).unwrap();
        assert_eq!((t.len(), marker(t.frame(0).unwrap())), (1, Some(10.0)));
        assert_eq!(t.counters().resets, 1);
    }

    #[test]
    fn a_body_missing_longer_than_max_gap_resets_history() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(0, 0, [(1, &pose(0.0))]).unwrap();
        let id = tracks.find_body(1).unwrap();
        let none: [(u32, &Pose); 0] = [];
        for seq in 1..=3 {
            tracks.push_frame(seq, seq as u64 * PERIOD, none).unwrap();
        }
        assert_eq!(tracks.get(id).unwrap().len(), 4);
        let report = tracks.push_frame(4, 4 * PERIOD, none).unwrap();
        assert_eq!(report.resets, 1);
        assert_eq!(tracks.get(id).unwrap().len(), 0);
        // While empty the track does not advance; the body starts afresh when it returns.
        tracks.push_frame(5, 5 * PERIOD, none).unwrap();
        assert_eq!(tracks.get(id).unwrap().len(), 0);
        tracks.push_frame(6, 6 * PERIOD, [(1, &pose(6.0))]).unwrap();
        assert_eq!(tracks.find_body(1), Some(id));
        assert_eq!(tracks.get(id).unwrap().len(), 1);
    }

    #[test]
    fn unseen_tracks_time_out_and_free_their_slot() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(0, 0, [(1, &pose(0.0)), (2, &pose(0.0))]).unwrap();
        let one = tracks.find_body(1).unwrap();
        // Body 2 keeps being seen; body 1 not. Just under the timeout it is still there.
        let mut seq = 1;
        let mut t = 0;
        while t + PERIOD < 200 * MS {
            t += PERIOD;
            tracks.push_frame(seq, t, [(2, &pose(0.0))]).unwrap();
            seq += 1;
        }
        assert!(tracks.get(one).is_some());
        let report = tracks.push_frame(seq, 200 * MS, [(2, &pose(0.0)), (3, &pose(0.0))]).unwrap();
        assert_eq!((report.evicted, report.new_tracks, report.refused_bodies), (1, 1, 0));
        assert!(tracks.get(one).is_none());
        assert_eq!(tracks.find_body(1), None);
        let three = tracks.find_body(3).unwrap();
        assert_eq!(three.slot(), one.slot());
        assert_ne!(three, one);
        assert_eq!(tracks.mark_inferred(one), Err(TrackError::UnknownTrack));
    }

    #[test]
    fn a_new_body_is_refused_while_every_track_is_live() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(0, 0, [(1, &pose(0.0)), (2, &pose(0.0))]).unwrap();
        let report = tracks.push_frame(1, PERIOD, [(1, &pose(0.0)), (3, &pose(0.0))]).unwrap();
        assert_eq!(report.refused_bodies, 1);
        assert_eq!(tracks.find_body(3), None);
        assert_eq!(tracks.counters().bodies_refused, 1);
        assert_eq!(tracks.active_count(), 2);
    }

    #[test]
    fn repeated_sequence_numbers_and_body_ids_are_refused() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(5, 0, [(1, &pose(0.0))]).unwrap();
        let before = tracks.get(tracks.find_body(1).unwrap()).unwrap().len();
        assert_eq!(tracks.push_frame(5, PERIOD, [(1, &pose(9.0))]), Err(TrackError::DuplicateSequence { sequence: 5 }));
        assert_eq!(tracks.get(tracks.find_body(1).unwrap()).unwrap().len(), before);
        let report = tracks.push_frame(6, PERIOD, [(1, &pose(1.0)), (1, &pose(2.0))]).unwrap();
        assert_eq!(report.duplicate_bodies, 1);
        let t = tracks.get(tracks.find_body(1).unwrap()).unwrap();
        assert_eq!((t.len(), marker(t.frame(0).unwrap())), (2, Some(1.0)));
    }

    #[test]
    fn sequence_wrap_is_a_normal_step_and_a_backward_jump_resets() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(u32::MAX, 0, [(1, &pose(0.0))]).unwrap();
        let report = tracks.push_frame(0, PERIOD, [(1, &pose(1.0))]).unwrap();
        assert_eq!((report.dropped_frames, report.resets), (0, 0));
        let report = tracks.push_frame(1, 2 * PERIOD, [(1, &pose(2.0))]).unwrap();
        assert_eq!(report.resets, 0);
        assert_eq!(tracks.get(tracks.find_body(1).unwrap()).unwrap().len(), 3);
        // A sensor that restarts its counter (but not its clock) loses the history, not the track.
        let report = tracks.push_frame(0, 3 * PERIOD, [(1, &pose(3.0))]).unwrap();
        assert_eq!((report.resets, report.dropped_frames), (1, 0));
        assert_eq!(tracks.get(tracks.find_body(1).unwrap()).unwrap().len(), 1);
        assert_eq!(tracks.counters().sequence_restarts, 1);
    }

    #[test]
    fn a_clock_that_goes_backwards_evicts_everything() {
        let mut tracks = Small::new(config()).unwrap();
        tracks.push_frame(100, 10 * PERIOD, [(1, &pose(0.0))]).unwrap();
        let old = tracks.find_body(1).unwrap();
        // The sequence jump means nothing after a restart: no dropped frames are counted.
        let report = tracks.push_frame(200, 0, [(1, &pose(0.0))]).unwrap();
        assert!(report.clock_restart);
        assert_eq!((report.evicted, report.dropped_frames), (1, 0));
        assert_eq!(tracks.counters().dropped_frames, 0);
        assert_ne!(tracks.find_body(1), Some(old));
    }

    #[test]
    fn default_tracks_use_the_documented_config() {
        let tracks = Tracks::<4, 64>::with_defaults();
        assert_eq!(*tracks.config(), TrackConfig::default());
        assert_eq!(tracks.active_count(), 0);
    }

    #[test]
    fn windows_are_due_after_min_frames_then_every_stride() {
        let mut tracks = Small::new(config()).unwrap();
        let mut due_at = Vec::new();
        for seq in 0..20u32 {
            tracks.push_frame(seq, seq as u64 * PERIOD, [(1, &pose(0.0))]).unwrap();
            let due: Vec<_> = tracks.due().collect();
            if let Some(&id) = due.first() {
                due_at.push(seq);
                tracks.mark_inferred(id).unwrap();
            }
        }
        // min_frames = 4 → first at frame 3; stride 4 → then every 4 frames.
        assert_eq!(due_at, [3, 7, 11, 15, 19]);
    }

    #[test]
    fn a_due_body_stays_due_until_marked_and_only_while_present() {
        let mut tracks = Small::new(config()).unwrap();
        for seq in 0..4u32 {
            tracks.push_frame(seq, seq as u64 * PERIOD, [(1, &pose(0.0))]).unwrap();
        }
        let id = tracks.find_body(1).unwrap();
        assert!(tracks.is_due(id));
        tracks.push_frame(4, 4 * PERIOD, [(2, &pose(0.0))]).unwrap();
        assert!(!tracks.is_due(id), "newest frame absent");
        tracks.push_frame(5, 5 * PERIOD, [(1, &pose(0.0))]).unwrap();
        assert!(tracks.is_due(id));
        tracks.mark_inferred(id).unwrap();
        assert!(!tracks.is_due(id));
    }

    #[test]
    fn span_starts_at_the_oldest_present_frame() {
        let mut tracks = Tracks::<1, 4>::new(TrackConfig { min_frames: 2, ..config() }).unwrap();
        let none: [(u32, &Pose); 0] = [];
        tracks.push_frame(0, 0, [(1, &pose(0.0))]).unwrap();
        tracks.push_frame(1, PERIOD, none).unwrap();
        tracks.push_frame(2, 2 * PERIOD, none).unwrap();
        tracks.push_frame(3, 3 * PERIOD, [(1, &pose(3.0))]).unwrap();
        let id = tracks.find_body(1).unwrap();
        assert_eq!(tracks.get(id).unwrap().span(), 4);
        // The present frame 0 falls out of the 4-frame ring; the oldest slots are now absent.
        tracks.push_frame(4, 4 * PERIOD, [(1, &pose(4.0))]).unwrap();
        assert_eq!(tracks.get(id).unwrap().span(), 2);
    }
}
