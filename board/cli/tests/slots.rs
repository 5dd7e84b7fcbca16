//! Signed bundles and A/B slots end to end: `skelact install` into the slots of a running `skelact run`, trials
//! confirmed by the daemon's health check or rolled back, refusals (unsigned, untrusted, tampered, older, failing
//! self-test), and power cuts (a truncated slot file, `kill -9` during an install). Each case ends with the daemon
//! running the last good model and saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::DaemonProcess;
use ed25519_dalek::{Signer as _, SigningKey};
use skelact_device::slots::{self, InstallInfo, SlotName, SlotState, Slots};
use skelact_formats::{self as sources, InputFormat};
use skelact_runtime::bundle::{sign, with_self_test, with_version, Bundle, SelfTest, PUBLIC_KEY_FILE_HEADER};
use skelact_runtime::wire::Message;

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");

fn fleet_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// Writes the public key file devices trust.
fn public_key_file(dir: &Path, key: &SigningKey) -> PathBuf {
    let path = dir.join("fleet.pub");
    let text = format!("{PUBLIC_KEY_FILE_HEADER}\n{}\n", hex::encode(key.verifying_key().to_bytes()));
    std::fs::write(&path, text).unwrap();
    path
}

fn default_bundle() -> Vec<u8> {
    std::fs::read(common::repo_root().join("models/zoo/default.skb")).unwrap()
}

fn signed(bytes: &[u8], key: &SigningKey, version: u64) -> Vec<u8> {
    let versioned = with_version(bytes, version).unwrap();
    sign(&versioned, "fleet", key.verifying_key().to_bytes(), |m| key.sign(m).to_bytes()).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn skelact(args: &[&str]) -> Output {
    Command::new(SKELACT).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn install(bundle: &Path, slots: &Path, key: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["install", s(bundle), "--slots", s(slots), "--trusted-key", s(key), "--backend", "tract"];
    args.extend_from_slice(extra);
    skelact(&args)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn slots_json(dir: &Path) -> serde_json::Value {
    let output = skelact(&["slots", "--slots", s(dir), "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["state"].clone()
}

/// A daemon serving the slots over a pty.
struct Daemon;

impl Daemon {
    fn start(slots: &Path, key: &Path, trial_windows: u64) -> DaemonProcess {
        let trial_windows = trial_windows.to_string();
        DaemonProcess::start(&["--slots", s(slots), "--trusted-key", s(key), "--trial-windows", &trial_windows])
    }
}

/// Sends the committed UTD-MHAD session's first ten seconds: about 30 windows.
fn send_frames(daemon: &DaemonProcess) {
    let session = common::repo_root().join("models/zoo/sessions/session-utd-mhad-s4-p001.jsonl");
    let messages: Vec<Message> =
        sources::read_messages(&session, InputFormat::Session).unwrap().into_iter().take(301).collect();
    daemon.send(&messages);
}

#[test]
fn a_signed_bundle_installed_on_a_running_daemon_is_confirmed_or_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let key = fleet_key();
    let key_file = public_key_file(dir.path(), &key);
    let slot_dir = dir.path().join("slots");
    let bundle = default_bundle();
    let v1 = write(dir.path(), "v1.skb", &signed(&bundle, &key, 1));
    let v2 = write(dir.path(), "v2.skb", &signed(&bundle, &key, 2));
    let v3 = write(dir.path(), "v3.skb", &signed(&bundle, &key, 3));

    // Refusals before anything is written: unsigned, untrusted, tampered.
    let unsigned = write(dir.path(), "unsigned.skb", &with_version(&bundle, 9).unwrap());
    let output = install(&unsigned, &slot_dir, &key_file, &[]);
    assert!(!output.status.success() && text(&output).contains("not signed"), "{}", text(&output));
    let stranger = SigningKey::from_bytes(&[7; 32]);
    let untrusted = write(dir.path(), "untrusted.skb", &signed(&bundle, &stranger, 9));
    let output = install(&untrusted, &slot_dir, &key_file, &[]);
    assert!(text(&output).contains("does not trust"), "{}", text(&output));
    let mut tampered = signed(&bundle, &key, 9);
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x10;
    let output = install(&write(dir.path(), "tampered.skb", &tampered), &slot_dir, &key_file, &[]);
    assert!(text(&output).contains("altered or damaged"), "{}", text(&output));
    assert_eq!(slots_json(&slot_dir)["a"]["state"], "empty", "a refused install writes nothing");

    // First install: slot a on trial; the daemon self-tests it, runs it, confirms it.
    let output = install(&v1, &slot_dir, &key_file, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("self-test passed") && text(&output).contains("slot a"), "{}", text(&output));
    let mut daemon = Daemon::start(&slot_dir, &key_file, 5);
    daemon.drain_link();
    daemon.wait_for(&["booting slot", "slot=a", "trial=true"]);
    daemon.wait_for(&["self-test passed"]);
    send_frames(&daemon);
    daemon.wait_for(&["trial bundle confirmed", "slot=a"]);

    // Version 2 installed while it runs: the daemon reloads into slot b, and confirms it too.
    let output = install(&v2, &slot_dir, &key_file, &[]);
    assert!(text(&output).contains("asked the daemon"), "{}", text(&output));
    daemon.wait_for(&["booting slot", "slot=b", "trial=true"]);
    send_frames(&daemon);
    daemon.wait_for(&["trial bundle confirmed", "slot=b"]);
    let state = slots_json(&slot_dir);
    assert_eq!((state["active"].as_str(), state["min_version"].as_u64()), (Some("b"), Some(2)), "{state}");

    // An older version is refused (anti-rollback), and so is a bundle whose self-test fails on this device.
    let output = install(&v1, &slot_dir, &key_file, &[]);
    assert!(!output.status.success() && text(&output).contains("anti-rollback"), "{}", text(&output));
    let failing = write(dir.path(), "failing.skb", &signed(&with_wrong_self_test(&bundle), &key, 4));
    let output = install(&failing, &slot_dir, &key_file, &[]);
    assert!(!output.status.success() && text(&output).contains("self-test failed"), "{}", text(&output));

    // Version 3 reaches its trial, and the daemon is killed before the trial ends: the next start rolls back to
    // version 2 and says why.
    let output = install(&v3, &slot_dir, &key_file, &[]);
    assert!(output.status.success(), "{}", text(&output));
    daemon.wait_for(&["booting slot", "slot=a", "trial=true"]);
    daemon.wait_for(&["self-test passed"]);
    daemon.signal(nix::sys::signal::Signal::SIGKILL);
    daemon.child.wait().unwrap();
    let mut restarted = Daemon::start(&slot_dir, &key_file, 5);
    restarted.wait_for(&["stopped during this slot's trial", "slot=a"]);
    restarted.wait_for(&["booting slot", "slot=b", "trial=false", "version=2"]);
    restarted.wait_for(&["daemon running"]);
    restarted.stop();
    let state = slots_json(&slot_dir);
    assert_eq!(state["a"]["state"], "failed", "{state}");
    assert!(state["a"]["reason"].as_str().unwrap().contains("crashed"), "{state}");
    let listing = text(&skelact(&["slots", "--slots", s(&slot_dir)]));
    assert!(listing.contains("b [active]: confirmed") && listing.contains("a: failed"), "{listing}");
}

/// The bundle with self-test outputs that belong to other windows (rotated by one): a model that computes them
/// is not this model.
fn with_wrong_self_test(bytes: &[u8]) -> Vec<u8> {
    let bundle = Bundle::parse(bytes).unwrap();
    let test = bundle.self_test().expect("the default bundle has self-test windows");
    let windows = test.windows as usize;
    let inputs: Vec<f32> = (0..windows).flat_map(|w| test.input(w)).collect();
    let outputs: Vec<f32> = (0..windows).flat_map(|w| test.output((w + 1) % windows)).collect();
    with_self_test(bytes, &SelfTest::encode(test.windows, &inputs, &outputs, test.min_cosine)).unwrap()
}

/// A slot directory whose slot a holds a confirmed, signed version 1.
fn confirmed_slots(dir: &Path, key: &SigningKey) -> (PathBuf, Vec<u8>) {
    let slot_dir = dir.join("slots");
    let v1 = signed(&default_bundle(), key, 1);
    let mut slots = Slots::open(&slot_dir).unwrap();
    let info =
        InstallInfo { version: 1, sha256: slots::sha256_hex(&v1), model: "default".into(), signer: "fleet".into() };
    slots.install(&v1, info, false).unwrap();
    slots.boot().unwrap();
    slots.confirm(SlotName::A).unwrap();
    (slot_dir, v1)
}

#[test]
fn power_cuts_and_kills_during_an_install_leave_the_last_good_model_running() {
    let dir = tempfile::tempdir().unwrap();
    let key = fleet_key();
    let key_file = public_key_file(dir.path(), &key);
    let (slot_dir, _) = confirmed_slots(dir.path(), &key);
    let v2 = signed(&default_bundle(), &key, 2);

    // A slot file cut short at a random byte (the disk lost the end of it): the next start refuses it, marks the
    // slot failed and runs slot a.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = (seed % v2.len() as u64) as usize;
        let mut slots = Slots::open(&slot_dir).unwrap();
        let info = InstallInfo { version: 2, sha256: slots::sha256_hex(&v2), model: "d".into(), signer: "f".into() };
        assert_eq!(slots.install(&v2, info, false).unwrap(), SlotName::B);
        std::fs::OpenOptions::new().write(true).open(slot_dir.join("b.skb")).unwrap().set_len(cut as u64).unwrap();
        let mut daemon = Daemon::start(&slot_dir, &key_file, 5);
        let refused = daemon.wait_for(&["slot refused; falling back", "slot=b"]);
        // BundleFile::read meets the cut first (the header's length); a cut that kept the length would meet the
        // SHA-256 of the slot record.
        assert!(refused.contains("b.skb refused"), "cut at {cut}: {refused}");
        daemon.wait_for(&["booting slot", "slot=a", "trial=false"]);
        daemon.wait_for(&["daemon running"]);
        daemon.stop();
        assert!(matches!(Slots::open(&slot_dir).unwrap().state().b.state, SlotState::Failed { .. }));
    }

    // `kill -9` at a random moment of an install: whatever it left, a start boots a good bundle (slot a, or the
    // new one on trial if the install got that far), never a half-written one.
    let v2_file = write(dir.path(), "v2.skb", &v2);
    for delay_ms in [0u64, 150, 400, 900] {
        let mut child = Command::new(SKELACT)
            .args(["install", s(&v2_file), "--slots", s(&slot_dir), "--trusted-key", s(&key_file)])
            .args(["--backend", "tract", "--no-reload"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let mut daemon = Daemon::start(&slot_dir, &key_file, 1_000_000);
        let boot = daemon.wait_for(&["booting slot"]);
        let on = |slot: &str, trial: &str| boot.contains(slot) && boot.contains(trial);
        assert!(on("slot=a", "trial=false") || on("slot=b", "trial=true"), "{boot}");
        daemon.wait_for(&["daemon running"]);
        let log = daemon.stop();
        assert!(!log.iter().any(|l| l.contains("slot refused")), "{}", log.join("\n"));
        // A trial the daemon stopped before confirming is rolled back at the next start; do that now so that each
        // round starts from slot a confirmed.
        let mut slots = Slots::open(&slot_dir).unwrap();
        assert_eq!(slots.boot().unwrap().slot, SlotName::A);
    }
}

#[test]
fn a_trial_bundle_that_fails_its_self_test_on_the_daemon_is_rolled_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = fleet_key();
    let key_file = public_key_file(dir.path(), &key);
    let (slot_dir, _) = confirmed_slots(dir.path(), &key);
    // Signed and trusted, but its self-test outputs are not this model's: as if `install` had checked it on
    // another backend than the one the daemon runs. Written straight into the slots, as install would.
    let failing = signed(&with_wrong_self_test(&default_bundle()), &key, 2);
    let mut slots = Slots::open(&slot_dir).unwrap();
    let info =
        InstallInfo { version: 2, sha256: slots::sha256_hex(&failing), model: "d".into(), signer: "fleet".into() };
    assert_eq!(slots.install(&failing, info, false).unwrap(), SlotName::B);

    let mut daemon = Daemon::start(&slot_dir, &key_file, 5);
    daemon.wait_for(&["booting slot", "slot=b", "trial=true"]);
    let failed = daemon.wait_for(&["trial bundle failed its self-test", "slot=b"]);
    assert!(failed.contains("self-test failed"), "{failed}");
    daemon.wait_for(&["going back to the last good one"]);
    daemon.wait_for(&["booting slot", "slot=a", "trial=false"]);
    daemon.wait_for(&["daemon running"]);
    daemon.stop();
    let state = slots_json(&slot_dir);
    assert_eq!((state["active"].as_str(), state["b"]["state"].as_str()), (Some("a"), Some("failed")), "{state}");
}
