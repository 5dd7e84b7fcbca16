//! The daemon: serial bytes in, events out, on two threads.
//!
//! - The **ingest** thread (the caller's) reads the link through a [`ReconnectingReader`], decodes packets, runs
//!   the frame side of the pipeline (the runtime's `Frontend`: layouts, tracks, windows, preprocessing) on every frame, and
//!   queues due windows. It also writes everything that goes back over the link: events and periodic `Status`.
//! - The **inference** thread runs the window side (the runtime's `Classifier`: engines, head, fusion, decisions) on
//!   queued windows and publishes events to the other outputs (stdout lines, UDP, GPIO).
//!
//! Between them sits a bounded [`queue::WindowQueue`]: when inference falls behind, whole windows are dropped
//! and counted (`Status.windows_dropped`); frames never are. Latency is measured per event from the moment the
//! frame that completed its window was decoded to the moment the event was written to the link.

pub mod latency;
pub mod outputs;
pub mod queue;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skelact_runtime::engine::Engine;
use skelact_runtime::pipeline::{FrontendConfig, Tensors};
use skelact_runtime::preprocess::Outputs as TensorOutputs;
use skelact_runtime::wire::{
    encode_packet, DecodeError, Event, Frame, Health, LinkStats, Message, Status, MAX_PACKET_LEN,
};

use crate::model::{boxed_frontend, DeviceClassifier, DeviceFrontend, FrontendError, TRACKS};
use latency::{LatencyHistogram, LatencySummary};
use outputs::Outputs;
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
    /// Health is `NoSensor` after this long without a frame. Default 2 s.
    pub no_sensor_after: Duration,
    /// Health is `LinkErrors` when damaged packets exceed this share of all packets in a status period.
    /// Default 0.05.
    pub link_error_ratio: f64,
    /// Write events back over the link. Default on.
    pub events_to_link: bool,
    /// Write `Status` over the link. Default on.
    pub status_to_link: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            queue_windows: 2,
            status_interval: Duration::from_secs(1),
            poll: Duration::from_millis(5),
            no_sensor_after: Duration::from_secs(2),
            link_error_ratio: 0.05,
            events_to_link: true,
            status_to_link: true,
        }
    }
}

/// Shared with whoever started the daemon: a stop switch and live counters.
#[derive(Debug, Default)]
pub struct DaemonControl {
    stop: AtomicBool,
    frames: AtomicU64,
    events: AtomicU64,
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
    pub events: u64,
    /// Events that could not be written to the link (it was down).
    pub events_unsent: u64,
    pub status_sent: u64,
    pub link: LinkStats,
    pub reconnect: ReconnectStats,
    /// Frame that completed a window → its event written to the link (one sample per event).
    pub latency: LatencySummary,
    /// Frame that completed a window → the window classified (one sample per window run).
    pub window_latency: LatencySummary,
}

/// Counters the inference thread updates.
#[derive(Debug, Default)]
struct Shared {
    windows_run: AtomicU64,
    windows_failed: AtomicU64,
    latency: Mutex<LatencyHistogram>,
    window_latency: Mutex<LatencyHistogram>,
}

/// Why the daemon could not start. Once running, everything that goes wrong is counted, logged and survived.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Frontend(#[from] FrontendError),
    #[error("the engines take {engines} values, preprocessing makes {preprocessing}")]
    TensorLength { engines: usize, preprocessing: usize },
    #[error("cannot start the inference thread: {0}")]
    Thread(std::io::Error),
}

/// Events waiting for the ingest thread to write them to the link.
#[derive(Debug, Default)]
struct Outbox {
    events: Mutex<Vec<(Event, Option<Instant>)>>,
}

/// Most events that wait for the link; past that the oldest are counted unsent (only a link that is stuck gets
/// there: the ingest thread drains the outbox every poll).
const OUTBOX_LIMIT: usize = 256;

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
    let frontend = boxed_frontend(config, raw_frames)?;
    let tensor_len = frontend.tensor_len();
    if classifier.input_len() != tensor_len {
        return Err(DaemonError::TensorLength { engines: classifier.input_len(), preprocessing: tensor_len });
    }
    let queue = WindowQueue::new(options.queue_windows, 3 * tensor_len);
    let shared = Shared::default();
    let outbox = Outbox::default();
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
            .spawn_scoped(scope, || infer(classifier, &queue, tensor_len, outputs, &outbox, &shared, options, control))
            .map_err(DaemonError::Thread)?;
        tracing::info!(raw_frames, queue_windows = options.queue_windows, "daemon running");
        let mut writer = LinkWriter { packet: vec![0; MAX_PACKET_LEN + 1], unsent: 0, status_sent: 0 };
        let mut status = StatusClock { last: started, baseline: Baseline::default(), last_health: Health::Ok };
        while !control.is_stopping() {
            reader.poll(options.poll, |outcome| ingest.on_message(outcome));
            writer.flush_events(reader, &outbox, &shared, options);
            if status.last.elapsed() >= options.status_interval {
                let message = status.tick(started, reader.link_stats(), &ingest, &queue, &shared, control, options);
                writer.send_status(reader, &message, options);
                outputs.publish_status(&message);
            }
        }
        // Stop: the inference thread finishes the queue and closes open segments; their events go out last.
        queue.close();
        if inference.join().is_err() {
            tracing::error!("the inference thread panicked");
        }
        writer.flush_events(reader, &outbox, &shared, options);
        let last = status.tick(started, reader.link_stats(), &ingest, &queue, &shared, control, options);
        writer.send_status(reader, &last, options);
        outputs.publish_status(&last);
        outputs.release_pins();
        let counters = ingest.frontend.counters();
        let latency = shared.latency.lock().map(|h| h.summary()).unwrap_or_default();
        let window_latency = shared.window_latency.lock().map(|h| h.summary()).unwrap_or_default();
        let summary = DaemonSummary {
            uptime: started.elapsed(),
            frames: control.frames(),
            frames_refused: ingest.frames_refused,
            windows_prepared: u64::from(counters.windows_prepared),
            windows_dropped: queue.dropped(),
            windows_run: shared.windows_run.load(Ordering::SeqCst),
            windows_failed: u64::from(counters.windows_failed) + shared.windows_failed.load(Ordering::SeqCst),
            events: control.events(),
            events_unsent: writer.unsent,
            status_sent: writer.status_sent,
            link: *reader.link_stats(),
            reconnect: reader.link().stats(),
            latency,
            window_latency,
        };
        tracing::info!(
            frames = summary.frames,
            windows_run = summary.windows_run,
            windows_dropped = summary.windows_dropped,
            windows_failed = summary.windows_failed,
            events = summary.events,
            damaged_packets = summary.link.errors(),
            dropped_frames = summary.link.dropped_frames,
            reconnects = summary.reconnect.connects.saturating_sub(1),
            latency_p50_ms = summary.latency.p50_ms,
            latency_p99_ms = summary.latency.p99_ms,
            "daemon stopped"
        );
        Ok(summary)
    })
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
                tracing::info!(layout = ?hello.layout, units = ?hello.units, axes = ?hello.axes, sensor = %hello.sensor_name, fps_mhz = hello.nominal_fps_millihertz, "sensor hello");
                if let Err(error) = self.frontend.on_hello(hello) {
                    tracing::warn!(%error, "sensor hello refused");
                }
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
        while let Some(id) = self.frontend.next_due() {
            let mut buffer = self.queue.take_buffer();
            let (joint, rest) = buffer.split_at_mut(len);
            let (bone, motion) = rest.split_at_mut(len);
            match self.frontend.prepare(id, TensorOutputs { joint, bone, motion: &mut motion[..len] }) {
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

/// The window side, on the inference thread.
#[allow(clippy::too_many_arguments)]
fn infer<E: Engine>(
    mut classifier: DeviceClassifier<'_, E>,
    queue: &WindowQueue,
    len: usize,
    outputs: &Outputs,
    outbox: &Outbox,
    shared: &Shared,
    options: &DaemonOptions,
    control: &DaemonControl,
) {
    let mut events: Vec<Event> = Vec::with_capacity(16);
    let mut warned = false;
    let publish = |events: &mut Vec<Event>, frame_at: Option<Instant>| {
        for event in events.drain(..) {
            control.events.fetch_add(1, Ordering::SeqCst);
            outputs.publish(&event);
            if options.events_to_link {
                if let Ok(mut pending) = outbox.events.lock() {
                    if pending.len() >= OUTBOX_LIMIT {
                        pending.remove(0);
                    }
                    pending.push((event, frame_at));
                }
            } else if let (Some(at), Ok(mut histogram)) = (frame_at, shared.latency.lock()) {
                histogram.record(at.elapsed());
            }
        }
    };
    while let Some(job) = queue.pop() {
        match job {
            Job::Window(job) => {
                let t = &job.tensors;
                let tensors = Tensors { joint: &t[..len], bone: &t[len..2 * len], motion: &t[2 * len..3 * len] };
                match classifier.classify(&job.info, tensors, |event| events.push(event)) {
                    Ok(()) => {
                        shared.windows_run.fetch_add(1, Ordering::SeqCst);
                        if let Ok(mut histogram) = shared.window_latency.lock() {
                            histogram.record(job.frame_at.elapsed());
                        }
                    }
                    Err(error) => {
                        shared.windows_failed.fetch_add(1, Ordering::SeqCst);
                        // The same cause tends to repeat on every window: warn once, then keep it at debug.
                        if !warned {
                            tracing::warn!(%error, body_id = job.info.body_id, "window not classified (further failures at debug level)");
                            warned = true;
                        } else {
                            tracing::debug!(%error, body_id = job.info.body_id, "window not classified");
                        }
                    }
                }
                publish(&mut events, Some(job.frame_at));
                queue.give_back(job.tensors);
            }
            Job::Tracked(bodies) => {
                classifier.retire_bodies(|body| bodies.contains(&body), |event| events.push(event));
                publish(&mut events, None);
            }
        }
    }
    classifier.retire_bodies(|_| false, |event| events.push(event));
    publish(&mut events, None);
}

/// Writes events and status to the link.
struct LinkWriter {
    packet: Vec<u8>,
    unsent: u64,
    status_sent: u64,
}

impl LinkWriter {
    fn write<O: LinkOpener>(&mut self, reader: &mut ReconnectingReader<O>, message: &Message) -> bool {
        let Ok(n) = encode_packet(message, &mut self.packet) else { return false };
        match reader.write_all(&self.packet[..n]) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "not written to the link");
                false
            }
        }
    }

    fn flush_events<O: LinkOpener>(
        &mut self,
        reader: &mut ReconnectingReader<O>,
        outbox: &Outbox,
        shared: &Shared,
        options: &DaemonOptions,
    ) {
        if !options.events_to_link {
            return;
        }
        let pending = match outbox.events.lock() {
            Ok(mut events) if !events.is_empty() => std::mem::take(&mut *events),
            _ => return,
        };
        for (event, frame_at) in pending {
            if self.write(reader, &Message::Event(event)) {
                if let (Some(at), Ok(mut histogram)) = (frame_at, shared.latency.lock()) {
                    histogram.record(at.elapsed());
                }
            } else {
                self.unsent += 1;
            }
        }
    }

    fn send_status<O: LinkOpener>(
        &mut self,
        reader: &mut ReconnectingReader<O>,
        status: &Status,
        options: &DaemonOptions,
    ) {
        if options.status_to_link && reader.link().is_connected() && self.write(reader, &Message::Status(*status)) {
            self.status_sent += 1;
        }
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
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        let status = Status {
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
        };
        tracing::debug!(?status, "status");
        status
    }
}
