//! The lines the daemon's monitor socket sends, as the monitor reads them. Every field has a default, so a
//! daemon that adds fields, or lacks one, still shows what it has.

use serde::Deserialize;

/// One line from the socket.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    /// A snapshot of the daemon.
    Monitor(Box<Snapshot>),
    /// The daemon serves as many monitors as it will; it closes the connection after this line.
    Refused { reason: String },
}

impl Line {
    pub fn parse(text: &str) -> Result<Line, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub status: Status,
    pub queue: Queue,
    pub latency: Latency,
    pub window_latency: Latency,
    pub bodies: Vec<Body>,
    pub decisions: Vec<Decision>,
    pub unknown_rate: f64,
    pub events: Vec<EventLine>,
    pub monitor: ServerCounters,
}

/// The JSON status line's fields the monitor shows.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Status {
    pub uptime_ms: u64,
    pub packets_ok: u64,
    pub crc_errors: u64,
    pub cobs_errors: u64,
    pub length_errors: u64,
    pub decode_errors: u64,
    pub dropped_frames: u64,
    pub windows_run: u64,
    pub windows_dropped: u64,
    pub events: u64,
    pub active_tracks: u64,
    pub health: String,
    pub link_connected: bool,
    pub connects: u64,
    pub disconnects: u64,
    pub events_dropped: u64,
    pub windows_with_missing: u64,
    pub windows_reconstructed: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Queue {
    pub windows: u64,
    pub capacity: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A tracked body's latest pose: NTU-25 joints in metres, `None` where missing; empty when the body was missing
/// from the latest frame.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Body {
    pub body_id: u32,
    pub joints: Vec<Option<[f64; 3]>>,
}

/// One classified window's best label.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Decision {
    pub window: u64,
    pub body_id: u32,
    pub label: String,
    pub confidence: f64,
    pub unknown: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EventLine {
    pub phase: String,
    pub body_id: u32,
    pub action_id: u16,
    pub label: String,
    pub confidence: f64,
    pub start_us: u64,
    pub end_us: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerCounters {
    pub clients: u64,
    pub skipped: u64,
    pub dropped_slow: u64,
    pub refused: u64,
}
