//! The daemon on in-memory links and pseudo-terminals, with an engine that always answers the same: what it counts,
//! reports and writes back when the sensor, its host or the port misbehave.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skelact_links::loopback::{loopback_pair, loopback_pair_with_capacity, LoopbackLink};
use skelact_links::pty::PtyPair;
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::serial::{SerialConfig, SerialOpener, DEFAULT_BAUD};
use skelact_links::{ByteLink, LinkError, LinkOpener, OpenCause};
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::engine::{check_lengths, Engine, EngineError};
use skelact_runtime::pipeline::{Classifier, FrontendConfig, Head, StreamEngines};
use skelact_runtime::preprocess::{tensor_len, PreprocessConfig, Streams};
use skelact_runtime::track::TrackConfig;
use skelact_runtime::window::WindowConfig;
use skelact_runtime::wire::{
    encode_packet, Axes, Body, Decoder, Frame, Hello, Joint, LayoutId, Message, Units, MAX_PACKET_LEN, PROTOCOL_MAJOR,
};

use super::outputs::{LineFormat, Outputs};
use super::{run, DaemonControl, DaemonOptions, DaemonSummary};
use crate::model::DeviceClassifier;

const T: usize = 16;
const RING: usize = 32;

/// Label 0, confidently, for every window: windows make events.
struct Confident;

impl Engine for Confident {
    fn input_len(&self) -> usize {
        tensor_len(T)
    }
    fn output_len(&self) -> usize {
        2
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        output.copy_from_slice(&[4.0, -4.0]);
        Ok(())
    }
}

/// Hands out one link, once; after that (or with none) the port is absent.
#[derive(Debug)]
struct Once<L>(Option<L>);

impl<L: ByteLink + std::fmt::Debug> LinkOpener for Once<L> {
    type Link = L;
    fn open(&mut self) -> Result<L, LinkError> {
        self.0.take().ok_or(LinkError::Open { path: "test".into(), reason: "absent".into(), cause: OpenCause::Absent })
    }
    fn describe(&self) -> String {
        "test".into()
    }
}

/// What the daemon writes on its stdout.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn statuses(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|object| object["type"] == "status")
            .collect()
    }

    /// A counter of the latest status line (0 before the first).
    fn latest(&self, key: &str) -> u64 {
        let bytes = self.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let Some(line) = text.lines().rev().find(|line| line.contains(r#""type":"status""#)) else { return 0 };
        let status: serde_json::Value = serde_json::from_str(line).unwrap();
        status[key].as_u64().unwrap_or_else(|| panic!("no counter {key}: {status}"))
    }
}

/// Safety limit only: a broken daemon fails the test in a minute instead of hanging it.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("gave up waiting until {what}");
}

fn frontend_config() -> FrontendConfig {
    FrontendConfig {
        min_confidence: 1,
        grid: skelact_runtime::resample::GridConfig::default(),
        tracks: TrackConfig { max_gap_frames: 10, timeout_us: 1_000_000, stride_frames: 8, min_frames: 16 },
        window: WindowConfig::default(),
        preprocess: PreprocessConfig { frames_out: T, crop_ratio: 0.95, align: false, streams: Streams::default() },
    }
}

/// Fast status and polls, so that a test fills queues in a fraction of a second; the smallest back channel (one
/// largest packet).
fn options() -> DaemonOptions {
    DaemonOptions {
        status_interval: Duration::from_millis(1),
        poll: Duration::from_millis(1),
        back_channel_bytes: 0,
        ..DaemonOptions::default()
    }
}

/// Stops the daemon however the test ends, so that a failed assertion cannot leave it running (and the test hung).
struct StopOnDrop<'a>(&'a DaemonControl);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Runs the daemon on `opener`'s port while `drive` plays the sensor, then stops it. `drive` should own the
/// sensor's end and hand it back: should it panic, the end is dropped, which unblocks a daemon stuck writing to it.
fn run_daemon<O, R>(
    opener: O,
    options: DaemonOptions,
    drive: impl FnOnce(&DaemonControl, &Lines) -> R,
) -> (DaemonSummary, Lines, R)
where
    O: LinkOpener + Send,
    O::Link: Send,
{
    let engines = StreamEngines { joint: Confident, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let classifier: DeviceClassifier<'_, Confident> =
        Classifier::new(engines, Head::Logits, DecisionConfig::default(), &[1, 2]).unwrap();
    let lines = Lines::default();
    let outputs = Outputs::new(vec!["a".into(), "b".into()]).with_lines(Box::new(lines.clone()), LineFormat::Json);
    let control = DaemonControl::new();
    let backoff = Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(5) };
    let mut reader = ReconnectingReader::new(opener, backoff, 4096);
    let (summary, driven) = std::thread::scope(|scope| {
        let daemon =
            scope.spawn(|| run(&mut reader, frontend_config(), RING, classifier, &outputs, &options, &control));
        let stop = StopOnDrop(&control);
        let driven = drive(&control, &lines);
        drop(stop);
        (daemon.join().unwrap().unwrap(), driven)
    });
    (summary, lines, driven)
}

fn packet(message: &Message) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    let n = encode_packet(message, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// One body of `joints` joints standing 2.5 m away, at `timestamp_us`.
fn frame(sequence: u32, timestamp_us: u64, joints: usize) -> Vec<u8> {
    frame_with_far_joint(sequence, timestamp_us, joints, None)
}

/// As [`frame`], with joint `far` (if any) at an absurd but finite x.
fn frame_with_far_joint(sequence: u32, timestamp_us: u64, joints: usize, far: Option<usize>) -> Vec<u8> {
    let mut body = Body { id: 7, joints: heapless::Vec::new() };
    for j in 0..joints {
        let x = if far == Some(j) { -3.0e38 } else { j as f32 * 0.02 };
        body.joints.push(Joint { x, y: 0.5 - j as f32 * 0.04, z: 2.5, confidence: 255 }).unwrap();
    }
    let mut frame = Frame { sequence, timestamp_us, bodies: heapless::Vec::new() };
    frame.bodies.push(body).unwrap();
    packet(&Message::Frame(frame))
}

fn frames(range: std::ops::Range<u32>) -> Vec<u8> {
    range.flat_map(|s| frame(s, u64::from(s) * 33_333, 25)).collect()
}

fn hello(major: u8, layout: LayoutId) -> Vec<u8> {
    packet(&Message::Hello(Hello {
        protocol_major: major,
        protocol_minor: 1,
        layout,
        units: Units::Metres,
        axes: Axes::XLeftYUpZForward,
        nominal_fps_millihertz: 30_000,
        sensor_name: heapless::String::try_from("test").unwrap(),
    }))
}

/// Decodes what the device wrote back: (events, status messages, damaged packets).
fn decode_back(bytes: &[u8]) -> (u64, u64, u32) {
    let mut decoder: Decoder = Decoder::new();
    let (mut events, mut statuses) = (0, 0);
    let mut input = bytes;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        match outcome {
            Ok(Message::Event(_)) => events += 1,
            Ok(Message::Status(_)) => statuses += 1,
            _ => {}
        }
    }
    (events, statuses, decoder.stats().errors())
}

#[test]
fn a_host_that_never_reads_the_back_channel_costs_events_and_status_never_frames() {
    // The sensor host's side of the link holds 512 bytes that nobody reads; a blocking write would stall ingest.
    let (mut sensor, device) = loopback_pair_with_capacity(512);
    let (summary, lines, mut sensor) = run_daemon(Once(Some(device)), options(), move |control, lines| {
        sensor.write_all(&frames(0..300)).unwrap();
        wait_for("every frame is decoded", || control.frames() == 300);
        wait_for("the back channel overflows", || lines.latest("status_dropped") > 0);
        // More frames after the back channel is full still come in.
        sensor.write_all(&frames(300..400)).unwrap();
        wait_for("the later frames are decoded too", || control.frames() == 400);
        sensor
    });
    assert_eq!(summary.frames, 400, "frames in == frames decoded");
    assert_eq!((summary.link.errors(), summary.link.dropped_frames), (0, 0));
    assert!(summary.status_dropped > 0, "{summary:?}");
    assert_eq!(summary.events_unsent, 0, "the link never went down");
    let last = lines.statuses().pop().unwrap();
    assert_eq!(last["link_connected"], true);
    assert_eq!(last["events_dropped"].as_u64(), Some(summary.events_dropped));

    // What reached the host is whole packets only, exactly those counted as written.
    let mut back = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = sensor.read(&mut buf, Duration::ZERO) {
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    let (events, statuses, damaged) = decode_back(&back);
    assert_eq!(damaged, 0, "no torn packet");
    assert_eq!((events, statuses), (summary.events_written(), summary.status_sent));
}

#[test]
fn a_pty_whose_master_is_never_read_still_delivers_every_frame() {
    // A real tty: the daemon's writes go through `serialport`, which would wait 2 s per write on a full port.
    let pty = PtyPair::open().unwrap();
    let mut sensor = pty.master_end().unwrap();
    let opener = SerialOpener(SerialConfig::new(pty.slave_path(), DEFAULT_BAUD));
    let options = DaemonOptions { status_interval: Duration::ZERO, ..options() };
    let (summary, _, ()) = run_daemon(opener, options, move |control, lines| {
        wait_for("the port is open", || lines.latest("connects") == 1);
        // The pty's buffers (tens of KiB) fill with status messages within a few thousand polls.
        wait_for("the back channel overflows", || lines.latest("status_dropped") > 0);
        sensor.write_all(&frames(0..600)).unwrap();
        wait_for("every frame is decoded", || control.frames() == 600);
    });
    assert_eq!(summary.frames, 600);
    assert_eq!((summary.link.errors(), summary.link.dropped_frames), (0, 0));
    assert!(summary.status_dropped > 0);
    drop(pty);
}

#[test]
fn losses_the_wire_status_has_no_field_for_are_counted_in_the_status_line() {
    let (mut sensor, device) = loopback_pair();
    let mut stream = frames(0..10);
    // No Hello yet, so Kinect v2 is assumed: a body of 20 joints does not fit and is left out of its frame.
    stream.extend(frame(10, 10 * 33_333, 20));
    // A Hello of protocol v2 is refused; Kinect v2 stays in use and its frames keep coming in.
    stream.extend(hello(PROTOCOL_MAJOR + 1, LayoutId::ZedBody34));
    stream.extend(frames(11..20));
    // An absurd but finite coordinate: that joint is missing, the rest of the body is used.
    stream.extend(frame_with_far_joint(20, 20 * 33_333, 25, Some(5)));
    // The clock goes backwards: a sensor restart.
    stream.extend(frame(21, 5_000, 25));
    // A v1 Hello announces ZED's 34 joints, and the sensor goes on sending 25: those frames are dropped whole.
    stream.extend(hello(PROTOCOL_MAJOR, LayoutId::ZedBody34));
    for s in 22..27 {
        stream.extend(frame(s, 5_000 + u64::from(s) * 33_333, 25));
    }
    // One frame that fits closes the stream, so that everything before it has been handled when it is counted.
    stream.extend(frame(27, 5_000 + 27 * 33_333, 34));
    let options = DaemonOptions { status_interval: Duration::from_millis(5), ..options() };
    let (summary, lines, _sensor) = run_daemon(Once(Some(device)), options, move |control, lines| {
        sensor.write_all(&stream).unwrap();
        wait_for("the frames that fit are decoded", || control.frames() == 23);
        wait_for("a status line reports the joint count errors", || lines.latest("joint_count_errors") == 5);
        sensor
    });
    assert_eq!(summary.frames, 23);
    assert_eq!(
        (summary.bodies_rejected, summary.hellos_refused, summary.joints_implausible, summary.clock_restarts),
        (1, 1, 1, 1)
    );
    assert_eq!(summary.link.joint_count_errors, 5);
    let last = lines.statuses().pop().unwrap();
    for (key, expected) in [
        ("bodies_rejected", 1),
        ("hellos_refused", 1),
        ("joints_implausible", 1),
        ("clock_restarts", 1),
        ("joint_count_errors", 5),
    ] {
        assert_eq!(last[key].as_u64(), Some(expected), "{key} in {last}");
    }
}

#[test]
fn a_port_that_cannot_be_opened_shows_in_the_status_line() {
    let (summary, lines, ()) = run_daemon(Once::<LoopbackLink>(None), options(), |_, lines| {
        wait_for("failed opens are reported", || lines.latest("failed_opens") >= 3);
    });
    let last = lines.statuses().pop().unwrap();
    assert_eq!(last["link_connected"], false);
    assert_eq!(last["connects"].as_u64(), Some(0));
    assert!(summary.reconnect.failed_opens >= 3);
    assert_eq!(summary.frames, 0);
}
