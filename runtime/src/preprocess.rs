//! Preprocessing: a [`WindowFrames`] becomes the model's input tensors, exactly as the training code does it.
//!
//! The normative specification is `docs/preprocessing.md` (version 1); the golden vectors in
//! `tests/fixtures/preprocess/` hold this implementation and the Python one to it. Stages, in order:
//! fill → centre → align (optional) → crop and resize to T frames → joint tensor `[3, T, 25, 2]` → bone and
//! motion streams. The stages keep the numeric types of the specification (f32 everywhere, f64 inside the
//! alignment) and the order of operations, because 1e-6 agreement with numpy/PyTorch depends on it.
//!
//! Nothing here allocates: the working copy of the window lives in the [`Preprocessor`], and outputs are
//! caller-supplied slices.

use crate::skeleton::{joint, Vec3, NTU_BONE_PARENTS, NTU_JOINTS, NTU_ROOT};
use crate::window::{WindowFrames, WINDOW_BODIES};

/// Channels of every stream tensor (x, y, z).
pub const CHANNELS: usize = 3;

/// A joint coordinate with a larger magnitude (metres) is treated as not observed. No skeleton sensor reports
/// such values; the bound keeps every intermediate and output finite in f32.
pub const MAX_ABS_COORDINATE_M: f32 = 1000.0;

/// Largest accepted `frames_out` (T). Frame indices stay exact in f32 far beyond it.
pub const MAX_FRAMES_OUT: usize = 10_000;

/// Values in one stream tensor `[3, T, 25, 2]` for `frames_out` = T.
pub const fn tensor_len(frames_out: usize) -> usize {
    CHANNELS * frames_out * NTU_JOINTS * WINDOW_BODIES
}

/// Values in the missing mask `[1, T, 25, 2]` for `frames_out` = T.
pub const fn mask_len(frames_out: usize) -> usize {
    frames_out * NTU_JOINTS * WINDOW_BODIES
}

/// Flat index of `[t, v, m]` in the missing mask.
pub const fn mask_index(t: usize, v: usize, m: usize) -> usize {
    (t * NTU_JOINTS + v) * WINDOW_BODIES + m
}

/// How much of a window was missing: `missing` entries of the missing mask are 1, out of `total`, which is 25 ×
/// the number of (body, output frame) pairs inside a body's in-range frames (`docs/preprocessing.md`, "The missing
/// mask"). Integers, so that windows compare exactly; [`MissingCount::fraction`] is the window's missing fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MissingCount {
    pub missing: u32,
    pub total: u32,
}

impl MissingCount {
    /// `f32(missing) / f32(total)`, and 0 when `total` is 0.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            self.missing as f32 / self.total as f32
        }
    }

    /// Whether any joint sample of the window was missing.
    pub fn any(&self) -> bool {
        self.missing > 0
    }
}

/// Flat index of `[c, t, v, m]` in a C-contiguous `[3, T, 25, 2]` tensor.
pub const fn tensor_index(frames_out: usize, c: usize, t: usize, v: usize, m: usize) -> usize {
    ((c * frames_out + t) * NTU_JOINTS + v) * WINDOW_BODIES + m
}

/// The derived streams to produce besides the joint stream (which is always produced: the others derive from it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Streams {
    pub bone: bool,
    pub motion: bool,
}

impl Streams {
    pub const JOINT_ONLY: Streams = Streams { bone: false, motion: false };
    pub const ALL: Streams = Streams { bone: true, motion: true };
}

/// One of the three input streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stream {
    Joint,
    Bone,
    Motion,
}

/// Settings of preprocessing. They must match the ones the model was trained with (the bundle manifest says).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PreprocessConfig {
    /// Frames of the model input, T. Default 64. Must be in `1..=MAX_FRAMES_OUT`.
    pub frames_out: usize,
    /// Centred crop ratio p of `valid_crop_resize`, in (0, 1]. Default 0.95 (the CTR-GCN/MAMP test setting).
    /// It is an f64 because the crop bias is computed in f64 and 0.95 as an f32 rounds differently.
    pub crop_ratio: f64,
    /// View alignment (MS-G3D `pre_normalization` rotations). Default off.
    pub align: bool,
    /// Derived streams to produce. Default joint only.
    pub streams: Streams,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig { frames_out: 64, crop_ratio: 0.95, align: false, streams: Streams::JOINT_ONLY }
    }
}

/// Why a window could not be preprocessed. On error no output is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PreprocessError {
    /// `frames_out` is 0 or above [`MAX_FRAMES_OUT`], or `crop_ratio` is not in (0, 1].
    InvalidConfig,
    /// The window has no frames (F = 0).
    EmptyWindow,
    /// Body 0 is absent in the first or the last frame of the window.
    Body0AbsentAtEdge,
    /// Body 0 never has its root joint (SpineShoulder) observed, so it cannot be filled.
    Body0NoRoot,
    /// An output slice is shorter than the tensor.
    OutputTooSmall { stream: Stream, needed: usize, actual: usize },
    /// The missing-mask slice is neither empty nor long enough for the mask `[1, T, 25, 2]`.
    MaskTooSmall { needed: usize, actual: usize },
}

impl PreprocessError {
    /// Short stable name of the error, as the golden vectors' `"error"` field spells it.
    pub fn code(&self) -> &'static str {
        match self {
            PreprocessError::InvalidConfig => "invalid_config",
            PreprocessError::EmptyWindow => "empty_window",
            PreprocessError::Body0AbsentAtEdge => "body0_absent_at_edge",
            PreprocessError::Body0NoRoot => "body0_no_root",
            PreprocessError::OutputTooSmall { .. } | PreprocessError::MaskTooSmall { .. } => "output_too_small",
        }
    }
}

impl core::fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PreprocessError::InvalidConfig => {
                write!(f, "invalid preprocessing config: frames_out in 1..={MAX_FRAMES_OUT}, crop_ratio in (0, 1]")
            }
            PreprocessError::EmptyWindow => f.write_str("window has no frames"),
            PreprocessError::Body0AbsentAtEdge => f.write_str("body 0 is absent in the first or last window frame"),
            PreprocessError::Body0NoRoot => f.write_str("body 0 never has SpineShoulder observed"),
            PreprocessError::OutputTooSmall { stream, needed, actual } => {
                write!(f, "{stream:?} output has room for {actual} values, needs {needed}")
            }
            PreprocessError::MaskTooSmall { needed, actual } => {
                write!(f, "missing mask output has room for {actual} values, needs {needed}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PreprocessError {}

/// Caller-supplied output tensors, each `[3, T, 25, 2]` C-contiguous. Only the first [`tensor_len`] values are
/// written. A stream not requested in [`Streams`] may be given an empty slice.
///
/// `missing` receives the missing mask `[1, T, 25, 2]` ([`mask_len`] values, 1.0 where a joint sample the output
/// depends on was missing): an empty slice asks for none. The missing count is computed either way
/// ([`Preprocessor::missing`]).
#[derive(Debug)]
pub struct Outputs<'a> {
    pub joint: &'a mut [f32],
    pub bone: &'a mut [f32],
    pub motion: &'a mut [f32],
    pub missing: &'a mut [f32],
}

/// Joints of one body over the window frames.
type BodyFrames<const FRAMES: usize> = [[Vec3; NTU_JOINTS]; FRAMES];

/// Runs preprocessing with a fixed config and its own working storage (`2 × FRAMES × 300` bytes).
///
/// The window is only read; the filled, centred and aligned copy lives in the preprocessor.
#[derive(Clone, Debug)]
pub struct Preprocessor<const FRAMES: usize = 64> {
    config: PreprocessConfig,
    bodies: [BodyFrames<FRAMES>; WINDOW_BODIES],
    /// Present range `[first, last]` of each body after filling; `None` = absent in every frame.
    ranges: [Option<(usize, usize)>; WINDOW_BODIES],
    frames: usize,
    /// The missing count of the last successful run.
    missing: MissingCount,
    /// Joints the sensor's layout provides at all; the others are filled from their parent every time (as in
    /// training) and never count as missing ([`Preprocessor::set_provided`]).
    provided: [bool; NTU_JOINTS],
}

impl<const FRAMES: usize> Preprocessor<FRAMES> {
    pub fn new(config: PreprocessConfig) -> Result<Self, PreprocessError> {
        let crop_ok = config.crop_ratio > 0.0 && config.crop_ratio <= 1.0;
        if config.frames_out == 0 || config.frames_out > MAX_FRAMES_OUT || !crop_ok {
            return Err(PreprocessError::InvalidConfig);
        }
        Ok(Preprocessor {
            config,
            bodies: [[[[0.0; 3]; NTU_JOINTS]; FRAMES]; WINDOW_BODIES],
            ranges: [None; WINDOW_BODIES],
            frames: 0,
            missing: MissingCount::default(),
            provided: [true; NTU_JOINTS],
        })
    }

    /// Which NTU-25 joints the sensor's layout provides ([`crate::layout::provided_joints`]); every joint until
    /// told otherwise. A joint the layout never carries (Kinect v1's thumbs) is not missing: nothing could observe it.
    pub fn set_provided(&mut self, provided: [bool; NTU_JOINTS]) {
        self.provided = provided;
    }

    pub fn config(&self) -> &PreprocessConfig {
        &self.config
    }

    /// Values in each output tensor.
    pub fn tensor_len(&self) -> usize {
        tensor_len(self.config.frames_out)
    }

    /// Preprocesses `window` into `out`. Every check happens before anything is written.
    pub fn run(&mut self, window: &WindowFrames<FRAMES>, out: Outputs<'_>) -> Result<(), PreprocessError> {
        let frames = window.len();
        if frames == 0 {
            return Err(PreprocessError::EmptyWindow);
        }
        if !window.present(0, 0) || !window.present(0, frames - 1) {
            return Err(PreprocessError::Body0AbsentAtEdge);
        }
        if !root_observed(window, 0) {
            return Err(PreprocessError::Body0NoRoot);
        }
        let needed = self.tensor_len();
        let streams = self.config.streams;
        for (stream, slice, wanted) in [
            (Stream::Joint, &out.joint, true),
            (Stream::Bone, &out.bone, streams.bone),
            (Stream::Motion, &out.motion, streams.motion),
        ] {
            if wanted && slice.len() < needed {
                return Err(PreprocessError::OutputTooSmall { stream, needed, actual: slice.len() });
            }
        }
        let mask_needed = mask_len(self.config.frames_out);
        if !out.missing.is_empty() && out.missing.len() < mask_needed {
            return Err(PreprocessError::MaskTooSmall { needed: mask_needed, actual: out.missing.len() });
        }

        self.frames = frames;
        for body in 0..WINDOW_BODIES {
            self.ranges[body] = fill_body(window, body, &mut self.bodies[body]);
        }
        debug_assert_eq!(self.ranges[0], Some((0, frames - 1)));
        self.centre();
        if self.config.align {
            self.align();
        }

        let joint = &mut out.joint[..needed];
        self.crop_resize(joint);
        let mask = if out.missing.is_empty() { None } else { Some(&mut out.missing[..mask_needed]) };
        self.missing = self.missing_mask(window, mask);
        // The buffers were checked above, so these cannot fail.
        if streams.bone {
            bone_stream(joint, out.bone, self.config.frames_out)?;
        }
        if streams.motion {
            motion_stream(joint, out.motion, self.config.frames_out)?;
        }
        Ok(())
    }

    /// The missing count of the last successful run: how many entries of its missing mask are 1, out of how many
    /// lie in a body's range ([`MissingCount::fraction`] is the window's missing fraction).
    pub fn missing(&self) -> MissingCount {
        self.missing
    }

    /// The filled, centred (and aligned) joints of `body` in window frame `frame`, from the last successful run.
    /// All zeros where the body is absent.
    pub fn frame_joints(&self, body: usize, frame: usize) -> Option<&[Vec3; NTU_JOINTS]> {
        if frame < self.frames {
            self.bodies.get(body).map(|b| &b[frame])
        } else {
            None
        }
    }

    /// Step 2: subtract body 0's SpineMid at frame 0 from every joint of every present-range frame.
    fn centre(&mut self) {
        let origin = self.bodies[0][0][joint::SPINE_MID];
        for body in 0..WINDOW_BODIES {
            let Some((first, last)) = self.ranges[body] else { continue };
            for frame in &mut self.bodies[body][first..=last] {
                for point in frame.iter_mut() {
                    for c in 0..3 {
                        point[c] -= origin[c];
                    }
                }
            }
        }
    }

    /// Step 3: rotate SpineBase→SpineMid of body 0 at frame 0 onto +z, then its ShoulderLeft→ShoulderRight onto +x.
    fn align(&mut self) {
        let reference = self.bodies[0][0];
        let spine = difference_f64(reference[joint::SPINE_MID], reference[joint::SPINE_BASE]);
        if let Some(matrix) = rotation_onto(spine, TargetAxis::Z) {
            self.rotate(&matrix);
        }
        // Read the shoulders again: they moved with the first rotation.
        let reference = self.bodies[0][0];
        let shoulders = difference_f64(reference[joint::SHOULDER_RIGHT], reference[joint::SHOULDER_LEFT]);
        if let Some(matrix) = rotation_onto(shoulders, TargetAxis::X) {
            self.rotate(&matrix);
        }
    }

    fn rotate(&mut self, matrix: &Matrix3) {
        for body in 0..WINDOW_BODIES {
            let Some((first, last)) = self.ranges[body] else { continue };
            for frame in &mut self.bodies[body][first..=last] {
                for point in frame.iter_mut() {
                    *point = apply_rotation(matrix, *point);
                }
            }
        }
    }

    /// Steps 4 and 5: centred crop, PyTorch-style linear resize along time, written as `[3, T, 25, 2]`.
    fn crop_resize(&self, joint_out: &mut [f32]) {
        let frames_out = self.config.frames_out;
        let (start, end) = crop_bounds(self.frames, self.config.crop_ratio);
        let cropped = end - start;
        for t in 0..frames_out {
            let (i0, i1, w0, w1) = resize_source(cropped, frames_out, t);
            for body in 0..WINDOW_BODIES {
                let before = &self.bodies[body][start + i0];
                let after = &self.bodies[body][start + i1];
                for v in 0..NTU_JOINTS {
                    for c in 0..CHANNELS {
                        joint_out[tensor_index(frames_out, c, t, v, body)] = w0 * before[v][c] + w1 * after[v][c];
                    }
                }
            }
        }
    }
}

impl<const FRAMES: usize> Preprocessor<FRAMES> {
    /// The missing mask (`docs/preprocessing.md`, "The missing mask"): per body and source frame, 1.0 for a joint
    /// sample of a provided joint inside the body's range (the frames step 1 fills) that is not observed; cropped and
    /// resized exactly
    /// as the coordinates (step 4, f32 weights); an output entry is 1.0 when its resized value is above 0. Written
    /// to `out` when given; the count is returned either way. The ranges are those of the current run.
    fn missing_mask(&self, window: &WindowFrames<FRAMES>, mut out: Option<&mut [f32]>) -> MissingCount {
        let frames_out = self.config.frames_out;
        let (start, end) = crop_bounds(self.frames, self.config.crop_ratio);
        let cropped = end - start;
        let in_range = |body: usize, frame: usize| -> f32 {
            match self.ranges[body] {
                Some((first, last)) if (first..=last).contains(&frame) => 1.0,
                _ => 0.0,
            }
        };
        let mut count = MissingCount::default();
        for t in 0..frames_out {
            let (i0, i1, w0, w1) = resize_source(cropped, frames_out, t);
            let (f0, f1) = (start + i0, start + i1);
            for body in 0..WINDOW_BODIES {
                let (r0, r1) = (in_range(body, f0), in_range(body, f1));
                let body_in_range = w0 * r0 + w1 * r1 > 0.0;
                if body_in_range {
                    count.total += NTU_JOINTS as u32;
                }
                for v in 0..NTU_JOINTS {
                    let missing_at = |frame: usize, range: f32| -> f32 {
                        if range > 0.0 && self.provided[v] && observed(window, body, frame, v).is_none() {
                            1.0
                        } else {
                            0.0
                        }
                    };
                    let resized = w0 * missing_at(f0, r0) + w1 * missing_at(f1, r1);
                    let missing = resized > 0.0;
                    count.missing += u32::from(missing);
                    if let Some(mask) = out.as_deref_mut() {
                        mask[mask_index(t, v, body)] = if missing { 1.0 } else { 0.0 };
                    }
                }
            }
        }
        count
    }
}

/// Whether a pose's joint counts as observed: valid, finite and within [`MAX_ABS_COORDINATE_M`].
fn usable(point: &Vec3) -> bool {
    point.iter().all(|c| c.abs() <= MAX_ABS_COORDINATE_M)
}

fn observed<const FRAMES: usize>(window: &WindowFrames<FRAMES>, body: usize, frame: usize, v: usize) -> Option<Vec3> {
    let pose = window.pose(body, frame)?;
    (pose.valid[v] && usable(&pose.joints[v])).then_some(pose.joints[v])
}

fn root_observed<const FRAMES: usize>(window: &WindowFrames<FRAMES>, body: usize) -> bool {
    (0..window.len()).any(|f| observed(window, body, f, NTU_ROOT).is_some())
}

/// `a + (b - a) * w` per coordinate, in f32 and in that order (no fused multiply-add).
fn lerp(a: Vec3, b: Vec3, w: f32) -> Vec3 {
    [a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, a[2] + (b[2] - a[2]) * w]
}

/// Step 1 for one body: fills `out` and returns its present range, or `None` when the body counts as absent in
/// every frame (never present, or root never observed). Frames outside the range are zeroed.
fn fill_body<const FRAMES: usize>(
    window: &WindowFrames<FRAMES>,
    body: usize,
    out: &mut BodyFrames<FRAMES>,
) -> Option<(usize, usize)> {
    let frames = window.len();
    let range = present_range(window, body).filter(|_| root_observed(window, body));
    let Some((first, last)) = range else {
        out[..frames].iter_mut().for_each(|f| *f = [[0.0; 3]; NTU_JOINTS]);
        return None;
    };

    let mut has_observation = [false; NTU_JOINTS];
    for v in 0..NTU_JOINTS {
        let mut previous: Option<usize> = None;
        for f in first..=last {
            let Some(value) = observed(window, body, f, v) else { continue };
            match previous {
                // Before the first observation: hold it.
                None => (first..f).for_each(|g| out[g][v] = value),
                Some(f0) => {
                    let a = out[f0][v];
                    for (step, frame) in out[f0 + 1..f].iter_mut().enumerate() {
                        let w = (step + 1) as f32 / (f - f0) as f32;
                        frame[v] = lerp(a, value, w);
                    }
                }
            }
            out[f][v] = value;
            previous = Some(f);
        }
        if let Some(f0) = previous {
            // After the last observation: hold it.
            let value = out[f0][v];
            (f0 + 1..=last).for_each(|g| out[g][v] = value);
            has_observation[v] = true;
        }
    }

    // Joints never observed copy their nearest observed ancestor: the same as resolving parents root-first.
    for v in 0..NTU_JOINTS {
        if has_observation[v] {
            continue;
        }
        let mut ancestor = NTU_BONE_PARENTS[v];
        // The tree is at most 8 deep and its root is observed; the bound only guards against a broken table.
        for _ in 0..NTU_JOINTS {
            if has_observation[ancestor] {
                break;
            }
            ancestor = NTU_BONE_PARENTS[ancestor];
        }
        debug_assert!(has_observation[ancestor]);
        for frame in &mut out[first..=last] {
            frame[v] = frame[ancestor];
        }
    }

    for f in (0..first).chain(last + 1..frames) {
        out[f] = [[0.0; 3]; NTU_JOINTS];
    }
    Some((first, last))
}

fn present_range<const FRAMES: usize>(window: &WindowFrames<FRAMES>, body: usize) -> Option<(usize, usize)> {
    let first = (0..window.len()).find(|&f| window.present(body, f))?;
    let last = (0..window.len()).rev().find(|&f| window.present(body, f))?;
    Some((first, last))
}

/// Step 4, crop: the kept frames `[bias, frames - bias)` for crop ratio `p`, with
/// `bias = floor((1 - p) * frames / 2)` evaluated in f64 as Python's `int((1 - p) * frames / 2)`.
pub fn crop_bounds(frames: usize, crop_ratio: f64) -> (usize, usize) {
    let bias = ((1.0 - crop_ratio) * frames as f64 / 2.0) as usize;
    // With crop_ratio in (0, 1] the bias is below frames / 2; clamp anyway so no input can invert the range.
    let bias = bias.min(frames.saturating_sub(1) / 2);
    (bias, frames - bias)
}

/// Step 4, resize: source frames and weights of output frame `t` when resizing `input` frames to `output` frames,
/// as PyTorch's `interpolate(mode='bilinear' | 'linear', align_corners=False)` computes them in f32.
/// Returns `(i0, i1, w0, w1)`; the output is `w0 * x[i0] + w1 * x[i1]`.
pub fn resize_source(input: usize, output: usize, t: usize) -> (usize, usize, f32, f32) {
    debug_assert!(input > 0 && output > 0);
    let scale = input as f32 / output as f32;
    let source = (scale * (t as f32 + 0.5) - 0.5).max(0.0);
    let last = input.saturating_sub(1);
    // `source` is non-negative, so truncation is floor.
    let i0 = (source as usize).min(last);
    let i1 = (i0 + 1).min(last);
    let w1 = source - i0 as f32;
    let w0 = 1.0 - w1;
    (i0, i1, w0, w1)
}

/// Resizes one series (`input.len()` frames) to `output.len()` frames with [`resize_source`].
pub fn resize_series(input: &[f32], output: &mut [f32]) {
    if input.is_empty() {
        return;
    }
    let frames_out = output.len();
    for (t, out) in output.iter_mut().enumerate() {
        let (i0, i1, w0, w1) = resize_source(input.len(), frames_out, t);
        *out = w0 * input[i0] + w1 * input[i1];
    }
}

/// Checks that `input` (the joint tensor) and `output` each hold a whole `[3, T, 25, 2]` tensor.
fn check_stream_buffers(
    input: &[f32],
    output: &[f32],
    stream: Stream,
    frames_out: usize,
) -> Result<usize, PreprocessError> {
    let needed = tensor_len(frames_out);
    if input.len() < needed {
        return Err(PreprocessError::OutputTooSmall { stream: Stream::Joint, needed, actual: input.len() });
    }
    if output.len() < needed {
        return Err(PreprocessError::OutputTooSmall { stream, needed, actual: output.len() });
    }
    Ok(needed)
}

/// Step 6: `bone[c, t, v, m] = joint[c, t, v, m] - joint[c, t, parent(v), m]` for `[3, T, 25, 2]` tensors.
pub fn bone_stream(joint: &[f32], bone: &mut [f32], frames_out: usize) -> Result<(), PreprocessError> {
    let len = check_stream_buffers(joint, bone, Stream::Bone, frames_out)?;
    for (index, out) in bone[..len].iter_mut().enumerate() {
        let v = (index / WINDOW_BODIES) % NTU_JOINTS;
        // Same c, t and m; the parent's column instead of v's.
        let parent_index = index - v * WINDOW_BODIES + NTU_BONE_PARENTS[v] * WINDOW_BODIES;
        *out = joint[index] - joint[parent_index];
    }
    Ok(())
}

/// Step 7: `motion[c, t] = joint[c, t + 1] - joint[c, t]`, and zero at the last frame, for `[3, T, 25, 2]` tensors.
pub fn motion_stream(joint: &[f32], motion: &mut [f32], frames_out: usize) -> Result<(), PreprocessError> {
    let len = check_stream_buffers(joint, motion, Stream::Motion, frames_out)?;
    let frame_stride = NTU_JOINTS * WINDOW_BODIES;
    for (index, out) in motion[..len].iter_mut().enumerate() {
        let t = (index / frame_stride) % frames_out;
        *out = if t + 1 < frames_out { joint[index + frame_stride] - joint[index] } else { 0.0 };
    }
    Ok(())
}

/// A 3×3 rotation matrix, row-major.
pub type Matrix3 = [[f64; 3]; 3];

/// The axis a vector is rotated onto.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetAxis {
    X,
    Z,
}

/// `cos(1e-6)`: an angle below 1e-6 rad (MS-G3D's identity threshold) has a larger cosine.
const COS_OF_SMALLEST_ANGLE: f64 = 0.999_999_999_999_5;

fn difference_f64(a: Vec3, b: Vec3) -> [f64; 3] {
    [a[0] as f64 - b[0] as f64, a[1] as f64 - b[1] as f64, a[2] as f64 - b[2] as f64]
}

/// MS-G3D's `rotation_matrix(cross(v, target), angle_between(v, target))`: the rotation taking `v` onto the
/// target axis, or `None` for the identity (axis with L1 norm below 1e-6, or angle below 1e-6 rad).
///
/// `theta = arccos(c)` with `c` the clipped cosine, so the Euler–Rodrigues parameters `cos(theta / 2)` and
/// `sin(theta / 2)` are evaluated as `sqrt((1 + c) / 2)` and `sqrt((1 - c) / 2)`: the same numbers to within an f64
/// rounding, and they need only a square root, which `core` lacks but [`sqrt_f64`] provides exactly.
pub fn rotation_onto(v: [f64; 3], target: TargetAxis) -> Option<Matrix3> {
    // cross(v, e_z) = (v_y, -v_x, 0), cross(v, e_x) = (0, v_z, -v_y); the cosine is v's target component / |v|.
    let (axis, along) = match target {
        TargetAxis::Z => ([v[1], -v[0], 0.0], v[2]),
        TargetAxis::X => ([0.0, v[2], -v[1]], v[0]),
    };
    if axis[0].abs() + axis[1].abs() + axis[2].abs() < 1e-6 {
        return None;
    }
    let length = sqrt_f64(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    let cosine = (along / length).clamp(-1.0, 1.0);
    if cosine > COS_OF_SMALLEST_ANGLE || cosine.is_nan() {
        return None;
    }
    let axis_length = sqrt_f64(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
    let k = [axis[0] / axis_length, axis[1] / axis_length, axis[2] / axis_length];
    let a = sqrt_f64((1.0 + cosine) / 2.0);
    let half_sine = sqrt_f64((1.0 - cosine) / 2.0);
    let (b, c, d) = (-k[0] * half_sine, -k[1] * half_sine, -k[2] * half_sine);
    let (aa, bb, cc, dd) = (a * a, b * b, c * c, d * d);
    let (bc, ad, ac, ab, bd, cd) = (b * c, a * d, a * c, a * b, b * d, c * d);
    Some([
        [aa + bb - cc - dd, 2.0 * (bc + ad), 2.0 * (bd - ac)],
        [2.0 * (bc - ad), aa + cc - bb - dd, 2.0 * (cd + ab)],
        [2.0 * (bd + ac), 2.0 * (cd - ab), aa + dd - bb - cc],
    ])
}

/// `matrix · point` in f64, rounded to f32 (numpy's `np.dot(matrix, joint)` stored into a float32 array).
pub fn apply_rotation(matrix: &Matrix3, point: Vec3) -> Vec3 {
    let p = [point[0] as f64, point[1] as f64, point[2] as f64];
    let row = |r: [f64; 3]| (r[0] * p[0] + r[1] * p[1] + r[2] * p[2]) as f32;
    [row(matrix[0]), row(matrix[1]), row(matrix[2])]
}

/// Correctly rounded square root (IEEE 754 `sqrt`, as numpy and `math.sqrt`), also without `std`.
pub fn sqrt_f64(x: f64) -> f64 {
    libm::sqrt(x)
}

#[cfg(test)]
// Tests may panic on a broken invariant: that is how they fail. Tensor checks read best with explicit indices.
#[allow(clippy::unwrap_used, clippy::needless_range_loop)]
mod tests {
    extern crate std;

    use super::*;
    use crate::skeleton::Pose;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// A pose whose joint `v` sits at `(v, 10 v, 100 v) / 100 + offset`, every joint valid.
    fn pose_at(offset: Vec3) -> Pose {
        let mut pose = Pose::MISSING;
        for v in 0..NTU_JOINTS {
            let base = v as f32 / 100.0;
            pose.joints[v] = [base + offset[0], 10.0 * base + offset[1], 100.0 * base + offset[2]];
            pose.valid[v] = true;
        }
        pose
    }

    fn config(frames_out: usize, crop_ratio: f64, align: bool) -> PreprocessConfig {
        PreprocessConfig { frames_out, crop_ratio, align, streams: Streams::ALL }
    }

    struct Tensors {
        joint: Vec<f32>,
        bone: Vec<f32>,
        motion: Vec<f32>,
        missing: Vec<f32>,
    }

    fn run<const F: usize>(pre: &mut Preprocessor<F>, window: &WindowFrames<F>) -> Result<Tensors, PreprocessError> {
        let n = pre.tensor_len();
        let (mut joint, mut bone, mut motion) = (vec![f32::NAN; n], vec![f32::NAN; n], vec![f32::NAN; n]);
        let mut missing = vec![f32::NAN; mask_len(pre.config().frames_out)];
        pre.run(window, Outputs { joint: &mut joint, bone: &mut bone, motion: &mut motion, missing: &mut missing })?;
        Ok(Tensors { joint, bone, motion, missing })
    }

    /// Fills `window` and returns the preprocessor holding the filled, centred frames (no crop: p = 1, T = F).
    fn filled<const F: usize>(window: &WindowFrames<F>) -> Preprocessor<F> {
        let mut pre = Preprocessor::<F>::new(config(window.len(), 1.0, false)).unwrap();
        run(&mut pre, window).unwrap();
        pre
    }

    #[test]
    fn bone_parents_are_the_spec_pairs() {
        let pairs = [
            (1, 2),
            (2, 21),
            (3, 21),
            (4, 3),
            (5, 21),
            (6, 5),
            (7, 6),
            (8, 7),
            (9, 21),
            (10, 9),
            (11, 10),
            (12, 11),
            (13, 1),
            (14, 13),
            (15, 14),
            (16, 15),
            (17, 1),
            (18, 17),
            (19, 18),
            (20, 19),
            (22, 23),
            (21, 21),
            (23, 8),
            (24, 25),
            (25, 12),
        ];
        for (v1, v2) in pairs {
            assert_eq!(NTU_BONE_PARENTS[v1 - 1], v2 - 1, "joint {v1}");
        }
    }

    #[test]
    fn sqrt_is_bit_exact() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![1.0, 2.0, 4.0, 0.25, 1e-300, 5e-324, 2.2e-308, f64::MAX, 0.09, 1.0 - 1e-16];
        for _ in 0..20_000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let x = f64::from_bits(state >> 1);
            if x.is_finite() {
                values.push(x);
            }
        }
        for x in values {
            assert_eq!(sqrt_f64(x).to_bits(), x.sqrt().to_bits(), "sqrt({x:e})");
        }
        assert_eq!(sqrt_f64(0.0), 0.0);
        assert!(sqrt_f64(-1.0).is_nan() && sqrt_f64(f64::NAN).is_nan());
        assert_eq!(sqrt_f64(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn interpolates_between_observations_and_holds_at_the_edges() {
        // One body, 6 frames; HEAD observed only at frames 1 and 4, frame 2 is a whole absent frame.
        let mut window = WindowFrames::<8>::new();
        for f in 0..6 {
            let mut pose = pose_at([0.0; 3]);
            pose.joints[joint::SPINE_MID] = [0.0; 3];
            pose.valid[joint::HEAD] = f == 1 || f == 4;
            pose.joints[joint::HEAD] = match f {
                1 => [1.0, 2.0, 3.0],
                4 => [4.0, -1.0, 3.0],
                _ => [9.0; 3],
            };
            window.push(if f == 2 { None } else { Some(&pose) }, None).unwrap();
        }
        let pre = filled(&window);
        let head: Vec<Vec3> = (0..6).map(|f| pre.frame_joints(0, f).unwrap()[joint::HEAD]).collect();
        assert_eq!(head[0], [1.0, 2.0, 3.0]);
        assert_eq!(head[1], [1.0, 2.0, 3.0]);
        assert_eq!(head[2], [2.0, 1.0, 3.0]);
        assert_eq!(head[3], [3.0, 0.0, 3.0]);
        assert_eq!(head[4], [4.0, -1.0, 3.0]);
        assert_eq!(head[5], [4.0, -1.0, 3.0]);
        // A joint observed in every present frame is interpolated across the absent frame 2 too.
        let knee = pose_at([0.0; 3]).joints[joint::KNEE_LEFT];
        assert_eq!(pre.frame_joints(0, 2).unwrap()[joint::KNEE_LEFT], knee);
    }

    #[test]
    fn interpolation_weights_are_f32_ratios() {
        let mut window = WindowFrames::<8>::new();
        for f in 0..4 {
            let mut pose = pose_at([0.0; 3]);
            pose.joints[joint::SPINE_MID] = [0.0; 3];
            pose.valid[joint::HEAD] = f == 0 || f == 3;
            pose.joints[joint::HEAD] = if f == 0 { [0.1, 0.0, 0.0] } else { [0.7, 0.0, 0.0] };
            window.push(Some(&pose), None).unwrap();
        }
        let pre = filled(&window);
        let w: f32 = 1.0 / 3.0;
        assert_eq!(pre.frame_joints(0, 1).unwrap()[joint::HEAD][0], 0.1 + (0.7 - 0.1) * w);
        let w: f32 = 2.0 / 3.0;
        assert_eq!(pre.frame_joints(0, 2).unwrap()[joint::HEAD][0], 0.1 + (0.7 - 0.1) * w);
    }

    #[test]
    fn joints_never_observed_take_their_parents_value() {
        let mut window = WindowFrames::<4>::new();
        for f in 0..3 {
            let mut pose = pose_at([f as f32, 0.0, 0.0]);
            // HandLeft, ThumbLeft, HandTipLeft: a chain of three missing joints below WristLeft.
            for v in [joint::HAND_LEFT, joint::THUMB_LEFT, joint::HAND_TIP_LEFT] {
                pose.valid[v] = false;
                pose.joints[v] = [50.0; 3];
            }
            window.push(Some(&pose), None).unwrap();
        }
        let pre = filled(&window);
        for f in 0..3 {
            let j = pre.frame_joints(0, f).unwrap();
            assert_eq!(j[joint::HAND_LEFT], j[joint::WRIST_LEFT]);
            assert_eq!(j[joint::THUMB_LEFT], j[joint::WRIST_LEFT]);
            assert_eq!(j[joint::HAND_TIP_LEFT], j[joint::WRIST_LEFT]);
            assert_ne!(j[joint::WRIST_LEFT], j[joint::ELBOW_LEFT]);
        }
    }

    #[test]
    fn centres_on_body0_spine_mid_of_the_first_frame_and_zeroes_absent_frames() {
        let mut window = WindowFrames::<4>::new();
        let body0 = [pose_at([1.0, 0.0, 2.0]), pose_at([1.5, 0.0, 2.0]), pose_at([2.0, 0.0, 2.0])];
        let body1 = pose_at([0.0, 0.5, 3.0]);
        window.push(Some(&body0[0]), None).unwrap();
        window.push(Some(&body0[1]), Some(&body1)).unwrap();
        window.push(Some(&body0[2]), None).unwrap();
        let pre = filled(&window);
        let origin = body0[0].joints[joint::SPINE_MID];
        assert_eq!(pre.frame_joints(0, 0).unwrap()[joint::SPINE_MID], [0.0; 3]);
        let head = body0[2].joints[joint::HEAD];
        let expected = [head[0] - origin[0], head[1] - origin[1], head[2] - origin[2]];
        assert_eq!(pre.frame_joints(0, 2).unwrap()[joint::HEAD], expected);
        // Body 1 is present in frame 1 only: frames 0 and 2 are outside its range and stay zero.
        assert_eq!(pre.frame_joints(1, 0).unwrap(), &[[0.0; 3]; NTU_JOINTS]);
        assert_eq!(pre.frame_joints(1, 2).unwrap(), &[[0.0; 3]; NTU_JOINTS]);
        let hip = body1.joints[joint::HIP_LEFT];
        let expected = [hip[0] - origin[0], hip[1] - origin[1], hip[2] - origin[2]];
        assert_eq!(pre.frame_joints(1, 1).unwrap()[joint::HIP_LEFT], expected);
    }

    #[test]
    fn a_partner_without_root_counts_as_absent() {
        let mut window = WindowFrames::<2>::new();
        let mut partner = pose_at([0.3, 0.0, 2.0]);
        partner.valid[NTU_ROOT] = false;
        window.push(Some(&pose_at([0.0, 0.0, 2.0])), Some(&partner)).unwrap();
        let mut pre = Preprocessor::<2>::new(config(4, 1.0, true)).unwrap();
        let out = run(&mut pre, &window).unwrap();
        for c in 0..3 {
            for t in 0..4 {
                for v in 0..NTU_JOINTS {
                    assert_eq!(out.joint[tensor_index(4, c, t, v, 1)], 0.0);
                }
            }
        }
    }

    /// A plausible upright skeleton facing the sensor, leaning and turned, at about 2.5 m.
    fn leaning_body(frame: usize) -> Pose {
        let mut pose = pose_at([0.0; 3]);
        let template: [(usize, Vec3); 6] = [
            (joint::SPINE_BASE, [0.0, 0.0, 0.0]),
            (joint::SPINE_MID, [0.0, 0.3, 0.0]),
            (joint::SPINE_SHOULDER, [0.0, 0.52, 0.0]),
            (joint::SHOULDER_LEFT, [-0.18, 0.5, 0.0]),
            (joint::SHOULDER_RIGHT, [0.18, 0.5, 0.0]),
            (joint::HEAD, [0.0, 0.72, 0.0]),
        ];
        let (yaw, lean) = (0.4f32, 0.15f32);
        for (v, [x, y, z]) in template {
            // Lean forward (about x), then turn (about y), then place in front of the sensor.
            let (y1, z1) = (y * lean.cos() - z * lean.sin(), y * lean.sin() + z * lean.cos());
            let (x2, z2) = (x * yaw.cos() + z1 * yaw.sin(), -x * yaw.sin() + z1 * yaw.cos());
            pose.joints[v] = [x2 + 0.3 + 0.01 * frame as f32, y1 - 0.4, z2 + 2.5];
        }
        pose
    }

    #[test]
    fn alignment_sends_the_spine_to_z_and_the_shoulders_to_x() {
        let mut window = WindowFrames::<4>::new();
        for f in 0..3 {
            window.push(Some(&leaning_body(f)), Some(&pose_at([0.5, 0.0, 2.0]))).unwrap();
        }
        let mut pre = Preprocessor::<4>::new(config(3, 1.0, true)).unwrap();
        run(&mut pre, &window).unwrap();
        let j = pre.frame_joints(0, 0).unwrap();
        let spine = difference_f64(j[joint::SPINE_MID], j[joint::SPINE_BASE]);
        assert!(spine[0].abs() < 1e-6 && spine[1].abs() < 1e-6 && spine[2] > 0.29, "{spine:?}");
        let shoulders = difference_f64(j[joint::SHOULDER_RIGHT], j[joint::SHOULDER_LEFT]);
        assert!(shoulders[1].abs() < 1e-6 && shoulders[2].abs() < 1e-6 && shoulders[0] > 0.3, "{shoulders:?}");
        // Rotations keep lengths: the head stays 0.42 m above SpineMid.
        let head = difference_f64(j[joint::HEAD], j[joint::SPINE_MID]);
        let length = (head[0] * head[0] + head[1] * head[1] + head[2] * head[2]).sqrt();
        assert!((length - 0.42).abs() < 1e-5, "{length}");
    }

    /// MS-G3D's `rotation_matrix(axis, angle_between(v, target))`, with std's trigonometry.
    fn msg3d_rotation(v: [f64; 3], target: [f64; 3]) -> Matrix3 {
        let axis = [
            v[1] * target[2] - v[2] * target[1],
            v[2] * target[0] - v[0] * target[2],
            v[0] * target[1] - v[1] * target[0],
        ];
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        let theta = ((v[0] * target[0] + v[1] * target[1] + v[2] * target[2]) / n).clamp(-1.0, 1.0).acos();
        if axis.iter().map(|a| a.abs()).sum::<f64>() < 1e-6 || theta.abs() < 1e-6 {
            return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        }
        let an = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
        let k = [axis[0] / an, axis[1] / an, axis[2] / an];
        let a = (theta / 2.0).cos();
        let s = (theta / 2.0).sin();
        let (b, c, d) = (-k[0] * s, -k[1] * s, -k[2] * s);
        [
            [a * a + b * b - c * c - d * d, 2.0 * (b * c + a * d), 2.0 * (b * d - a * c)],
            [2.0 * (b * c - a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d + a * b)],
            [2.0 * (b * d + a * c), 2.0 * (c * d - a * b), a * a + d * d - b * b - c * c],
        ]
    }

    #[test]
    fn half_angle_rotation_matches_msg3d_trigonometry() {
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for i in 0..5000 {
            let mut v = [next(), next(), next()];
            if i % 10 == 0 {
                v[0] *= 1e-4; // nearly aligned with an axis
                v[1] *= 1e-4;
            }
            for (target, vector) in [(TargetAxis::Z, [0.0, 0.0, 1.0]), (TargetAxis::X, [1.0, 0.0, 0.0])] {
                let reference = msg3d_rotation(v, vector);
                let ours = rotation_onto(v, target).unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
                for r in 0..3 {
                    for c in 0..3 {
                        assert!((reference[r][c] - ours[r][c]).abs() < 1e-12, "{v:?} {target:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rotation_is_identity_when_already_aligned_or_degenerate() {
        assert_eq!(rotation_onto([0.0, 0.0, 0.3], TargetAxis::Z), None);
        assert_eq!(rotation_onto([0.0, 0.0, 0.0], TargetAxis::Z), None);
        assert_eq!(rotation_onto([0.3, 0.0, 0.0], TargetAxis::X), None);
        assert_eq!(rotation_onto([3e-7, 3e-7, 0.3], TargetAxis::Z), None, "L1 norm of the axis below 1e-6");
        assert!(rotation_onto([6e-7, 6e-7, 0.3], TargetAxis::Z).is_some());
        // Opposite direction: a half turn.
        let m = rotation_onto([1e-3, 0.0, -1.0], TargetAxis::Z).unwrap();
        let p = apply_rotation(&m, [1e-3, 0.0, -1.0]);
        assert!(p[2] > 0.99 && p[0].abs() < 1e-6 && p[1].abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn crop_bias_follows_python_int_of_f64() {
        assert_eq!(crop_bounds(40, 0.95), (1, 39));
        assert_eq!(crop_bounds(20, 0.95), (0, 20));
        assert_eq!(crop_bounds(64, 0.95), (1, 63));
        assert_eq!(crop_bounds(120, 0.95), (3, 117));
        assert_eq!(crop_bounds(120, 1.0), (0, 120));
        // (1 - 0.9) is 0.09999999999999998 in f64, so these fall just below the integer.
        assert_eq!(crop_bounds(20, 0.9), (0, 20));
        assert_eq!(crop_bounds(100, 0.9), (4, 96));
        assert_eq!(crop_bounds(3, 0.1), (1, 2));
        assert_eq!(crop_bounds(1, 0.5), (0, 1));
    }

    #[test]
    fn resize_matches_pytorch() {
        let mut out = [0.0f32; 8];
        resize_series(&[0.0, 1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
        let mut out = [0.0f32; 4];
        resize_series(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], &mut out);
        assert_eq!(out, [0.5, 2.5, 4.5, 6.5]);
        let mut out = [0.0f32; 5];
        resize_series(&[0.0, 10.0, 20.0], &mut out);
        for (o, e) in out.iter().zip([0.0, 4.0, 10.0, 16.0, 20.0]) {
            assert!((o - e).abs() < 1e-5, "{out:?}");
        }
        let mut out = [0.0f32; 3];
        resize_series(&[7.5], &mut out);
        assert_eq!(out, [7.5; 3]);
    }

    #[test]
    fn resize_is_identity_when_lengths_match() {
        let input: Vec<f32> = (0..37).map(|i| (i as f32 * 0.731).sin() * 3.3).collect();
        let mut out = vec![0.0f32; 37];
        resize_series(&input, &mut out);
        assert_eq!(input, out);
    }

    #[test]
    fn tensor_layout_bone_and_motion_of_a_small_window() {
        // Body 0 only, 3 frames, no crop, T = F: the joint tensor is the centred frames in [C, T, V, M] order.
        let mut window = WindowFrames::<4>::new();
        let frames = [pose_at([0.0, 0.0, 2.0]), pose_at([0.1, 0.0, 2.0]), pose_at([0.3, 0.0, 2.0])];
        for pose in &frames {
            window.push(Some(pose), None).unwrap();
        }
        let mut pre = Preprocessor::<4>::new(config(3, 1.0, false)).unwrap();
        let out = run(&mut pre, &window).unwrap();
        assert_eq!(out.joint.len(), 3 * 3 * 25 * 2);
        let origin = frames[0].joints[joint::SPINE_MID];
        for c in 0..3 {
            for t in 0..3 {
                for v in 0..NTU_JOINTS {
                    let expected = frames[t].joints[v][c] - origin[c];
                    assert_eq!(out.joint[tensor_index(3, c, t, v, 0)], expected);
                    assert_eq!(out.joint[tensor_index(3, c, t, v, 1)], 0.0);
                    let parent = NTU_BONE_PARENTS[v];
                    let bone = out.joint[tensor_index(3, c, t, v, 0)] - out.joint[tensor_index(3, c, t, parent, 0)];
                    assert_eq!(out.bone[tensor_index(3, c, t, v, 0)], bone);
                    let motion = if t < 2 {
                        out.joint[tensor_index(3, c, t + 1, v, 0)] - out.joint[tensor_index(3, c, t, v, 0)]
                    } else {
                        0.0
                    };
                    assert_eq!(out.motion[tensor_index(3, c, t, v, 0)], motion);
                }
                assert_eq!(out.bone[tensor_index(3, c, t, NTU_ROOT, 0)], 0.0);
            }
        }
        // Motion along x is the 0.1 then 0.2 step of every joint.
        assert!((out.motion[tensor_index(3, 0, 0, joint::HEAD, 0)] - 0.1).abs() < 1e-6);
        assert!((out.motion[tensor_index(3, 0, 1, joint::HEAD, 0)] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn missing_mask_marks_unobserved_samples_inside_the_range() {
        // F = T = 4 without crop: the resize is the identity, so the mask is the source mask.
        let mut window = WindowFrames::<4>::new();
        let mut dropped = pose_at([0.0, 0.0, 2.0]);
        dropped.valid[joint::HEAD] = false;
        dropped.joints[joint::WRIST_LEFT] = [f32::NAN, 0.0, 0.0];
        let whole = pose_at([0.0, 0.0, 2.0]);
        window.push(Some(&whole), None).unwrap();
        window.push(Some(&dropped), None).unwrap();
        window.push(None, None).unwrap(); // a gap inside body 0's range: every joint is missing there
        window.push(Some(&whole), None).unwrap();
        let mut pre = Preprocessor::<4>::new(config(4, 1.0, false)).unwrap();
        let out = run(&mut pre, &window).unwrap();
        for t in 0..4 {
            for v in 0..NTU_JOINTS {
                let expected = match t {
                    1 => v == joint::HEAD || v == joint::WRIST_LEFT,
                    2 => true,
                    _ => false,
                };
                assert_eq!(out.missing[mask_index(t, v, 0)], if expected { 1.0 } else { 0.0 }, "t {t} v {v}");
                assert_eq!(out.missing[mask_index(t, v, 1)], 0.0, "body 1 is absent: nothing of it is missing");
            }
        }
        // 2 + 25 missing out of 4 frames × 25 joints of body 0; body 1 has no range.
        assert_eq!(pre.missing(), MissingCount { missing: 27, total: 100 });
        assert_eq!(pre.missing().fraction(), 0.27);
    }

    #[test]
    fn joints_the_layout_never_provides_are_not_missing() {
        // Kinect v1 has no thumbs: they are never valid, filled from the hand, and not something to reconstruct.
        let mut window = WindowFrames::<4>::new();
        let mut pose = pose_at([0.0, 0.0, 2.0]);
        pose.valid[joint::THUMB_LEFT] = false;
        pose.valid[joint::THUMB_RIGHT] = false;
        for _ in 0..4 {
            window.push(Some(&pose), None).unwrap();
        }
        let mut pre = Preprocessor::<4>::new(config(4, 1.0, false)).unwrap();
        run(&mut pre, &window).unwrap();
        assert_eq!(pre.missing(), MissingCount { missing: 8, total: 100 }, "every joint counts until told");
        pre.set_provided(crate::layout::provided_joints(crate::wire::LayoutId::KinectV1));
        let out = run(&mut pre, &window).unwrap();
        assert_eq!(pre.missing(), MissingCount { missing: 0, total: 100 });
        assert!(out.missing.iter().all(|&m| m == 0.0));
    }

    #[test]
    fn missing_mask_is_resized_like_the_coordinates_and_any_contribution_counts() {
        // F = 4 → T = 2 without crop: output frame t takes source frames 2t and 2t + 1 at weight 0.5 each.
        let mut window = WindowFrames::<4>::new();
        let whole = pose_at([0.0, 0.0, 2.0]);
        let mut dropped = whole;
        dropped.valid[joint::KNEE_LEFT] = false;
        let mut rootless = whole;
        rootless.valid[NTU_ROOT] = false;
        window.push(Some(&whole), Some(&rootless)).unwrap();
        window.push(Some(&dropped), Some(&rootless)).unwrap();
        window.push(Some(&whole), Some(&rootless)).unwrap();
        window.push(Some(&whole), Some(&rootless)).unwrap();
        let mut pre = Preprocessor::<4>::new(config(2, 1.0, false)).unwrap();
        let out = run(&mut pre, &window).unwrap();
        assert_eq!(out.missing[mask_index(0, joint::KNEE_LEFT, 0)], 1.0);
        assert_eq!(out.missing[mask_index(1, joint::KNEE_LEFT, 0)], 0.0);
        assert_eq!(out.missing.iter().filter(|&&m| m == 1.0).count(), 1);
        // The partner never has its root observed, so it is absent: nothing of it counts.
        assert_eq!(pre.missing(), MissingCount { missing: 1, total: 50 });
        // Without a mask buffer the count is the same.
        let n = pre.tensor_len();
        let (mut joint, mut bone, mut motion) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let outputs = Outputs { joint: &mut joint, bone: &mut bone, motion: &mut motion, missing: &mut [] };
        pre.run(&window, outputs).unwrap();
        assert_eq!(pre.missing(), MissingCount { missing: 1, total: 50 });
        // A mask buffer too short is refused before anything is written.
        let mut short = vec![7.0; mask_len(2) - 1];
        let outputs = Outputs { joint: &mut joint, bone: &mut bone, motion: &mut motion, missing: &mut short };
        assert_eq!(pre.run(&window, outputs), Err(PreprocessError::MaskTooSmall { needed: 100, actual: 99 }));
        assert!(short.iter().all(|&x| x == 7.0));
        assert_eq!(MissingCount::default().fraction(), 0.0);
    }

    #[test]
    fn errors_are_reported_before_anything_is_written() {
        let mut pre = Preprocessor::<4>::new(config(2, 0.95, false)).unwrap();
        let n = pre.tensor_len();
        let mut joint = vec![7.0f32; n];
        let mut bone = vec![7.0f32; n];
        let mut short = vec![7.0f32; n - 1];
        let mut window = WindowFrames::<4>::new();
        let mut call = |pre: &mut Preprocessor<4>, w: &WindowFrames<4>, motion: &mut [f32]| {
            pre.run(w, Outputs { joint: &mut joint, bone: &mut bone, motion, missing: &mut [] })
        };
        assert_eq!(call(&mut pre, &window, &mut short), Err(PreprocessError::EmptyWindow));
        window.push(None, Some(&pose_at([0.0; 3]))).unwrap();
        window.push(Some(&pose_at([0.0; 3])), None).unwrap();
        assert_eq!(call(&mut pre, &window, &mut short), Err(PreprocessError::Body0AbsentAtEdge));
        let mut rootless = pose_at([0.0; 3]);
        rootless.valid[NTU_ROOT] = false;
        let mut window = WindowFrames::<4>::new();
        window.push(Some(&rootless), None).unwrap();
        assert_eq!(call(&mut pre, &window, &mut short), Err(PreprocessError::Body0NoRoot));
        // A root whose coordinates are out of range is not observed either.
        let mut far = pose_at([0.0; 3]);
        far.joints[NTU_ROOT] = [f32::NAN, 0.0, 0.0];
        let mut window = WindowFrames::<4>::new();
        window.push(Some(&far), None).unwrap();
        assert_eq!(call(&mut pre, &window, &mut short), Err(PreprocessError::Body0NoRoot));
        let mut window = WindowFrames::<4>::new();
        window.push(Some(&pose_at([0.0; 3])), None).unwrap();
        assert_eq!(
            call(&mut pre, &window, &mut short),
            Err(PreprocessError::OutputTooSmall { stream: Stream::Motion, needed: n, actual: n - 1 })
        );
        assert!(joint.iter().chain(&bone).all(|&x| x == 7.0));
        // Streams that are not requested need no buffer.
        let joint_only = PreprocessConfig { streams: Streams::JOINT_ONLY, ..config(2, 0.95, false) };
        let mut pre = Preprocessor::<4>::new(joint_only).unwrap();
        joint.fill(f32::NAN);
        pre.run(&window, Outputs { joint: &mut joint, bone: &mut [], motion: &mut [], missing: &mut [] }).unwrap();
        assert!(joint.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn stream_functions_refuse_short_buffers() {
        let joint = vec![1.0f32; tensor_len(2)];
        let mut short = vec![0.0f32; tensor_len(2) - 1];
        let needed = tensor_len(2);
        assert_eq!(
            bone_stream(&joint, &mut short, 2),
            Err(PreprocessError::OutputTooSmall { stream: Stream::Bone, needed, actual: needed - 1 })
        );
        let mut out = vec![0.0f32; needed];
        assert_eq!(
            motion_stream(&joint[1..], &mut out, 2),
            Err(PreprocessError::OutputTooSmall { stream: Stream::Joint, needed, actual: needed - 1 })
        );
        assert_eq!(motion_stream(&joint, &mut out, 2), Ok(()));
        assert!(out.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn invalid_configs_are_refused() {
        for bad in [
            config(0, 0.95, false),
            config(MAX_FRAMES_OUT + 1, 0.95, false),
            config(8, 0.0, false),
            config(8, 1.01, false),
            config(8, f64::NAN, false),
        ] {
            assert_eq!(Preprocessor::<4>::new(bad).err(), Some(PreprocessError::InvalidConfig));
        }
        assert_eq!(
            PreprocessConfig::default(),
            PreprocessConfig { frames_out: 64, crop_ratio: 0.95, align: false, streams: Streams::JOINT_ONLY }
        );
    }

    #[test]
    fn runs_from_tracks_through_windows() {
        use crate::track::{TrackConfig, Tracks};
        use crate::window::{extract, WindowConfig};
        let mut tracks = Tracks::<4, 16>::new(TrackConfig { min_frames: 8, ..TrackConfig::for_frames(16) }).unwrap();
        let mut window = WindowFrames::<16>::new();
        let mut pre = Preprocessor::<16>::new(config(8, 0.95, true)).unwrap();
        let n = pre.tensor_len();
        let (mut joint, mut bone, mut motion) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut windows = 0;
        for seq in 0..40u32 {
            if seq == 20 {
                continue; // a frame lost on the link
            }
            let a = leaning_body(seq as usize);
            let b = pose_at([0.9, 0.0, 2.5]);
            tracks.push_frame(seq, seq as u64 * 33_333, [(11, &a), (12, &b)]).unwrap();
            let due: heapless::Vec<_, 4> = tracks.due().collect();
            for id in due {
                extract(&tracks, id, &WindowConfig::default(), &mut window).unwrap();
                assert!(window.sources[1].is_some());
                let outputs = Outputs { joint: &mut joint, bone: &mut bone, motion: &mut motion, missing: &mut [] };
                pre.run(&window, outputs).unwrap();
                assert!(joint.iter().chain(&bone).chain(&motion).all(|x| x.is_finite()));
                tracks.mark_inferred(id).unwrap();
                windows += 1;
            }
        }
        assert!(windows >= 8, "{windows}");
    }

    fn arbitrary_coordinate() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -5.0f32..5.0,
            1 => prop::num::f32::ANY,
            1 => prop_oneof![Just(999.0f32), Just(-1000.0), Just(1000.5), Just(f32::MAX), Just(f32::INFINITY)],
        ]
    }

    fn arbitrary_frame() -> impl Strategy<Value = (bool, Vec<(Vec3, bool)>)> {
        (
            any::<bool>(),
            prop::collection::vec(
                ([arbitrary_coordinate(), arbitrary_coordinate(), arbitrary_coordinate()], prop::bool::weighted(0.8)),
                NTU_JOINTS,
            ),
        )
    }

    fn to_pose(joints: &[(Vec3, bool)]) -> Pose {
        let mut pose = Pose::MISSING;
        for (v, (point, valid)) in joints.iter().enumerate() {
            pose.joints[v] = *point;
            pose.valid[v] = *valid;
        }
        pose
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_windows_never_panic_and_give_finite_tensors(
            frames in prop::collection::vec((arbitrary_frame(), arbitrary_frame()), 1..=24),
            frames_out in 1usize..40,
            crop_ratio in 0.01f64..=1.0,
            align in any::<bool>(),
            force_edges in any::<bool>(),
        ) {
            let mut window = WindowFrames::<24>::new();
            let last = frames.len() - 1;
            for (f, ((present0, joints0), (present1, joints1))) in frames.iter().enumerate() {
                let p0 = to_pose(joints0);
                let p1 = to_pose(joints1);
                let present0 = *present0 || (force_edges && (f == 0 || f == last));
                window.push(present0.then_some(&p0), present1.then_some(&p1)).unwrap();
            }
            let mut pre = Preprocessor::<24>::new(config(frames_out, crop_ratio, align)).unwrap();
            match run(&mut pre, &window) {
                Ok(out) => {
                    prop_assert!(out.joint.iter().chain(&out.bone).chain(&out.motion).all(|x| x.is_finite()));
                }
                Err(e) => prop_assert!(matches!(e, PreprocessError::Body0AbsentAtEdge | PreprocessError::Body0NoRoot)),
            }
        }
    }
}
