//! `skelact eval`: a real dataset's split through the device's own path, scored per sequence.
//!
//! Each sequence file becomes the byte stream `skelact replay` sends for it (a Kinect v1 `Hello`, then its frames at
//! 30 Hz),
//! and goes through what `skelact run` runs: the protocol decoder, the Kinect v1 → NTU-25 layout mapping, the
//! tracks, the window and the preprocessing (`Frontend`), the engines and the head (`Classifier`). The sequence's
//! prediction is the top label of its **last window**: the track's history at the end of the stream (the most the
//! device has seen of the action, up to the bundle's `raw_frames`), so a sequence no longer than the window is
//! classified on all its frames, like the desktop evaluation's one window per sequence. Two accuracies are printed:
//! top-1 (the top label, whatever its score: the desktop evaluation's figure, which it must match on the same
//! windows), and as the device reports it, where a sequence whose best score stays below the bundle's
//! `unknown_threshold` counts as unknown (and as an error).
//!
//! Printed: accuracy, the confusion matrix, the unknown rate and the per-window latency of the engines and head;
//! `--json` writes them, `--confusion FILE.png` draws the matrix.
//!
//! Missing joints: `--drop-joints RATE` marks that share of the sensor's joints as not tracked (seeded,
//! `--drop-seed`) before the device sees them. When the bundle carries a reconstruction model (REC) and
//! `--reconstruction` is not `off`, every last window is classified twice, as interpolated and as REC completes it
//! when the policy runs REC on it, and both accuracies are reported.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use skelact_device::config::ReconstructionModeSetting;
use skelact_device::model::{
    boxed_frontend, BackendChoice, BundleFile, DeviceClassifier, DeviceEngine, EngineOptions, LoadedModel,
    OverlayChoice,
};
use skelact_formats::kinect_v1::{Dataset, Split};
use skelact_formats::{self as sources, InputFormat};
use skelact_runtime::pipeline::{Tensors, WindowInfo};
use skelact_runtime::preprocess::Outputs;
use skelact_runtime::reconstruct::{Reconstruction, WindowOutcome};
use skelact_runtime::wire::{Decoder, Message};

use super::bench::percentiles;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The dataset whose split to stream.
    #[arg(long, value_enum)]
    pub dataset: Dataset,
    /// Folder holding the datasets (nw-ucla/, utd-mhad/) [default: $SKELACT_DATASETS, else ../shared/datasets
    /// beside the repository].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Which split of the standard protocol.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Model bundle [default: $SKELACT_BUNDLE, else default.skb on the search path (board/README.md, "Installing")].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// An overlay to load with the bundle: its labels (typed as words, or enrolled) are scored like the bundle's
    /// [default: none, the bundle alone].
    #[arg(long)]
    pub overlay: Option<PathBuf>,
    /// Only the first N sequences of the split (sorted by name).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Inference backend (auto: onnxruntime when its library is found, else tract).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the confusion matrix into this PNG file.
    #[arg(long)]
    pub confusion: Option<PathBuf>,
    /// Mark this share (0 to 1) of the sensor's joints as not tracked, at random, before the device sees them.
    #[arg(long, default_value_t = 0.0)]
    pub drop_joints: f64,
    /// Seed of `--drop-joints` (the same seed drops the same joints).
    #[arg(long, default_value_t = 0)]
    pub drop_seed: u64,
    /// REC, the bundle's reconstruction model: auto (windows whose missing fraction is above the threshold), on
    /// (every window with a missing joint) or off. Without a reconstruction model in the bundle this does nothing.
    #[arg(long, value_enum, default_value_t = ReconstructionModeSetting::Auto)]
    pub reconstruction: ReconstructionModeSetting,
    /// The missing fraction above which REC runs in auto mode [default: the bundle's].
    #[arg(long)]
    pub reconstruction_threshold: Option<f32>,
}

/// One sequence's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SequenceResult {
    pub name: String,
    /// Index into the dataset's classes.
    pub truth: usize,
    /// The top label as a dataset class, whatever its score (what the desktop evaluation counts); `None` when the
    /// bundle's top label is not a dataset class.
    pub top1: Option<usize>,
    /// What the device reports: `top1`, or `None` when its score is below the bundle's `unknown_threshold`.
    pub predicted: Option<usize>,
    pub score: f32,
    pub frames: usize,
    pub window_frames: usize,
}

/// The datasets folder: `--root`, `$SKELACT_DATASETS`, or `../shared/datasets` beside the repository.
pub fn datasets_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(root) = explicit {
        return root.to_path_buf();
    }
    if let Some(root) = std::env::var_os("SKELACT_DATASETS") {
        return PathBuf::from(root);
    }
    super::committed_path("../shared/datasets")
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let root = datasets_root(args.root.as_deref());
    let mut sequences = args
        .dataset
        .sequences(&root, Some(args.split))
        .with_context(|| format!("cannot list {} under {}", args.dataset.folder(), root.display()))?;
    if let Some(limit) = args.limit {
        sequences.truncate(limit);
    }
    if sequences.is_empty() {
        bail!("no {:?} sequences of {} under {}", args.split, args.dataset.folder(), root.display());
    }
    let bundle_path = super::search_path::bundle(args.bundle.as_deref())?;
    let file = BundleFile::read(&bundle_path)?;
    let overlay = args.overlay.clone().map_or(OverlayChoice::Ignore, OverlayChoice::File);
    let model = LoadedModel::open(&file, &overlay)?;
    let classes = args.dataset.classes();
    // Bundle label index → dataset class, by name; a bundle label the dataset lacks predicts nothing of it.
    let class_of_label: Vec<Option<usize>> =
        model.labels.iter().map(|l| classes.iter().position(|c| *c == l.name)).collect();
    if class_of_label.iter().all(Option::is_none) {
        bail!(
            "{} has none of {}'s classes as a label (its labels: {})",
            bundle_path.display(),
            args.dataset.folder(),
            model.labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    anyhow::ensure!((0.0..=1.0).contains(&args.drop_joints), "--drop-joints is a share of the joints, 0 to 1");
    let engine_options = EngineOptions { backend: args.backend, threads: args.threads, ..EngineOptions::default() };
    let engines = model.engines(&engine_options)?;
    eprintln!("skelact eval: inference on {}", engines.joint.backend_name());
    let mut rec_input = Vec::new();
    let (policy, mut rec) = model.reconstruction(
        &engine_options,
        &engines.joint,
        args.reconstruction.into(),
        args.reconstruction_threshold,
        &mut rec_input,
    )?;
    if let Some(rec) = &rec {
        eprintln!(
            "skelact eval: REC on {} ({}, threshold {}); each window is also classified as interpolated",
            rec.engine().backend_name(),
            policy.mode().name(),
            policy.threshold()
        );
    }
    let mut store = model.head_store(0);
    let mut classifier = model.classifier(&mut store, engines)?;
    let unknown_threshold = model.bundle.manifest().decision_config().unknown_threshold;
    eprintln!(
        "skelact eval: {} {:?} split, {} sequences -> {} ({} labels, {}-frame windows)",
        args.dataset.folder(),
        args.split,
        sequences.len(),
        model.model_name(),
        model.labels.len(),
        model.raw_frames
    );

    let mut results = Vec::with_capacity(sequences.len());
    let mut rec_results = Vec::new();
    let mut rec_counts = RecCounts::default();
    let mut latencies_ms = Vec::with_capacity(sequences.len());
    for (i, sequence) in sequences.iter().enumerate() {
        // The stream `skelact replay` would send for this file.
        let mut messages = sources::read_messages(&sequence.path, InputFormat::from_path(&sequence.path))?;
        if args.drop_joints > 0.0 {
            // Each sequence its own draw, the same on every run with the same seed.
            sources::dropout::drop_joints(&mut messages, args.drop_joints, args.drop_seed.wrapping_add(i as u64));
        }
        let frame_count = messages.iter().filter(|m| matches!(m, Message::Frame(_))).count();
        let stream = sources::encode(&messages)?;
        let started = Instant::now();
        let last = last_window(&model, &mut classifier, rec.as_mut(), &stream)?;
        let name = sequence.path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        let score = |scores: Option<&[f32]>, window_frames: usize| {
            let (top1, predicted, score) = match scores {
                Some(scores) => {
                    let (best, score) = scores
                        .iter()
                        .copied()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap_or((0, f32::NEG_INFINITY));
                    let top1 = class_of_label.get(best).copied().flatten();
                    (top1, if score < unknown_threshold { None } else { top1 }, score)
                }
                None => (None, None, 0.0),
            };
            SequenceResult {
                name: name.clone(),
                truth: sequence.label,
                top1,
                predicted,
                score,
                frames: frame_count,
                window_frames,
            }
        };
        match &last {
            Some(window) => {
                latencies_ms.push(started.elapsed().as_secs_f64() * 1e3);
                results.push(score(Some(&window.scores), window.frames));
                if rec.is_some() {
                    rec_counts.record(window);
                    let completed = window.rec_scores.as_deref().unwrap_or(&window.scores);
                    rec_results.push(score(Some(completed), window.frames));
                }
            }
            None => {
                results.push(score(None, 0));
                if rec.is_some() {
                    rec_results.push(score(None, 0));
                }
            }
        }
        if (i + 1) % 50 == 0 || i + 1 == sequences.len() {
            eprint!("\rskelact eval: {}/{}", i + 1, sequences.len());
        }
    }
    eprintln!();
    let rec_summary = rec.as_ref().map(|rec| RecSummary {
        mode: rec.policy().mode().name(),
        threshold: rec.policy().threshold(),
        counts: rec_counts,
        results: &rec_results,
    });
    report(&args, classes, &results, rec_summary, &latencies_ms, model.model_name(), unknown_threshold)
}

/// A sequence's last window, classified as interpolated and (where REC ran on it) as reconstructed.
struct LastWindow {
    frames: usize,
    scores: Vec<f32>,
    /// Scores of the reconstructed window; `None` when REC did not run (or failed) on it.
    rec_scores: Option<Vec<f32>>,
    missing_fraction: f32,
    rec_failed: bool,
}

/// How often the last windows had missing joints and how often REC ran on them.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct RecCounts {
    windows: usize,
    with_missing: usize,
    reconstructed: usize,
    failed: usize,
    missing_fraction_sum: f64,
}

impl RecCounts {
    fn record(&mut self, window: &LastWindow) {
        self.windows += 1;
        self.with_missing += usize::from(window.missing_fraction > 0.0);
        self.reconstructed += usize::from(window.rec_scores.is_some());
        self.failed += usize::from(window.rec_failed);
        self.missing_fraction_sum += f64::from(window.missing_fraction);
    }
}

/// What `report` says about REC.
struct RecSummary<'a> {
    mode: &'static str,
    threshold: f32,
    counts: RecCounts,
    results: &'a [SequenceResult],
}

/// Streams one sequence's bytes through the decoder and the frame side, and classifies the body's window at the
/// end of the stream, then again as REC completes it when `rec` runs on it. `None` when no body was left.
fn last_window(
    model: &LoadedModel<'_>,
    classifier: &mut DeviceClassifier<'_, DeviceEngine>,
    rec: Option<&mut Reconstruction<'_, DeviceEngine>>,
    stream: &[u8],
) -> anyhow::Result<Option<LastWindow>> {
    // A fresh frontend per sequence: sequences are separate recordings, not one continuous stream.
    let mut frontend = boxed_frontend(model.frontend_config()?, model.raw_frames)?;
    let mut decoder: Decoder = Decoder::new();
    let mut input = stream;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        match outcome {
            // A dataset stream comes from our own converters; a Hello they wrote that is refused is a bug to report.
            Ok(Message::Hello(hello)) => frontend.on_hello(hello)?,
            // A frame the tracks refuse costs that frame, as on the device.
            Ok(Message::Frame(frame)) => {
                let _ = frontend.push_frame(frame);
            }
            Ok(_) | Err(_) => {}
        }
    }
    let Some((id, window_frames)) = frontend.tracks().iter().next().map(|t| (t.id(), t.span())) else {
        return Ok(None);
    };
    let len = frontend.tensor_len();
    let mut tensors = vec![0.0f32; 3 * len];
    let mut mask = vec![0.0f32; frontend.mask_len()];
    let (joint, rest) = tensors.split_at_mut(len);
    let (bone, motion) = rest.split_at_mut(len);
    let window: WindowInfo = match frontend.prepare(id, Outputs { joint, bone, motion, missing: &mut mask }) {
        Ok(window) => window,
        Err(_) => return Ok(None),
    };
    let mut classify = |tensors: &[f32]| -> anyhow::Result<Vec<f32>> {
        let tensors = Tensors { joint: &tensors[..len], bone: &tensors[len..2 * len], motion: &tensors[2 * len..] };
        classifier.classify(&window, tensors, |_| {}).context("classifying a window")?;
        Ok(classifier.last_scores().to_vec())
    };
    let scores = classify(&tensors)?;
    let (mut rec_scores, mut rec_failed) = (None, false);
    if let Some(rec) = rec {
        let (joint, rest) = tensors.split_at_mut(len);
        let (bone, motion) = rest.split_at_mut(len);
        match rec.apply(window.missing, &mask, joint, bone, motion, frontend.streams()) {
            WindowOutcome::Reconstructed => rec_scores = Some(classify(&tensors)?),
            WindowOutcome::Failed(_) => rec_failed = true,
            WindowOutcome::Interpolated => {}
        }
    }
    // Forget the body, so that the next sequence starts from fresh decisions.
    classifier.retire_bodies(|_| false, |_| {});
    Ok(Some(LastWindow {
        frames: window_frames,
        scores,
        rec_scores,
        missing_fraction: window.missing.fraction(),
        rec_failed,
    }))
}

fn report(
    args: &EvalArgs,
    classes: &[&str],
    results: &[SequenceResult],
    rec: Option<RecSummary<'_>>,
    latencies_ms: &[f64],
    model_name: &str,
    unknown_threshold: f32,
) -> anyhow::Result<()> {
    let n = results.len();
    let correct = results.iter().filter(|r| r.predicted == Some(r.truth)).count();
    let top1_correct = results.iter().filter(|r| r.top1 == Some(r.truth)).count();
    let unknown = results.iter().filter(|r| r.predicted.is_none()).count();
    let whole = results.iter().filter(|r| r.window_frames == r.frames).count();
    // Rows: truth; columns: predicted classes, then unknown.
    let k = classes.len();
    let mut confusion = vec![vec![0u32; k + 1]; k];
    for r in results {
        confusion[r.truth][r.predicted.unwrap_or(k)] += 1;
    }
    let accuracy = correct as f64 / n as f64;
    let top1_accuracy = top1_correct as f64 / n as f64;
    println!(
        "{} {:?} split: top-1 accuracy {:.2} % ({top1_correct}/{n}; the desktop evaluation's figure), {whole} of {n} sequences fit one window",
        args.dataset.folder(),
        args.split,
        100.0 * top1_accuracy,
    );
    println!(
        "as the device reports (top label unless its score is below unknown_threshold {:.3}): accuracy {:.2} % ({correct}/{n}), unknown {:.2} % ({unknown})",
        unknown_threshold,
        100.0 * accuracy,
        100.0 * unknown as f64 / n as f64
    );
    if args.drop_joints > 0.0 {
        println!(
            "{:.1} % of the sensor's joints dropped at random (seed {})",
            100.0 * args.drop_joints,
            args.drop_seed
        );
    }
    let rec_json = rec.as_ref().map(|rec| {
        let top1 = rec.results.iter().filter(|r| r.top1 == Some(r.truth)).count();
        let correct = rec.results.iter().filter(|r| r.predicted == Some(r.truth)).count();
        let c = rec.counts;
        println!(
            "with REC ({}, threshold {}): top-1 accuracy {:.2} % ({top1}/{n}), as the device reports {:.2} % ({correct}/{n}); \
             REC ran on {} of {} windows ({} with missing joints, mean missing fraction {:.3}, {} failed); \
             the figures above are the same windows as interpolated",
            rec.mode,
            rec.threshold,
            100.0 * top1 as f64 / n as f64,
            100.0 * correct as f64 / n as f64,
            c.reconstructed,
            c.windows,
            c.with_missing,
            c.missing_fraction_sum / c.windows.max(1) as f64,
            c.failed
        );
        json!({
            "mode": rec.mode,
            "threshold": rec.threshold,
            "top1_correct": top1,
            "top1_accuracy": top1 as f64 / n as f64,
            "correct": correct,
            "accuracy": correct as f64 / n as f64,
            "counts": c,
            "results": rec.results,
        })
    });
    let latency = percentiles(latencies_ms);
    if let Some(p) = &latency {
        println!(
            "per sequence (decode, frame side, window, engines, head): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            p.p50_ms, p.p90_ms, p.p99_ms
        );
    }
    println!("confusion matrix (rows: truth, columns: predicted; ? = unknown):");
    print!("{:>4}", "");
    for c in 0..k {
        print!("{c:>4}");
    }
    println!("{:>4}", "?");
    for (t, row) in confusion.iter().enumerate() {
        print!("{t:>4}");
        for count in row {
            print!("{count:>4}");
        }
        println!("  {}", classes[t]);
    }
    if let Some(path) = &args.confusion {
        write_confusion_png(path, &confusion).with_context(|| format!("cannot write {}", path.display()))?;
        println!("confusion matrix drawn in {}", path.display());
    }
    if let Some(path) = &args.json {
        let summary = json!({
            "dataset": args.dataset.folder(),
            "split": format!("{:?}", args.split).to_lowercase(),
            "model": model_name,
            "sequences": n,
            "top1_correct": top1_correct,
            "top1_accuracy": top1_accuracy,
            "unknown_threshold": unknown_threshold,
            "correct": correct,
            "accuracy": accuracy,
            "unknown": unknown,
            "classes": classes,
            "confusion": confusion,
            "latency_ms": latency,
            "results": results,
            "drop_joints": args.drop_joints,
            "drop_seed": args.drop_seed,
            "reconstruction": rec_json,
        });
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The matrix as a heat map, one square per cell (white 0 → dark blue for a row's whole count), the unknown
/// column last, with a grey rule before it. Row order is the dataset's class order, as printed.
fn write_confusion_png(path: &Path, confusion: &[Vec<u32>]) -> anyhow::Result<()> {
    const CELL: usize = 16;
    let rows = confusion.len();
    let columns = confusion.first().map_or(0, Vec::len);
    let (width, height) = (columns * CELL, rows * CELL);
    let mut pixels = vec![255u8; width * height * 3];
    for (r, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<u32>().max(1) as f32;
        for (c, &count) in row.iter().enumerate() {
            let share = count as f32 / total;
            let colour = [255.0 - 247.0 * share, 255.0 - 207.0 * share, 255.0 - 148.0 * share].map(|v| v as u8);
            for y in r * CELL..(r + 1) * CELL {
                for x in c * CELL..(c + 1) * CELL {
                    let rule = x == (columns - 1) * CELL || y % CELL == 0 || x % CELL == 0;
                    let at = (y * width + x) * 3;
                    pixels[at..at + 3].copy_from_slice(if rule { &[160, 160, 160] } else { &colour });
                }
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, u32::try_from(width)?, u32::try_from(height)?);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(())
}
