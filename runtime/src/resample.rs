//! Sensor frames onto the model's time grid: whatever rate a sensor runs at (15, 60, 120 Hz, or a variable rate
//! like MediaPipe's), the tracks and windows after this step see frames at the rate the model was trained at.
//!
//! The grid starts at the first frame's timestamp and has one point every model period (33 333 333 ns at 30 Hz).
//! Each grid point takes the sensor frame nearest to it in time; it is emitted as soon as the sensor frame that
//! decides it has arrived, so the step adds no delay at the sensor's own rate or above. A grid point that no sensor
//! frame is near (more than [`GridConfig::tolerance`] of the larger of the two periods away: frames lost on the
//! link, or a pause) is emitted with no bodies, which the tracks count as the body missing, as they would a dropped
//! frame. The normative description is `docs/preprocessing.md`, "Step 0: the time grid".
//!
//! Only two sensor frames are held (the previous and the incoming one), and a long silence emits at most
//! [`MAX_FILL`] grid points, the rest as one sequence gap, so nothing grows with the sensor's rate or with time.
//!
//! The sensor's rate is also checked here: the nominal rate a `Hello` announces is compared with the rate its
//! timestamps show (a running mean over consecutive frames, robust to pauses), and a disagreement beyond
//! [`GridConfig::rate_tolerance`] is counted ([`ResampleCounters::rate_mismatches`]).

use crate::skeleton::Pose;
use crate::track::TrackError;
use crate::wire::MAX_BODIES;

/// Most grid points one sensor frame emits. A longer silence emits the grid points nearest to the new frame and
/// reports the rest as a sequence gap, which the tracks already treat as frames lost (resetting a body missing for
/// longer than `max_gap_frames`).
pub const MAX_FILL: u32 = 32;

/// The training rate of every model skelact ships, in millihertz: 30 Hz, the rate of NTU RGB+D, NW-UCLA and
/// UTD-MHAD. (Bundle format 1.1 has no field for it; a model trained at another rate needs one.)
pub const MODEL_RATE_MILLIHERTZ: u32 = 30_000;

/// Settings of the [`Resampler`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GridConfig {
    /// The model's frame rate in millihertz. Default [`MODEL_RATE_MILLIHERTZ`]. Must be in 1 000..=1 000 000
    /// (1 Hz to 1 kHz).
    pub model_rate_millihertz: u32,
    /// Farthest a sensor frame may be from a grid point and still fill it, as a share of the longer of the model's
    /// and the sensor's period. Default 0.75: between two frames of a steady sensor every grid point is filled; a
    /// lost frame leaves the grid points near its time empty. Must be in 0.5..=2.
    pub tolerance: f32,
    /// Largest relative difference between the announced rate and the rate the timestamps show before it is
    /// reported. Default 0.2 (a "30 Hz" sensor delivering below 25 Hz or above 37.5 Hz).
    pub rate_tolerance: f32,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig { model_rate_millihertz: MODEL_RATE_MILLIHERTZ, tolerance: 0.75, rate_tolerance: 0.2 }
    }
}

impl GridConfig {
    fn is_valid(&self) -> bool {
        (1_000..=1_000_000).contains(&self.model_rate_millihertz)
            && (0.5..=2.0).contains(&self.tolerance)
            && self.rate_tolerance > 0.0
            && self.rate_tolerance.is_finite()
    }

    /// The model's period in nanoseconds (33 333 333 at 30 Hz): kept in nanoseconds so that a grid point's time,
    /// `origin + k × period`, does not drift by the microseconds a rounded period would add up.
    pub fn period_ns(&self) -> u64 {
        1_000_000_000_000 / u64::from(self.model_rate_millihertz.max(1))
    }
}

/// The bodies of one sensor frame, mapped into the model layout.
#[derive(Clone, Debug)]
pub struct HeldFrame {
    timestamp_us: u64,
    count: usize,
    ids: [u32; MAX_BODIES],
    poses: [Pose; MAX_BODIES],
}

impl HeldFrame {
    const EMPTY: HeldFrame =
        HeldFrame { timestamp_us: 0, count: 0, ids: [0; MAX_BODIES], poses: [Pose::MISSING; MAX_BODIES] };

    /// Forgets the bodies (the frame about to be filled).
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The next body's slot, or `None` when the frame already holds [`MAX_BODIES`] (more cannot come off the wire).
    pub fn next_slot(&mut self) -> Option<(&mut u32, &mut Pose)> {
        let i = self.count;
        Some((self.ids.get_mut(i)?, self.poses.get_mut(i)?))
    }

    /// Keeps the body just written into [`HeldFrame::next_slot`].
    pub fn commit_slot(&mut self) {
        self.count = (self.count + 1).min(MAX_BODIES);
    }

    /// The bodies, as [`crate::track::Tracks::push_frame`] takes them.
    pub fn bodies(&self) -> impl Iterator<Item = (u32, &Pose)> + '_ {
        self.ids[..self.count].iter().copied().zip(self.poses[..self.count].iter())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Counters of the [`Resampler`]. They wrap rather than panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResampleCounters {
    /// Sensor frames taken.
    pub sensor_frames: u32,
    /// Sensor frames the sequence numbers say were lost before reaching the device.
    pub sensor_frames_dropped: u32,
    /// Sensor frames refused because they repeat the previous sequence number.
    pub duplicate_sequences: u32,
    /// Grid frames emitted (each went to the tracks).
    pub grid_frames: u32,
    /// Grid frames emitted without bodies because no sensor frame was near enough.
    pub grid_frames_empty: u32,
    /// Grid points skipped over in silences longer than [`MAX_FILL`] grid points.
    pub grid_frames_skipped: u32,
    /// Times the rate the timestamps show moved outside the tolerance around the announced rate.
    pub rate_mismatches: u32,
    /// The rate the timestamps show, in millihertz (0 until two consecutive frames arrived).
    pub measured_rate_millihertz: u32,
    /// The rate the last `Hello` announced, in millihertz (0: none announced).
    pub nominal_rate_millihertz: u32,
}

/// Sensor frames in, model-rate frames out. See the module documentation.
#[derive(Clone, Debug)]
pub struct Resampler {
    config: GridConfig,
    period_ns: u64,
    /// `frames[previous]` is the last sensor frame taken; the other one is filled by the caller.
    frames: [HeldFrame; 2],
    previous: usize,
    has_previous: bool,
    last_sequence: u32,
    /// Time of grid point 0, and the index of the next grid point to emit.
    origin_us: u64,
    next_point: u64,
    /// Sequence number of the next grid frame (what the tracks see).
    grid_sequence: u32,
    /// Running mean of the interval between consecutive sensor frames, in ns (0: not yet measured).
    mean_interval_ns: u64,
    nominal_period_ns: u64,
    mismatched: bool,
    counters: ResampleCounters,
}

/// Frames between two sensor frames at which the mean interval is trusted enough to compare with the nominal rate.
const RATE_WARMUP_FRAMES: u32 = 30;

impl Resampler {
    /// A resampler onto `config`'s grid, or `None` when the config is out of range.
    pub fn new(config: GridConfig) -> Option<Self> {
        config.is_valid().then(|| Resampler {
            config,
            period_ns: config.period_ns(),
            frames: [HeldFrame::EMPTY, HeldFrame::EMPTY],
            previous: 0,
            has_previous: false,
            last_sequence: 0,
            origin_us: 0,
            next_point: 0,
            grid_sequence: 0,
            mean_interval_ns: 0,
            nominal_period_ns: 0,
            mismatched: false,
            counters: ResampleCounters::default(),
        })
    }

    pub fn config(&self) -> &GridConfig {
        &self.config
    }

    pub fn counters(&self) -> ResampleCounters {
        self.counters
    }

    /// The rate a sensor's `Hello` announced (0: unknown); the measured rate is compared with it from now on.
    pub fn set_nominal_rate(&mut self, millihertz: u32) {
        self.nominal_period_ns = if millihertz == 0 { 0 } else { 1_000_000_000_000 / u64::from(millihertz) };
        self.counters.nominal_rate_millihertz = millihertz;
        self.mismatched = false;
    }

    /// The frame to fill with the incoming sensor frame's bodies, emptied.
    pub fn incoming(&mut self) -> &mut HeldFrame {
        let frame = &mut self.frames[1 - self.previous];
        frame.clear();
        frame
    }

    /// Takes the sensor frame filled through [`Resampler::incoming`] and hands every grid frame it completes to
    /// `emit(grid_sequence, grid_time_us, bodies)`, oldest first. A repeated sequence number is refused with
    /// [`TrackError::DuplicateSequence`] and changes nothing. Errors `emit` returns are passed on after the
    /// resampler's own state is updated (the grid does not go back).
    pub fn push<E>(
        &mut self,
        sequence: u32,
        timestamp_us: u64,
        mut emit: impl FnMut(u32, u64, &HeldFrame) -> Result<(), E>,
    ) -> Result<(), ResampleError<E>> {
        if self.has_previous && sequence == self.last_sequence {
            self.counters.duplicate_sequences = self.counters.duplicate_sequences.wrapping_add(1);
            return Err(ResampleError::Track(TrackError::DuplicateSequence { sequence }));
        }
        self.counters.sensor_frames = self.counters.sensor_frames.wrapping_add(1);
        let incoming = 1 - self.previous;
        self.frames[incoming].timestamp_us = timestamp_us;
        let step = sequence.wrapping_sub(self.last_sequence);
        let restart =
            !self.has_previous || timestamp_us < self.frames[self.previous].timestamp_us || (step > i32::MAX as u32);
        let outcome = if restart {
            if self.has_previous && step > i32::MAX as u32 {
                // The sensor's sequence went backwards (it restarted): a jump the tracks read as a restart too.
                self.grid_sequence = self.grid_sequence.wrapping_add(0x8000_0001);
            }
            self.origin_us = timestamp_us;
            self.mean_interval_ns = 0;
            // Grid point 0 is this frame's own time.
            self.next_point = 1;
            self.emit_point(incoming, timestamp_us, &mut emit)
        } else {
            if step > 1 {
                self.counters.sensor_frames_dropped = self.counters.sensor_frames_dropped.wrapping_add(step - 1);
            }
            let interval_ns = (timestamp_us - self.frames[self.previous].timestamp_us).saturating_mul(1000);
            self.measure(interval_ns, step);
            self.emit_due_points(incoming, &mut emit)
        };
        self.previous = incoming;
        self.has_previous = true;
        self.last_sequence = sequence;
        outcome.map_err(ResampleError::Emit)
    }

    /// Grid point `k`'s time in µs.
    fn point_us(&self, k: u64) -> u64 {
        self.origin_us.saturating_add((u128::from(k) * u128::from(self.period_ns) / 1000) as u64)
    }

    /// The sensor's period as best known: the longer of the announced and the measured one (a sensor slower than
    /// it says must not leave grid points empty between its frames), either when only one is known, else the
    /// model's.
    fn sensor_period_ns(&self) -> u64 {
        match self.nominal_period_ns.max(self.mean_interval_ns) {
            0 => self.period_ns,
            known => known,
        }
    }

    /// Emits every grid point up to the incoming frame's time (and one just after it, when the incoming frame is
    /// already the nearest any frame can be).
    fn emit_due_points<E>(
        &mut self,
        incoming: usize,
        emit: &mut impl FnMut(u32, u64, &HeldFrame) -> Result<(), E>,
    ) -> Result<(), E> {
        let now = self.frames[incoming].timestamp_us;
        let before = self.frames[self.previous].timestamp_us;
        // A grid point up to a quarter of the shorter period ahead is decided already: no later frame can be nearer.
        let ahead_us = (self.period_ns.min(self.sensor_period_ns()) / 4000).max(1);
        let horizon = now.saturating_add(ahead_us);
        // The last grid point at or before the horizon: g(k) <= h exactly when k * P < (h - origin + 1) * 1000. Counted
        // rather than stepped to, so that a clock that jumps far ahead costs no more than one that does not.
        let last = ((u128::from(horizon.saturating_sub(self.origin_us)) + 1) * 1000 - 1) / u128::from(self.period_ns);
        let due = (last + 1).saturating_sub(u128::from(self.next_point));
        // More than fit a u32 is as many as a u32 counts (the skipped points go to u32 counters below).
        let mut due = u64::try_from(due.min(u128::from(u32::MAX) + 1)).unwrap_or(u64::MAX);
        if due > u64::from(MAX_FILL) {
            let skipped = due - u64::from(MAX_FILL);
            self.next_point += skipped;
            // The tracks see the skipped points as one sequence gap: frames lost, with their usual rules.
            self.grid_sequence = self.grid_sequence.wrapping_add(skipped as u32);
            self.counters.grid_frames_skipped = self.counters.grid_frames_skipped.wrapping_add(skipped as u32);
            due = u64::from(MAX_FILL);
        }
        let reach_us =
            (self.period_ns.max(self.sensor_period_ns()) as f64 * f64::from(self.config.tolerance) / 1000.0) as u64;
        let mut outcome = Ok(());
        for _ in 0..due {
            let t = self.point_us(self.next_point);
            let (to_before, to_now) = (t.abs_diff(before), t.abs_diff(now));
            let (frame, distance) = if to_now < to_before { (incoming, to_now) } else { (self.previous, to_before) };
            let result = if distance <= reach_us { self.emit_point(frame, t, emit) } else { self.emit_empty(t, emit) };
            outcome = outcome.and(result);
            self.next_point += 1;
        }
        outcome
    }

    fn emit_point<E>(
        &mut self,
        frame: usize,
        t: u64,
        emit: &mut impl FnMut(u32, u64, &HeldFrame) -> Result<(), E>,
    ) -> Result<(), E> {
        let sequence = self.next_grid_sequence();
        emit(sequence, t, &self.frames[frame])
    }

    fn emit_empty<E>(&mut self, t: u64, emit: &mut impl FnMut(u32, u64, &HeldFrame) -> Result<(), E>) -> Result<(), E> {
        self.counters.grid_frames_empty = self.counters.grid_frames_empty.wrapping_add(1);
        let sequence = self.next_grid_sequence();
        emit(sequence, t, &HeldFrame::EMPTY)
    }

    fn next_grid_sequence(&mut self) -> u32 {
        self.counters.grid_frames = self.counters.grid_frames.wrapping_add(1);
        let sequence = self.grid_sequence;
        self.grid_sequence = self.grid_sequence.wrapping_add(1);
        sequence
    }

    /// Updates the running mean interval from two consecutive frames (`step == 1`), ignoring pauses (an interval
    /// over four times the mean), and counts a move outside the tolerance around the announced rate.
    fn measure(&mut self, interval_ns: u64, step: u32) {
        if step != 1 || interval_ns == 0 {
            return;
        }
        if self.mean_interval_ns == 0 {
            self.mean_interval_ns = interval_ns;
        } else if interval_ns <= self.mean_interval_ns.saturating_mul(4) {
            // A mean over about the last 16 intervals: steady under jitter, quick to follow a real change.
            let mean = self.mean_interval_ns as i128 + (interval_ns as i128 - self.mean_interval_ns as i128) / 16;
            self.mean_interval_ns = mean.max(1) as u64;
        }
        self.counters.measured_rate_millihertz =
            u32::try_from(1_000_000_000_000 / self.mean_interval_ns.max(1)).unwrap_or(u32::MAX);
        if self.nominal_period_ns == 0 || self.counters.sensor_frames < RATE_WARMUP_FRAMES {
            return;
        }
        let relative =
            (self.mean_interval_ns as f64 - self.nominal_period_ns as f64).abs() / self.nominal_period_ns as f64;
        let outside = relative > f64::from(self.config.rate_tolerance);
        if outside && !self.mismatched {
            self.counters.rate_mismatches = self.counters.rate_mismatches.wrapping_add(1);
        }
        self.mismatched = outside;
    }

    /// Whether the measured rate is outside the tolerance around the announced one now.
    pub fn rate_mismatched(&self) -> bool {
        self.mismatched
    }
}

/// Why [`Resampler::push`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResampleError<E> {
    /// The sensor frame was refused (a repeated sequence number); nothing changed.
    Track(TrackError),
    /// `emit` failed for a grid frame.
    Emit(E),
}

#[cfg(test)]
// Tests may panic on a broken invariant: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;

    use super::*;
    use crate::skeleton::joint;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// One grid frame as emitted: (grid sequence, time, the marker of its body or None).
    type Emitted = (u32, u64, Option<f32>);

    fn push(r: &mut Resampler, sequence: u32, timestamp_us: u64, marker: Option<f32>) -> Vec<Emitted> {
        let held = r.incoming();
        if let Some(m) = marker {
            let (id, pose) = held.next_slot().unwrap();
            *id = 1;
            *pose = Pose::MISSING;
            pose.joints[joint::SPINE_MID] = [m, 0.0, 2.0];
            held.commit_slot();
        }
        let mut out = Vec::new();
        r.push(sequence, timestamp_us, |s, t, frame: &HeldFrame| {
            out.push((s, t, frame.bodies().next().map(|(_, p)| p.joints[joint::SPINE_MID][0])));
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    /// A stream at `hz` for `seconds`, each frame's marker its own index; every grid frame emitted.
    fn stream(r: &mut Resampler, hz: f64, seconds: f64) -> Vec<Emitted> {
        let frames = (hz * seconds) as u32;
        (0..frames).flat_map(|i| push(r, i, (f64::from(i) * 1e6 / hz).round() as u64, Some(i as f32))).collect()
    }

    fn markers(emitted: &[Emitted]) -> Vec<Option<f32>> {
        emitted.iter().map(|e| e.2).collect()
    }

    #[test]
    fn at_the_model_rate_every_frame_is_one_grid_frame_at_once() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        for i in 0..300u32 {
            let emitted = push(&mut r, i, (f64::from(i) * 1e6 / 30.0).round() as u64, Some(i as f32));
            assert_eq!(markers(&emitted), [Some(i as f32)], "frame {i} is its own grid frame, without delay");
            assert_eq!(emitted[0].0, i);
        }
        assert_eq!(r.counters().grid_frames_empty, 0);
    }

    #[test]
    fn a_slower_sensor_fills_each_grid_point_with_the_nearest_frame() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        let emitted = stream(&mut r, 15.0, 4.0);
        assert_eq!(emitted.len(), 119, "30 grid points a second over the 3.93 s the frames span");
        // Grid point k is at k/30 s, frame j at j/15 s: k = 2j is frame j, k = 2j + 1 ties and keeps the earlier.
        let expected: Vec<Option<f32>> = (0..119).map(|k| Some((k / 2) as f32)).collect();
        assert_eq!(markers(&emitted), expected);
        assert!(emitted.windows(2).all(|w| w[1].0 == w[0].0 + 1 && w[1].1 > w[0].1));
        assert_eq!(r.counters().grid_frames_empty, 0);
    }

    #[test]
    fn a_faster_sensor_gives_every_fourth_frame_at_120_hz() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        let emitted = stream(&mut r, 120.0, 4.0);
        assert_eq!(emitted.len(), 120);
        let expected: Vec<Option<f32>> = (0..120).map(|k| Some((4 * k) as f32)).collect();
        assert_eq!(markers(&emitted), expected);
        assert!(r.counters().measured_rate_millihertz.abs_diff(120_000) < 100, "{:?}", r.counters());
    }

    #[test]
    fn a_variable_rate_sensor_works_from_its_timestamps_alone() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        // MediaPipe-like: intervals of 25 to 45 ms in a fixed pseudo-random order, 10 s in all.
        let (mut t, mut emitted, mut seed) = (0u64, Vec::new(), 7u32);
        for i in 0..290u32 {
            emitted.extend(push(&mut r, i, t, Some(i as f32)));
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            t += 25_000 + u64::from(seed >> 16) % 20_001;
        }
        let span_s = r.frames[r.previous].timestamp_us as f64 / 1e6;
        // Grid points 0 to 30 × span, and one a quarter period ahead of the last frame when it is that close.
        let expected = span_s * 30.0 + 1.0;
        assert!((emitted.len() as f64 - expected).abs() <= 1.0, "{} grid frames over {span_s} s", emitted.len());
        assert_eq!(r.counters().grid_frames_empty, 0, "every grid point is within reach of a frame");
        assert!(emitted.windows(2).all(|w| w[1].2.unwrap() >= w[0].2.unwrap()), "frames keep their order");
        let measured = f64::from(r.counters().measured_rate_millihertz) / 1000.0;
        assert!((measured - 28.6).abs() < 3.0, "about 1 / 35 ms: {measured}");
    }

    #[test]
    fn lost_frames_leave_their_grid_points_empty_and_are_counted() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        let mut emitted = Vec::new();
        for i in (0..10u32).chain(14..20) {
            emitted.extend(push(&mut r, i, u64::from(i) * 33_333, Some(i as f32)));
        }
        let got = markers(&emitted);
        assert_eq!(got.len(), 20);
        // Frames 10 to 13 were lost: their grid points are a whole period from the nearest frame received, beyond
        // reach (0.75 of a period), so the body is missing there, as it was in the frames the link lost.
        assert_eq!(&got[9..15], &[Some(9.0), None, None, None, None, Some(14.0)]);
        assert_eq!((r.counters().sensor_frames_dropped, r.counters().grid_frames_empty), (4, 4));
    }

    #[test]
    fn a_long_silence_emits_a_bounded_number_of_grid_frames() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        push(&mut r, 0, 0, Some(0.0));
        let emitted = push(&mut r, 1, 10_000_000, Some(1.0));
        assert_eq!(emitted.len(), MAX_FILL as usize);
        assert_eq!(emitted[0].0, 1 + 300 - MAX_FILL, "the skipped points are one sequence gap");
        assert_eq!(emitted.last().unwrap().2, Some(1.0));
        assert_eq!(r.counters().grid_frames_skipped, 300 - MAX_FILL);
    }

    #[test]
    fn a_clock_that_jumps_far_ahead_still_emits_a_bounded_number_of_grid_frames() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        push(&mut r, 0, 0, Some(0.0));
        // Centuries of sensor time in one step: the due points are counted, not stepped through.
        let emitted = push(&mut r, 1, u64::MAX / 2, Some(1.0));
        assert_eq!(emitted.len(), MAX_FILL as usize);
    }

    #[test]
    fn a_rate_that_disagrees_with_the_hello_is_reported_once() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        r.set_nominal_rate(30_000);
        stream(&mut r, 15.0, 10.0);
        assert!(r.rate_mismatched());
        assert_eq!(r.counters().rate_mismatches, 1);
        assert!(r.counters().measured_rate_millihertz.abs_diff(15_000) < 100, "{:?}", r.counters());
        let mut honest = Resampler::new(GridConfig::default()).unwrap();
        honest.set_nominal_rate(15_000);
        stream(&mut honest, 15.0, 10.0);
        assert_eq!((honest.rate_mismatched(), honest.counters().rate_mismatches), (false, 0));
    }

    #[test]
    fn repeats_are_refused_and_a_clock_that_goes_back_restarts_the_grid() {
        let mut r = Resampler::new(GridConfig::default()).unwrap();
        push(&mut r, 0, 1_000_000, Some(0.0));
        push(&mut r, 1, 1_033_333, Some(1.0));
        let refused = r.push(1, 1_066_666, |_, _, _| Ok::<(), ()>(()));
        assert_eq!(refused, Err(ResampleError::Track(TrackError::DuplicateSequence { sequence: 1 })));
        let emitted = push(&mut r, 2, 5_000, Some(2.0));
        assert_eq!(emitted, [(2, 5_000, Some(2.0))], "a new grid from the restarted clock");
        assert_eq!(push(&mut r, 3, 38_333, Some(3.0)), [(3, 38_333, Some(3.0))]);
        assert!(Resampler::new(GridConfig { model_rate_millihertz: 0, ..GridConfig::default() }).is_none());
        assert!(Resampler::new(GridConfig { tolerance: 0.1, ..GridConfig::default() }).is_none());
    }

    proptest! {
        /// Any stream (repeats, gaps, silences, clocks going back) never panics, emits at most `MAX_FILL` grid
        /// frames per sensor frame, and emits grid frames in time order between restarts.
        #[test]
        fn random_streams_emit_ordered_bounded_grid_frames(
            steps in prop::collection::vec((0u32..4, 0u64..3_000_000, any::<bool>()), 1..200),
            rate in 1_000u32..250_000,
        ) {
            let mut r = Resampler::new(GridConfig { model_rate_millihertz: rate, ..GridConfig::default() }).unwrap();
            let (mut sequence, mut time, mut last_grid_time) = (0u32, 1_000_000u64, 0u64);
            for (step, dt, present) in steps {
                sequence = sequence.wrapping_add(step);
                let backwards = dt < 10_000;
                time = if backwards { time.saturating_sub(dt) } else { time + dt / 16 };
                let held = r.incoming();
                if present {
                    held.next_slot().unwrap();
                    held.commit_slot();
                }
                let mut emitted = Vec::new();
                let outcome = r.push(sequence, time, |s, t, _| { emitted.push((s, t)); Ok::<(), ()>(()) });
                prop_assert!(outcome.is_ok() || step == 0);
                prop_assert!(emitted.len() <= MAX_FILL as usize);
                for (_, t) in emitted {
                    prop_assert!(t >= last_grid_time || t == time, "grid time {t} after {last_grid_time}");
                    last_grid_time = t;
                }
            }
        }
    }
}
