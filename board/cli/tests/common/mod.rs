//! Shared by the board's integration tests: bundles built from the committed ONNX models, the committed synthetic
//! session, and a host-side reader for what the device writes back.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use skelact_formats::{self as sources, InputFormat};
use skelact_links::pty::PtyPair;
use skelact_links::ByteLink;
use skelact_runtime::bundle::{
    BundleWriter, DecisionParams, EncoderFamily, HeadSpec, Label, Manifest, PreprocessParams, SectionKind, StreamKind,
    StreamModel, TensorSpec, ValidationSummary, WindowParams,
};
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::wire::{Decoder, Event, LayoutId, Message, Status};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn default_onnx() -> PathBuf {
    repo_root().join("models/zoo/stars-synthetic/stars_small_joint.onnx")
}

pub fn tiny_onnx() -> PathBuf {
    repo_root().join("tests/fixtures/engine/tiny_stars.onnx")
}

pub fn session_jsonl() -> PathBuf {
    repo_root().join("models/zoo/sessions/session-s0-p001.jsonl")
}

pub fn session_segments() -> PathBuf {
    repo_root().join("models/zoo/sessions/session-s0-p001.segments.json")
}

/// The session's messages (a Hello, then frames with sequence numbers from their timestamps).
pub fn session_messages() -> Vec<Message> {
    sources::read_messages(&session_jsonl(), InputFormat::Session).unwrap()
}

/// NTU RGB+D 120 action numbers of the synthetic corpus's classes (docs/models.md).
pub fn ntu_action(class: &str) -> u16 {
    match class {
        "hand waving" => 23,
        "clapping" => 10,
        "jump up" => 27,
        "sitting down" => 8,
        "standing up" => 9,
        "kicking something" => 24,
        "squat down" => 80,
        "arm circles" => 97,
        "hands up (both hands)" => 95,
        "cross hands in front (say stop)" => 40,
        "salute" => 38,
        "falling" => 43,
        "hopping (one foot jumping)" => 26,
        "nod head/bow" => 35,
        "running on the spot" => 99,
        "side kick" => 102,
        "pointing to something with finger" => 31,
        "cheer up" => 22,
        "arm swings" => 98,
        "butt kicks (kick backward)" => 100,
        "handshaking" => 58,
        "hugging other person" => 55,
        "pushing other person" => 52,
        "high-five" => 112,
        other => panic!("unknown class {other}"),
    }
}

/// The class names of the default model's logits, in output order (ONNX metadata `skelact.classes`).
pub fn default_classes() -> Vec<String> {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_path(default_onnx()).unwrap();
    let entry = proto.metadata_props.iter().find(|p| p.key == "skelact.classes").expect("skelact.classes metadata");
    serde_json::from_str(&entry.value).unwrap()
}

/// Which output the bundle uses and how.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TestHead {
    /// The model's `logits` output, one per class.
    Logits,
    /// The model's `embedding` output (64 values), compared with enrolled exemplars.
    Prototype { dim: u32, k: u16, min_similarity: f32 },
}

/// A bundle of the default model (T = 64, 64-frame windows every 8 frames) with the given head.
pub fn default_bundle(head: TestHead, decision: DecisionConfig) -> Vec<u8> {
    let classes = default_classes();
    let names: Vec<&str> = classes.iter().map(String::as_str).collect();
    let labels: Vec<(&str, u16)> = names.iter().map(|n| (*n, ntu_action(n))).collect();
    build_bundle(&std::fs::read(default_onnx()).unwrap(), 64, 64, head, &labels, decision)
}

/// A bundle of any one-stream ONNX model with input [1, 3, t, 25, 2].
pub fn build_bundle(
    onnx: &[u8],
    t: u32,
    raw_frames: u32,
    head: TestHead,
    labels: &[(&str, u16)],
    decision: DecisionConfig,
) -> Vec<u8> {
    let mut writer = BundleWriter::new();
    let section = writer.add(SectionKind::OnnxFp32, onnx).unwrap();
    let (head, output) = match head {
        TestHead::Logits => (HeadSpec::Logits, TensorSpec { name: "logits", shape: shape(&[1, labels.len() as u32]) }),
        TestHead::Prototype { dim, k, min_similarity } => (
            HeadSpec::Prototype { section: None, exemplars: 0, dim, k, min_similarity },
            TensorSpec { name: "embedding", shape: shape(&[1, dim]) },
        ),
    };
    let manifest = Manifest {
        model_name: "stars-small-test",
        encoder: EncoderFamily::StarsTransformer,
        layout: LayoutId::KinectV2,
        bodies: 2,
        preprocess: PreprocessParams { frames_out: t, crop_ratio: 0.95, align: false },
        window: WindowParams {
            raw_frames,
            stride_frames: 8,
            min_frames: raw_frames / 2,
            max_gap_frames: 10,
            timeout_us: 1_000_000,
            partner_max_distance_m: 1.5,
            min_confidence: 1,
        },
        streams: heapless::Vec::from_slice(&[StreamModel {
            stream: StreamKind::Joint,
            weight: 1.0,
            onnx_fp32: Some(section),
            onnx_fp16: None,
            onnx_int8: None,
        }])
        .unwrap(),
        input: TensorSpec { name: "joint", shape: shape(&[1, 3, t, 25, 2]) },
        output,
        head,
        labels: labels.iter().map(|&(name, action_id)| Label { name, action_id }).collect(),
        decision: DecisionParams::from(decision),
        tensorrt: heapless::Vec::new(),
        checkpoint_sha256: [0x11; 32],
        validation: ValidationSummary { report_sha256: [0x22; 32], section: None, variants: heapless::Vec::new() },
    };
    writer.finish(&manifest).unwrap()
}

fn shape(dims: &[u32]) -> heapless::Vec<u32, 6> {
    heapless::Vec::from_slice(dims).unwrap()
}

/// Writes bytes to `dir/name` and returns the path.
/// Says why a test did not run. On the process's stderr directly: the harness shows captured output of failing
/// tests only, and a skip must be visible in a passing run's log.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The datasets folder, as `skelact eval` finds it, or `None` (and a SKIPPED line) when UTD-MHAD is not there.
pub fn datasets() -> Option<PathBuf> {
    let root = std::env::var_os("SKELACT_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/datasets"));
    if root.join("utd-mhad").is_dir() {
        Some(root)
    } else {
        skipped(&format!("no UTD-MHAD under {} (../shared/datasets is not beside the checkout)", root.display()));
        None
    }
}

/// The NTU RGB+D recordings, sorted by name: `$SKELACT_FIXTURES/ntu` (or `$SKELACT_FIXTURES` itself), else
/// `../shared/fixtures/ntu`; `None` (and a SKIPPED line) when there are none.
pub fn ntu_fixtures() -> Option<Vec<PathBuf>> {
    let mut candidates = Vec::new();
    if let Some(root) = std::env::var_os("SKELACT_FIXTURES") {
        candidates.push(PathBuf::from(&root).join("ntu"));
        candidates.push(PathBuf::from(root));
    }
    candidates.push(repo_root().join("../shared/fixtures/ntu"));
    for dir in &candidates {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "skeleton"))
            .collect();
        if !files.is_empty() {
            files.sort();
            return Some(files);
        }
    }
    skipped(&format!("no NTU .skeleton recordings in {candidates:?} (set SKELACT_FIXTURES or check out ../shared)"));
    None
}

/// Runs `skelact run` with `bundle` on a pseudo-terminal's slave, writes `stream` into the master, waits until the
/// daemon has decoded all of it and sent an event back, stops it (which closes open segments) and returns the events
/// `run` printed as JSON lines.
pub fn run_over_pty(bundle: &Path, stream: &[u8]) -> Vec<serde_json::Value> {
    run_over_pty_with_status(bundle, stream).0
}

/// As [`run_over_pty`], also returning the last wire `Status` the daemon sent back over the link.
pub fn run_over_pty_with_status(bundle: &Path, stream: &[u8]) -> (Vec<serde_json::Value>, Option<Status>) {
    let (printed, status) = run_over_pty_printing(bundle, stream, &[]);
    (of_type(printed, "event"), status)
}

/// As [`run_over_pty_with_status`], with more `skelact run` options, returning every JSON object the daemon printed
/// (events and status lines).
pub fn run_over_pty_printing(
    bundle: &Path,
    stream: &[u8],
    options: &[&str],
) -> (Vec<serde_json::Value>, Option<Status>) {
    let (printed, status, _) = run_over_pty_logging(bundle, stream, options);
    (printed, status)
}

/// As [`run_over_pty_printing`], also returning the daemon's log (its stderr).
pub fn run_over_pty_logging(
    bundle: &Path,
    stream: &[u8],
    options: &[&str],
) -> (Vec<serde_json::Value>, Option<Status>, String) {
    let pty = PtyPair::open().unwrap();
    let mut args = vec!["--bundle", bundle.to_str().unwrap(), "--port", pty.slave_path().to_str().unwrap()];
    args.extend_from_slice(options);
    let daemon = JsonDaemon::start(&args);
    let frames = sources::decode(stream).iter().filter(|m| matches!(m, Message::Frame(_))).count();
    let mut master = pty.master_end().unwrap();
    let mut writer = pty.master_end().unwrap();
    let bytes = stream.to_vec();
    let sender = std::thread::spawn(move || {
        use skelact_links::ByteLink;
        writer.write_all(&bytes).unwrap();
    });
    let mut host = HostSide::default();
    for _ in 0..3000 {
        host.pump(&mut master, Duration::from_millis(20));
        // Every packet decoded (the Hello and the frames) and an event back, or the minute runs out.
        if host.statuses.last().is_some_and(|s| s.packets_ok as usize > frames) && !host.events.is_empty() {
            break;
        }
    }
    // Windows still queued behind the last frame finish before the daemon is stopped.
    for _ in 0..25 {
        host.pump(&mut master, Duration::from_millis(20));
    }
    sender.join().unwrap();
    let (log, printed) = daemon.stop();
    (printed, host.statuses.last().copied(), log)
}

/// `skelact run --allow-unsigned --profile host --queue-windows 1000 --stdout json` and `args` (a later option
/// wins), with the JSON lines it prints collected: the daemon as the tests that read its stdout run it.
pub struct JsonDaemon {
    child: Child,
    stdout: std::thread::JoinHandle<Vec<String>>,
}

impl JsonDaemon {
    pub fn start(args: &[&str]) -> JsonDaemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skelact"))
            .args(["run", "--allow-unsigned", "--profile", "host", "--queue-windows", "1000", "--stdout", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect());
        JsonDaemon { child, stdout }
    }

    /// Stops it with SIGTERM (which closes open segments) and checks that it exited successfully; returns its
    /// stderr and every JSON line it printed, in order.
    pub fn stop(mut self) -> (String, Vec<serde_json::Value>) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        let stderr = std::io::read_to_string(self.child.stderr.take().unwrap()).unwrap();
        assert!(status.success(), "{stderr}");
        let printed = self.stdout.join().unwrap().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        (stderr, printed)
    }
}

/// The printed JSON objects whose `type` is `kind` ("event", "status").
pub fn of_type(objects: Vec<serde_json::Value>, kind: &str) -> Vec<serde_json::Value> {
    objects.into_iter().filter(|o| o["type"] == kind).collect()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What the device wrote back over the link, decoded on the host side.
#[derive(Debug, Default)]
pub struct HostSide {
    decoder: Decoder,
    pub events: Vec<Event>,
    pub statuses: Vec<Status>,
}

impl HostSide {
    /// Reads what is there (waiting at most `timeout` for the first byte).
    pub fn pump(&mut self, link: &mut impl ByteLink, timeout: Duration) -> bool {
        let mut buf = [0u8; 4096];
        let Ok(n) = link.read(&mut buf, timeout) else { return false };
        let mut input = &buf[..n];
        while let Some(outcome) = self.decoder.decode_next(&mut input) {
            match outcome {
                Ok(Message::Event(event)) => self.events.push(*event),
                Ok(Message::Status(status)) => self.statuses.push(*status),
                _ => {}
            }
        }
        true
    }
}

/// How long a test waits for the daemon to say something. Generous: a debug-build daemon loads and self-tests the
/// model in a few seconds on a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// `skelact run --profile host --stdout off --queue-windows 1000` on a pseudo-terminal's slave (the sensor's
/// side is the test's), its log lines collected as they come. Stopped however the test ends.
pub struct DaemonProcess {
    pub child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
    pub pty: PtyPair,
}

impl DaemonProcess {
    /// Starts the daemon with `args` after the defaults above (a later option wins).
    pub fn start(args: &[&str]) -> DaemonProcess {
        let pty = PtyPair::open().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_skelact"))
            .args(["run", "--port", pty.slave_path().to_str().unwrap()])
            .args(["--profile", "host", "--stdout", "off", "--queue-windows", "1000"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        DaemonProcess { child, lines, log: Vec::new(), pty }
    }

    /// Waits for a log line containing every one of `needles`, and returns it.
    pub fn wait_for(&mut self, needles: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if needles.iter().all(|n| line.contains(n)) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no log line with {needles:?}; the daemon said:\n{}", self.log.join("\n"))
                }
            }
        }
    }

    /// Plays the sensor: writes the messages into the link.
    pub fn send(&self, messages: &[Message]) {
        let mut writer = self.pty.master_end().unwrap();
        writer.write_all(&sources::encode(messages).unwrap()).unwrap();
    }

    /// Drains what the daemon writes back, so that the link never fills.
    pub fn drain_link(&self) {
        let mut reader = self.pty.master_end().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while reader.read(&mut buf, Duration::from_millis(100)).is_ok() {}
        });
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// SIGTERM, and the log lines once it has exited (successfully, or the test fails with the log).
    pub fn stop(mut self) -> Vec<String> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        assert!(status.success(), "{}", self.log.join("\n"));
        std::mem::take(&mut self.log)
    }
}

impl Drop for DaemonProcess {
    /// A test that fails half-way must not leave its daemon running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
