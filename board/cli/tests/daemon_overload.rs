//! When inference falls behind, the daemon drops whole windows, never frames, and reports the drops.
//!
//! The engine here is gated by the test: each run waits until the test lets it through, so "inference is slow"
//! is a fact the test controls rather than a race with the machine's speed.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use skelact_device::daemon::outputs::Outputs;
use skelact_device::daemon::{self, DaemonControl, DaemonOptions};
use skelact_device::model::DeviceClassifier;
use skelact_links::loopback::{loopback_pair, LoopbackLink};
use skelact_links::reconnect::{Backoff, ReconnectingReader};
use skelact_links::{ByteLink, LinkError, LinkOpener};
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::engine::{check_lengths, Engine, EngineError};
use skelact_runtime::pipeline::{Classifier, FrontendConfig, Head, StreamEngines};
use skelact_runtime::preprocess::{tensor_len, PreprocessConfig, Streams};
use skelact_runtime::track::TrackConfig;
use skelact_runtime::window::WindowConfig;
use skelact_runtime::wire::{encode_packet, Body, Decoder, Frame, Health, Joint, Message, Status, MAX_PACKET_LEN};

const T: usize = 16;
const RING: usize = 32;

/// Says when a run starts, then waits for the test's permission to finish it.
struct GatedEngine {
    started: Sender<()>,
    gate: Mutex<Receiver<()>>,
}

impl Engine for GatedEngine {
    fn input_len(&self) -> usize {
        tensor_len(T)
    }
    fn output_len(&self) -> usize {
        2
    }
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        let _ = self.started.send(());
        // A generous safety limit; the test opens the gate well before.
        let _ = self.gate.lock().unwrap().recv_timeout(Duration::from_secs(60));
        output.copy_from_slice(&[2.0, -2.0]);
        Ok(())
    }
}

/// Hands out one loopback end, once.
#[derive(Debug)]
struct Once(Option<LoopbackLink>);

impl LinkOpener for Once {
    type Link = LoopbackLink;
    fn open(&mut self) -> Result<LoopbackLink, LinkError> {
        self.0.take().ok_or(LinkError::NotConnected)
    }
    fn describe(&self) -> String {
        "loopback".into()
    }
}

fn frame(sequence: u32) -> Vec<u8> {
    let mut joints = heapless::Vec::new();
    for j in 0..25 {
        joints.push(Joint { x: j as f32 * 0.02, y: 0.5 - j as f32 * 0.04, z: 2.5, confidence: 255 }).unwrap();
    }
    let mut bodies = heapless::Vec::new();
    bodies.push(Body { id: 7, joints }).unwrap();
    let message = Message::Frame(Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies });
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    let n = encode_packet(&message, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn wait_for(mut condition: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("condition not reached within the safety limit");
}

#[test]
fn a_slow_engine_costs_whole_windows_never_frames() {
    let (started_tx, started) = mpsc::channel();
    let (gate, gate_rx) = mpsc::channel();
    let engine = GatedEngine { started: started_tx, gate: Mutex::new(gate_rx) };
    let engines = StreamEngines { joint: engine, bone: None, motion: None, weights: [1.0, 0.0, 0.0] };
    let classifier: DeviceClassifier<'_, GatedEngine> =
        Classifier::new(engines, Head::Logits, DecisionConfig::default(), &[1, 2]).unwrap();
    let frontend = FrontendConfig {
        min_confidence: 1,
        grid: skelact_runtime::resample::GridConfig::default(),
        tracks: TrackConfig { max_gap_frames: 10, timeout_us: 1_000_000, stride_frames: 8, min_frames: 16 },
        window: WindowConfig::default(),
        preprocess: PreprocessConfig { frames_out: T, crop_ratio: 0.95, align: false, streams: Streams::default() },
    };
    let (mut sensor, device) = loopback_pair();
    let mut reader = ReconnectingReader::new(Once(Some(device)), Backoff::default(), 4096);
    let outputs = Outputs::new(vec!["a".into(), "b".into()]);
    let options =
        DaemonOptions { queue_windows: 1, status_interval: Duration::from_millis(20), ..DaemonOptions::default() };
    let control = DaemonControl::new();
    let summary = std::thread::scope(|scope| {
        let daemon = scope.spawn(|| daemon::run(&mut reader, frontend, RING, classifier, &outputs, &options, &control));
        // Frames up to the first due window (after 16 frames), then wait until inference is stuck in it.
        for s in 0..16 {
            sensor.write_all(&frame(s)).unwrap();
        }
        started.recv_timeout(Duration::from_secs(60)).unwrap();
        // 184 more frames: windows fall due every 8 frames while the engine is held.
        for s in 16..200 {
            sensor.write_all(&frame(s)).unwrap();
        }
        wait_for(|| control.frames() == 200);
        // Let the status clock report the overload before inference catches up.
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..100 {
            let _ = gate.send(());
        }
        control.stop();
        daemon.join().unwrap().unwrap()
    });
    // Windows are due after the 16th frame and every 8th after it: after frames 16, 24, ..., 200, 24 of them.
    assert_eq!(summary.frames, 200, "every frame was handled");
    assert_eq!(summary.windows_prepared, 24);
    // One window was in the engine while the rest arrived; the queue kept the newest one and dropped the others.
    assert_eq!(summary.windows_run, 2);
    assert_eq!(summary.windows_dropped, 22);
    assert_eq!(summary.link.dropped_frames, 0);

    // The drops reached the host in Status messages, with the overload flagged.
    let mut decoder: Decoder = Decoder::new();
    let mut statuses: Vec<Status> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sensor.read(&mut buf, Duration::from_millis(50)) {
        if n == 0 {
            break;
        }
        let mut input = &buf[..n];
        while let Some(outcome) = decoder.decode_next(&mut input) {
            if let Ok(Message::Status(status)) = outcome {
                statuses.push(*status);
            }
        }
    }
    let last = statuses.last().expect("status messages");
    assert_eq!((last.windows_dropped, last.windows_run), (22, 2));
    assert!(statuses.iter().any(|s| s.health == Health::Overloaded), "{statuses:?}");
}
