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

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use skelact_device::model::{
    boxed_frontend, BackendChoice, BundleFile, DeviceClassifier, DeviceEngine, EngineOptions, LoadedModel,
    OverlayChoice,
};
use skelact_formats::kinect_v1::{Dataset, Split};
use skelact_formats::{self as sources, InputFormat};
use skelact_runtime::pipeline::{Tensors, WindowInfo};
use skelact_runtime::preprocess::Outputs;
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
    let model = LoadedModel::open(&file, &OverlayChoice::Ignore)?;
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
    let engines =
        model.engines(&EngineOptions { backend: args.backend, threads: args.threads, ..EngineOptions::default() })?;
    eprintln!("skelact eval: inference on {}", engines.joint.backend_name());
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
    let mut latencies_ms = Vec::with_capacity(sequences.len());
    for (i, sequence) in sequences.iter().enumerate() {
        // The stream `skelact replay` would send for this file.
        let messages = sources::read_messages(&sequence.path, InputFormat::from_path(&sequence.path))?;
        let frame_count = messages.iter().filter(|m| matches!(m, Message::Frame(_))).count();
        let stream = sources::encode(&messages)?;
        let started = Instant::now();
        let last = last_window(&model, &mut classifier, &stream)?;
        let name = sequence.path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        let result = match last {
            Some((window_frames, scores)) => {
                latencies_ms.push(started.elapsed().as_secs_f64() * 1e3);
                let (best, score) = scores
                    .iter()
                    .copied()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap_or((0, f32::NEG_INFINITY));
                let top1 = class_of_label.get(best).copied().flatten();
                let predicted = if score < unknown_threshold { None } else { top1 };
                SequenceResult {
                    name,
                    truth: sequence.label,
                    top1,
                    predicted,
                    score,
                    frames: frame_count,
                    window_frames,
                }
            }
            None => SequenceResult {
                name,
                truth: sequence.label,
                top1: None,
                predicted: None,
                score: 0.0,
                frames: frame_count,
                window_frames: 0,
            },
        };
        results.push(result);
        if (i + 1) % 50 == 0 || i + 1 == sequences.len() {
            eprint!("\rskelact eval: {}/{}", i + 1, sequences.len());
        }
    }
    eprintln!();
    report(&args, classes, &results, &latencies_ms, model.model_name(), unknown_threshold)
}

/// Streams one sequence's bytes through the decoder and the frame side, and classifies the body's window at the
/// end of the stream. Returns the window's length in frames and its scores, or `None` when no body was left.
fn last_window(
    model: &LoadedModel<'_>,
    classifier: &mut DeviceClassifier<'_, DeviceEngine>,
    stream: &[u8],
) -> anyhow::Result<Option<(usize, Vec<f32>)>> {
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
    let (joint, rest) = tensors.split_at_mut(len);
    let (bone, motion) = rest.split_at_mut(len);
    let window: WindowInfo = match frontend.prepare(id, Outputs { joint, bone, motion, missing: &mut [] }) {
        Ok(window) => window,
        Err(_) => return Ok(None),
    };
    let tensors = Tensors { joint: &tensors[..len], bone: &tensors[len..2 * len], motion: &tensors[2 * len..] };
    classifier.classify(&window, tensors, |_| {}).context("classifying a window")?;
    let scores = classifier.last_scores().to_vec();
    // Forget the body, so that the next sequence starts from fresh decisions.
    classifier.retire_bodies(|_| false, |_| {});
    Ok(Some((window_frames, scores)))
}

fn report(
    args: &EvalArgs,
    classes: &[&str],
    results: &[SequenceResult],
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
