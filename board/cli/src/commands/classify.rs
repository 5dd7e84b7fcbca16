//! `skelact classify FILE…`: what the device says about a file, offline, in one command.
//!
//! Each file becomes the byte stream `skelact replay` would send for it and goes through what `skelact run` runs,
//! in the daemon's order (`skelact_device::daemon`): the protocol decoder, the frame side (layouts, tracks,
//! windows, preprocessing) on every frame, a body's decisions closed when its track ends, every due window
//! through the engines, the head and the decisions. Only the threads and the serial port are left out, so the
//! windows, their scores and the events are the daemon's own for the same bytes (the tests hold them to it).
//!
//! Printed per file: each window's top-k scores, the events, a one-line [`verdict`](skelact::verdict), and, when a
//! `NAME.segments.json` ground truth lies beside the file, the truth and the events on one time axis with the
//! demo's per-class score. One more window per body is added at the end of the file when the daemon's last window
//! did not reach its last frame: the whole track as `skelact eval` classifies a sequence (marked `end of file`;
//! its events are not kept, since the daemon would not run it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use skelact::scoring::{self, DEFAULT_MIN_IOU};
use skelact::timeline;
use skelact::verdict::{verdict, Verdict};
use skelact_device::daemon::outputs::{Outputs, WindowNote};
use skelact_device::model::{
    boxed_frontend, BackendChoice, BundleFile, DeviceClassifier, DeviceEngine, EngineOptions, LoadedModel,
    OverlayChoice, TRACKS,
};
use skelact_formats::{self as sources, InputFormat, EXTENSIONS};
use skelact_runtime::pipeline::{Tensors, WindowInfo};
use skelact_runtime::preprocess::Outputs as TensorOutputs;
use skelact_runtime::wire::{Decoder, Event, Message};

use super::search_path;

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Files to classify: protocol-v1 recordings (.skr), NTU .skeleton, PKU-MMD .txt, session .jsonl, NW-UCLA .json
    /// or UTD-MHAD .mat.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Model bundle [default: $SKELACT_BUNDLE, else default.skb on the search path (board/README.md, "Installing")].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The files' format [default: from each file's extension; other extensions are refused].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// How many of the best labels to print per window.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    pub top_k: u16,
    /// Print one JSON document (every file) on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Inference backend, as for `skelact run`.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Inference threads (tract).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// One classified window.
#[derive(Clone, Debug)]
struct WindowScores {
    info: WindowInfo,
    scores: Vec<f32>,
    /// The extra window over the whole track at the end of the file (see the module documentation).
    end_of_file: bool,
}

/// What one file did on the device path.
#[derive(Debug, Default)]
struct Walked {
    frames: usize,
    frames_refused: usize,
    first_us: Option<u64>,
    last_us: u64,
    fps_millihertz: u32,
    windows: Vec<WindowScores>,
    windows_failed: usize,
    events: Vec<Event>,
    /// What the window of each event went through (its missing fraction; classify runs no REC), `None` for events
    /// no window produced: as the daemon's event lines carry it.
    event_notes: Vec<Option<WindowNote>>,
}

pub fn run(args: ClassifyArgs) -> anyhow::Result<()> {
    skelact_device::config::in_range("threads", args.threads as u64)?;
    // Every file's format first, so that a typo in the last name fails before the model loads.
    let formats: Vec<InputFormat> =
        args.files.iter().map(|file| InputFormat::detect(file, args.format)).collect::<Result<_, _>>()?;
    let bundle_path = search_path::bundle(args.bundle.as_deref())?;
    let file = BundleFile::read(&bundle_path)?;
    let model = LoadedModel::open(&file, &OverlayChoice::BesideBundle)?;
    let engines =
        model.engines(&EngineOptions { backend: args.backend, threads: args.threads, ..EngineOptions::default() })?;
    let mut store = model.head_store(0);
    let mut classifier = model.classifier(&mut store, engines)?;
    let manifest = model.bundle.manifest();
    let unknown_threshold = manifest.decision_config().unknown_threshold;
    let labels: Vec<String> = model.labels.iter().map(|l| l.name.clone()).collect();
    let outputs = Outputs::new(labels.clone());
    let top_k = usize::from(args.top_k).min(labels.len());
    if !args.json {
        println!(
            "bundle {} ({}, {} labels; windows of {} frames every {}; `?`: top score below the unknown threshold {:.3})",
            bundle_path.display(),
            model.model_name(),
            labels.len(),
            model.raw_frames,
            manifest.window.stride_frames,
            unknown_threshold
        );
    }

    let mut documents = Vec::with_capacity(args.files.len());
    for (path, &format) in args.files.iter().zip(&formats) {
        let stream = sources::read_stream(path, format)?;
        let walked =
            walk(&model, &mut classifier, &stream).with_context(|| format!("classifying {}", path.display()))?;
        let tops: Vec<(usize, f32)> = walked.windows.iter().map(|w| best(&w.scores)).collect();
        let verdict = verdict(&tops, &walked.events, |i| model.label_name(i), unknown_threshold);
        let truth = ground_truth(path, &walked, model.raw_frames, |i| model.label_name(i))?;
        if args.json {
            documents.push(file_json(path, format, &walked, &verdict, truth.as_ref(), &outputs, top_k));
        } else {
            print_file(path, format, &walked, &verdict, truth.as_ref(), &outputs, top_k, unknown_threshold);
        }
    }
    if args.json {
        let document = json!({
            "bundle": bundle_path.display().to_string(),
            "bundle_sha256": model.sha256_hex(),
            "model": model.model_name(),
            "labels": labels,
            "unknown_threshold": unknown_threshold,
            "top_k": top_k,
            "files": documents,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    }
    Ok(())
}

/// Streams one file's bytes through the frame side and the classifier in the daemon's order (see the module
/// documentation), then adds the end-of-file windows and forgets every body, so that the next file starts afresh.
fn walk(
    model: &LoadedModel<'_>,
    classifier: &mut DeviceClassifier<'_, DeviceEngine>,
    stream: &[u8],
) -> anyhow::Result<Walked> {
    let mut frontend = boxed_frontend(model.frontend_config()?, model.raw_frames)?;
    let len = frontend.tensor_len();
    let mut buffer = vec![0.0f32; 3 * len];
    let mut walked = Walked { fps_millihertz: 30_000, ..Walked::default() };
    let mut tracked: heapless::Vec<u32, TRACKS> = heapless::Vec::new();
    let mut decoder: Decoder = Decoder::new();
    let mut input = stream;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        let frame = match outcome {
            Ok(Message::Hello(hello)) => {
                // A refused Hello (another protocol major version) makes the rest of the file unreadable as sent.
                frontend.on_hello(hello).map_err(|e| anyhow::anyhow!("the file's Hello was refused: {e}"))?;
                if hello.nominal_fps_millihertz > 0 {
                    walked.fps_millihertz = hello.nominal_fps_millihertz;
                }
                continue;
            }
            Ok(Message::Frame(frame)) => frame,
            // Damaged packets and other messages cost nothing more here than on the device.
            Ok(_) | Err(_) => continue,
        };
        walked.frames += 1;
        walked.first_us.get_or_insert(frame.timestamp_us);
        walked.last_us = walked.last_us.max(frame.timestamp_us);
        if frontend.push_frame(frame).is_err() {
            walked.frames_refused += 1;
            continue;
        }
        // As the daemon's ingest thread: a change in the tracked bodies goes to the classifier before the windows
        // of the same frame, and closes the segments of bodies that left.
        let mut now: heapless::Vec<u32, TRACKS> = heapless::Vec::new();
        for track in frontend.tracks().iter() {
            // TRACKS slots hold at most TRACKS tracks.
            let _ = now.push(track.body_id());
        }
        if now != tracked {
            classifier.retire_bodies(|body| now.contains(&body), |event| walked.events.push(event));
            walked.event_notes.resize(walked.events.len(), None);
            tracked = now;
        }
        while let Some(id) = frontend.next_due() {
            let (joint, rest) = buffer.split_at_mut(len);
            let (bone, motion) = rest.split_at_mut(len);
            let Ok(info) = frontend.prepare(id, TensorOutputs { joint, bone, motion, missing: &mut [] }) else {
                walked.windows_failed += 1;
                continue;
            };
            let tensors = Tensors { joint: &buffer[..len], bone: &buffer[len..2 * len], motion: &buffer[2 * len..] };
            let outcome = classifier.classify(&info, tensors, |event| walked.events.push(event));
            let note = WindowNote { reconstructed: false, missing_fraction: info.missing.fraction() };
            walked.event_notes.resize(walked.events.len(), Some(note));
            match outcome {
                Ok(()) => walked.windows.push(WindowScores {
                    info,
                    scores: classifier.last_scores().to_vec(),
                    end_of_file: false,
                }),
                Err(_) => walked.windows_failed += 1,
            }
        }
    }
    classifier.retire_bodies(|_| false, |event| walked.events.push(event));
    walked.event_notes.resize(walked.events.len(), None);

    // The whole track of each body still there, as `skelact eval` classifies a sequence, unless the daemon's last
    // window of that body already ended at its last frame.
    let ends: Vec<(skelact_runtime::track::TrackId, u32, u64)> =
        frontend.tracks().iter().map(|t| (t.id(), t.body_id(), t.last_seen_us())).collect();
    for (id, body_id, last_us) in ends {
        let covered =
            walked.windows.iter().rev().find(|w| w.info.body_id == body_id).is_some_and(|w| w.info.end_us == last_us);
        if covered {
            continue;
        }
        let (joint, rest) = buffer.split_at_mut(len);
        let (bone, motion) = rest.split_at_mut(len);
        let Ok(info) = frontend.prepare(id, TensorOutputs { joint, bone, motion, missing: &mut [] }) else { continue };
        let tensors = Tensors { joint: &buffer[..len], bone: &buffer[len..2 * len], motion: &buffer[2 * len..] };
        if classifier.classify(&info, tensors, |_| {}).is_ok() {
            walked.windows.push(WindowScores { info, scores: classifier.last_scores().to_vec(), end_of_file: true });
        }
        classifier.retire_bodies(|_| false, |_| {});
    }
    Ok(walked)
}

/// The top label index and score of a window.
fn best(scores: &[f32]) -> (usize, f32) {
    scores.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, f32::NEG_INFINITY))
}

/// The `k` best label indices of a window, best first.
fn top(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

/// The file's ground truth when `NAME.segments.json` lies beside it: the segments, the events as scored segments
/// (stretched back one window), the events as reported (for the chart), and the demo's score.
struct Truth {
    path: PathBuf,
    segments: Vec<scoring::Segment>,
    predicted: Vec<scoring::Segment>,
    reported: Vec<scoring::Segment>,
    score: scoring::Score,
}

fn ground_truth<'l>(
    path: &Path,
    walked: &Walked,
    raw_frames: usize,
    label_name: impl Fn(u16) -> &'l str,
) -> anyhow::Result<Option<Truth>> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let beside = path.with_file_name(format!("{stem}.segments.json"));
    if !beside.is_file() {
        return Ok(None);
    }
    let segments = scoring::read_ground_truth(&beside)?;
    let window_us = scoring::window_span_us(raw_frames, walked.fps_millihertz);
    let predicted = scoring::predicted_segments(&walked.events, window_us, &label_name);
    let reported = scoring::predicted_segments(&walked.events, 0, &label_name);
    let score = scoring::score(&predicted, &segments, DEFAULT_MIN_IOU);
    Ok(Some(Truth { path: beside, segments, predicted, reported, score }))
}

fn format_name(format: InputFormat) -> &'static str {
    EXTENSIONS.iter().find(|(_, f, _)| *f == format).map_or("file", |&(_, _, what)| what)
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

#[allow(clippy::too_many_arguments)]
fn print_file(
    path: &Path,
    format: InputFormat,
    walked: &Walked,
    verdict: &Verdict,
    truth: Option<&Truth>,
    outputs: &Outputs,
    top_k: usize,
    unknown_threshold: f32,
) {
    let duration = walked.first_us.map_or(0, |first| walked.last_us - first);
    println!(
        "\n{}: {}, {} frames ({} refused), {:.1} s, {} windows",
        path.display(),
        format_name(format),
        walked.frames,
        walked.frames_refused,
        seconds(duration),
        walked.windows.len()
    );
    if !walked.windows.is_empty() {
        println!("  {:>6} {:>6}  {:<15} top {top_k}", "window", "body", "time (s)");
    }
    for (i, window) in walked.windows.iter().enumerate() {
        let ranked: Vec<String> = top(&window.scores, top_k)
            .into_iter()
            .map(|(index, score)| format!("{} {score:.2}", outputs.label(index as u16)))
            .collect();
        let unsure = if best(&window.scores).1 < unknown_threshold { "?" } else { " " };
        let end_of_file =
            if window.end_of_file { "   (end of file: the whole track, as `skelact eval` scores it)" } else { "" };
        println!(
            "  {:>6} {:>6}  {:<15} {unsure}{}{end_of_file}",
            i + 1,
            window.info.body_id,
            format!("{:.2}-{:.2}", seconds(window.info.start_us), seconds(window.info.end_us)),
            ranked.join("  |  ")
        );
    }
    if walked.windows_failed > 0 {
        println!("  {} windows could not be prepared or classified", walked.windows_failed);
    }
    if walked.events.is_empty() {
        println!("  no events");
    } else {
        println!("  events (as `skelact run --stdout text` prints them):");
    }
    for (event, note) in walked.events.iter().zip(&walked.event_notes) {
        println!("  {}", outputs.event_text_noted(event, *note));
    }
    if let Some(truth) = truth {
        println!(
            "  ground truth {} and the events as reported (they lag their action by up to a window):",
            truth.path.display()
        );
        print!("{}", timeline::chart(&truth.segments, &truth.reported, 100));
        let overall = &truth.score.overall;
        println!(
            "  matched {} of {} ground-truth segments, {} event segments unmatched; macro F1 {:.2} (events stretched \
             back one window, as the demo scores them)",
            overall.true_positives,
            truth.segments.len(),
            overall.false_positives,
            truth.score.macro_f1
        );
    }
    println!("verdict {}: {}", path.display(), verdict.describe());
}

fn file_json(
    path: &Path,
    format: InputFormat,
    walked: &Walked,
    verdict: &Verdict,
    truth: Option<&Truth>,
    outputs: &Outputs,
    top_k: usize,
) -> serde_json::Value {
    let windows: Vec<serde_json::Value> = walked
        .windows
        .iter()
        .map(|w| {
            let ranked: Vec<serde_json::Value> = top(&w.scores, top_k)
                .into_iter()
                .map(|(index, score)| json!({"label_index": index, "label": outputs.label(index as u16), "score": score}))
                .collect();
            json!({
                "body_id": w.info.body_id,
                "partner_id": w.info.partner_id,
                "start_us": w.info.start_us,
                "end_us": w.info.end_us,
                "end_of_file": w.end_of_file,
                "top": ranked,
            })
        })
        .collect();
    let events: Vec<serde_json::Value> =
        walked.events.iter().zip(&walked.event_notes).map(|(e, note)| outputs.event_json_noted(e, *note)).collect();
    let mut document = json!({
        "file": path.display().to_string(),
        "format": format_name(format),
        "frames": walked.frames,
        "frames_refused": walked.frames_refused,
        "first_us": walked.first_us,
        "last_us": walked.last_us,
        "windows_failed": walked.windows_failed,
        "windows": windows,
        "events": events,
        "verdict": verdict,
    });
    if let Some(truth) = truth {
        document["truth"] = json!({
            "segments_file": truth.path.display().to_string(),
            "segments": truth.segments,
            "predicted": truth.predicted,
            "score": truth.score,
        });
    }
    document
}
