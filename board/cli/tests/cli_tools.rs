//! The `skelact` binary's daemon and tools: `run` over a pseudo-terminal, `demo`, `convert`, `enroll`, `info`,
//! `bench`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{HostSide, TestHead};
use skelact_formats as sources;
use skelact_links::pty::PtyPair;
use skelact_runtime::decision::DecisionConfig;
use skelact_runtime::wire::{Decoder, Message};

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");

fn skelact(args: &[&str]) -> std::process::Output {
    let output = Command::new(SKELACT).args(args).output().unwrap();
    if !output.status.success() {
        panic!("skelact {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    output
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn logits_bundle(dir: &Path) -> PathBuf {
    common::write(dir, "default.skb", &common::default_bundle(TestHead::Logits, DecisionConfig::default()))
}

/// Runs `skelact demo` at 20× speed with a queue that never drops a window, writing its summary into `dir`;
/// returns what it printed and the summary.
fn fast_demo(bundle: &Path, session: &Path, dir: &Path, quiet: bool) -> (String, serde_json::Value) {
    let summary = dir.join("summary.json");
    let mut args = vec!["demo", "--bundle", path_str(bundle), "--session", path_str(session)];
    args.extend(["--speed", "20", "--queue-windows", "1000", "--summary", path_str(&summary)]);
    if quiet {
        args.push("--quiet");
    }
    let stdout = String::from_utf8(skelact(&args).stdout).unwrap();
    (stdout, serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap())
}

#[test]
fn convert_writes_sessions_as_recordings_with_the_losses_as_sequence_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.skr");
    skelact(&["convert", path_str(&common::session_jsonl()), path_str(&out)]);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes, sources::encode(&common::session_messages()).unwrap());
    let mut decoder: Decoder = Decoder::new();
    let mut input = bytes.as_slice();
    let mut frames = 0;
    while let Some(outcome) = decoder.decode_next(&mut input) {
        if let Message::Frame(_) = outcome.unwrap() {
            frames += 1;
        }
    }
    let header: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(common::session_jsonl()).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(frames, header["frames"].as_u64().unwrap());
    // The session lost frames on its simulated link; the sequence numbers show them.
    assert!(decoder.stats().dropped_frames > 0);
    assert_eq!(decoder.stats().errors(), 0);

    // The committed recordings are exactly this conversion of their sessions (the demo's and the tests').
    let committed = common::repo_root().join("models/zoo/sessions/session-s0-p001.skr");
    assert_eq!(std::fs::read(committed).unwrap(), bytes, "regenerate with `skelact convert` (board/README.md)");
    let demo = common::repo_root().join("models/zoo/sessions/session-utd-mhad-s4-p001");
    let demo_messages = sources::read_messages(&demo.with_extension("jsonl"), sources::InputFormat::Session).unwrap();
    assert_eq!(
        std::fs::read(demo.with_extension("skr")).unwrap(),
        sources::encode(&demo_messages).unwrap(),
        "regenerate with `skelact convert` (board/README.md)"
    );
}

#[test]
fn info_prints_the_manifest_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = logits_bundle(dir.path());
    let text = String::from_utf8(skelact(&["info", path_str(&bundle)]).stdout).unwrap();
    assert!(
        text.contains("stars-small-test") && text.contains("hand waving (23)") && text.contains("head        logits"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&skelact(&["info", path_str(&bundle), "--json"]).stdout).unwrap();
    assert_eq!(json["manifest"]["preprocess"]["frames_out"], 64);
    assert_eq!(json["labels"].as_array().unwrap().len(), 20);
    assert_eq!(json["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(json["sections"][1]["kind"], "OnnxFp32");
    assert!(text.contains("REC         none") && text.contains("text        none"), "{text}");
    assert!(json["reconstruction"].is_null() && json["text_encoder"].is_null());
    // The documented bundle with REC says so.
    let rec = common::repo_root().join("models/zoo/default-rec.skb");
    let text = String::from_utf8(skelact(&["info", path_str(&rec)]).stdout).unwrap();
    assert!(text.contains("REC         reconstruction model in section"), "{text}");
    assert!(text.contains("runs above missing fraction 0.05 (auto)"), "{text}");

    // The committed bundle's validation lines say which validated precisions it does not carry.
    let default = common::repo_root().join("models/zoo/default.skb");
    let text = String::from_utf8(skelact(&["info", path_str(&default)]).stdout).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&skelact(&["info", path_str(&default), "--json"]).stdout).unwrap();
    let has_int8 = json["sections"].as_array().unwrap().iter().any(|s| s["kind"] == "OnnxInt8");
    let line = |variant: &str| {
        let start = format!("validation  {variant}:");
        text.lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no {variant} line in:\n{text}"))
            .to_string()
    };
    assert!(!line("tract-fp32").contains("not in this bundle"), "{text}");
    assert_eq!(line("tract-int8").ends_with("(precision not in this bundle)"), !has_int8, "{text}");
}

#[test]
fn bench_reports_percentiles_and_says_when_onnxruntime_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = logits_bundle(dir.path());
    let missing = dir.path().join("no-python");
    let output = skelact(&[
        "bench",
        "--bundle",
        path_str(&bundle),
        "--runs",
        "3",
        "--rounds",
        "1",
        "--warmup",
        "1",
        "--python",
        path_str(&missing),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["tract"]["runs"], 3);
    assert!(json["tract"]["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(json["onnxruntime"].is_null());
    assert!(json["onnxruntime_note"].as_str().unwrap().contains("no-python"), "{json}");
    // The device's own onnxruntime backend runs without Python, where its library is found (xtask points
    // SKELACT_ONNXRUNTIME at the one in .venv); elsewhere the note says where it looked.
    if std::env::var_os("SKELACT_ONNXRUNTIME").is_some() {
        assert_eq!(json["onnxruntime_backend"]["runs"], 3, "{json}");
    } else if json["onnxruntime_backend"].is_null() {
        println!("SKIPPED: the onnxruntime backend part: no SKELACT_ONNXRUNTIME");
        assert!(json["onnxruntime_backend_note"].as_str().unwrap().contains("looked in"), "{json}");
    }
}

#[test]
fn demo_scores_a_session_and_writes_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = logits_bundle(dir.path());
    let (stdout, json) = fast_demo(&bundle, &common::session_jsonl(), dir.path(), false);
    assert!(stdout.contains("begin") && stdout.contains("Per class") && stdout.contains("p99"), "{stdout}");
    let daemon = &json["daemon"];
    assert_eq!(daemon["windows_dropped"], 0);
    assert_eq!(daemon["events"], daemon["events_received_over_link"]);
    assert!(json["latency_ms"]["count"].as_u64().unwrap() > 0);
    assert!(json["memory_kib"]["vm_hwm"].as_u64().unwrap() > 0);
    let overall = &json["score"]["overall"];
    assert!(overall["true_positives"].as_u64().unwrap() >= 5, "{overall}");
    assert!(json["truth"].as_array().unwrap().len() == 6);
}

#[test]
fn enrolled_examples_go_into_the_overlay_and_the_daemon_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let prototype = TestHead::Prototype { dim: 64, k: 1, min_similarity: 0.0 };
    let bundle = common::write(dir.path(), "proto.skb", &common::default_bundle(prototype, DecisionConfig::default()));
    let session = common::session_jsonl();
    let segments = common::session_segments();
    for class in ["sitting down", "standing up", "cross hands in front (say stop)", "hand waving"] {
        skelact(&[
            "enroll",
            "--bundle",
            path_str(&bundle),
            "--label",
            class,
            "--recording",
            path_str(&session),
            "--segments",
            path_str(&segments),
        ]);
    }
    // A new action, from a time range (seconds since the first frame): the idle stretch before the first action.
    let output = skelact(&[
        "enroll",
        "--bundle",
        path_str(&bundle),
        "--label",
        "idle",
        "--recording",
        path_str(&session),
        "--range",
        "0.0-1.6",
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("action 1000"));
    let overlay = dir.path().join("proto.overlay.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&overlay).unwrap()).unwrap();
    assert_eq!(json["exemplars"].as_array().unwrap().len(), 7, "one per ground-truth segment, and the range");
    assert_eq!(json["labels"][0]["name"], "idle");

    let info: serde_json::Value =
        serde_json::from_slice(&skelact(&["info", path_str(&bundle), "--json"]).stdout).unwrap();
    assert_eq!(info["overlay"]["exemplars"], 7);
    assert_eq!(info["labels"][20]["name"], "idle");
    assert_eq!(info["labels"][20]["enrolled"], true);

    // The device loads the overlay at start: the enrolled actions are recognised in the session they came from.
    let (_, json) = fast_demo(&bundle, &session, dir.path(), true);
    assert!(json["score"]["overall"]["true_positives"].as_u64().unwrap() >= 5, "{}", json["score"]["overall"]);

    // An overlay made for another bundle is refused, naming both.
    let other = common::write(
        dir.path(),
        "other.skb",
        &common::default_bundle(prototype, DecisionConfig { cooldown_us: 1, ..DecisionConfig::default() }),
    );
    std::fs::copy(&overlay, dir.path().join("other.overlay.json")).unwrap();
    let output = Command::new(SKELACT).args(["info", path_str(&other)]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("enroll again"));
}

#[test]
fn run_serves_a_port_until_sigterm_and_reports_on_stdout_and_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = logits_bundle(dir.path());
    let pty = PtyPair::open().unwrap();
    let daemon = common::JsonDaemon::start(&["--bundle", path_str(&bundle), "--port", path_str(pty.slave_path())]);
    // Ten seconds of the session: the first action (sitting down, 1.7-5.2 s) is in it.
    let messages: Vec<Message> = common::session_messages().into_iter().take(301).collect();
    let mut master = pty.master_end().unwrap();
    let mut writer = pty.master_end().unwrap();
    let sender = std::thread::spawn(move || {
        use skelact_links::ByteLink;
        writer.write_all(&sources::encode(&messages).unwrap()).unwrap();
    });
    let mut host = HostSide::default();
    for _ in 0..3000 {
        host.pump(&mut master, Duration::from_millis(20));
        if host.statuses.last().is_some_and(|s| s.packets_ok >= 301) && !host.events.is_empty() {
            break;
        }
    }
    sender.join().unwrap();
    let (stderr, objects) = daemon.stop();
    assert!(stderr.contains("daemon stopped"), "{stderr}");
    for _ in 0..50 {
        host.pump(&mut master, Duration::from_millis(20));
    }
    let events: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "event").collect();
    let statuses: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "status").collect();
    assert!(!events.is_empty(), "{objects:?}");
    assert_eq!(events.len(), host.events.len(), "the same events on stdout and over the link");
    assert_eq!(events[0]["label"], "sitting down");
    assert_eq!(statuses.last().unwrap()["packets_ok"], 301);
    assert_eq!(statuses.last().unwrap()["windows_dropped"], 0);
}

#[test]
fn enrolling_on_a_linear_bundle_adds_an_action_and_keeps_the_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("stars-synthetic.skb");
    std::fs::copy(common::repo_root().join("models/zoo/stars-synthetic.skb"), &bundle).unwrap();
    let session = common::session_jsonl();
    // The two sitting-down segments of the session, under a new name.
    let output = Command::new(SKELACT)
        .args(["enroll", "--bundle", path_str(&bundle), "--label", "sit", "--recording", path_str(&session)])
        .args(["--range", "1.67-5.17", "--range", "16.8-20.03"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("threshold for \"sit\""), "{stderr}");
    let overlay: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stars-synthetic.overlay.json")).unwrap())
            .unwrap();
    assert_eq!(overlay["center"].as_array().unwrap().len(), 64);
    assert!(overlay["thresholds"]["sit"].as_f64().unwrap() > 0.0);

    let (_, json) = fast_demo(&bundle, &session, dir.path(), true);
    let predicted = json["predicted"].as_array().unwrap();
    let spans = |label: &str| -> Vec<(f64, f64)> {
        predicted
            .iter()
            .filter(|p| p["label"] == label)
            .map(|p| (p["start_us"].as_f64().unwrap() / 1e6, p["end_us"].as_f64().unwrap() / 1e6))
            .collect()
    };
    // The enrolled action is recognised where it happens, and only there.
    let sit = spans("sit");
    assert_eq!(sit.len(), 2, "{predicted:?}");
    assert!(sit[0].0 < 5.17 && sit[0].1 > 1.67 && sit[1].0 < 20.03 && sit[1].1 > 16.8, "{sit:?}");
    // What the bundle knows still works: both standing-up segments.
    assert_eq!(spans("standing up").len(), 2, "{predicted:?}");
}

/// Frames in a protocol-v1 stream.
fn frames_in(stream: &[u8]) -> Vec<skelact_runtime::wire::Frame> {
    let mut decoder: Decoder = Decoder::new();
    let mut input = stream;
    let mut frames = Vec::new();
    while let Some(outcome) = decoder.decode_next(&mut input) {
        if let Message::Frame(frame) = outcome.unwrap() {
            frames.push(frame.clone());
        }
    }
    frames
}

#[test]
fn replay_streams_ntu_and_pku_mmd_files() {
    let dir = tempfile::tempdir().unwrap();
    // PKU-MMD: rows of 150 values; the second body is absent (zeros) in the first row.
    let row = |t: f32, second: bool| {
        let mut values: Vec<String> = (0..75).map(|i| format!("{:.4}", 0.01 * i as f32 + t)).collect();
        values.extend((0..75).map(|i| if second { format!("{:.4}", 1.0 + 0.01 * i as f32) } else { "0".into() }));
        values.join(" ")
    };
    let pku = common::write(
        dir.path(),
        "0002-L.txt",
        format!("{}\n{}\n{}\n", row(0.0, false), row(0.1, true), row(0.2, true)).as_bytes(),
    );
    let output = skelact(&["replay", path_str(&pku), "--stdout", "--fast"]);
    let frames = frames_in(&output.stdout);
    assert_eq!(frames.iter().map(|f| f.bodies.len()).collect::<Vec<_>>(), [1, 2, 2]);
    assert_eq!(frames[2].timestamp_us, 66_666);
    assert!((frames[1].bodies[0].joints[0].x - 0.1).abs() < 1e-6);

    let ntu = common::repo_root().join("../shared/fixtures/ntu/S001C001P001R001A011.skeleton");
    if !ntu.exists() {
        eprintln!("SKIPPED the NTU part: {} is absent", ntu.display());
        return;
    }
    let output = skelact(&["replay", path_str(&ntu), "--stdout", "--fast"]);
    let frames = frames_in(&output.stdout);
    let recording = skelact_formats::ntu::read_file(&ntu).unwrap();
    assert_eq!(frames.len(), recording.frames.len());
    assert_eq!(frames, skelact_formats::ntu::to_protocol_frames(&recording, skelact_formats::ntu::NTU_FPS_MILLIHERTZ));
}

#[test]
fn run_refuses_an_unavailable_tensorrt_backend_and_a_missing_port_clearly() {
    let bundle = common::repo_root().join("models/zoo/default.skb");
    // Refused wherever TensorRT cannot be opened: a build without the shim, or no TensorRT or GPU at run time.
    let options = skelact_tensorrt::TensorRtOptions::default();
    if skelact_tensorrt::TensorRtEngine::device_info(&options).is_err() {
        let output = Command::new(SKELACT)
            .args([
                "run",
                "--allow-unsigned",
                "--bundle",
                path_str(&bundle),
                "--port",
                "/dev/null",
                "--backend",
                "tensorrt",
            ])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--backend tensorrt is unavailable") && stderr.contains("TensorRT"), "{stderr}");
    }
    let output =
        Command::new(SKELACT).args(["run", "--allow-unsigned", "--bundle", path_str(&bundle)]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no serial port"));
}

#[test]
fn sighup_reloads_the_bundle_and_keeps_serving_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = logits_bundle(dir.path());
    let pty = PtyPair::open().unwrap();
    let mut child = Command::new(SKELACT)
        .args([
            "run",
            "--allow-unsigned",
            "--bundle",
            path_str(&bundle),
            "--port",
            path_str(pty.slave_path()),
            "--profile",
            "host",
        ])
        .args(["--stdout", "off"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |needle: &str, count: usize| {
        for _ in 0..600 {
            if seen.iter().filter(|l: &&String| l.contains(needle)).count() >= count {
                return;
            }
            if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) {
                seen.push(line);
            }
        }
        panic!("no {count} x {needle:?} in {seen:?}");
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    wait_for("daemon running", 1);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    // The first run stops cleanly, then the bundle is loaded again and the daemon serves the same port.
    wait_for("reloading the configuration and the bundle", 1);
    wait_for("daemon running", 2);
    let mut master = pty.master_end().unwrap();
    let mut host = HostSide::default();
    {
        use skelact_links::ByteLink;
        let messages: Vec<Message> = common::session_messages().into_iter().take(40).collect();
        master.write_all(&sources::encode(&messages).unwrap()).unwrap();
    }
    for _ in 0..300 {
        host.pump(&mut master, Duration::from_millis(20));
        if host.statuses.last().is_some_and(|s| s.packets_ok >= 40) {
            break;
        }
    }
    assert!(host.statuses.last().is_some_and(|s| s.packets_ok >= 40), "the reloaded daemon reads the port");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    wait_for("daemon stopped", 2);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

/// Runs the demo at 20× on the synthetic session with the test bundle, without a log filter from the environment.
fn demo_output(dir: &Path, quiet: bool) -> (String, String, serde_json::Value) {
    let bundle = logits_bundle(dir);
    let summary = dir.join("summary.json");
    let mut command = Command::new(SKELACT);
    command.args(["demo", "--bundle", path_str(&bundle), "--session", path_str(&common::session_jsonl())]);
    command.args(["--speed", "20", "--queue-windows", "1000", "--no-dataset", "--summary", path_str(&summary)]);
    if quiet {
        command.arg("--quiet");
    }
    let output = command.env_remove("SKELACT_LOG").env_remove("RUST_LOG").output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let json = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    (String::from_utf8(output.stdout).unwrap(), stderr, json)
}

#[test]
fn the_demo_shows_the_truth_beside_the_events_without_log_lines_and_quiet_prints_only_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, json) = demo_output(dir.path(), false);
    assert_eq!(stderr, "", "log lines mixed into the demo's output");
    let event_lines: Vec<&str> = stdout.lines().filter(|l| l.contains(" body ") && l.contains("| truth: ")).collect();
    assert_eq!(event_lines.len() as u64, json["daemon"]["events_received_over_link"].as_u64().unwrap(), "{stdout}");
    // Some event of the session comes while its action is under way, and the line says which.
    assert!(event_lines.iter().any(|l| l.contains("begin") && l.contains("| truth: sitting down (")), "{stdout}");
    let chart: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("Ground truth and events")).take(4).collect();
    assert!(
        chart.len() == 4 && chart[2].starts_with("  truth    ") && chart[3].starts_with("  device   "),
        "{chart:?}"
    );
    // Durations are rounded where they are written: whole microseconds in milliseconds, whole milliseconds in seconds.
    for (name, value, decimals) in [
        ("latency_ms.max_ms", &json["latency_ms"]["max_ms"], 3),
        ("latency_ms.mean_ms", &json["latency_ms"]["mean_ms"], 3),
        ("window_latency_ms.p99_ms", &json["window_latency_ms"]["p99_ms"], 3),
        ("wall_seconds", &json["wall_seconds"], 3),
    ] {
        let text = value.to_string();
        assert!(text.split('.').nth(1).is_none_or(|d| d.len() <= decimals), "{name} = {text}");
    }

    let (stdout, stderr, _) = demo_output(dir.path(), true);
    assert_eq!(stderr, "", "--quiet printed log lines");
    assert!(!stdout.contains("| truth: ") && stdout.contains("Per class"), "{stdout}");
}
