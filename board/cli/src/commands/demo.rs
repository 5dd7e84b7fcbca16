//! `skelact demo`: the whole device path without hardware.
//!
//! A pseudo-terminal pair stands in for the sensor's USB port. One thread plays the committed synthetic session
//! into the master at the sensor's pace, as a sensor would; the daemon (the same code as `skelact run`) opens the
//! slave by path and runs the committed default bundle; another thread reads the events the daemon writes back
//! over the link and prints them beside the ground truth at their moment. At the end the events received on the
//! sensor side are scored against the session's ground truth ([`skelact::scoring`]), drawn beside it on one time
//! axis ([`skelact::timeline`]), and the latency and memory figures are printed.
//!
//! Everything goes to stdout from one thread at a time, and the daemon's routine log lines are off by default
//! (`main` sets the filter to `warn`, and `off` with `--quiet`), so events and logs do not interleave.
//!
//! Then, when the real datasets are there (`--dataset DIR`, `$SKELACT_DATASETS` or `../shared/datasets`), the
//! same is done with real test-split recordings of the dataset whose actions the bundle knows, played one after
//! another as one continuous stream. The datasets may not be redistributed, so a fresh clone without them plays
//! the session only and says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use skelact::scoring::{self, Score, DEFAULT_MIN_IOU};
use skelact::timeline;
use skelact_device::daemon::latency::LatencySummary;
use skelact_device::daemon::outputs::Outputs;
use skelact_device::daemon::{self, DaemonControl, DaemonOptions, DaemonSummary};
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_formats::kinect_v1::{self, Dataset, SequenceFile, Split};
use skelact_formats::recording::{replay, Pacing};
use skelact_formats::{self as sources, InputFormat};
use skelact_links::pty::PtyPair;
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener, DEFAULT_BAUD};
use skelact_links::ByteLink;
use skelact_runtime::wire::{Decoder, Event, Health, Message};

use super::search_path;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Model bundle [default: $SKELACT_BUNDLE, else default.skb on the search path (board/README.md, "Installing")].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Session to play: a protocol-v1 recording or a session .jsonl
    /// [default: sessions/session-utd-mhad-s4-p001.skr on the search path].
    #[arg(long)]
    pub session: Option<PathBuf>,
    /// Ground-truth segments [default: the session's NAME.segments.json].
    #[arg(long)]
    pub segments: Option<PathBuf>,
    /// Playback speed relative to the sensor's clock (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Inference threads (tract).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Windows that may wait for inference before the oldest is dropped.
    #[arg(long, default_value_t = 2)]
    pub queue_windows: usize,
    /// Minimum temporal IoU for an event to match a ground-truth segment.
    #[arg(long, default_value_t = DEFAULT_MIN_IOU)]
    pub min_iou: f64,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Print neither events as they happen nor log lines (SKELACT_LOG still turns logs on): only the summaries.
    #[arg(long)]
    pub quiet: bool,
    /// Folder holding the real datasets (nw-ucla/, utd-mhad/): after the session, the demo plays test-split
    /// recordings of the dataset whose actions the bundle knows [default: $SKELACT_DATASETS, else
    /// ../shared/datasets beside the repository, when present].
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Real recordings to play per class.
    #[arg(long, default_value_t = 1)]
    pub per_class: usize,
    /// Which split of the dataset's standard protocol to play (test: people the model never saw; train: for
    /// tuning stream settings without touching the test split).
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Play the committed session only.
    #[arg(long, conflicts_with = "dataset")]
    pub no_dataset: bool,
    /// Play the real recordings only (not the committed session).
    #[arg(long, conflicts_with = "no_dataset")]
    pub real_only: bool,
}

/// `VmRSS` and `VmHWM` of this process in KiB, from /proc (Linux).
pub fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.speed.is_finite() && args.speed > 0.0, "--speed must be a positive number");
    skelact_device::config::in_range("queue_windows", args.queue_windows as u64)?;
    skelact_device::config::in_range("threads", args.threads as u64)?;
    let bundle_path = search_path::bundle(args.bundle.as_deref())?;
    let session_path = match &args.session {
        Some(path) => path.clone(),
        None => search_path::find(search_path::DEMO_SESSION)?,
    };
    let segments_path = match &args.segments {
        Some(path) => path.clone(),
        None => segments_beside(&session_path),
    };
    let file = BundleFile::read(&bundle_path).context(
        "the demo needs a bundle: --bundle, or the default bundle on the search path (board/README.md, \"Installing\")",
    )?;
    let model = LoadedModel::open(&file, &OverlayChoice::BesideBundle)?;
    let mut document = json!({
        "bundle": bundle_path.display().to_string(),
        "bundle_sha256": model.sha256_hex(),
        "speed": args.speed,
        "threads": args.threads,
        "queue_windows": args.queue_windows,
    });
    if !args.real_only {
        let truth = scoring::read_ground_truth(&segments_path)?;
        let stream = sources::read_stream(&session_path, InputFormat::detect(&session_path, None)?)?;
        let actions: std::collections::BTreeSet<&str> = truth.iter().map(|s| s.label.as_str()).collect();
        println!(
            "Playing {}: a synthetic session (simulated person; the datasets may not be redistributed), {} actions of {} kinds: {}",
            session_path.display(),
            truth.len(),
            actions.len(),
            actions.iter().copied().collect::<Vec<_>>().join(", ")
        );
        let session = play(&args, &model, &session_path.display().to_string(), &stream, &truth)?;
        document["session"] = json!(session_path.display().to_string());
        document["segments"] = json!(segments_path.display().to_string());
        session.write_json(&mut document, &truth);
    }

    match real_recordings(&args, &model)? {
        RealRecordings::Played { description, stream, truth, summary } => {
            println!("\nPlaying {description}");
            let played = play(&args, &model, &description, &stream, &truth)?;
            let mut real = summary;
            played.write_json(&mut real, &truth);
            document["real"] = real;
        }
        RealRecordings::Skipped(why) => println!("\nReal recordings not played: {why}"),
    }
    if let Some(path) = &args.summary {
        std::fs::write(path, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("summary written to {}", path.display());
    }
    Ok(())
}

/// What one stream did on the device, scored.
struct Played {
    summary: DaemonSummary,
    received: usize,
    predicted: Vec<scoring::Segment>,
    score: Score,
    window_us: u64,
    wall: Duration,
    peak_rss: u64,
    memory: Option<(u64, u64)>,
}

impl Played {
    /// Adds this stream's figures to the JSON summary (the fields `skelact demo --summary` has always written).
    fn write_json(&self, document: &mut serde_json::Value, truth: &[scoring::Segment]) {
        let s = &self.summary;
        let fields = json!({
            "wall_seconds": self.wall.as_millis() as f64 / 1e3,
            "matching": {
                "rule": "event segments stretched back by one window span; same label and body; temporal IoU >= min_iou; one-to-one, greedy by IoU",
                "min_iou": self.score.min_iou,
                "window_span_us": self.window_us,
            },
            "score": self.score,
            "predicted": self.predicted,
            "truth": truth,
            "latency_ms": s.latency,
            "window_latency_ms": s.window_latency,
            "delivery_latency_ms": s.delivery_latency,
            "daemon": {
                "frames": s.frames,
                "windows_prepared": s.windows_prepared,
                "windows_run": s.windows_run,
                "windows_dropped": s.windows_dropped,
                "windows_failed": s.windows_failed,
                "events": s.events,
                "events_received_over_link": self.received,
                "events_unsent": s.events_unsent,
                "events_dropped": s.events_dropped,
                "damaged_packets": s.link.errors(),
                "dropped_frames": s.link.dropped_frames,
            },
            "memory_kib": {"vm_rss_streaming_peak": self.peak_rss, "vm_rss_end": self.memory.map(|m| m.0), "vm_hwm": self.memory.map(|m| m.1)},
        });
        if let (Some(target), serde_json::Value::Object(fields)) = (document.as_object_mut(), fields) {
            target.extend(fields);
        }
    }
}

/// Plays `stream` into a pseudo-terminal at the sensor's pace, runs the daemon on the other end with `model`, reads
/// the events it writes back, and scores them against `truth`; prints the summary.
fn play(
    args: &DemoArgs,
    model: &LoadedModel<'_>,
    what: &str,
    stream: &[u8],
    truth: &[scoring::Segment],
) -> anyhow::Result<Played> {
    let frames_in_stream = count_frames(stream);
    anyhow::ensure!(frames_in_stream > 0, "{what} holds no frames");
    let duration_s = session_seconds(stream);
    println!(
        "skelact demo: {what} ({} frames, {:.1} s at {}x) -> pseudo-terminal -> {} ({} labels)",
        frames_in_stream,
        duration_s,
        args.speed,
        model.model_name(),
        model.labels.len()
    );

    let labels: Vec<String> = model.labels.iter().map(|l| l.name.clone()).collect();
    // Events are printed by the host side as they come back over the link (beside the truth), not by the daemon.
    let outputs = Outputs::new(labels.clone());
    if !args.quiet {
        println!("  events as they come back over the link, and the ground truth at each event's time:");
    }
    let engines = model.engines(&EngineOptions {
        backend: BackendChoice::Tract,
        threads: args.threads,
        ..EngineOptions::default()
    })?;
    let mut store = model.head_store(0);
    let classifier = model.classifier(&mut store, engines)?;
    let options = DaemonOptions { queue_windows: args.queue_windows, ..DaemonOptions::default() };

    let pty = PtyPair::open().context("cannot open a pseudo-terminal")?;
    let mut sensor_writer = pty.master_end().context("pseudo-terminal master")?;
    let mut sensor_reader = pty.master_end().context("pseudo-terminal master")?;
    let mut reader = ReconnectingReader::new(
        SerialOpener(SerialConfig::new(pty.slave_path(), DEFAULT_BAUD)),
        Backoff::default(),
        4096,
    );
    let control = DaemonControl::new();
    let replay_done = AtomicBool::new(false);
    let reading_done = AtomicBool::new(false);
    let received: Mutex<Vec<Event>> = Mutex::new(Vec::new());
    let peak_rss = Mutex::new(0u64);
    let started = Instant::now();

    let summary: DaemonSummary = std::thread::scope(|scope| -> anyhow::Result<DaemonSummary> {
        // The sensor: the session into the master, paced by its timestamps.
        let sensor = scope.spawn(|| {
            let start = Instant::now();
            let wait = |due: Duration| {
                if let Some(left) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(left);
                }
            };
            let result = replay(stream, Pacing::Speed(args.speed), wait, |packet| sensor_writer.write_all(packet));
            replay_done.store(true, Ordering::SeqCst);
            result
        });
        // The host side of the link: events and status coming back from the device, printed as they come.
        scope.spawn(|| {
            let mut decoder: Decoder = Decoder::new();
            let mut buf = [0u8; 4096];
            let mut health = Health::Ok;
            while !reading_done.load(Ordering::SeqCst) {
                let Ok(n) = sensor_reader.read(&mut buf, Duration::from_millis(20)) else { break };
                let mut input = &buf[..n];
                while let Some(outcome) = decoder.decode_next(&mut input) {
                    match outcome {
                        Ok(Message::Event(event)) => {
                            if !args.quiet {
                                let truth_now = timeline::truth_at(truth, event.body_id, event.end_us);
                                println!("{:<84} | truth: {truth_now}", outputs.event_text(event));
                            }
                            if let Ok(mut events) = received.lock() {
                                events.push(*event);
                            }
                        }
                        Ok(Message::Status(status)) if status.health != health => {
                            if !args.quiet {
                                if let Some(line) = health_line(status.health, health) {
                                    println!("{line}");
                                }
                            }
                            health = status.health;
                        }
                        _ => {}
                    }
                }
            }
        });
        // Stop once every frame the sensor sent has been decoded (or nothing moves for a while: a safety net).
        scope.spawn(|| {
            let mut last = (0u64, Instant::now());
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let frames = control.frames();
                // Resident memory while streaming: sampled once frames flow (loading the model peaks higher; VmHWM
                // reports that).
                if frames > 0 {
                    if let (Some((rss, _)), Ok(mut peak)) = (memory_kib(), peak_rss.lock()) {
                        *peak = (*peak).max(rss);
                    }
                }
                if frames != last.0 {
                    last = (frames, Instant::now());
                }
                let stalled = last.1.elapsed() > Duration::from_secs(10);
                if replay_done.load(Ordering::SeqCst) && (frames >= frames_in_stream || stalled) {
                    if stalled && frames < frames_in_stream {
                        tracing::warn!(frames, expected = frames_in_stream, "frames stopped arriving; ending the demo");
                    }
                    control.stop();
                    return;
                }
                if control.is_stopping() {
                    return;
                }
            }
        });
        let frontend = model.frontend_config()?;
        let summary = daemon::run(&mut reader, frontend, model.raw_frames, classifier, &outputs, &options, &control);
        control.stop();
        // Let the host side read the last events (End events of segments still open at the end).
        let expected = summary.as_ref().map_or(0, DaemonSummary::events_written);
        let deadline = Instant::now() + Duration::from_secs(5);
        while received.lock().map_or(0, |e| e.len() as u64) < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        reading_done.store(true, Ordering::SeqCst);
        match sensor.join() {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the sensor side stopped early"),
            Err(_) => tracing::error!("the sensor thread panicked"),
        }
        Ok(summary?)
    })?;
    let wall = started.elapsed();
    let events = received.into_inner().unwrap_or_default();
    let window_us = scoring::window_span_us(model.raw_frames, sensor_rate_millihertz(stream));
    let predicted =
        scoring::predicted_segments(&events, window_us, |i| labels.get(usize::from(i)).map_or("?", String::as_str));
    let score = scoring::score(&predicted, truth, args.min_iou);
    let memory = memory_kib();
    let peak_rss = peak_rss.into_inner().unwrap_or(0);
    println!(
        "\nGround truth and events on one time axis (events as reported: they lag their action by up to a window):"
    );
    let reported = scoring::predicted_segments(&events, 0, |i| labels.get(usize::from(i)).map_or("?", String::as_str));
    print!("{}", timeline::chart(truth, &reported, 100));
    print_summary(&score, &summary, &summary.latency, events.len(), memory, peak_rss, wall);
    Ok(Played { summary, received: events.len(), predicted, score, window_us, wall, peak_rss, memory })
}

/// What health `overloaded` means, and what to do about it.
const OVERLOADED: &str =
    "  Overloaded: inference was slower than windows came due, so the daemon dropped the oldest waiting \
     windows (never frames); events can come late or be missed. A release build (`cargo run --release`), a lower \
     `--speed`, `--threads 2` or a larger `--queue-windows` helps.";

/// A line for a change of the health the device reports in `Status`, where it is worth a person's attention
/// (`no-sensor` is not: it is what the start and the end of every stream look like).
fn health_line(now: Health, before: Health) -> Option<String> {
    match now {
        Health::Overloaded => Some(format!("  health: overloaded.\n{OVERLOADED}")),
        Health::LinkErrors => Some(
            "  health: link errors: more than 5 % of the packets in the last second were damaged (noise, a wrong baud \
             rate, or a sender writing faster than the link carries)."
                .to_string(),
        ),
        Health::Ok if matches!(before, Health::Overloaded | Health::LinkErrors) => {
            Some("  health: ok again.".to_string())
        }
        _ => None,
    }
}

/// Real test-split recordings for the second part of the demo, or why there are none.
enum RealRecordings {
    Played { description: String, stream: Vec<u8>, truth: Vec<scoring::Segment>, summary: serde_json::Value },
    Skipped(String),
}

/// Gap with nobody in view between two real recordings (1.5 s: longer than the tracks' timeout, so each
/// recording is a new person to the device, as it is in the dataset).
const REAL_GAP_FRAMES: usize = 45;

/// The dataset whose label set the bundle knows, and `--per-class` sequences of each of its classes from `--split`,
/// as one continuous stream. Sequences are chosen by a fixed rule (class `c` takes the `c·7 + j`-th of its
/// sequences in the split, modulo their number, which spreads the choice over the subjects), never by results.
fn real_recordings(args: &DemoArgs, model: &LoadedModel<'_>) -> anyhow::Result<RealRecordings> {
    if args.no_dataset {
        return Ok(RealRecordings::Skipped("--no-dataset".into()));
    }
    let root = super::eval::datasets_root(args.dataset.as_deref());
    let knows = |d: Dataset| d.classes().iter().all(|c| model.labels.iter().any(|l| l.name == *c));
    let Some(dataset) = [Dataset::UtdMhad, Dataset::NwUcla].into_iter().find(|&d| knows(d)) else {
        return Ok(RealRecordings::Skipped(format!(
            "{} knows neither NW-UCLA's nor UTD-MHAD's classes",
            model.model_name()
        )));
    };
    let sequences = match dataset.sequences(&root, Some(args.split)) {
        Ok(found) if !found.is_empty() => found,
        _ if args.dataset.is_some() => {
            anyhow::bail!("no {} {:?} sequences under {}", dataset.folder(), args.split, root.display())
        }
        _ => {
            return Ok(RealRecordings::Skipped(format!(
                "no {} under {} (give --dataset DIR to play real recordings)",
                dataset.folder(),
                root.display()
            )))
        }
    };
    let mut chosen = Vec::new();
    for class in 0..dataset.classes().len() {
        let of_class: Vec<&SequenceFile> = sequences.iter().filter(|s| s.label == class).collect();
        for j in 0..args.per_class.min(of_class.len()) {
            chosen.push(of_class[(class * 7 + j) % of_class.len()].clone());
        }
    }
    let (frames, placed) = kinect_v1::continuous_stream(dataset, &chosen, REAL_GAP_FRAMES)?;
    let mut messages = Vec::with_capacity(frames.len() + 1);
    messages.push(Message::Hello(kinect_v1::kinect_v1_hello("skelact demo (real recordings)")));
    messages.extend(frames.into_iter().map(Message::Frame));
    let stream = sources::encode(&messages)?;
    let classes = dataset.classes();
    let truth: Vec<scoring::Segment> = placed
        .iter()
        .map(|p| scoring::Segment {
            label: classes[p.label].to_string(),
            body_id: p.body_id,
            start_us: p.start_us,
            end_us: p.end_us,
        })
        .collect();
    let names: Vec<String> =
        placed.iter().filter_map(|p| p.path.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    let description = format!(
        "{} real {} {}-split recordings ({}{} per class), one after another with {:.1} s of nobody between them, from {}",
        placed.len(),
        dataset.folder(),
        format!("{:?}", args.split).to_lowercase(),
        if args.split == Split::Test { "people never seen in training; " } else { "" },
        args.per_class,
        REAL_GAP_FRAMES as f64 / 30.0,
        root.display()
    );
    let summary = json!({
        "dataset": dataset.folder(),
        "split": format!("{:?}", args.split).to_lowercase(),
        "root": root.display().to_string(),
        "sequences": names,
    });
    Ok(RealRecordings::Played { description, stream, truth, summary })
}

/// `NAME.segments.json` beside `NAME.skr` or `NAME.jsonl`.
fn segments_beside(session: &Path) -> PathBuf {
    let stem = session.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    session.with_file_name(format!("{stem}.segments.json"))
}

/// The frame rate the stream's `Hello` announces (30 Hz without one).
fn sensor_rate_millihertz(stream: &[u8]) -> u32 {
    sources::decode(stream)
        .iter()
        .find_map(|m| if let Message::Hello(h) = m { Some(h.nominal_fps_millihertz) } else { None })
        .filter(|&rate| rate > 0)
        .unwrap_or(30_000)
}

fn count_frames(stream: &[u8]) -> u64 {
    sources::decode(stream).iter().filter(|m| matches!(m, Message::Frame(_))).count() as u64
}

fn session_seconds(stream: &[u8]) -> f64 {
    let stamps: Vec<u64> = sources::decode(stream)
        .iter()
        .filter_map(|m| if let Message::Frame(f) = m { Some(f.timestamp_us) } else { None })
        .collect();
    match (stamps.first(), stamps.last()) {
        (Some(a), Some(b)) => b.saturating_sub(*a) as f64 / 1e6,
        _ => 0.0,
    }
}

fn print_summary(
    score: &Score,
    summary: &DaemonSummary,
    latency: &LatencySummary,
    received: usize,
    memory: Option<(u64, u64)>,
    peak_rss: u64,
    wall: Duration,
) {
    println!();
    println!(
        "Per class (match: same label and body, temporal IoU >= {}, events stretched back one window):",
        score.min_iou
    );
    println!("  {:<36} {:>3} {:>3} {:>3} {:>9} {:>7} {:>5}", "class", "TP", "FP", "FN", "precision", "recall", "F1");
    for c in score.classes.iter().chain(std::iter::once(&score.overall)) {
        println!(
            "  {:<36} {:>3} {:>3} {:>3} {:>9.2} {:>7.2} {:>5.2}",
            c.class, c.true_positives, c.false_positives, c.false_negatives, c.precision, c.recall, c.f1
        );
    }
    println!("  macro F1 {:.2}", score.macro_f1);
    println!(
        "Latency, frame completing a window -> event written to the link ({} events): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latency.count, latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms
    );
    let w = &summary.window_latency;
    println!(
        "Latency, frame completing a window -> window classified ({} windows): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        w.count, w.p50_ms, w.p90_ms, w.p99_ms, w.max_ms
    );
    let d = &summary.delivery_latency;
    println!(
        "Latency beyond inference, event produced -> written to the link ({} events): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (0.1 ms buckets)",
        d.count, d.p50_ms, d.p99_ms, d.max_ms
    );
    println!(
        "Daemon: {} frames, {} windows run, {} dropped, {} failed; {} events ({} received over the link); {} damaged packets; {:.1} s",
        summary.frames,
        summary.windows_run,
        summary.windows_dropped,
        summary.windows_failed,
        summary.events,
        received,
        summary.link.errors(),
        wall.as_secs_f64()
    );
    if summary.windows_dropped > 0 {
        println!("{OVERLOADED}");
    }
    if let Some((rss, hwm)) = memory {
        println!(
            "Memory: VmRSS while streaming up to {:.1} MiB (sampled every 50 ms), {:.1} MiB at the end; VmHWM {:.1} MiB (includes loading the model)",
            peak_rss as f64 / 1024.0,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
}
