//! Labels typed as words, end to end: the text-aligned bundle with its text encoder (`models/build/text-aligned.skb`,
//! which `cargo xtask text-encoder` builds from the committed `models/zoo/text-aligned.skb`), a real UTD-MHAD test
//! recording, and the daemon over a real pseudo-terminal. `skelact labels add` embeds the prompt with the bundle's
//! own tokenizer and text encoder (tract), the overlay keeps it, and the daemon then reports the typed label through
//! the same decisions as the trained ones; `labels remove` takes it away again.
//!
//! The first tests type a prompt that restates a trained action's name, so the typed row has the trained row's
//! direction and wins by the bundle's calibrated-stacking bias: they check the mechanism (tokenizer, text encoder,
//! overlay, head rows, decisions, events). One test types the name of an action held out of all the model's training
//! and replays a real recording of it: beside the trained labels the name loses, behind the novelty gate
//! (`--gate`) it is reported. `docs/models.md` ("Labels typed as words") measures how often that happens over the
//! whole test split, and what the gate costs the trained labels.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skelact_formats::{self as sources, InputFormat};

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");
/// "right arm swipe to the left" (action 1), by test subject 2.
const RECORDING: &str = "a1_s2_t1_skeleton.mat";
const TRAINED: &str = "right arm swipe to the left";
const TYPED: &str = "swipe left, typed";
/// An action held out of all the model's training ("tennis serve", action 17), by a test subject.
const HELD_OUT_RECORDING: &str = "a17_s2_t1_skeleton.mat";
const HELD_OUT: &str = "tennis serve";
/// The shipped text-aligned model's calibrated gate (models/zoo/text-aligned-hcn/typed_gate.json).
const GATE: &str = "0.706";

fn skelact(args: &[&str]) -> Output {
    Command::new(SKELACT).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The text-aligned bundle with its text encoder, copied into `dir` (its overlay is written beside it).
fn text_bundle(dir: &Path) -> Option<PathBuf> {
    let built = common::repo_root().join("models/build/text-aligned.skb");
    if !built.exists() {
        common::skipped(&format!(
            "{} is not built: `cargo xtask text-encoder` writes it (the CI test step does, before the tests)",
            built.display()
        ));
        return None;
    }
    let copy = dir.join("text-aligned.skb");
    std::fs::copy(&built, &copy).unwrap();
    Some(copy)
}

/// The text bundle copied into `dir`, and a UTD-MHAD recording's messages; `None` (with a SKIPPED line) without
/// either.
fn bundle_and_recording(dir: &Path, recording: &str) -> Option<(PathBuf, Vec<skelact_runtime::wire::Message>)> {
    let datasets = common::datasets()?;
    let bundle = text_bundle(dir)?;
    let messages = sources::read_messages(&datasets.join("utd-mhad").join(recording), InputFormat::UtdMhad).unwrap();
    Some((bundle, messages))
}

fn labels_reported(bundle: &Path, stream: &[u8]) -> Vec<String> {
    let (printed, _) = common::run_over_pty_printing(bundle, stream, &[]);
    let events = common::of_type(printed, "event");
    events.iter().filter(|e| e["phase"] == "begin").map(|e| e["label"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn a_prompt_typed_on_the_device_becomes_a_label_the_daemon_reports() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, messages)) = bundle_and_recording(dir.path(), RECORDING) else { return };
    let bundle_arg = bundle.to_str().unwrap();
    let stream = sources::encode(&messages).unwrap();

    let before = labels_reported(&bundle, &stream);
    assert!(!before.is_empty() && before.iter().all(|l| l == TRAINED), "the trained label: {before:?}");

    let added = skelact(&["labels", "add", TRAINED, "--name", TYPED, "--bundle", bundle_arg]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("added \"swipe left, typed\" (action 1000)"), "{}", text(&added));
    // The prompt's nearest trained name is the one it restates, at cosine 1 (the device's text encoder agrees with
    // the one that made the bundle's rows).
    assert!(text(&added).contains("(cosine of the texts): \"right arm swipe to the left\" 1.00"), "{}", text(&added));
    let listed = skelact(&["labels", "list", "--json", "--bundle", bundle_arg]);
    let typed: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["source"] == "typed")
        .collect();
    assert_eq!(typed.len(), 1, "{}", text(&listed));
    assert_eq!((typed[0]["name"].as_str(), typed[0]["index"].as_u64()), (Some(TYPED), Some(22)));
    assert_eq!(typed[0]["prompt"], TRAINED);

    let after = labels_reported(&bundle, &stream);
    assert!(!after.is_empty() && after.iter().all(|l| l == TYPED), "the typed label wins its twin: {after:?}");

    let removed = skelact(&["labels", "remove", TYPED, "--bundle", bundle_arg]);
    assert!(removed.status.success(), "{}", text(&removed));
    let listed = skelact(&["labels", "list", "--bundle", bundle_arg]);
    assert!(!text(&listed).contains("typed"), "{}", text(&listed));
    assert_eq!(labels_reported(&bundle, &stream), before, "removed, the trained label again");
}

#[test]
fn an_action_held_out_of_all_training_is_named_by_its_typed_name_behind_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, messages)) = bundle_and_recording(dir.path(), HELD_OUT_RECORDING) else { return };
    let bundle_arg = bundle.to_str().unwrap();
    let stream = sources::encode(&messages).unwrap();
    let before = labels_reported(&bundle, &stream);
    assert!(!before.iter().any(|l| l == HELD_OUT), "the bundle has no such label: {before:?}");

    // Typed beside the trained labels, the held-out action's name loses to them (docs/models.md: 0-6 % of its
    // windows)...
    let added = skelact(&["labels", "add", HELD_OUT, "--bundle", bundle_arg]);
    assert!(added.status.success(), "{}", text(&added));
    let competing = labels_reported(&bundle, &stream);
    assert!(!competing.iter().any(|l| l == HELD_OUT), "without the gate: {competing:?}");

    // ...behind the model's calibrated gate it takes the windows the trained classes do not claim.
    let gated = skelact(&["labels", "add", HELD_OUT, "--replace", "--gate", GATE, "--bundle", bundle_arg]);
    assert!(gated.status.success(), "{}", text(&gated));
    let listed = skelact(&["labels", "list", "--bundle", bundle_arg]);
    assert!(text(&listed).contains(&format!("behind the gate {GATE}")), "{}", text(&listed));
    let after = labels_reported(&bundle, &stream);
    assert!(after.iter().any(|l| l == HELD_OUT), "behind the gate: {after:?}");
}

#[test]
fn tdsm_chooses_among_typed_labels_behind_the_gate_on_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, messages)) = bundle_and_recording(dir.path(), HELD_OUT_RECORDING) else { return };
    let bundle_arg = bundle.to_str().unwrap();
    let stream = sources::encode(&messages).unwrap();
    // TDSM ranks only what the gate gives the typed labels: asked for without a gate, nothing is written.
    let refused = skelact(&["labels", "add", HELD_OUT, "--tdsm", "--bundle", bundle_arg]);
    assert!(!refused.status.success() && text(&refused).contains("needs typed_gate"), "{}", text(&refused));
    assert!(!dir.path().join("text-aligned.overlay.json").exists());
    // The five actions held out of the model's training, typed by name, behind the gate, ranked by the bundle's
    // TDSM scorer (the text encoder gives each name's sentence and token features once, when the daemon loads).
    let typed =
        [HELD_OUT, "baseball swing from right", "arm curl (two arms)", "right hand knock on door", "walking in place"];
    for (i, name) in typed.iter().enumerate() {
        let mut args = vec!["labels", "add", name, "--bundle", bundle_arg];
        if i == 0 {
            args.extend(["--gate", GATE, "--tdsm"]);
        }
        let added = skelact(&args);
        assert!(added.status.success(), "{}", text(&added));
    }
    let listed = skelact(&["labels", "list", "--bundle", bundle_arg]);
    assert_eq!(
        text(&listed).matches(&format!("behind the gate {GATE}, ranked by TDSM")).count(),
        5,
        "{}",
        text(&listed)
    );
    let (printed, _, log) = common::run_over_pty_logging(&bundle, &stream, &[]);
    assert!(log.contains("TDSM ranks the labels typed as words") && log.contains("candidates=5"), "{log}");
    let begun: Vec<String> = common::of_type(printed, "event")
        .iter()
        .filter(|e| e["phase"] == "begin")
        .map(|e| e["label"].as_str().unwrap_or("").to_string())
        .collect();
    // Which typed name TDSM picks is its own (docs/models.md measures how often it is right); that the windows the
    // gate passes go to one of them, named by the denoiser's lowest error, is the device's part.
    assert!(begun.iter().any(|l| typed.contains(&l.as_str())), "a typed label is reported: {begun:?}");
    // --cosine hands the choice back to the cosine.
    let cosine = skelact(&["labels", "add", HELD_OUT, "--replace", "--cosine", "--bundle", bundle_arg]);
    assert!(cosine.status.success(), "{}", text(&cosine));
    let listed = skelact(&["labels", "list", "--bundle", bundle_arg]);
    assert!(
        text(&listed).contains("ranked by cosine") && !text(&listed).contains("ranked by TDSM"),
        "{}",
        text(&listed)
    );
}

#[test]
fn a_running_board_takes_a_typed_label_when_asked_to_reload() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let Some((bundle, messages)) = bundle_and_recording(dir.path(), RECORDING) else { return };
    let bundle_arg = bundle.to_str().unwrap();
    let mut daemon = common::DaemonProcess::start(&["--bundle", bundle_arg, "--allow-unsigned"]);
    daemon.wait_for(&["daemon running"]);

    let pid = daemon.child.id().to_string();
    let added = skelact(&["labels", "add", TRAINED, "--name", TYPED, "--bundle", bundle_arg, "--reload", &pid]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains(&format!("asked the daemon (pid {pid}) to reload")), "{}", text(&added));
    daemon.wait_for(&["reloading"]);
    daemon.wait_for(&["enrollment overlay loaded", "text_labels=1"]);
    daemon.wait_for(&["daemon running"]);

    // The sensor plays the recording; the events come back over the link with the typed label's action id.
    daemon.send(&messages);
    let mut master = daemon.pty.master_end().unwrap();
    let mut host = common::HostSide::default();
    let deadline = Instant::now() + common::PATIENCE;
    while Instant::now() < deadline && !host.events.iter().any(|e| e.action_id == 1000) {
        host.pump(&mut master, Duration::from_millis(50));
    }
    let ids: Vec<u16> = host.events.iter().map(|e| e.action_id).collect();
    assert!(ids.contains(&1000), "the typed label (action 1000) is reported after the reload: {ids:?}");
    daemon.stop();
}

#[test]
fn typed_labels_are_refused_where_they_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    // A bundle without a text-aligned head: nothing is written.
    let default = dir.path().join("default.skb");
    std::fs::copy(common::repo_root().join("models/zoo/default.skb"), &default).unwrap();
    let refused = skelact(&["labels", "add", "waving both arms", "--bundle", default.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("labels cannot be typed for this bundle"), "{}", text(&refused));
    assert!(!dir.path().join("default.overlay.json").exists());
    let refused = skelact(&["labels", "remove", "right hand wave", "--bundle", default.to_str().unwrap()]);
    assert!(text(&refused).contains("has no overlay"), "{}", text(&refused));

    let Some(bundle) = text_bundle(dir.path()) else { return };
    let bundle_arg = bundle.to_str().unwrap();
    let empty = skelact(&["labels", "add", "   ", "--bundle", bundle_arg]);
    assert!(text(&empty).contains("the prompt is empty"), "{}", text(&empty));
    let trained = skelact(&["labels", "add", "a wave", "--name", "right hand wave", "--bundle", bundle_arg]);
    assert!(text(&trained).contains("is already a label"), "{}", text(&trained));
    let added =
        skelact(&["labels", "add", "waving both arms above the head", "--name", "wave both", "--bundle", bundle_arg]);
    assert!(added.status.success(), "{}", text(&added));
    let again = skelact(&["labels", "add", "waving", "--name", "wave both", "--bundle", bundle_arg]);
    assert!(text(&again).contains("--replace"), "{}", text(&again));
    let own = skelact(&["labels", "remove", "right hand wave", "--bundle", bundle_arg]);
    assert!(text(&own).contains("one of the bundle's own labels"), "{}", text(&own));
}
