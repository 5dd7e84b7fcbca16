//! The `skelact` binary's record and replay over real pseudo-terminals.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use skelact_links::pty::PtyPair;
use skelact_links::ByteLink;
use skelact_runtime::wire::{encode_packet, Decoder, Frame, Heartbeat, Message, MAX_PACKET_LEN};

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");

fn packet(message: &Message) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
    let n = encode_packet(message, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn frame(sequence: u32) -> Message {
    Message::Frame(Frame {
        sequence,
        timestamp_us: 1_000_000 + u64::from(sequence) * 33_333,
        bodies: heapless::Vec::new(),
    })
}

fn session(frames: u32) -> Vec<u8> {
    let mut bytes = packet(&Message::Heartbeat(Heartbeat { timestamp_us: 1_000_000 }));
    for s in 0..frames {
        bytes.extend(packet(&frame(s)));
    }
    bytes
}

/// Reads from the pty master until `want` frames decoded or the safety limit of polls passes.
fn frames_from_master(pty: &mut PtyPair, want: usize) -> BTreeMap<u32, Message> {
    let mut decoder: Decoder = Decoder::new();
    let mut frames = BTreeMap::new();
    let mut buf = [0u8; 4096];
    for _ in 0..1500 {
        if frames.len() >= want {
            break;
        }
        let n = pty.read(&mut buf, Duration::from_millis(20)).unwrap();
        let mut input = &buf[..n];
        while let Some(outcome) = decoder.decode_next(&mut input) {
            if let Ok(message @ Message::Frame(f)) = outcome {
                frames.insert(f.sequence, message.clone());
            }
        }
    }
    frames
}

#[test]
fn replay_sends_a_recording_into_a_port() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.skr");
    std::fs::write(&file, session(30)).unwrap();
    let mut pty = PtyPair::open().unwrap();
    // 30 frames of 33 ms at 20x: about 50 ms of pacing.
    let status = Command::new(SKELACT)
        .args(["replay", file.to_str().unwrap(), "--port", pty.slave_path().to_str().unwrap(), "--speed", "20"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let frames = frames_from_master(&mut pty, 30);
    assert_eq!(frames.into_values().collect::<Vec<_>>(), (0..30).map(frame).collect::<Vec<_>>());
}

#[test]
fn replay_to_stdout_writes_the_recording_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("session.skr");
    let bytes = session(5);
    std::fs::write(&file, &bytes).unwrap();
    let output = Command::new(SKELACT).args(["replay", file.to_str().unwrap(), "--stdout", "--fast"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, bytes);
}

#[test]
fn record_captures_the_requested_number_of_frames() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured.skr");
    let mut pty = PtyPair::open().unwrap();
    let mut recorder = Command::new(SKELACT)
        .args(["record", "--port", pty.slave_path().to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--frames", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bytes written before the recorder opens the port wait in the (raw) pty; more than 20 frames are offered.
    let stream = session(25);
    pty.write_all(&stream).unwrap();
    let mut finished = None;
    for _ in 0..1500 {
        if let Some(status) = recorder.try_wait().unwrap() {
            finished = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Some(status) = finished else {
        recorder.kill().unwrap();
        panic!("record did not stop after 20 frames");
    };
    assert!(status.success());
    let recorded = std::fs::read(&out).unwrap();
    // The heartbeat and the first 20 frames, cut right after the 20th frame's delimiter.
    assert_eq!(recorded, session(20));
    // Logs to a pipe (journald, a file) are plain text: structured fields, no terminal colour codes.
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut recorder.stderr.take().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("recording") && logs.contains("frames="), "{logs}");
    assert!(!logs.contains('\x1b'), "colour codes in piped logs: {logs:?}");
}

#[test]
fn bad_inputs_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let ntu = dir.path().join("S001C001P001R001A001.skeleton");
    std::fs::write(&ntu, "1\n").unwrap();
    let output = Command::new(SKELACT).args(["replay", ntu.to_str().unwrap(), "--stdout"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("S001C001P001R001A001.skeleton") && stderr.contains("line 2"), "{stderr}");

    let output = Command::new(SKELACT).args(["demo", "--bundle", "/nonexistent/default.skb"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("default bundle"));

    let output = Command::new(SKELACT).arg("version").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("protocol v1.1"));

    let missing = dir.path().join("absent.skr");
    let output = Command::new(SKELACT).args(["replay", missing.to_str().unwrap(), "--stdout"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

#[test]
fn replay_convert_and_classify_refuse_an_unknown_extension_and_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Valid recording bytes under a name no format uses: refused all the same, since the name is all there is to go by.
    let file = dir.path().join("notes.pdf");
    let bytes = session(3);
    std::fs::write(&file, &bytes).unwrap();
    let out = dir.path().join("out.skr");
    let refusals = [
        vec!["replay", file.to_str().unwrap(), "--stdout", "--fast"],
        vec!["convert", file.to_str().unwrap(), out.to_str().unwrap()],
        vec!["classify", file.to_str().unwrap()],
    ];
    for args in refusals {
        let output = Command::new(SKELACT).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} accepted it");
        assert!(output.stdout.is_empty(), "{args:?} wrote {} bytes", output.stdout.len());
        assert!(stderr.contains("notes.pdf: unknown file extension \"pdf\""), "{args:?}: {stderr}");
        for listed in [".skr (protocol-v1 recording)", ".skeleton", ".txt", ".jsonl", ".json", ".mat"] {
            assert!(stderr.contains(listed), "{args:?} does not list {listed}: {stderr}");
        }
    }
    assert!(!out.exists(), "convert wrote a file");

    // Naming the format reads it.
    let output = Command::new(SKELACT)
        .args(["replay", file.to_str().unwrap(), "--format", "recording", "--stdout", "--fast"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, bytes);
}

#[test]
fn the_global_log_format_help_is_one_line_in_every_subcommand() {
    for command in ["run", "demo", "classify", "replay"] {
        let output = Command::new(SKELACT).args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{help}");
        let at = help.find("--log-format").unwrap_or_else(|| panic!("{command}: {help}"));
        // The option's block runs to the next option: its help on one line (beside the option or below it), and the
        // default, without the list of values that every subcommand used to repeat.
        let rest: Vec<&str> = help[at..].lines().collect();
        let block: Vec<&str> = rest[..1]
            .iter()
            .chain(rest[1..].iter().take_while(|l| !l.trim_start().starts_with('-')))
            .copied()
            .collect();
        let text = block.join("\n");
        assert!(text.contains("key-value") && text.contains("json") && text.contains("[default: key-value]"), "{text}");
        assert!(!text.contains("Possible values") && block.len() <= 5, "{command}: {text}");
    }
}
