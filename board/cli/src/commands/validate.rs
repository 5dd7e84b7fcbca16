//! `skelact validate`: runs raw windows through the device's own path (bundle loading, the runtime's
//! preprocessing, a backend, the bundle's head) and writes what came out as `.npy`, for `cargo xtask validate` to
//! compare with the desktop references.
//!
//! Input: a directory of raw windows as `skelact_models.deploy.windows` writes them (all float32 `.npy`):
//! `joints.npy` [N, 2, F, 25, 3], `valid.npy` [N, 2, F, 25], `present.npy` [N, 2, F] and `frames.npy` [N] (each
//! window's length; the rest of F is padding). Output, per stream `s` of the bundle:
//! - `s_embedding.npy` [N, D]: the engine output, when the head works on embeddings (linear, prototype, text);
//! - `s_logits.npy` [N, K]: the logits, from the engine directly (logits head) or through the bundle's linear head;
//! - `joint_input.npy` [min(N, dump), 3, T, 25, 2]: the preprocessed joint tensors of the first windows, so that the
//!   two implementations of the preprocessing are compared too;
//! - `refused.txt`: `index<TAB>reason` for every window the runtime refused (its output rows are NaN).
//!
//! Windows are classified one by one with the stride and decision layer out of the way: validation compares model
//! outputs, not events.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use skelact_device::model::{BackendChoice, BundleFile, DeviceEngine, EngineOptions, LoadedModel, OverlayChoice};
use skelact_formats::npy::{self, NpyArray};
use skelact_runtime::bundle::{ExemplarStorage, Precision, StreamKind};
use skelact_runtime::engine::Engine;
use skelact_runtime::pipeline::{Head, StreamEngines};
use skelact_runtime::preprocess::{Outputs, Preprocessor};
use skelact_runtime::skeleton::{Pose, NTU_JOINTS};
use skelact_runtime::window::{WindowFrames, WINDOW_BODIES};

/// Longest raw window accepted. The device's windows are bounded by its track rings (64 frames by default);
/// validation also feeds whole recorded actions, which stay well below this.
pub const MAX_WINDOW_FRAMES: usize = 512;

/// Which backend runs the models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// tract on the CPU, from the bundle's ONNX models.
    Tract,
    /// TensorRT on the GPU, from the bundle's engines (needs TensorRT 10 and a GPU at run time).
    Tensorrt,
}

/// Model precision to validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    Fp32,
    Fp16,
    Int8,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
            PrecisionArg::Int8 => Precision::Int8,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The bundle to validate (`.skb`).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Directory of raw windows (joints.npy, valid.npy, present.npy, frames.npy).
    #[arg(long)]
    pub windows: PathBuf,
    /// Directory for the outputs (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Precision of the bundle's models to run.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    pub precision: PrecisionArg,
    /// Backend to run them on.
    #[arg(long, value_enum, default_value_t = Backend::Tract)]
    pub backend: Backend,
    /// Threads per inference (tract).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Write the preprocessed joint tensors of this many windows to joint_input.npy.
    #[arg(long, default_value_t = 32)]
    pub dump_inputs: usize,
}

/// Raw windows as read from the `.npy` files.
#[derive(Debug)]
struct RawWindows {
    count: usize,
    max_frames: usize,
    joints: Vec<f32>,
    valid: Vec<f32>,
    present: Vec<f32>,
    frames: Vec<usize>,
}

impl RawWindows {
    fn read(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            NpyArray::read(&path).with_context(|| format!("could not read {}", path.display()))
        };
        let (joints, valid, present, frames) =
            (read("joints.npy")?, read("valid.npy")?, read("present.npy")?, read("frames.npy")?);
        let [count, bodies, max_frames, joint_count, 3] = joints.shape[..] else {
            bail!("joints.npy has shape {:?}, expected [N, 2, F, 25, 3]", joints.shape);
        };
        ensure!(
            bodies == WINDOW_BODIES && joint_count == NTU_JOINTS,
            "joints.npy has shape {:?}, expected [N, 2, F, 25, 3]",
            joints.shape
        );
        ensure!(
            valid.shape == [count, WINDOW_BODIES, max_frames, NTU_JOINTS],
            "valid.npy has shape {:?}, expected {:?}",
            valid.shape,
            [count, 2, max_frames, 25]
        );
        ensure!(
            present.shape == [count, WINDOW_BODIES, max_frames],
            "present.npy has shape {:?}, expected {:?}",
            present.shape,
            [count, 2, max_frames]
        );
        ensure!(frames.shape == [count], "frames.npy has shape {:?}, expected [{count}]", frames.shape);
        let mut lengths = Vec::with_capacity(count);
        for (i, &f) in frames.data.iter().enumerate() {
            ensure!(
                f.fract() == 0.0 && f >= 1.0 && f as usize <= max_frames,
                "window {i}: length {f} is not in 1..={max_frames}"
            );
            ensure!(
                f as usize <= MAX_WINDOW_FRAMES,
                "window {i} has {f} frames; at most {MAX_WINDOW_FRAMES} are accepted"
            );
            lengths.push(f as usize);
        }
        Ok(RawWindows {
            count,
            max_frames,
            joints: joints.data,
            valid: valid.data,
            present: present.data,
            frames: lengths,
        })
    }

    /// Fills `window` with window `i`, frame by frame, as the device's tracks would hand it over.
    fn fill(&self, i: usize, window: &mut WindowFrames<MAX_WINDOW_FRAMES>) -> Result<()> {
        window.clear();
        let f_max = self.max_frames;
        for f in 0..self.frames[i] {
            let mut poses = [None, None];
            for (b, pose) in poses.iter_mut().enumerate() {
                let frame = (i * WINDOW_BODIES + b) * f_max + f;
                if self.present[frame] < 0.5 {
                    continue;
                }
                let mut p = Pose::MISSING;
                for v in 0..NTU_JOINTS {
                    let base = (frame * NTU_JOINTS + v) * 3;
                    p.joints[v] = [self.joints[base], self.joints[base + 1], self.joints[base + 2]];
                    p.valid[v] = self.valid[frame * NTU_JOINTS + v] > 0.5;
                }
                *pose = Some(p);
            }
            window.push(poses[0].as_ref(), poses[1].as_ref()).map_err(|e| anyhow::anyhow!("window {i}: {e}"))?;
        }
        Ok(())
    }
}

pub fn run(args: &ValidateArgs) -> Result<()> {
    // The device's own path from the bundle to engines, with the precision asked for and no fallback.
    let file = BundleFile::read(&args.bundle)?;
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore)?;
    let bundle = &model.bundle;
    let manifest = bundle.manifest();
    let frontend = model.frontend_config()?;
    let precision = Precision::from(args.precision);
    let windows = RawWindows::read(&args.windows)?;

    let backend = match args.backend {
        Backend::Tract => BackendChoice::Tract,
        Backend::Tensorrt => BackendChoice::Tensorrt,
    };
    let options = EngineOptions { backend, threads: args.threads, onnxruntime: None, precision, exact_precision: true };
    let StreamEngines { joint, bone, motion, .. } = model.engines(&options)?;
    let mut engines: Vec<(StreamKind, DeviceEngine)> =
        [(StreamKind::Joint, Some(joint)), (StreamKind::Bone, bone), (StreamKind::Motion, motion)]
            .into_iter()
            .filter_map(|(kind, engine)| engine.map(|e| (kind, e)))
            .collect();
    let head = bundle.head(ExemplarStorage::none()).map_err(|e| anyhow::anyhow!("bundle head: {e}"))?;
    let classes = manifest.labels.len();
    let out_len = manifest.output_len() as usize;
    let logits_wanted = matches!(head, Head::Logits | Head::Linear(_));
    let embeddings_wanted = !matches!(head, Head::Logits);

    let mut preprocessor: Box<Preprocessor<MAX_WINDOW_FRAMES>> =
        Box::new(Preprocessor::new(frontend.preprocess).map_err(|e| anyhow::anyhow!("preprocessing settings: {e}"))?);
    let mut window: Box<WindowFrames<MAX_WINDOW_FRAMES>> = Box::default();
    let len = preprocessor.tensor_len();
    let (mut joint, mut bone, mut motion) = (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
    let n = windows.count;
    let streams = engines.len();
    let mut embeddings = vec![vec![f32::NAN; n * out_len]; streams];
    let mut logits = vec![vec![f32::NAN; n * classes]; streams];
    let dumped = args.dump_inputs.min(n);
    let mut inputs = vec![f32::NAN; dumped * len];
    let mut refused = String::new();
    let mut output = vec![0f32; out_len];

    let started = std::time::Instant::now();
    for i in 0..n {
        windows.fill(i, &mut window)?;
        let prepared = preprocessor
            .run(&window, Outputs { joint: &mut joint, bone: &mut bone, motion: &mut motion, missing: &mut [] });
        if let Err(error) = prepared {
            let _ = writeln!(refused, "{i}\t{error}");
            continue;
        }
        if i < dumped {
            inputs[i * len..(i + 1) * len].copy_from_slice(&joint);
        }
        for (s, (kind, engine)) in engines.iter_mut().enumerate() {
            let tensor = match kind {
                StreamKind::Joint => &joint,
                StreamKind::Bone => &bone,
                StreamKind::Motion => &motion,
            };
            engine.run(tensor, &mut output).map_err(|e| anyhow::anyhow!("window {i}, {kind:?} stream: {e}"))?;
            embeddings[s][i * out_len..(i + 1) * out_len].copy_from_slice(&output);
            let row = &mut logits[s][i * classes..(i + 1) * classes];
            match &head {
                Head::Logits => row.copy_from_slice(&output[..classes]),
                Head::Linear(linear) => {
                    linear.logits(&output, row).map_err(|e| anyhow::anyhow!("window {i}: head: {e}"))?
                }
                Head::Prototype { .. }
                | Head::Text { .. }
                | Head::EnrolledOverLinear(_)
                | Head::TypedBehindGate { .. } => {}
            }
        }
        if (i + 1) % 100 == 0 || i + 1 == n {
            eprint!("\rskelact validate: {}/{n} windows ({:.1} s)", i + 1, started.elapsed().as_secs_f64());
        }
    }
    eprintln!();

    fs::create_dir_all(&args.out).with_context(|| format!("could not create {}", args.out.display()))?;
    for (s, (kind, _)) in engines.iter().enumerate() {
        let name = stream_name(*kind);
        if embeddings_wanted {
            npy::write_f32(&args.out.join(format!("{name}_embedding.npy")), &[n, out_len], &embeddings[s])?;
        }
        if logits_wanted {
            npy::write_f32(&args.out.join(format!("{name}_logits.npy")), &[n, classes], &logits[s])?;
        }
    }
    let t = frontend.preprocess.frames_out;
    npy::write_f32(&args.out.join("joint_input.npy"), &[dumped, 3, t, NTU_JOINTS, WINDOW_BODIES], &inputs)?;
    fs::write(args.out.join("refused.txt"), &refused)?;
    let refusals = refused.lines().count();
    println!(
        "skelact validate: {n} windows, {refusals} refused, {} stream(s), {:?} {:?}, outputs in {}",
        streams,
        args.backend,
        precision,
        args.out.display()
    );
    Ok(())
}

fn stream_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Joint => "joint",
        StreamKind::Bone => "bone",
        StreamKind::Motion => "motion",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_windows_with_inconsistent_shapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        npy::write_f32(&dir.path().join("joints.npy"), &[1, 2, 3, 25, 3], &[0.0; 450]).unwrap();
        npy::write_f32(&dir.path().join("valid.npy"), &[1, 2, 3, 25], &[1.0; 150]).unwrap();
        npy::write_f32(&dir.path().join("present.npy"), &[1, 2, 4], &[1.0; 8]).unwrap();
        npy::write_f32(&dir.path().join("frames.npy"), &[1], &[3.0]).unwrap();
        let err = RawWindows::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("present.npy has shape [1, 2, 4]"), "{err}");
        npy::write_f32(&dir.path().join("present.npy"), &[1, 2, 3], &[1.0; 6]).unwrap();
        npy::write_f32(&dir.path().join("frames.npy"), &[1], &[4.0]).unwrap();
        let err = RawWindows::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("length 4 is not in 1..=3"), "{err}");
    }

    #[test]
    fn a_window_is_filled_frame_by_frame_with_absent_bodies_and_invalid_joints() {
        let dir = tempfile::tempdir().unwrap();
        let mut joints = vec![0f32; 2 * 3 * 25 * 3];
        joints[25 * 3 + 5 * 3 + 1] = 0.75; // [body 0][frame 1][joint 5][y], frames of 25 joints × 3
        let mut valid = vec![1f32; 2 * 3 * 25];
        valid[25 + 7] = 0.0; // [body 0][frame 1][joint 7]
        let present = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        npy::write_f32(&dir.path().join("joints.npy"), &[1, 2, 3, 25, 3], &joints).unwrap();
        npy::write_f32(&dir.path().join("valid.npy"), &[1, 2, 3, 25], &valid).unwrap();
        npy::write_f32(&dir.path().join("present.npy"), &[1, 2, 3], &present).unwrap();
        npy::write_f32(&dir.path().join("frames.npy"), &[1], &[3.0]).unwrap();
        let raw = RawWindows::read(dir.path()).unwrap();
        let mut window: Box<WindowFrames<MAX_WINDOW_FRAMES>> = Box::default();
        raw.fill(0, &mut window).unwrap();
        assert_eq!(window.len(), 3);
        let pose = window.pose(0, 1).unwrap();
        assert_eq!(pose.joints[5], [0.0, 0.75, 0.0]);
        assert!(!pose.valid[7] && pose.valid[6]);
        assert!(!window.present(1, 0) && window.present(1, 1) && !window.present(1, 2));
    }
}
