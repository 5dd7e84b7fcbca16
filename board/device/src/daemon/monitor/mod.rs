//! The status socket `skelact monitor` attaches to: snapshots of the daemon as newline-delimited JSON, 5 per
//! second by default, over a Unix-domain socket only the daemon's group may open.
//!
//! The frame path never waits for it. The ingest thread copies the latest pose of each track and the status
//! counters into a [`MonitorFeed`] slot of fixed size at the snapshot rate, with `try_lock` (a round the monitor
//! thread holds the slot is skipped); the inference thread records each window's best label and each event in
//! fixed-size rings. A thread of its own serializes the snapshot and writes it to the clients without waiting
//! ([`server`]).
//!
//! One line:
//!
//! ```json
//! {"type":"monitor","version":1,"status":{"type":"status","uptime_ms":1000,...},"queue":{"windows":0,"capacity":2},
//!  "latency":{"count":3,"p50_ms":41.2,"p90_ms":..,"p99_ms":..,"max_ms":..,"mean_ms":..},"window_latency":{...},
//!  "bodies":[{"body_id":1,"joints":[[0.1,0.4,2.5],null,...]}],
//!  "decisions":[{"window":12,"body_id":1,"label_index":0,"label":"hand waving","confidence":0.91,"unknown":false,"end_us":2300000}],
//!  "unknown_rate":0.1,"events":[{"type":"event",...}],"monitor":{"clients":1,"accepted":1,...}}
//! ```
//!
//! `status` is the JSON status line ([`super::outputs::status_json`]) and `events` hold event lines
//! ([`super::outputs::Outputs::event_json`]); `bodies` are NTU-25 joints in metres, sensor axes, `null` where
//! missing; `decisions` are the latest windows (the best label of each and whether it fell under the bundle's
//! unknown threshold); `unknown_rate` is the share of those that did.

pub mod server;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use skelact_runtime::skeleton::Pose;
use skelact_runtime::wire::{Event, Status};

use super::latency::LatencySummary;
use super::losses::DaemonCounters;
use super::outputs::{status_json, Outputs};
use crate::model::TRACKS;
use server::MonitorCounters;

/// Where the socket is unless the configuration says otherwise (systemd's `RuntimeDirectory=skelact`).
pub const DEFAULT_SOCKET: &str = "/run/skelact/monitor.sock";

/// Latest windows kept for `decisions` and `unknown_rate`.
pub const DECISIONS: usize = 32;

/// Latest events kept for `events`.
pub const EVENTS: usize = 8;

/// How the monitor socket is served.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorOptions {
    pub socket: PathBuf,
    /// Period of snapshots. Default 200 ms.
    pub interval: Duration,
    /// Clients served at once; more are refused. Default 4.
    pub max_clients: usize,
    /// Bytes that may wait for one client; a snapshot that does not fit is skipped for it. Default 64 KiB (a
    /// snapshot of four bodies is about 8 KiB).
    pub client_queue_bytes: usize,
    /// A window whose best score is under this counts as unknown (the bundle's decision rule). Default 0.35.
    pub unknown_threshold: f32,
}

impl MonitorOptions {
    pub fn new(socket: PathBuf) -> Self {
        MonitorOptions {
            socket,
            interval: Duration::from_millis(200),
            max_clients: 4,
            client_queue_bytes: 64 * 1024,
            unknown_threshold: 0.35,
        }
    }
}

/// The latest pose of one tracked body, NTU-25.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BodyPose {
    pub body_id: u32,
    /// `None` when the body was missing from the latest frame.
    pub pose: Option<Pose>,
}

/// The frame side as the ingest thread last saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameSide {
    pub status: Status,
    pub counters: DaemonCounters,
    pub bodies: heapless::Vec<BodyPose, TRACKS>,
    pub queued_windows: usize,
}

/// One classified window: its best label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowDecision {
    /// Running number of the window since the start.
    pub window: u64,
    pub body_id: u32,
    pub label_index: u16,
    pub confidence: f32,
    pub unknown: bool,
    pub end_us: u64,
}

/// The window side: the latest decisions and events.
#[derive(Clone, Debug, Default)]
pub struct WindowSide {
    pub windows: u64,
    pub decisions: heapless::Deque<WindowDecision, DECISIONS>,
    pub events: heapless::Deque<Event, EVENTS>,
}

impl WindowSide {
    /// Share of the kept windows that were unknown; 0 before any.
    pub fn unknown_rate(&self) -> f64 {
        let unknown = self.decisions.iter().filter(|d| d.unknown).count();
        if self.decisions.is_empty() {
            0.0
        } else {
            unknown as f64 / self.decisions.len() as f64
        }
    }
}

/// What the daemon's threads hand to the monitor thread. Fixed size: nothing in it grows with input.
#[derive(Debug)]
pub struct MonitorFeed {
    frame: Mutex<FrameSide>,
    window: Mutex<WindowSide>,
    unknown_threshold: f32,
}

impl MonitorFeed {
    pub fn new(unknown_threshold: f32) -> Self {
        MonitorFeed { frame: Mutex::default(), window: Mutex::default(), unknown_threshold }
    }

    /// For the ingest thread: fills the frame side unless the monitor thread is copying it right now (then this
    /// round is skipped rather than waited for). Returns whether it was filled.
    pub fn offer_frame_side(&self, fill: impl FnOnce(&mut FrameSide)) -> bool {
        match self.frame.try_lock() {
            Ok(mut side) => {
                fill(&mut side);
                true
            }
            Err(_) => false,
        }
    }

    /// For the inference thread: one classified window's scores (label probabilities or vote shares).
    pub fn record_window(&self, body_id: u32, end_us: u64, scores: &[f32]) {
        let best = scores.iter().enumerate().fold(None::<(usize, f32)>, |best, (i, &s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((i, s)),
        });
        let Some((index, confidence)) = best else { return };
        let Ok(mut side) = self.window.lock() else { return };
        side.windows += 1;
        let decision = WindowDecision {
            window: side.windows,
            body_id,
            label_index: u16::try_from(index).unwrap_or(u16::MAX),
            confidence,
            unknown: confidence < self.unknown_threshold,
            end_us,
        };
        if side.decisions.is_full() {
            side.decisions.pop_front();
        }
        // There is room now.
        let _ = side.decisions.push_back(decision);
    }

    /// For the inference thread: one published event.
    pub fn record_event(&self, event: &Event) {
        let Ok(mut side) = self.window.lock() else { return };
        if side.events.is_full() {
            side.events.pop_front();
        }
        let _ = side.events.push_back(*event);
    }

    /// Copies of both sides, for one snapshot.
    pub fn copy(&self) -> (FrameSide, WindowSide) {
        let frame = self.frame.lock().map(|f| f.clone()).unwrap_or_default();
        let window = self.window.lock().map(|w| w.clone()).unwrap_or_default();
        (frame, window)
    }
}

/// Everything one snapshot line holds besides the feed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras {
    pub queue_capacity: usize,
    pub latency: LatencySummary,
    pub window_latency: LatencySummary,
    pub server: MonitorCounters,
}

/// Millimetres are plenty for a stick figure and keep the line short.
fn mm(v: f32) -> f64 {
    (f64::from(v) * 1000.0).round() / 1000.0
}

/// The JSON object of one snapshot (see the module documentation).
pub fn snapshot_json(frame: &FrameSide, window: &WindowSide, extras: &Extras, outputs: &Outputs) -> serde_json::Value {
    let bodies: Vec<serde_json::Value> = frame
        .bodies
        .iter()
        .map(|body| {
            let joints: Vec<serde_json::Value> = match &body.pose {
                Some(pose) => pose
                    .joints
                    .iter()
                    .zip(pose.valid)
                    .map(|(j, valid)| if valid { json!([mm(j[0]), mm(j[1]), mm(j[2])]) } else { json!(null) })
                    .collect(),
                None => Vec::new(),
            };
            json!({ "body_id": body.body_id, "joints": joints })
        })
        .collect();
    let decisions: Vec<serde_json::Value> = window
        .decisions
        .iter()
        .map(|d| {
            json!({
                "window": d.window,
                "body_id": d.body_id,
                "label_index": d.label_index,
                "label": outputs.label(d.label_index),
                "confidence": d.confidence,
                "unknown": d.unknown,
                "end_us": d.end_us,
            })
        })
        .collect();
    let events: Vec<serde_json::Value> = window.events.iter().map(|e| outputs.event_json(e)).collect();
    json!({
        "type": "monitor",
        "version": 1,
        "status": status_json(&frame.status, &frame.counters),
        "queue": { "windows": frame.queued_windows, "capacity": extras.queue_capacity },
        "latency": extras.latency,
        "window_latency": extras.window_latency,
        "bodies": bodies,
        "decisions": decisions,
        "unknown_rate": window.unknown_rate(),
        "events": events,
        "monitor": extras.server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skelact_runtime::wire::EventPhase;

    #[test]
    fn a_snapshot_carries_poses_decisions_and_events_in_fixed_rings() {
        let feed = MonitorFeed::new(0.35);
        let mut pose = Pose::MISSING;
        pose.joints[3] = [0.12345, 1.5, 2.0];
        pose.valid[3] = true;
        assert!(feed.offer_frame_side(|side| {
            side.status.packets_ok = 7;
            side.queued_windows = 1;
            let _ = side.bodies.push(BodyPose { body_id: 5, pose: Some(pose) });
        }));
        for i in 0..DECISIONS + 3 {
            // Every fourth window unknown: no score reaches the threshold.
            let scores = if i % 4 == 0 { [0.3, 0.2] } else { [0.1, 0.9] };
            feed.record_window(5, i as u64, &scores);
        }
        let event = Event {
            body_id: 5,
            action_id: 23,
            label_index: 1,
            confidence: 0.9,
            start_us: 1,
            end_us: 2,
            phase: EventPhase::Begin,
        };
        for _ in 0..EVENTS + 1 {
            feed.record_event(&event);
        }
        let (frame, window) = feed.copy();
        assert_eq!((window.decisions.len(), window.events.len(), window.windows), (DECISIONS, EVENTS, 35));
        let outputs = Outputs::new(vec!["idle".into(), "wave".into()]);
        let line = snapshot_json(&frame, &window, &Extras { queue_capacity: 2, ..Extras::default() }, &outputs);
        assert_eq!(line["status"]["packets_ok"], 7);
        assert_eq!(line["queue"], json!({ "windows": 1, "capacity": 2 }));
        assert_eq!(line["bodies"][0]["joints"][3], json!([0.123, 1.5, 2.0]));
        assert_eq!(line["bodies"][0]["joints"][0], json!(null));
        let last = &line["decisions"][DECISIONS - 1];
        assert_eq!((&last["window"], &last["label"], &last["unknown"]), (&json!(35), &json!("wave"), &json!(false)));
        let second = &line["decisions"][1];
        assert_eq!(
            (&second["window"], &second["label"], &second["unknown"]),
            (&json!(5), &json!("idle"), &json!(true))
        );
        // Windows i = 3..=34 are kept; i = 4, 8, ..., 32 of them were unknown.
        assert_eq!(line["unknown_rate"], json!(0.25));
        assert_eq!(line["events"][0]["label"], "wave");
    }
}
