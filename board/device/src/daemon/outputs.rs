//! Where events and status go besides the serial link: lines on stdout (JSON or text), UDP datagrams, GPIO.
//!
//! JSON lines (one object per line, `"type"` says which):
//!
//! ```json
//! {"type":"event","phase":"begin","body_id":1,"action_id":23,"label_index":0,"label":"hand waving","confidence":0.91,"start_us":2033333,"end_us":2300000,"reconstructed":false,"missing_fraction":0.0}
//! {"type":"status","uptime_ms":1000,"packets_ok":31,...,"events":2,"active_tracks":1,"health":"ok","link_connected":true,...,"joints_implausible":0,...,"windows_with_missing":3,"windows_reconstructed":1}
//! ```
//!
//! An event's `reconstructed` and `missing_fraction` say what the window it came from went through ([`WindowNote`]):
//! whether REC completed its missing joints, and the share of its joint samples that were missing. Both are `null`
//! for an event no window produced (an `end` because the body left).
//!
//! A status line holds the fields of the wire `Status`, then the daemon's own counters ([`DaemonCounters`]), which
//! protocol v1's `Status` has no room for, as flat keys of the same object.
//!
//! A UDP datagram carries one event object, the same JSON without the newline.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;

use serde_json::json;
use skelact_runtime::wire::{Event, EventPhase, Health, Status};

use skelact_links::gpio::ActionPins;

use super::losses::DaemonCounters;

/// What the window an event came from went through (REC), for the event's JSON and text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowNote {
    /// Whether the reconstruction model completed the window's missing joints.
    pub reconstructed: bool,
    /// The window's missing fraction, 0..=1 (`docs/preprocessing.md`, "The missing mask").
    pub missing_fraction: f32,
}

/// How lines on the stream look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// One JSON object per line (events and status).
    #[default]
    Json,
    /// For people: one event per line, status not printed.
    Text,
}

/// Where events and status go (the serial link aside, which the daemon writes itself).
#[derive(Debug, Default)]
pub struct Outputs {
    lines: Option<Mutex<LineSink>>,
    udp: Option<(UdpSocket, SocketAddr)>,
    pins: Mutex<ActionPins>,
    labels: Vec<String>,
}

struct LineSink {
    writer: Box<dyn Write + Send>,
    format: LineFormat,
    failed: bool,
}

impl std::fmt::Debug for LineSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSink").field("format", &self.format).finish_non_exhaustive()
    }
}

impl Outputs {
    /// No outputs; `labels` names the label indices in JSON and text.
    pub fn new(labels: Vec<String>) -> Self {
        Outputs { labels, ..Outputs::default() }
    }

    /// Writes events (and, as JSON, status) as lines to `writer`, e.g. stdout.
    pub fn with_lines(mut self, writer: Box<dyn Write + Send>, format: LineFormat) -> Self {
        self.lines = Some(Mutex::new(LineSink { writer, format, failed: false }));
        self
    }

    /// Sends each event as a datagram to `target` from an ephemeral local port.
    pub fn with_udp(mut self, target: SocketAddr) -> std::io::Result<Self> {
        let local: SocketAddr =
            if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
        let socket = UdpSocket::bind(local)?;
        self.udp = Some((socket, target));
        Ok(self)
    }

    /// Drives these GPIO lines from the events.
    pub fn with_pins(mut self, pins: ActionPins) -> Self {
        self.pins = Mutex::new(pins);
        self
    }

    pub fn label(&self, index: u16) -> &str {
        if index == Event::UNKNOWN {
            return "unknown";
        }
        self.labels.get(usize::from(index)).map_or("?", String::as_str)
    }

    /// The JSON object of an event that no window note goes with (its REC fields are `null`).
    pub fn event_json(&self, event: &Event) -> serde_json::Value {
        self.event_json_noted(event, None)
    }

    /// The JSON object of an event, with what its window went through.
    pub fn event_json_noted(&self, event: &Event, note: Option<WindowNote>) -> serde_json::Value {
        json!({
            "type": "event",
            "phase": phase_name(event.phase),
            "body_id": event.body_id,
            "action_id": event.action_id,
            "label_index": event.label_index,
            "label": self.label(event.label_index),
            "confidence": event.confidence,
            "start_us": event.start_us,
            "end_us": event.end_us,
            "reconstructed": note.map(|n| n.reconstructed),
            "missing_fraction": note.map(|n| n.missing_fraction),
        })
    }

    /// An event as a line for people (`--stdout text`): `    2.533 s  begin  body 1   wave (action 23, 0.91), 2.03-2.53 s`,
    /// followed by `, 12% missing` and `, reconstructed` when its window had missing joints and REC completed them.
    pub fn event_text(&self, event: &Event) -> String {
        self.event_text_noted(event, None)
    }

    /// [`Self::event_text`] with what its window went through.
    pub fn event_text_noted(&self, event: &Event, note: Option<WindowNote>) -> String {
        let mut line = format!(
            "{:>9.3} s  {:<5}  body {:<3} {} (action {}, {:.2}), {:.2}-{:.2} s",
            event.end_us as f64 / 1e6,
            phase_name(event.phase),
            event.body_id,
            self.label(event.label_index),
            event.action_id,
            event.confidence,
            event.start_us as f64 / 1e6,
            event.end_us as f64 / 1e6
        );
        if let Some(note) = note.filter(|n| n.missing_fraction > 0.0) {
            line.push_str(&format!(", {:.0}% missing", f64::from(note.missing_fraction) * 100.0));
            if note.reconstructed {
                line.push_str(", reconstructed");
            }
        }
        line
    }

    /// Publishes one event to every output. A failing output is logged once and does not stop the others.
    pub fn publish(&self, event: &Event) {
        self.publish_noted(event, None);
    }

    /// [`Self::publish`] with what the event's window went through (REC), which its JSON and text carry.
    pub fn publish_noted(&self, event: &Event, note: Option<WindowNote>) {
        let object = self.event_json_noted(event, note);
        if let Some(lines) = &self.lines {
            let text = match lines_format(lines) {
                LineFormat::Json => object.to_string(),
                LineFormat::Text => self.event_text_noted(event, note),
            };
            write_line(lines, &text);
        }
        if let Some((socket, target)) = &self.udp {
            if let Err(error) = socket.send_to(object.to_string().as_bytes(), target) {
                tracing::debug!(%error, %target, "UDP event not sent");
            }
        }
        if let Ok(mut pins) = self.pins.lock() {
            pins.on_event(event);
        }
    }

    /// Writes a status line (JSON lines only): the wire status and the daemon's other counters.
    pub fn publish_status(&self, status: &Status, counters: &DaemonCounters) {
        if let Some(lines) = &self.lines {
            if lines_format(lines) == LineFormat::Json {
                write_line(lines, &status_json(status, counters).to_string());
            }
        }
    }

    /// Drives every GPIO line inactive (at shutdown).
    pub fn release_pins(&self) {
        if let Ok(mut pins) = self.pins.lock() {
            pins.release_all();
        }
    }
}

fn lines_format(lines: &Mutex<LineSink>) -> LineFormat {
    lines.lock().map(|l| l.format).unwrap_or_default()
}

fn write_line(lines: &Mutex<LineSink>, text: &str) {
    let Ok(mut sink) = lines.lock() else { return };
    let result = writeln!(sink.writer, "{text}").and_then(|()| sink.writer.flush());
    if let Err(error) = result {
        // A closed stdout (the reader went away) must not stop the daemon; say so once.
        if !sink.failed {
            tracing::warn!(%error, "cannot write event lines; continuing without them");
            sink.failed = true;
        }
    }
}

pub fn phase_name(phase: EventPhase) -> &'static str {
    match phase {
        EventPhase::Begin => "begin",
        EventPhase::End => "end",
    }
}

pub fn health_name(health: Health) -> &'static str {
    match health {
        Health::Ok => "ok",
        Health::NoSensor => "no_sensor",
        Health::Overloaded => "overloaded",
        Health::LinkErrors => "link_errors",
    }
}

/// The JSON object of a status message and the daemon's other counters, as one flat object.
pub fn status_json(s: &Status, c: &DaemonCounters) -> serde_json::Value {
    json!({
        "type": "status",
        "uptime_ms": s.uptime_ms,
        "packets_ok": s.packets_ok,
        "crc_errors": s.crc_errors,
        "cobs_errors": s.cobs_errors,
        "length_errors": s.length_errors,
        "decode_errors": s.decode_errors,
        "version_errors": s.version_errors,
        "invalid_values": s.invalid_values,
        "dropped_frames": s.dropped_frames,
        "windows_run": s.windows_run,
        "windows_dropped": s.windows_dropped,
        "events": s.events,
        "active_tracks": s.active_tracks,
        "health": health_name(s.health),
        "link_connected": c.link_connected,
        "connects": c.connects,
        "disconnects": c.disconnects,
        "failed_opens": c.failed_opens,
        "port_repointed": c.port_repointed,
        "events_dropped": c.events_dropped,
        "status_dropped": c.status_dropped,
        "events_unsent": c.events_unsent,
        "status_unsent": c.status_unsent,
        "joint_count_errors": c.joint_count_errors,
        "bodies_rejected": c.bodies_rejected,
        "clock_restarts": c.clock_restarts,
        "hellos_refused": c.hellos_refused,
        "joints_implausible": c.joints_implausible,
        "sensor_rate_announced_hz": f64::from(c.sensor_rate_announced_millihertz) / 1000.0,
        "sensor_rate_measured_hz": f64::from(c.sensor_rate_measured_millihertz) / 1000.0,
        "rate_mismatches": c.rate_mismatches,
        "windows_with_missing": c.windows_with_missing,
        "windows_reconstructed": c.windows_reconstructed,
        "reconstructions_failed": c.reconstructions_failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_go_out_as_json_lines_and_udp_datagrams() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let lines = Shared::default();
        let outputs = Outputs::new(vec!["wave".into()])
            .with_lines(Box::new(lines.clone()), LineFormat::Json)
            .with_udp(receiver.local_addr().unwrap())
            .unwrap();
        let event = Event {
            body_id: 3,
            action_id: 23,
            label_index: 0,
            confidence: 0.5,
            start_us: 10,
            end_us: 20,
            phase: EventPhase::End,
        };
        outputs.publish(&event);
        let note = WindowNote { reconstructed: true, missing_fraction: 0.25 };
        outputs.publish_noted(&event, Some(note));
        let counters = DaemonCounters {
            failed_opens: 3,
            clock_restarts: 1,
            windows_with_missing: 4,
            windows_reconstructed: 2,
            ..DaemonCounters::default()
        };
        outputs.publish_status(&Status { events: 1, health: Health::Overloaded, ..Status::default() }, &counters);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let objects: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(objects[0]["label"], "wave");
        assert_eq!(objects[0]["phase"], "end");
        // An event without a window note (a body that left) says null; one from a window says what REC did.
        assert_eq!((&objects[0]["reconstructed"], &objects[0]["missing_fraction"]), (&json!(null), &json!(null)));
        assert_eq!((&objects[1]["reconstructed"], &objects[1]["missing_fraction"]), (&json!(true), &json!(0.25)));
        assert_eq!(objects[1]["confidence"], objects[0]["confidence"], "the old fields stay as they were");
        assert_eq!(objects[2]["health"], "overloaded");
        assert_eq!((&objects[2]["failed_opens"], &objects[2]["clock_restarts"]), (&json!(3), &json!(1)));
        assert_eq!((&objects[2]["windows_with_missing"], &objects[2]["windows_reconstructed"]), (&json!(4), &json!(2)));
        assert_eq!(objects[2]["link_connected"], false);
        let text = outputs.event_text_noted(&event, Some(note));
        assert!(text.ends_with("0.00-0.00 s, 25% missing, reconstructed"), "{text}");
        assert!(!outputs.event_text_noted(&event, None).contains("missing"));
        let mut datagram = [0u8; 1024];
        let n = receiver.recv(&mut datagram).unwrap();
        let received: serde_json::Value = serde_json::from_slice(&datagram[..n]).unwrap();
        assert_eq!(received, objects[0]);
    }
}
