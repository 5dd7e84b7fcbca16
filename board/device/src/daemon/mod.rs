//! The daemon: serial bytes in, events out, on two threads.
//!
//! - The **ingest** thread (the caller's) reads the link through a [`ReconnectingReader`], decodes packets, runs
//!   the frame side of the pipeline (the runtime's `Frontend`: layouts, tracks, windows, preprocessing) on every frame, and
//!   queues due windows. It also writes everything that goes back over the link, events and periodic `Status`,
//!   through the [`backchannel`]: a queue of fixed size written without waiting, so that a sensor host that does
//!   not read them costs events and status (dropped and counted), never frames.
//! - The **inference** thread runs the window side (the runtime's `Classifier`: engines, head, fusion, decisions) on
//!   queued windows and publishes events to the other outputs (stdout lines, UDP, GPIO).
//!
//! Between them sits a bounded [`queue::WindowQueue`]: when inference falls behind, whole windows are dropped
//! and counted (`Status.windows_dropped`); frames never are. Latency is measured per event from the moment the
//! frame that completed its window was decoded to the moment the event's last byte was written to the link.
//!
//! Losses the wire `Status` has no field for (a back channel nobody reads, frames that do not fit the announced
//! layout, a sensor clock going backwards, refused `Hello`s, implausible joints, a port that cannot be opened)
//! are counted in [`losses::DaemonCounters`], which the JSON status line and the summary carry, and warned about
//! at a rate limit ([`losses::LossWarnings`]).
//!
//! With [`DaemonOptions::monitor`] set, a third thread serves snapshots to `skelact monitor` over a Unix socket
//! ([`monitor`]); the other two only copy into its fixed-size feed and never wait for it.

pub mod backchannel;
pub mod latency;
pub mod losses;
pub mod monitor;
pub mod outputs;
pub mod queue;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skelact_runtime::engine::Engine;
use skelact_runtime::pipeline::{FrontendConfig, Tensors};
use skelact_runtime::preprocess::{Outputs as TensorOutputs, Streams};
use skelact_runtime::reconstruct::{Reconstruction, WindowOutcome};
use skelact_runtime::wire::{
    encode_packet, DecodeError, Event, Frame, Health, LinkStats, Message, Status, MAX_PACKET_LEN,
};

use crate::model::{boxed_frontend, DeviceClassifier, DeviceFrontend, FrontendError, TRACKS};
use backchannel::{BackChannel, EventTimes, Kind, BACK_CHANNEL_BYTES};
use latency::{LatencyHistogram, LatencySummary};
use losses::{DaemonCounters, LossWarnings};
use monitor::server::{MonitorError, MonitorServer};
use monitor::{BodyPose, Extras, MonitorFeed, MonitorOptions};
use outputs::{Outputs, WindowNote};
use queue::{Job, WindowJob, WindowQueue};
use skelact_links::reconnect::{ReconnectStats, ReconnectingReader};
use skelact_links::LinkOpener;

/// How the daemon behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonOptions {
    /// Windows that may wait for inference; one more drops the oldest. Default 2.
    pub queue_windows: usize,
    /// Period of `Status` messages. Default 1 s.
    pub status_interval: Duration,
    /// Longest wait of one read. Events go out over the link after the read that follows them, so this bounds
    /// the delay they add. Default 5 ms.
    pub poll: Duration,
    /// Bytes of events and status that may wait for a sensor host that does not read them; past that the oldest
    /// are dropped and counted. Allocated once. Default 16 KiB ([`BACK_CHANNEL_BYTES`]).
    pub back_channel_bytes: usize,
    /// Health is `NoSensor` after this long without a frame. Default 2 s.
    pub no_sensor_after: Duration,
    /// Health is `LinkErrors` when damaged packets exceed this share of all packets in a status period.
    /// Default 0.05.
    pub link_error_ratio: f64,
    /// Write events back over the link. Default on.
    pub events_to_link: bool,
    /// Write `Status` over the link. Default on.
    pub status_to_link: bool,
    /// Serve snapshots for `skelact monitor` on a Unix socket. Default off.
    pub monitor: Option<MonitorOptions>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            queue_windows: 2,
            status_interval: Duration::from_secs(1),
            poll: Duration::from_millis(5),
            back_channel_bytes: BACK_CHANNEL_BYTES,
            no_sensor_after: Duration::from_secs(2),
            link_error_ratio: 0.05,
            events_to_link: true,
            status_to_link: true,
            monitor: None,
        }
    }
}

/// Shared with whoever started the daemon: a stop switch and live counters.
#[derive(Debug, Default)]
pub struct DaemonControl {
    stop: AtomicBool,
    frames: AtomicU64,
    events: AtomicU64,
    windows_run: AtomicU64,
    windows_failed: AtomicU64,
}

impl DaemonControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the daemon to finish: queued windows are still classified, open segments are closed with `End`
    /// events, and those go out before [`run`] returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::SeqCst)
    }

    /// Events published so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::SeqCst)
    }

    /// Windows classified so far, and windows the classifier failed on (a trial bundle's health check watches
    /// both).
    pub fn windows(&self) -> (u64, u64) {
        (self.windows_run.load(Ordering::SeqCst), self.windows_failed.load(Ordering::SeqCst))
    }
}

/// What a run did, for logs, the demo and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaemonSummary {
    pub uptime: Duration,
    /// Frames decoded from the link.
    pub frames: u64,
    /// Frames the tracks refused (a repeated sequence number).
    pub frames_refused: u64,
    pub windows_prepared: u64,
    /// Windows dropped because inference was behind.
    pub windows_dropped: u64,
    pub windows_run: u64,
    /// Windows that could not be built, preprocessed or classified.
    pub windows_failed: u64,
    /// Windows classified with at least one missing joint sample, those of them REC completed first, and those REC
    /// failed on (classified with their interpolated joints).
    pub windows_with_missing: u64,
    pub windows_reconstructed: u64,
    pub reconstructions_failed: u64,
    pub events: u64,
    /// Events dropped because the sensor host did not read the back channel (the queue was full, or still held
    /// them at the stop).
    pub events_dropped: u64,
    /// Events that could not be written to the link because it was down.
    pub events_unsent: u64,
    /// `Status` messages written whole to the link.
    pub status_sent: u64,
    /// `Status` messages dropped because the sensor host did not read the back channel.
    pub status_dropped: u64,
    /// `Status` messages queued for the link that it went down before writing.
    pub status_unsent: u64,
    /// Bodies left out of their frames: their joints do not fit the layout in use.
    pub bodies_rejected: u64,
    /// Times the sensor clock went backwards (a sensor restart: every track was cleared).
    pub clock_restarts: u64,
    /// `Hello`s refused for another protocol major version.
    pub hellos_refused: u64,
    /// Joints treated as missing for lying implausibly far away.
    pub joints_implausible: u64,
    /// Decoder counters; `link.joint_count_errors` are frames dropped for not matching the announced layout.
    pub link: LinkStats,
    pub reconnect: ReconnectStats,
    /// Frame that completed a window → its event written to the link (one sample per event).
    pub latency: LatencySummary,
    /// Frame that completed a window → the window classified (one sample per window run).
    pub window_latency: LatencySummary,
    /// Event produced (its window classified) → its last byte written to the link: what the daemon adds beyond
    /// inference (one sample per event written).
    pub delivery_latency: LatencySummary,
}

impl DaemonSummary {
    /// Events written whole to the link: every event that was neither dropped nor unsent. With
    /// `events_to_link` off it is every event, though none went to the link.
    pub fn events_written(&self) -> u64 {
        self.events.saturating_sub(self.events_dropped).saturating_sub(self.events_unsent)
    }
}

/// Counters the inference thread updates.
#[derive(Debug, Default)]
struct Shared {
    windows_run: AtomicU64,
    windows_failed: AtomicU64,
    windows_with_missing: AtomicU64,
    windows_reconstructed: AtomicU64,
    reconstructions_failed: AtomicU64,
    latency: Mutex<LatencyHistogram>,
    window_latency: Mutex<LatencyHistogram>,
    delivery_latency: Mutex<LatencyHistogram>,
}

/// Why the daemon could not start. Once running, everything that goes wrong is counted, logged and survived.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    #[error("the engines take {engines} values, preprocessing makes {preprocessing}")]
    TensorLength { engines: usize, preprocessing: usize },
    #[error("the reconstruction model takes windows of {model} frames, the encoder {encoder}")]
    ReconstructionFrames { model: usize, encoder: usize },
    #[error("cannot start the inference thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
}

/// Events handed from the inference thread to the ingest thread, which queues them for the link.
#[derive(Debug)]
struct Outbox {
    events: Mutex<Vec<(Event, EventTimes)>>,
    /// Events the ingest thread did not take in time (see [`OUTBOX_LIMIT`]).
    dropped: AtomicU64,
    /// Wakes the ingest thread's wait on the link when an event is put here, so that it goes out at once rather
    /// than after the wait's timeout. `None` if no wake-up pipe could be made: then the wait's timeout bounds the
    /// delay.
    #[cfg(unix)]
    waker: Option<skelact_links::wake::Waker>,
}

impl Outbox {
    fn new() -> Self {
        Outbox {
            events: Mutex::new(Vec::with_capacity(OUTBOX_LIMIT)),
            dropped: AtomicU64::new(0),
            #[cfg(unix)]
            waker: skelact_links::wake::Waker::new()
                .inspect_err(|error| tracing::warn!(%error, "events will wait for the link's poll timeout"))
                .ok(),
        }
    }

    fn wake(&self) {
        #[cfg(unix)]
        if let Some(waker) = &self.waker {
            waker.wake();
        }
    }
}

/// Most events that wait for the ingest thread; past that the oldest are dropped and counted. The ingest thread
/// takes them every poll, so only a burst of more events than this within one poll gets there.
const OUTBOX_LIMIT: usize = 256;

/// How long a stopping daemon keeps writing what is queued for a host that reads slowly.
const STOP_DRAIN: Duration = Duration::from_secs(1);

/// Runs until `control.stop()`. `raw_frames` is the bundle's window: the history each track keeps.
///
/// Errors only at start (a configuration the frontend refuses, engines that do not fit the preprocessing);
/// everything that goes wrong later is counted, logged and survived.
pub fn run<O: LinkOpener, E: Engine + Send>(
    reader: &mut ReconnectingReader<O>,
    config: FrontendConfig,
    raw_frames: usize,
    classifier: DeviceClassifier<'_, E>,
    outputs: &Outputs,
    options: &DaemonOptions,
    control: &DaemonControl,
) -> Result<DaemonSummary, DaemonError> {
    run_with_reconstruction(reader, config, raw_frames, classifier, None, outputs, options, control)
}

/// [`run`], with REC: on the inference thread, before the encoder, `reconstruction` completes the missing joints
/// of the windows its policy picks (`skelact_runtime::reconstruct`).
#[allow(clippy::too_many_arguments)]
pub fn run_with_reconstruction<O: LinkOpener, E: Engine + Send>(
    reader: &mut ReconnectingReader<O>,
    config: FrontendConfig,
    raw_frames: usize,
    classifier: DeviceClassifier<'_, E>,
    reconstruction: Option<Reconstruction<'_, E>>,
    outputs: &Outputs,
    options: &DaemonOptions,
    control: &DaemonControl,
) -> Result<DaemonSummary, DaemonError> {
    let frontend = boxed_frontend(config, raw_frames)?;
    let tensor_len = frontend.tensor_len();
    if classifier.input_len() != tensor_len {
        return Err(DaemonError::TensorLength { engines: classifier.input_len(), preprocessing: tensor_len });
    }
    if let Some(rec) = &reconstruction {
        if rec.frames_out() != frontend.frames_out() {
            return Err(DaemonError::ReconstructionFrames { model: rec.frames_out(), encoder: frontend.frames_out() });
        }
    }
    let window = WindowLayout { len: tensor_len, mask_len: frontend.mask_len(), streams: frontend.streams() };
    // Each window's buffer holds its three stream tensors, then its missing mask (for REC).
    let queue = WindowQueue::new(options.queue_windows, 3 * tensor_len + frontend.mask_len());
    let shared = Shared::default();
    let outbox = Outbox::new();
    let mut monitor = match &options.monitor {
        Some(m) => Some((MonitorServer::bind(&m.socket, m.max_clients, m.client_queue_bytes)?, m)),
        None => None,
    };
    let feed = options.monitor.as_ref().map(|m| MonitorFeed::new(m.unknown_threshold));
    let started = Instant::now();
    let mut ingest = Ingest {
        frontend,
        queue: &queue,
        control,
        tracked: heapless::Vec::new(),
        frames_refused: 0,
        last_frame_at: None,
    };
    std::thread::scope(|scope| -> Result<DaemonSummary, DaemonError> {
        let inference = std::thread::Builder::new()
            .name("skelact-inference".into())
            .spawn_scoped(scope, || {
                let model = Model { classifier, reconstruction, window };
                infer(model, &queue, outputs, &outbox, &shared, feed.as_ref(), options, control)
            })
            .map_err(DaemonError::Thread)?;
        if let (Some((server, monitor)), Some(feed)) = (monitor.as_mut(), feed.as_ref()) {
            let (capacity, shared) = (options.queue_windows, &shared);
            // The inference thread already waits on the queue, so an error return here would hang the scope: a
            // daemon without its monitor is better than none.
            let spawned = std::thread::Builder::new()
                .name("skelact-monitor".into())
                .spawn_scoped(scope, move || serve_monitor(server, monitor, feed, capacity, shared, outputs, control));
            if let Err(error) = spawned {
                tracing::warn!(%error, "cannot start the monitor thread; running without the monitor socket");
            }
        }
        tracing::info!(raw_frames, queue_windows = options.queue_windows, "daemon running");
        let mut writer = LinkWriter::new(options.back_channel_bytes);
        let mut status = StatusClock { last: started, baseline: Baseline::default(), last_health: Health::Ok };
        let mut warnings = LossWarnings::default();
        let mut monitor_at = started;
        while !control.is_stopping() {
            poll(reader, &outbox, options.poll, |outcome| ingest.on_message(outcome));
            writer.queue_events(&outbox, options);
            if let (Some(feed), Some(m)) = (&feed, &options.monitor) {
                if monitor_at.elapsed() >= m.interval {
                    monitor_at = Instant::now();
                    let message = status.current(started, reader.link_stats(), &ingest, &queue, &shared, control);
                    let counters = daemon_counters(reader, &ingest, &writer, &outbox, &shared);
                    feed.offer_frame_side(|side| {
                        side.status = message;
                        side.counters = counters;
                        side.queued_windows = queue.windows_queued();
                        side.bodies.clear();
                        for track in ingest.frontend.tracks().iter() {
                            let pose = track.frame(0).and_then(|f| f.pose).copied();
                            // As many slots as tracks.
                            let _ = side.bodies.push(BodyPose { body_id: track.body_id(), pose });
                        }
                    });
                }
            }
            if status.last.elapsed() >= options.status_interval {
                let message = status.tick(started, reader.link_stats(), &ingest, &queue, &shared, control, options);
                writer.queue_status(reader, &message, options);
                outputs.publish_status(&message, &daemon_counters(reader, &ingest, &writer, &outbox, &shared));
            }
            writer.drain(reader, &shared);
            warnings.check(Instant::now(), &daemon_counters(reader, &ingest, &writer, &outbox, &shared));
        }
        // Stop: the inference thread finishes the queue and closes open segments; their events go out last.
        queue.close();
        if inference.join().is_err() {
            tracing::error!("the inference thread panicked");
        }
        writer.queue_events(&outbox, options);
        let last = status.tick(started, reader.link_stats(), &ingest, &queue, &shared, control, options);
        writer.queue_status(reader, &last, options);
        writer.finish(reader, &shared);
        let counters = daemon_counters(reader, &ingest, &writer, &outbox, &shared);
        warnings.check(Instant::now(), &counters);
        outputs.publish_status(&last, &counters);
        outputs.release_pins();
        let frontend = ingest.frontend.counters();
        let latency = shared.latency.lock().map(|h| h.summary()).unwrap_or_default();
        let window_latency = shared.window_latency.lock().map(|h| h.summary()).unwrap_or_default();
        let delivery_latency = shared.delivery_latency.lock().map(|h| h.summary()).unwrap_or_default();
        let back = writer.back.counters();
        let summary = DaemonSummary {
            uptime: started.elapsed(),
            frames: control.frames(),
            frames_refused: ingest.frames_refused,
            windows_prepared: u64::from(frontend.windows_prepared),
            windows_dropped: queue.dropped(),
            windows_run: shared.windows_run.load(Ordering::SeqCst),
            windows_failed: u64::from(frontend.windows_failed) + shared.windows_failed.load(Ordering::SeqCst),
            windows_with_missing: counters.windows_with_missing,
            windows_reconstructed: counters.windows_reconstructed,
            reconstructions_failed: counters.reconstructions_failed,
            events: control.events(),
            events_dropped: counters.events_dropped,
            events_unsent: back.events_unsent,
            status_sent: back.status_written,
            status_dropped: back.status_dropped,
            status_unsent: back.status_unsent,
            bodies_rejected: u64::from(counters.bodies_rejected),
            clock_restarts: u64::from(counters.clock_restarts),
            hellos_refused: u64::from(counters.hellos_refused),
            joints_implausible: u64::from(counters.joints_implausible),
            link: *reader.link_stats(),
            reconnect: reader.link().stats(),
            latency,
            window_latency,
            delivery_latency,
        };
        tracing::info!(
            frames = summary.frames,
            windows_run = summary.windows_run,
            windows_dropped = summary.windows_dropped,
            windows_failed = summary.windows_failed,
            windows_with_missing = summary.windows_with_missing,
            windows_reconstructed = summary.windows_reconstructed,
            events = summary.events,
            events_dropped = summary.events_dropped,
            events_unsent = summary.events_unsent,
            status_dropped = summary.status_dropped,
            damaged_packets = summary.link.errors(),
            dropped_frames = summary.link.dropped_frames,
            joint_count_errors = summary.link.joint_count_errors,
            bodies_rejected = summary.bodies_rejected,
            clock_restarts = summary.clock_restarts,
            hellos_refused = summary.hellos_refused,
            joints_implausible = summary.joints_implausible,
            reconnects = summary.reconnect.connects.saturating_sub(1),
            failed_opens = summary.reconnect.failed_opens,
            port_repointed = summary.reconnect.repointed,
            latency_p50_ms = summary.latency.p50_ms,
            latency_p99_ms = summary.latency.p99_ms,
            delivery_p50_ms = summary.delivery_latency.p50_ms,
            delivery_p99_ms = summary.delivery_latency.p99_ms,
            "daemon stopped"
        );
        Ok(summary)
    })
}

/// Waits (at most `timeout`) for input on the link, or for the inference thread's wake-up when it has put an event
/// in the outbox, and decodes what arrived.
fn poll<O: LinkOpener>(
    reader: &mut ReconnectingReader<O>,
    outbox: &Outbox,
    timeout: Duration,
    on_message: impl FnMut(Result<&Message, DecodeError>),
) {
    #[cfg(unix)]
    if let Some(waker) = &outbox.waker {
        reader.poll_or_wake(timeout, waker, on_message);
        return;
    }
    reader.poll(timeout, on_message);
}

/// The counters the wire `Status` has no room for, as they stand now.
fn daemon_counters<O: LinkOpener>(
    reader: &ReconnectingReader<O>,
    ingest: &Ingest<'_>,
    writer: &LinkWriter,
    outbox: &Outbox,
    shared: &Shared,
) -> DaemonCounters {
    let link = reader.link();
    let reconnect = link.stats();
    let back = writer.back.counters();
    let frontend = ingest.frontend.counters();
    DaemonCounters {
        link_connected: link.is_connected(),
        connects: reconnect.connects,
        disconnects: reconnect.disconnects,
        failed_opens: reconnect.failed_opens,
        port_repointed: reconnect.repointed,
        events_dropped: back.events_dropped + outbox.dropped.load(Ordering::SeqCst),
        status_dropped: back.status_dropped,
        events_unsent: back.events_unsent,
        status_unsent: back.status_unsent,
        joint_count_errors: reader.link_stats().joint_count_errors,
        bodies_rejected: frontend.bodies_rejected,
        clock_restarts: ingest.frontend.tracks().counters().clock_restarts,
        hellos_refused: frontend.hellos_refused,
        joints_implausible: frontend.joints_implausible,
        sensor_rate_announced_millihertz: frontend.grid.nominal_rate_millihertz,
        sensor_rate_measured_millihertz: frontend.grid.measured_rate_millihertz,
        rate_mismatches: frontend.grid.rate_mismatches,
        windows_with_missing: shared.windows_with_missing.load(Ordering::SeqCst),
        windows_reconstructed: shared.windows_reconstructed.load(Ordering::SeqCst),
        reconstructions_failed: shared.reconstructions_failed.load(Ordering::SeqCst),
    }
}

/// The frame side, on the ingest thread.
struct Ingest<'q> {
    frontend: Box<DeviceFrontend>,
    queue: &'q WindowQueue,
    control: &'q DaemonControl,
    /// Body ids with a track after the latest frame, as last told to the inference thread.
    tracked: heapless::Vec<u32, TRACKS>,
    frames_refused: u64,
    last_frame_at: Option<Instant>,
}

impl Ingest<'_> {
    fn on_message(&mut self, outcome: Result<&Message, DecodeError>) {
        match outcome {
            Ok(Message::Hello(hello)) => {
                tracing::info!(protocol = %format_args!("{}.{}", hello.protocol_major, hello.protocol_minor), layout = ?hello.layout, units = ?hello.units, axes = ?hello.axes, sensor = %hello.sensor_name, fps_mhz = hello.nominal_fps_millihertz, "sensor hello");
                // A refused Hello is counted by the frontend and warned about with the other losses.
                let _refused = self.frontend.on_hello(hello);
            }
            Ok(Message::Frame(frame)) => self.on_frame(frame),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "damaged packet skipped"),
        }
    }

    fn on_frame(&mut self, frame: &Frame) {
        let now = Instant::now();
        self.last_frame_at = Some(now);
        self.control.frames.fetch_add(1, Ordering::SeqCst);
        if let Err(error) = self.frontend.push_frame(frame) {
            self.frames_refused += 1;
            tracing::debug!(%error, sequence = frame.sequence, "frame refused");
            return;
        }
        let mut tracked = heapless::Vec::<u32, TRACKS>::new();
        for track in self.frontend.tracks().iter() {
            // TRACKS slots hold at most TRACKS tracks, so this cannot overflow.
            let _ = tracked.push(track.body_id());
        }
        if tracked != self.tracked {
            self.queue.push_tracked(tracked.clone());
            self.tracked = tracked;
        }
        let len = self.frontend.tensor_len();
        let mask_len = self.frontend.mask_len();
        while let Some(id) = self.frontend.next_due() {
            let mut buffer = self.queue.take_buffer();
            let (joint, rest) = buffer.split_at_mut(len);
            let (bone, rest) = rest.split_at_mut(len);
            let (motion, missing) = rest.split_at_mut(len);
            let outputs = TensorOutputs { joint, bone, motion, missing: &mut missing[..mask_len] };
            match self.frontend.prepare(id, outputs) {
                Ok(info) => {
                    self.queue.push_window(WindowJob { info, tensors: buffer, frame_at: now });
                }
                Err(error) => {
                    tracing::debug!(%error, "window not prepared");
                    self.queue.give_back(buffer);
                }
            }
        }
    }
}

/// The window side's model: the classifier, REC if any, and where each part of a window's buffer lies.
struct Model<'m, E> {
    classifier: DeviceClassifier<'m, E>,
    reconstruction: Option<Reconstruction<'m, E>>,
    window: WindowLayout,
}

/// A queued window's buffer: three stream tensors of `len` values, then the missing mask.
#[derive(Clone, Copy, Debug)]
struct WindowLayout {
    len: usize,
    mask_len: usize,
    streams: Streams,
}

/// The window side, on the inference thread.
#[allow(clippy::too_many_arguments)]
fn infer<E: Engine>(
    model: Model<'_, E>,
    queue: &WindowQueue,
    outputs: &Outputs,
    outbox: &Outbox,
    shared: &Shared,
    feed: Option<&MonitorFeed>,
    options: &DaemonOptions,
    control: &DaemonControl,
) {
    let Model { mut classifier, mut reconstruction, window: layout } = model;
    let len = layout.len;
    let mut events: Vec<Event> = Vec::with_capacity(16);
    let mut warned = false;
    let mut rec_warned = false;
    let publish = |events: &mut Vec<Event>, frame_at: Option<Instant>, note: Option<WindowNote>| {
        let any = !events.is_empty();
        for event in events.drain(..) {
            control.events.fetch_add(1, Ordering::SeqCst);
            outputs.publish_noted(&event, note);
            if let Some(feed) = feed {
                feed.record_event(&event);
            }
            if options.events_to_link {
                if let Ok(mut pending) = outbox.events.lock() {
                    if pending.len() >= OUTBOX_LIMIT {
                        pending.remove(0);
                        outbox.dropped.fetch_add(1, Ordering::SeqCst);
                    }
                    pending.push((event, EventTimes { frame: frame_at, classified: Instant::now() }));
                }
            } else if let (Some(at), Ok(mut histogram)) = (frame_at, shared.latency.lock()) {
                histogram.record(at.elapsed());
            }
        }
        if any && options.events_to_link {
            outbox.wake();
        }
    };
    while let Some(job) = queue.pop() {
        match job {
            Job::Window(mut job) => {
                let missing = job.info.missing;
                let outcome = match &mut reconstruction {
                    Some(rec) => {
                        let (joint, rest) = job.tensors.split_at_mut(len);
                        let (bone, rest) = rest.split_at_mut(len);
                        let (motion, mask) = rest.split_at_mut(len);
                        rec.apply(missing, &mask[..layout.mask_len], joint, bone, motion, layout.streams)
                    }
                    None => WindowOutcome::Interpolated,
                };
                if missing.any() {
                    shared.windows_with_missing.fetch_add(1, Ordering::SeqCst);
                }
                match outcome {
                    WindowOutcome::Reconstructed => {
                        shared.windows_reconstructed.fetch_add(1, Ordering::SeqCst);
                    }
                    WindowOutcome::Failed(error) => {
                        shared.reconstructions_failed.fetch_add(1, Ordering::SeqCst);
                        if !rec_warned {
                            tracing::warn!(%error, body_id = job.info.body_id, "reconstruction failed; the window is classified with its interpolated joints (further failures at debug level)");
                            rec_warned = true;
                        } else {
                            tracing::debug!(%error, body_id = job.info.body_id, "reconstruction failed");
                        }
                    }
                    WindowOutcome::Interpolated => {}
                }
                let note = WindowNote { reconstructed: outcome.reconstructed(), missing_fraction: missing.fraction() };
                let t = &job.tensors;
                let tensors = Tensors { joint: &t[..len], bone: &t[len..2 * len], motion: &t[2 * len..3 * len] };
                match classifier.classify(&job.info, tensors, |event| events.push(event)) {
                    Ok(()) => {
                        if let Some(feed) = feed {
                            feed.record_window(job.info.body_id, job.info.end_us, classifier.last_scores());
                        }
                        shared.windows_run.fetch_add(1, Ordering::SeqCst);
                        control.windows_run.fetch_add(1, Ordering::SeqCst);
                        if let Ok(mut histogram) = shared.window_latency.lock() {
                            histogram.record(job.frame_at.elapsed());
                        }
                    }
                    Err(error) => {
                        shared.windows_failed.fetch_add(1, Ordering::SeqCst);
                        control.windows_failed.fetch_add(1, Ordering::SeqCst);
                        // The same cause tends to repeat on every window: warn once, then keep it at debug.
                        if !warned {
                            tracing::warn!(%error, body_id = job.info.body_id, "window not classified (further failures at debug level)");
                            warned = true;
                        } else {
                            tracing::debug!(%error, body_id = job.info.body_id, "window not classified");
                        }
                    }
                }
                publish(&mut events, Some(job.frame_at), Some(note));
                queue.give_back(job.tensors);
            }
            Job::Tracked(bodies) => {
                classifier.retire_bodies(|body| bodies.contains(&body), |event| events.push(event));
                publish(&mut events, None, None);
            }
        }
    }
    classifier.retire_bodies(|_| false, |event| events.push(event));
    publish(&mut events, None, None);
}

/// Queues events and status for the link and writes them without waiting (see [`backchannel`]).
struct LinkWriter {
    back: BackChannel,
    /// Encoding space for one packet.
    packet: Vec<u8>,
    /// The outbox's events, taken in one swap so that the inference thread is held up for no longer than that.
    taken: Vec<(Event, EventTimes)>,
}

impl LinkWriter {
    fn new(back_channel_bytes: usize) -> Self {
        LinkWriter {
            back: BackChannel::new(back_channel_bytes),
            packet: vec![0; MAX_PACKET_LEN + 1],
            taken: Vec::with_capacity(OUTBOX_LIMIT),
        }
    }

    fn queue(&mut self, kind: Kind, message: &Message, times: Option<EventTimes>) {
        match encode_packet(message, &mut self.packet) {
            Ok(n) => {
                self.back.push(kind, &self.packet[..n], times);
            }
            // Events and status always fit a packet; should one not, it is lost here and said so.
            Err(error) => tracing::warn!(%error, ?kind, "cannot encode for the link"),
        }
    }

    fn queue_events(&mut self, outbox: &Outbox, options: &DaemonOptions) {
        if !options.events_to_link {
            return;
        }
        match outbox.events.lock() {
            Ok(mut events) if !events.is_empty() => std::mem::swap(&mut *events, &mut self.taken),
            _ => return,
        }
        let mut taken = std::mem::take(&mut self.taken);
        for (event, times) in taken.drain(..) {
            self.queue(Kind::Event, &Message::Event(event), Some(times));
        }
        self.taken = taken;
    }

    fn queue_status<O: LinkOpener>(
        &mut self,
        reader: &ReconnectingReader<O>,
        status: &Status,
        options: &DaemonOptions,
    ) {
        // Nobody to send it to while the link is down; the JSON line still reports it.
        if options.status_to_link && reader.link().is_connected() {
            self.queue(Kind::Status, &Message::Status(*status), None);
        }
    }

    /// Writes what the link takes now; records each event's latency when its last byte goes out.
    fn drain<O: LinkOpener>(&mut self, reader: &mut ReconnectingReader<O>, shared: &Shared) {
        if self.back.is_empty() {
            return;
        }
        if !reader.link().is_connected() {
            self.back.drop_unsent();
            return;
        }
        self.back.drain(
            |bytes| reader.write_now(bytes),
            |kind, times| {
                let Some(times) = times.filter(|_| kind == Kind::Event) else { return };
                if let (Some(at), Ok(mut histogram)) = (times.frame, shared.latency.lock()) {
                    histogram.record(at.elapsed());
                }
                if let Ok(mut histogram) = shared.delivery_latency.lock() {
                    histogram.record(times.classified.elapsed());
                }
            },
        );
    }

    /// At the stop: keeps writing for up to [`STOP_DRAIN`] while the host reads, then drops what is left.
    fn finish<O: LinkOpener>(&mut self, reader: &mut ReconnectingReader<O>, shared: &Shared) {
        let deadline = Instant::now() + STOP_DRAIN;
        loop {
            self.drain(reader, shared);
            if self.back.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.back.drop_unread();
    }
}

/// Link counters at the previous status, to judge the period since.
#[derive(Clone, Copy, Debug, Default)]
struct Baseline {
    packets: u32,
    errors: u32,
    dropped_windows: u64,
}

struct StatusClock {
    last: Instant,
    baseline: Baseline,
    last_health: Health,
}

impl StatusClock {
    #[allow(clippy::too_many_arguments)]
    fn tick(
        &mut self,
        started: Instant,
        link: &LinkStats,
        ingest: &Ingest<'_>,
        queue: &WindowQueue,
        shared: &Shared,
        control: &DaemonControl,
        options: &DaemonOptions,
    ) -> Status {
        let now = Instant::now();
        let dropped_windows = queue.dropped();
        let period = Baseline { packets: link.packets_ok, errors: link.errors(), dropped_windows };
        let packets = period.packets.wrapping_sub(self.baseline.packets);
        let errors = period.errors.wrapping_sub(self.baseline.errors);
        let health = if ingest.last_frame_at.is_none_or(|at| now.duration_since(at) > options.no_sensor_after) {
            Health::NoSensor
        } else if dropped_windows > self.baseline.dropped_windows {
            Health::Overloaded
        } else if f64::from(errors) > options.link_error_ratio * f64::from(packets.wrapping_add(errors)) {
            Health::LinkErrors
        } else {
            Health::Ok
        };
        if health != self.last_health {
            tracing::info!(?health, previous = ?self.last_health, "health changed");
        }
        self.last = now;
        self.baseline = period;
        self.last_health = health;
        let status = Self::build(started, link, ingest, dropped_windows, shared, control, health);
        tracing::debug!(?status, "status");
        status
    }

    /// The status as it stands, with the health judged at the latest tick: for the monitor, which samples more
    /// often than the status period and must not move the period's baseline.
    fn current(
        &self,
        started: Instant,
        link: &LinkStats,
        ingest: &Ingest<'_>,
        queue: &WindowQueue,
        shared: &Shared,
        control: &DaemonControl,
    ) -> Status {
        Self::build(started, link, ingest, queue.dropped(), shared, control, self.last_health)
    }

    fn build(
        started: Instant,
        link: &LinkStats,
        ingest: &Ingest<'_>,
        dropped_windows: u64,
        shared: &Shared,
        control: &DaemonControl,
        health: Health,
    ) -> Status {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Status {
            uptime_ms: started.elapsed().as_millis() as u64,
            packets_ok: link.packets_ok,
            crc_errors: link.crc_errors,
            cobs_errors: link.cobs_errors,
            length_errors: link.oversize.wrapping_add(link.too_short),
            decode_errors: link.malformed.wrapping_add(link.count_errors).wrapping_add(link.joint_count_errors),
            version_errors: link.version_errors,
            invalid_values: link.non_finite,
            dropped_frames: link.dropped_frames,
            windows_run: clamp(shared.windows_run.load(Ordering::SeqCst)),
            windows_dropped: clamp(dropped_windows),
            events: clamp(control.events()),
            active_tracks: ingest.frontend.tracks().active_count() as u8,
            health,
        }
    }
}

/// How often the monitor thread accepts clients and writes what they take.
const MONITOR_POLL: Duration = Duration::from_millis(10);

/// The monitor thread: a snapshot line every `options.interval` while anyone is attached, written without waiting.
fn serve_monitor(
    server: &mut MonitorServer,
    options: &MonitorOptions,
    feed: &MonitorFeed,
    queue_capacity: usize,
    shared: &Shared,
    outputs: &Outputs,
    control: &DaemonControl,
) {
    let mut line = Vec::with_capacity(options.client_queue_bytes);
    let mut next = Instant::now();
    while !control.is_stopping() {
        server.accept();
        if Instant::now() >= next {
            next = Instant::now() + options.interval;
            if server.counters().clients > 0 {
                let (frame, window) = feed.copy();
                // The histograms are scanned under their locks (16 k buckets, microseconds), which the ingest
                // thread takes only to record an event's latency.
                let extras = Extras {
                    queue_capacity,
                    latency: shared.latency.lock().map(|h| h.summary()).unwrap_or_default(),
                    window_latency: shared.window_latency.lock().map(|h| h.summary()).unwrap_or_default(),
                    server: server.counters(),
                };
                line.clear();
                match serde_json::to_writer(&mut line, &monitor::snapshot_json(&frame, &window, &extras, outputs)) {
                    Ok(()) => {
                        line.push(b'\n');
                        server.offer(&line);
                    }
                    Err(error) => tracing::debug!(%error, "monitor snapshot not serialized"),
                }
            }
        }
        server.flush();
        std::thread::sleep(MONITOR_POLL);
    }
}
