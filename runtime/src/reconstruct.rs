//! REC: reconstruction of missing joints before classification (DCMAE, issue 10).
//!
//! Step 1 of preprocessing fills a joint the sensor did not report by interpolation in time, or with its parent's
//! position. A reconstruction model does better: it sees the whole window and predicts the missing samples from
//! the observed ones. When the bundle carries one (`docs/bundle.md`, section kind `Reconstruction`), the device
//! runs it on windows with enough missing joints, between preprocessing and the encoder:
//!
//! 1. preprocessing gives the joint tensor (steps 1-5, missing samples interpolated), the missing mask and the
//!    window's [`MissingCount`] (`docs/preprocessing.md`, "The missing mask");
//! 2. the [`ReconstructionPolicy`] decides from the missing fraction whether REC runs;
//! 3. [`Reconstruction::apply`] runs the model on (joint, missing) and writes the completed joints over the joint
//!    tensor, keeping every observed entry bit for bit, then derives the bone and motion streams again from the
//!    completed joints (steps 6-7);
//! 4. the encoder classifies the window as usual.
//!
//! The model is an [`Engine`] whose input is the concatenation of its two ONNX inputs, `joint` `[1, 3, T, 25, 2]`
//! then `missing` `[1, 1, T, 25, 2]` ([`input_len`] values), and whose output is `completed` `[1, 3, T, 25, 2]`. It is
//! deterministic: its diffusion noise is a constant of the graph.

use crate::engine::{Engine, EngineError};
use crate::preprocess::{bone_stream, mask_len, motion_stream, tensor_len, MissingCount, Streams};

/// The missing fraction above which REC runs in [`ReconstructionMode::Auto`] when neither the bundle nor the
/// configuration says otherwise.
pub const DEFAULT_THRESHOLD: f32 = 0.05;

/// Values of a reconstruction model's input for `frames_out` = T: the joint tensor, then the missing mask.
pub const fn input_len(frames_out: usize) -> usize {
    tensor_len(frames_out) + mask_len(frames_out)
}

/// When REC runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReconstructionMode {
    /// On windows whose missing fraction is above the threshold.
    #[default]
    Auto,
    /// On every window with at least one missing joint sample.
    On,
    /// Never: missing joints stay interpolated.
    Off,
}

impl ReconstructionMode {
    /// `auto`, `on` or `off`, as the configuration spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ReconstructionMode::Auto => "auto",
            ReconstructionMode::On => "on",
            ReconstructionMode::Off => "off",
        }
    }

    /// The mode a configuration value names.
    pub fn parse(name: &str) -> Option<Self> {
        [ReconstructionMode::Auto, ReconstructionMode::On, ReconstructionMode::Off]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// Why a reconstruction setting was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReconstructionError {
    /// The threshold is not a fraction in 0..=1.
    Threshold(f32),
    /// The model's input or output length does not fit T (`expected` input, output values).
    Shape { input: usize, output: usize, expected_input: usize, expected_output: usize },
    /// The caller's input buffer is shorter than [`input_len`].
    Buffer { needed: usize, actual: usize },
}

impl core::fmt::Display for ReconstructionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReconstructionError::Threshold(t) => {
                write!(f, "reconstruction threshold {t} is not a missing fraction in 0..=1")
            }
            ReconstructionError::Shape { input, output, expected_input, expected_output } => write!(
                f,
                "the reconstruction model takes {input} values and gives {output}; the encoder's windows need \
                 {expected_input} (joint and missing mask) and {expected_output}"
            ),
            ReconstructionError::Buffer { needed, actual } => {
                write!(f, "the reconstruction input buffer holds {actual} values, needs {needed}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ReconstructionError {}

/// The mode and threshold: whether a window is reconstructed.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReconstructionPolicy {
    mode: ReconstructionMode,
    threshold: f32,
}

impl Default for ReconstructionPolicy {
    fn default() -> Self {
        ReconstructionPolicy { mode: ReconstructionMode::Auto, threshold: DEFAULT_THRESHOLD }
    }
}

impl ReconstructionPolicy {
    /// Errors: [`ReconstructionError::Threshold`] unless `threshold` is in 0..=1 (NaN is not).
    pub fn new(mode: ReconstructionMode, threshold: f32) -> Result<Self, ReconstructionError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(ReconstructionError::Threshold(threshold));
        }
        Ok(ReconstructionPolicy { mode, threshold })
    }

    pub fn mode(&self) -> ReconstructionMode {
        self.mode
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Whether a window with this missing count is reconstructed: never without a missing sample; in `auto` when its
    /// missing fraction is strictly above the threshold; in `on` always; in `off` never.
    pub fn should_run(&self, missing: MissingCount) -> bool {
        if !missing.any() {
            return false;
        }
        match self.mode {
            ReconstructionMode::Off => false,
            ReconstructionMode::On => true,
            ReconstructionMode::Auto => missing.fraction() > self.threshold,
        }
    }
}

/// How often windows had missing joints and how often REC ran, for status lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReconstructionCounters {
    /// Windows with at least one missing joint sample (whether or not REC ran on them).
    pub windows_with_missing: u32,
    /// Windows REC completed before the encoder.
    pub windows_reconstructed: u32,
    /// Windows REC was due on but failed (the model's error, or a result that is not finite): they were classified
    /// with their interpolated joints.
    pub reconstructions_failed: u32,
}

impl ReconstructionCounters {
    /// Counts one window.
    pub fn record(&mut self, missing: MissingCount, outcome: &WindowOutcome) {
        if missing.any() {
            self.windows_with_missing = self.windows_with_missing.wrapping_add(1);
        }
        match outcome {
            WindowOutcome::Reconstructed => self.windows_reconstructed = self.windows_reconstructed.wrapping_add(1),
            WindowOutcome::Failed(_) => self.reconstructions_failed = self.reconstructions_failed.wrapping_add(1),
            WindowOutcome::Interpolated => {}
        }
    }
}

/// What REC did to one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WindowOutcome {
    /// Not due (or no model): the joints stay interpolated.
    Interpolated,
    /// The window's missing joints were reconstructed.
    Reconstructed,
    /// REC was due but failed; the interpolated joints were kept.
    Failed(EngineError),
}

impl WindowOutcome {
    pub fn reconstructed(&self) -> bool {
        matches!(self, WindowOutcome::Reconstructed)
    }
}

/// `EngineError::Backend` code of a reconstruction whose output is not finite.
pub const NOT_FINITE: i32 = 100;

/// A reconstruction model with its policy and the storage of its input (caller-supplied, [`input_len`] values:
/// nothing is allocated per window).
#[derive(Debug)]
pub struct Reconstruction<'a, E> {
    engine: E,
    policy: ReconstructionPolicy,
    frames_out: usize,
    input: &'a mut [f32],
}

impl<'a, E: Engine> Reconstruction<'a, E> {
    /// A model for windows of `frames_out` = T frames.
    ///
    /// Errors: [`ReconstructionError::Shape`] when the engine does not take [`input_len`] values and give a joint
    /// tensor, [`ReconstructionError::Buffer`] when `input` is shorter than [`input_len`].
    pub fn new(
        engine: E,
        policy: ReconstructionPolicy,
        frames_out: usize,
        input: &'a mut [f32],
    ) -> Result<Self, ReconstructionError> {
        let (expected_input, expected_output) = (input_len(frames_out), tensor_len(frames_out));
        if engine.input_len() != expected_input || engine.output_len() != expected_output {
            return Err(ReconstructionError::Shape {
                input: engine.input_len(),
                output: engine.output_len(),
                expected_input,
                expected_output,
            });
        }
        if input.len() < expected_input {
            return Err(ReconstructionError::Buffer { needed: expected_input, actual: input.len() });
        }
        Ok(Reconstruction { engine, policy, frames_out, input })
    }

    pub fn policy(&self) -> ReconstructionPolicy {
        self.policy
    }

    pub fn frames_out(&self) -> usize {
        self.frames_out
    }

    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// Reconstructs the window when the policy says so ([`ReconstructionPolicy::should_run`] of `missing`), else
    /// leaves it alone. `joint`, `bone` and `motion` are the window's stream tensors (bone and motion are derived
    /// again when `streams` asks for them), `mask` its missing mask.
    ///
    /// On failure the joint tensor is left as it was (interpolated) and the derived streams are untouched.
    pub fn apply(
        &mut self,
        missing: MissingCount,
        mask: &[f32],
        joint: &mut [f32],
        bone: &mut [f32],
        motion: &mut [f32],
        streams: Streams,
    ) -> WindowOutcome {
        if !self.policy.should_run(missing) {
            return WindowOutcome::Interpolated;
        }
        match self.reconstruct(mask, joint, bone, motion, streams) {
            Ok(()) => WindowOutcome::Reconstructed,
            Err(error) => WindowOutcome::Failed(error),
        }
    }

    /// Runs the model whatever the policy says: completes `joint` in place (observed entries kept bit for bit) and
    /// derives bone and motion again as `streams` asks.
    pub fn reconstruct(
        &mut self,
        mask: &[f32],
        joint: &mut [f32],
        bone: &mut [f32],
        motion: &mut [f32],
        streams: Streams,
    ) -> Result<(), EngineError> {
        let (n, m) = (tensor_len(self.frames_out), mask_len(self.frames_out));
        if joint.len() < n {
            return Err(EngineError::OutputLength { expected: n, actual: joint.len() });
        }
        if mask.len() < m {
            return Err(EngineError::InputLength { expected: n + m, actual: n + mask.len() });
        }
        let (joint, mask) = (&mut joint[..n], &mask[..m]);
        let input = &mut self.input[..n + m];
        input[..n].copy_from_slice(joint);
        input[n..].copy_from_slice(mask);
        let input: &[f32] = input;
        let interpolated = &input[..n];
        let restore = |joint: &mut [f32], error: EngineError| {
            joint.copy_from_slice(interpolated);
            Err(error)
        };
        if let Err(error) = self.engine.run(input, joint) {
            return restore(joint, error);
        }
        if joint.iter().any(|x| !x.is_finite()) {
            return restore(joint, EngineError::Backend { code: NOT_FINITE });
        }
        // The model's contract is to return observed entries unchanged; holding it to that exactly costs a pass.
        // Element i of [3, T, 25, 2] is mask element i mod (T·50).
        for (i, value) in joint.iter_mut().enumerate() {
            if mask[i % m] == 0.0 {
                *value = interpolated[i];
            }
        }
        if streams.bone {
            bone_stream(joint, bone, self.frames_out)
                .map_err(|_| EngineError::OutputLength { expected: n, actual: bone.len() })?;
        }
        if streams.motion {
            motion_stream(joint, motion, self.frames_out)
                .map_err(|_| EngineError::OutputLength { expected: n, actual: motion.len() })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::preprocess::mask_index;
    use std::vec;
    use std::vec::Vec;

    fn count(missing: u32, total: u32) -> MissingCount {
        MissingCount { missing, total }
    }

    #[test]
    fn auto_runs_strictly_above_the_threshold_and_never_without_missing_joints() {
        let auto = ReconstructionPolicy::new(ReconstructionMode::Auto, 0.05).unwrap();
        assert!(!auto.should_run(count(0, 1600)));
        assert!(!auto.should_run(count(4, 100)), "4 %");
        assert!(!auto.should_run(count(5, 100)), "exactly at the threshold");
        assert!(auto.should_run(count(6, 100)), "6 %");
        assert!(auto.should_run(count(100, 100)));
        // A threshold of 0 runs on any missing joint, and still not on a whole window.
        let zero = ReconstructionPolicy::new(ReconstructionMode::Auto, 0.0).unwrap();
        assert!(zero.should_run(count(1, 1600)));
        assert!(!zero.should_run(count(0, 1600)));
        assert!(!zero.should_run(count(0, 0)));
        // A threshold of 1 never runs in auto.
        let one = ReconstructionPolicy::new(ReconstructionMode::Auto, 1.0).unwrap();
        assert!(!one.should_run(count(100, 100)));
    }

    #[test]
    fn on_runs_on_any_missing_joint_and_off_never() {
        let on = ReconstructionPolicy::new(ReconstructionMode::On, 0.5).unwrap();
        assert!(on.should_run(count(1, 1600)));
        assert!(!on.should_run(count(0, 1600)));
        let off = ReconstructionPolicy::new(ReconstructionMode::Off, 0.0).unwrap();
        assert!(!off.should_run(count(1600, 1600)));
    }

    #[test]
    fn thresholds_outside_zero_to_one_are_refused() {
        for bad in [-0.01, 1.01, f32::NAN, f32::INFINITY] {
            let refused = ReconstructionPolicy::new(ReconstructionMode::Auto, bad).unwrap_err();
            assert!(matches!(refused, ReconstructionError::Threshold(_)));
        }
        assert_eq!(ReconstructionPolicy::default().threshold(), DEFAULT_THRESHOLD);
        for mode in [ReconstructionMode::Auto, ReconstructionMode::On, ReconstructionMode::Off] {
            assert_eq!(ReconstructionMode::parse(mode.name()), Some(mode));
        }
        assert_eq!(ReconstructionMode::parse("sometimes"), None);
    }

    /// A stand-in model: every output is its joint input plus 10 × the mask entry it lies on, or NaN when told to.
    #[derive(Debug)]
    struct Shift {
        frames_out: usize,
        nan: bool,
        runs: usize,
    }

    impl Engine for Shift {
        fn input_len(&self) -> usize {
            input_len(self.frames_out)
        }
        fn output_len(&self) -> usize {
            tensor_len(self.frames_out)
        }
        fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
            crate::engine::check_lengths(self, input, output)?;
            self.runs += 1;
            let (n, m) = (tensor_len(self.frames_out), mask_len(self.frames_out));
            for (i, out) in output.iter_mut().enumerate() {
                // Observed entries move too, by 0.5: the device must put them back.
                *out = if self.nan { f32::NAN } else { input[i] + 10.0 * input[n + i % m] + 0.5 };
            }
            Ok(())
        }
    }

    #[test]
    fn apply_completes_missing_entries_only_and_derives_bone_and_motion_again() {
        let t = 4;
        let (n, m) = (tensor_len(t), mask_len(t));
        let mut buffer = vec![0.0; input_len(t)];
        let engine = Shift { frames_out: t, nan: false, runs: 0 };
        let policy = ReconstructionPolicy::new(ReconstructionMode::Auto, 0.05).unwrap();
        let mut rec = Reconstruction::new(engine, policy, t, &mut buffer).unwrap();
        let mut mask = vec![0.0; m];
        mask[mask_index(2, 5, 0)] = 1.0;
        let interpolated: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
        let mut joint = interpolated.clone();
        let (mut bone, mut motion) = (vec![0.0; n], vec![0.0; n]);
        // 1 of 200: below the threshold, nothing happens.
        let outcome = rec.apply(count(1, 200), &mask, &mut joint, &mut bone, &mut motion, Streams::ALL);
        assert_eq!((outcome, rec.engine().runs), (WindowOutcome::Interpolated, 0));
        assert_eq!(joint, interpolated);
        let outcome = rec.apply(count(1, 10), &mask, &mut joint, &mut bone, &mut motion, Streams::ALL);
        assert_eq!(outcome, WindowOutcome::Reconstructed);
        for i in 0..n {
            let expected = if i % m == mask_index(2, 5, 0) { interpolated[i] + 10.5 } else { interpolated[i] };
            assert_eq!(joint[i], expected, "entry {i}");
        }
        let (mut expected_bone, mut expected_motion) = (vec![0.0; n], vec![0.0; n]);
        bone_stream(&joint, &mut expected_bone, t).unwrap();
        motion_stream(&joint, &mut expected_motion, t).unwrap();
        assert_eq!((bone, motion), (expected_bone, expected_motion));
    }

    #[test]
    fn a_failed_reconstruction_leaves_the_interpolated_window() {
        let t = 2;
        let n = tensor_len(t);
        let mut buffer = vec![0.0; input_len(t)];
        let engine = Shift { frames_out: t, nan: true, runs: 0 };
        let policy = ReconstructionPolicy::new(ReconstructionMode::On, 0.05).unwrap();
        let mut rec = Reconstruction::new(engine, policy, t, &mut buffer).unwrap();
        let mask = vec![1.0; mask_len(t)];
        let interpolated = vec![0.25; n];
        let mut joint = interpolated.clone();
        let (mut bone, mut motion) = (vec![7.0; n], vec![7.0; n]);
        let outcome = rec.apply(count(1, 50), &mask, &mut joint, &mut bone, &mut motion, Streams::ALL);
        assert_eq!(outcome, WindowOutcome::Failed(EngineError::Backend { code: NOT_FINITE }));
        assert_eq!(joint, interpolated);
        assert!(bone.iter().chain(&motion).all(|&x| x == 7.0));
        let mut counters = ReconstructionCounters::default();
        counters.record(count(1, 50), &outcome);
        counters.record(count(0, 50), &WindowOutcome::Interpolated);
        counters.record(count(3, 50), &WindowOutcome::Reconstructed);
        assert_eq!(
            counters,
            ReconstructionCounters { windows_with_missing: 2, windows_reconstructed: 1, reconstructions_failed: 1 }
        );
    }

    #[test]
    fn models_and_buffers_of_the_wrong_size_are_refused() {
        let policy = ReconstructionPolicy::default();
        let mut buffer = vec![0.0; input_len(4)];
        let wrong = Shift { frames_out: 8, nan: false, runs: 0 };
        assert!(matches!(
            Reconstruction::new(wrong, policy, 4, &mut buffer).unwrap_err(),
            ReconstructionError::Shape { expected_input: 800, expected_output: 600, .. }
        ));
        let mut short = vec![0.0; input_len(4) - 1];
        let engine = Shift { frames_out: 4, nan: false, runs: 0 };
        assert_eq!(
            Reconstruction::new(engine, policy, 4, &mut short).unwrap_err(),
            ReconstructionError::Buffer { needed: 800, actual: 799 }
        );
    }
}
