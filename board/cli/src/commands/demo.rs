//! `skelact demo`: the whole device path without hardware.
//!
//! A pseudo-terminal pair stands in for the sensor's USB port. One thread plays the committed synthetic session
//! into the master at the sensor's pace, as a sensor would; the daemon (the same code as `skelact run`) opens the
//! slave by path and runs the committed default bundle; another thread reads the events the daemon writes back
//! over the link. At the end the events received on the sensor side are scored against the session's ground
//! truth ([`skelact::scoring`]) and the latency and memory figures are printed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use skelact::scoring::{self, Score, DEFAULT_MIN_IOU};
use skelact_device::daemon::latency::LatencySummary;
use skelact_device::daemon::outputs::{LineFormat, Outputs};
use skelact_device::daemon::{self, DaemonControl, DaemonOptions, DaemonSummary};
use skelact_device::model::{BackendChoice, BundleFile, EngineOptions, LoadedModel, OverlayChoice};
use skelact_formats::recording::{replay, Pacing};
use skelact_formats::{self as sources, InputFormat};
use skelact_links::pty::PtyPair;
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener, DEFAULT_BAUD};
use skelact_links::ByteLink;
use skelact_runtime::wire::{Decoder, Event, Message};

/// The committed defaults, relative to the repository root.
const DEFAULT_BUNDLE: &str = "models/zoo/default.skb";
const DEFAULT_SESSION: &str = "models/zoo/sessions/session-s0-p001.skr";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Model bundle [default: models/zoo/default.skb].
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Session to play: a protocol-v1 recording or a session .jsonl
    /// [default: models/zoo/sessions/session-s0-p001.skr].
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
    /// Do not print events as they happen.
    #[arg(long)]
    pub quiet: bool,
}

fn committed(given: Option<&PathBuf>, default: &str) -> PathBuf {
    given.cloned().unwrap_or_else(|| super::committed_path(default))
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
    let bundle_path = committed(args.bundle.as_ref(), DEFAULT_BUNDLE);
    let session_path = committed(args.session.as_ref(), DEFAULT_SESSION);
    let segments_path = match &args.segments {
        Some(path) => path.clone(),
        None => segments_beside(&session_path),
    };
    let file = BundleFile::read(&bundle_path)
        .with_context(|| format!("the demo needs the default bundle ({DEFAULT_BUNDLE}, or give --bundle)"))?;
    let model = LoadedModel::open(&file, &OverlayChoice::BesideBundle)?;
    let truth = scoring::read_ground_truth(&segments_path)?;
    let stream = sources::read_stream(&session_path, InputFormat::from_path(&session_path))?;
    let frames_in_stream = count_frames(&stream);
    anyhow::ensure!(frames_in_stream > 0, "{} holds no frames", session_path.display());
    let duration_s = session_seconds(&stream);
    eprintln!(
        "skelact demo: {} ({} frames, {:.1} s at {}x) -> pseudo-terminal -> {} ({} labels)",
        session_path.display(),
        frames_in_stream,
        duration_s,
        args.speed,
        model.model_name(),
        model.labels.len()
    );

    let labels: Vec<String> = model.labels.iter().map(|l| l.name.clone()).collect();
    let mut outputs = Outputs::new(labels.clone());
    if !args.quiet {
        outputs = outputs.with_lines(Box::new(std::io::stdout()), LineFormat::Text);
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
            let result = replay(&stream, Pacing::Speed(args.speed), wait, |packet| sensor_writer.write_all(packet));
            replay_done.store(true, Ordering::SeqCst);
            result
        });
        // The host side of the link: events coming back from the device.
        scope.spawn(|| {
            let mut decoder: Decoder = Decoder::new();
            let mut buf = [0u8; 4096];
            while !reading_done.load(Ordering::SeqCst) {
                let Ok(n) = sensor_reader.read(&mut buf, Duration::from_millis(20)) else { break };
                let mut input = &buf[..n];
                while let Some(outcome) = decoder.decode_next(&mut input) {
                    if let (Ok(Message::Event(event)), Ok(mut events)) = (outcome, received.lock()) {
                        events.push(*event);
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
        let expected = summary.as_ref().map_or(0, |s| s.events.saturating_sub(s.events_unsent));
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
    let window_us = scoring::window_span_us(model.raw_frames, sensor_rate_millihertz(&stream));
    let predicted =
        scoring::predicted_segments(&events, window_us, |i| labels.get(usize::from(i)).map_or("?", String::as_str));
    let score = scoring::score(&predicted, &truth, args.min_iou);
    let memory = memory_kib();
    let peak = peak_rss.into_inner().unwrap_or(0);
    print_summary(&score, &summary, &summary.latency, events.len(), memory, peak, wall);
    if let Some(path) = &args.summary {
        let document = json!({
            "bundle": bundle_path.display().to_string(),
            "bundle_sha256": model.sha256_hex(),
            "session": session_path.display().to_string(),
            "segments": segments_path.display().to_string(),
            "speed": args.speed,
            "threads": args.threads,
            "queue_windows": args.queue_windows,
            "wall_seconds": wall.as_secs_f64(),
            "matching": {
                "rule": "event segments stretched back by one window span; same label and body; temporal IoU >= min_iou; one-to-one, greedy by IoU",
                "min_iou": args.min_iou,
                "window_span_us": window_us,
            },
            "score": score,
            "predicted": predicted,
            "truth": truth,
            "latency_ms": summary.latency,
            "window_latency_ms": summary.window_latency,
            "daemon": {
                "frames": summary.frames,
                "windows_prepared": summary.windows_prepared,
                "windows_run": summary.windows_run,
                "windows_dropped": summary.windows_dropped,
                "windows_failed": summary.windows_failed,
                "events": summary.events,
                "events_received_over_link": events.len(),
                "events_unsent": summary.events_unsent,
                "damaged_packets": summary.link.errors(),
                "dropped_frames": summary.link.dropped_frames,
            },
            "memory_kib": {"vm_rss_streaming_peak": peak, "vm_rss_end": memory.map(|m| m.0), "vm_hwm": memory.map(|m| m.1)},
        });
        std::fs::write(path, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("summary written to {}", path.display());
    }
    Ok(())
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
    if let Some((rss, hwm)) = memory {
        println!(
            "Memory: VmRSS while streaming up to {:.1} MiB (sampled every 50 ms), {:.1} MiB at the end; VmHWM {:.1} MiB (includes loading the model)",
            peak_rss as f64 / 1024.0,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
}
