//! Windows: the recent frames of one body and its nearest partner, the input of [`crate::preprocess`].
//!
//! A window holds `F` frames (`1 ≤ F ≤ FRAMES`) of two bodies, following the NTU convention of M = 2 persons:
//! body 0 is the body the window is for, body 1 its partner or nobody. [`extract`] builds one from [`Tracks`]:
//! it starts at body 0's oldest present frame in its history and ends at the newest frame, where body 0 is present.
//! Because every track advances one slot per sensor frame, the partner's frame `k` slots back is the same sensor
//! frame as body 0's, so pairing needs no timestamps.

use crate::skeleton::{joint, Pose};
use crate::track::{TrackId, Tracks};

/// Bodies per window (the NTU "M").
pub const WINDOW_BODIES: usize = 2;

/// Which track a window body came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WindowSource {
    pub track: TrackId,
    /// The sensor's body id.
    pub body_id: u32,
}

/// Frames of two bodies: per body and frame a present flag and a pose (joints and per-joint validity).
///
/// Storage is fixed: about `2 × FRAMES × 330` bytes (42 kB for 64 frames). Build one with [`WindowFrames::push`]
/// or [`extract`]; reuse it across windows with [`WindowFrames::clear`].
#[derive(Clone, Debug)]
pub struct WindowFrames<const FRAMES: usize = 64> {
    len: usize,
    present: [[bool; FRAMES]; WINDOW_BODIES],
    poses: [[Pose; FRAMES]; WINDOW_BODIES],
    /// Where each body came from, when the window was built by [`extract`].
    pub sources: [Option<WindowSource>; WINDOW_BODIES],
    /// Sensor time of the first frame.
    pub start_us: u64,
    /// Sensor time of the last (newest) frame.
    pub end_us: u64,
}

/// Why a window could not be built. The output window is left cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WindowError {
    /// The window already holds FRAMES frames.
    Full,
    /// The [`TrackId`] names a track that has been evicted.
    UnknownTrack,
    /// The body is not present in the newest frame, so no window may end there.
    NotPresent,
}

impl core::fmt::Display for WindowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WindowError::Full => "window is full",
            WindowError::UnknownTrack => "no such track (it was evicted)",
            WindowError::NotPresent => "body is not present in the newest frame",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WindowError {}

impl<const FRAMES: usize> WindowFrames<FRAMES> {
    /// An empty window.
    pub const fn new() -> Self {
        WindowFrames {
            len: 0,
            present: [[false; FRAMES]; WINDOW_BODIES],
            poses: [[Pose::MISSING; FRAMES]; WINDOW_BODIES],
            sources: [None; WINDOW_BODIES],
            start_us: 0,
            end_us: 0,
        }
    }

    /// Empties the window (storage is kept).
    pub fn clear(&mut self) {
        self.len = 0;
        self.sources = [None; WINDOW_BODIES];
        self.start_us = 0;
        self.end_us = 0;
    }

    /// Frames held (the preprocessing "F").
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one frame; `None` marks a body absent in it.
    pub fn push(&mut self, body0: Option<&Pose>, body1: Option<&Pose>) -> Result<(), WindowError> {
        if self.len >= FRAMES {
            return Err(WindowError::Full);
        }
        for (body, pose) in [body0, body1].into_iter().enumerate() {
            self.present[body][self.len] = pose.is_some();
            // Absent frames keep whatever stale pose the slot held: nothing reads it.
            if let Some(pose) = pose {
                self.poses[body][self.len] = *pose;
            }
        }
        self.len += 1;
        Ok(())
    }

    /// Whether `body` is present in `frame` (false out of range).
    pub fn present(&self, body: usize, frame: usize) -> bool {
        frame < self.len && self.present.get(body).is_some_and(|p| p[frame])
    }

    /// The pose of `body` in `frame`, or `None` when it is absent or out of range.
    pub fn pose(&self, body: usize, frame: usize) -> Option<&Pose> {
        if self.present(body, frame) {
            Some(&self.poses[body][frame])
        } else {
            None
        }
    }
}

impl<const FRAMES: usize> Default for WindowFrames<FRAMES> {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings of [`extract`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WindowConfig {
    /// Farthest distance between two bodies' SpineMid joints, in metres, for them to be paired. Default 1.5 m
    /// (people interacting in NTU's two-person classes stand within about an arm's reach).
    pub partner_max_distance_m: f32,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { partner_max_distance_m: 1.5 }
    }
}

/// SpineMid of the track's newest frame, when the body is present there and the joint is valid and finite.
fn newest_spine_mid<const FRAMES: usize>(track: &crate::track::Track<FRAMES>) -> Option<[f32; 3]> {
    let pose = track.frame(0)?.pose?;
    let point = pose.joints[joint::SPINE_MID];
    (pose.valid[joint::SPINE_MID] && point.iter().all(|c| c.is_finite())).then_some(point)
}

/// The partner of track `id`: among the other tracks present in the newest frame, the one whose SpineMid is
/// nearest to this body's, if within `partner_max_distance_m`. Both SpineMid joints must be valid. Ties go to the
/// lower slot.
pub fn find_partner<const TRACKS: usize, const FRAMES: usize>(
    tracks: &Tracks<TRACKS, FRAMES>,
    id: TrackId,
    config: &WindowConfig,
) -> Option<TrackId> {
    let own = newest_spine_mid(tracks.get(id)?)?;
    let limit = config.partner_max_distance_m;
    let limit_squared = limit * limit;
    let mut best: Option<(f32, TrackId)> = None;
    for other in tracks.iter().filter(|t| t.id() != id) {
        let Some(point) = newest_spine_mid(other) else { continue };
        let d2 = (0..3).map(|c| (point[c] - own[c]) * (point[c] - own[c])).sum::<f32>();
        // `!(d2 > limit)` would let NaN through; this comparison rejects it.
        if d2 <= limit_squared && best.is_none_or(|(b, _)| d2 < b) {
            best = Some((d2, other.id()));
        }
    }
    best.map(|(_, id)| id)
}

/// Builds the window of track `id` into `out`: its frames from the oldest present one in its history to the
/// newest (where it must be present), and its partner's frames over the same span (see [`find_partner`]).
pub fn extract<const TRACKS: usize, const FRAMES: usize>(
    tracks: &Tracks<TRACKS, FRAMES>,
    id: TrackId,
    config: &WindowConfig,
    out: &mut WindowFrames<FRAMES>,
) -> Result<(), WindowError> {
    out.clear();
    let track = tracks.get(id).ok_or(WindowError::UnknownTrack)?;
    if !track.present_now() {
        return Err(WindowError::NotPresent);
    }
    let span = track.span();
    let partner = find_partner(tracks, id, config).and_then(|p| tracks.get(p));
    for back in (0..span).rev() {
        let own = track.frame(back).and_then(|f| f.pose);
        let other = partner.and_then(|p| p.frame(back)).and_then(|f| f.pose);
        out.push(own, other)?;
    }
    out.start_us = track.frame(span.saturating_sub(1)).map_or(0, |f| f.timestamp_us);
    out.end_us = track.frame(0).map_or(0, |f| f.timestamp_us);
    out.sources[0] = Some(WindowSource { track: id, body_id: track.body_id() });
    out.sources[1] = partner.map(|p| WindowSource { track: p.id(), body_id: p.body_id() });
    Ok(())
}

#[cfg(test)]
// Tests may panic on a broken invariant: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;

    use super::*;
    use crate::track::TrackConfig;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn at(x: f32, marker: f32) -> Pose {
        let mut p = Pose::MISSING;
        p.joints[joint::SPINE_MID] = [x, 0.0, 2.5];
        p.valid[joint::SPINE_MID] = true;
        p.joints[joint::HEAD] = [marker, 0.0, 0.0];
        p.valid[joint::HEAD] = true;
        p
    }

    fn marker(window: &WindowFrames<8>, body: usize, frame: usize) -> Option<f32> {
        window.pose(body, frame).map(|p| p.joints[joint::HEAD][0])
    }

    fn tracks() -> Tracks<4, 8> {
        Tracks::new(TrackConfig { max_gap_frames: 3, timeout_us: 1_000_000, stride_frames: 1, min_frames: 1 }).unwrap()
    }

    #[test]
    fn push_fills_up_to_capacity() {
        let mut w = WindowFrames::<2>::new();
        let p = at(0.0, 1.0);
        w.push(Some(&p), None).unwrap();
        w.push(None, Some(&p)).unwrap();
        assert_eq!(w.push(Some(&p), None), Err(WindowError::Full));
        assert_eq!(w.len(), 2);
        assert!(w.present(0, 0) && !w.present(1, 0) && !w.present(0, 1) && w.present(1, 1));
        assert!(!w.present(0, 2) && !w.present(2, 0));
        assert!(w.pose(1, 0).is_none());
    }

    #[test]
    fn the_nearest_body_within_range_is_the_partner() {
        let mut t = tracks();
        t.push_frame(0, 0, [(1, &at(0.0, 0.0)), (2, &at(1.2, 0.0)), (3, &at(-0.8, 0.0)), (4, &at(5.0, 0.0))]).unwrap();
        let config = WindowConfig::default();
        let [one, two, three, four] = [1, 2, 3, 4].map(|b| t.find_body(b).unwrap());
        assert_eq!(find_partner(&t, one, &config), Some(three));
        assert_eq!(find_partner(&t, two, &config), Some(one));
        assert_eq!(find_partner(&t, four, &config), None, "nobody within 1.5 m");
        let tight = WindowConfig { partner_max_distance_m: 0.5 };
        assert_eq!(find_partner(&t, one, &tight), None);
    }

    #[test]
    fn partners_must_be_present_in_the_newest_frame() {
        let mut t = tracks();
        t.push_frame(0, 0, [(1, &at(0.0, 0.0)), (2, &at(0.5, 0.0))]).unwrap();
        t.push_frame(1, 33_333, [(1, &at(0.0, 0.0))]).unwrap();
        let one = t.find_body(1).unwrap();
        assert_eq!(find_partner(&t, one, &WindowConfig::default()), None);
    }

    #[test]
    fn window_spans_from_first_present_frame_and_aligns_partner_by_frame() {
        let mut t = tracks();
        let none: [(u32, &Pose); 0] = [];
        // Frame 0: only the partner. Frames 1-2: body 1 appears. Frame 3: both missing. Frames 4-5: both.
        t.push_frame(0, 0, [(2, &at(1.0, 100.0))]).unwrap();
        t.push_frame(1, 10, [(1, &at(0.0, 1.0))]).unwrap();
        t.push_frame(2, 20, [(1, &at(0.0, 2.0)), (2, &at(1.0, 102.0))]).unwrap();
        t.push_frame(3, 30, none).unwrap();
        t.push_frame(4, 40, [(1, &at(0.0, 4.0)), (2, &at(1.0, 104.0))]).unwrap();
        t.push_frame(5, 50, [(2, &at(1.0, 105.0)), (1, &at(0.0, 5.0))]).unwrap();
        let one = t.find_body(1).unwrap();
        let mut w = WindowFrames::<8>::new();
        extract(&t, one, &WindowConfig::default(), &mut w).unwrap();
        assert_eq!(w.len(), 5, "frames 1..=5");
        let own: Vec<_> = (0..5).map(|f| marker(&w, 0, f)).collect();
        assert_eq!(own, [Some(1.0), Some(2.0), None, Some(4.0), Some(5.0)]);
        let other: Vec<_> = (0..5).map(|f| marker(&w, 1, f)).collect();
        assert_eq!(other, [None, Some(102.0), None, Some(104.0), Some(105.0)]);
        assert_eq!((w.start_us, w.end_us), (10, 50));
        assert_eq!(w.sources[0].map(|s| s.body_id), Some(1));
        assert_eq!(w.sources[1].map(|s| s.body_id), Some(2));
    }

    #[test]
    fn a_partner_with_shorter_history_is_absent_before_it_appeared() {
        let mut t = tracks();
        for seq in 0..6u32 {
            let one = at(0.0, seq as f32);
            let two = at(0.7, 100.0 + seq as f32);
            if seq < 4 {
                t.push_frame(seq, seq as u64, [(1, &one)]).unwrap();
            } else {
                t.push_frame(seq, seq as u64, [(1, &one), (2, &two)]).unwrap();
            }
        }
        let mut w = WindowFrames::<8>::new();
        extract(&t, t.find_body(1).unwrap(), &WindowConfig::default(), &mut w).unwrap();
        assert_eq!(w.len(), 6);
        let other: Vec<_> = (0..6).map(|f| marker(&w, 1, f)).collect();
        assert_eq!(other, [None, None, None, None, Some(104.0), Some(105.0)]);
    }

    #[test]
    fn the_window_is_limited_to_the_ring() {
        let mut t = tracks();
        for seq in 0..12u32 {
            t.push_frame(seq, seq as u64, [(1, &at(0.0, seq as f32))]).unwrap();
        }
        let mut w = WindowFrames::<8>::new();
        extract(&t, t.find_body(1).unwrap(), &WindowConfig::default(), &mut w).unwrap();
        assert_eq!(w.len(), 8);
        assert_eq!((marker(&w, 0, 0), marker(&w, 0, 7)), (Some(4.0), Some(11.0)));
        assert!(w.sources[1].is_none());
        assert!((0..8).all(|f| !w.present(1, f)));
    }

    #[test]
    fn no_window_ends_on_an_absent_frame() {
        let mut t = tracks();
        t.push_frame(0, 0, [(1, &at(0.0, 0.0)), (2, &at(0.5, 0.0))]).unwrap();
        t.push_frame(1, 1, [(2, &at(0.5, 0.0))]).unwrap();
        let one = t.find_body(1).unwrap();
        let mut w = WindowFrames::<8>::new();
        w.push(None, None).unwrap();
        assert_eq!(extract(&t, one, &WindowConfig::default(), &mut w), Err(WindowError::NotPresent));
        assert!(w.is_empty());
    }

    proptest! {
        /// Random streams of frames (gaps, repeats, restarts, bodies coming and going) never panic, keep every
        /// ring aligned on the newest frame, and every due body yields a window that preprocessing accepts.
        #[test]
        fn random_streams_keep_tracks_aligned_and_windows_valid(
            frames in prop::collection::vec(
                (0u32..4, 0u64..60_000, prop::collection::vec((0u32..6, -3.0f32..3.0, any::<bool>()), 0..6)),
                1..120,
            ),
        ) {
            use crate::preprocess::{Outputs, PreprocessConfig, PreprocessError, Preprocessor};
            let mut tracks = Tracks::<3, 8>::new(TrackConfig {
                max_gap_frames: 2, timeout_us: 150_000, stride_frames: 2, min_frames: 3,
            }).unwrap();
            let mut window = WindowFrames::<8>::new();
            let mut pre = Preprocessor::<8>::new(PreprocessConfig { frames_out: 4, ..Default::default() }).unwrap();
            let mut joint = [0.0f32; 600];
            let (mut sequence, mut time) = (0u32, 0u64);
            for (step, dt, bodies) in frames {
                // Step 0 repeats a sequence number; a small dt sometimes runs the clock backwards.
                sequence = sequence.wrapping_add(step);
                let previous_time = time;
                time = if dt < 2_000 { time.saturating_sub(dt) } else { time + dt };
                let poses: Vec<(u32, Pose)> = bodies.iter().map(|&(id, x, valid)| {
                    let mut p = at(x, id as f32);
                    p.valid[crate::skeleton::NTU_ROOT] = valid;
                    (id, p)
                }).collect();
                let had_frames = tracks.counters().frames > 0;
                let result = tracks.push_frame(sequence, time, poses.iter().map(|(id, p)| (*id, p)));
                prop_assert_eq!(result.is_err(), step == 0 && had_frames);
                if result.is_err() {
                    time = previous_time; // a refused frame changes nothing
                }
                for track in tracks.iter().filter(|t| !t.is_empty()) {
                    prop_assert!(track.len() <= 8);
                    prop_assert_eq!(track.frame(0).unwrap().timestamp_us, time, "newest slot is this frame");
                }
                let due: Vec<TrackId> = tracks.due().collect();
                for id in due {
                    extract(&tracks, id, &WindowConfig::default(), &mut window).unwrap();
                    prop_assert!(window.len() >= 3 && window.present(0, 0) && window.present(0, window.len() - 1));
                    prop_assert_ne!(window.sources[1].map(|s| s.track), Some(id));
                    match pre.run(&window, Outputs { joint: &mut joint, bone: &mut [], motion: &mut [], missing: &mut [] }) {
                        Ok(()) => prop_assert!(joint.iter().all(|x| x.is_finite())),
                        // Roots are dropped at random here, so a rootless body 0 is a legitimate refusal.
                        Err(e) => prop_assert_eq!(e, PreprocessError::Body0NoRoot),
                    }
                    tracks.mark_inferred(id).unwrap();
                }
            }
        }
    }
}
