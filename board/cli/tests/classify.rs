//! `skelact classify`: files through the daemon's path offline. Its events are those `skelact run` sends for the
//! same bytes, its last window of a sequence scores what `skelact eval` scores, its verdict agrees with the ground
//! truth, and an installed binary finds its bundle on the search path. The NTU and dataset tests need `../shared`
//! and print `SKIPPED: why` without it; the committed session is always there.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestHead;
use skelact::scoring;
use skelact_formats::kinect_v1::Dataset;
use skelact_runtime::decision::DecisionConfig;

const SKELACT: &str = env!("CARGO_BIN_EXE_skelact");

fn default_bundle() -> PathBuf {
    common::repo_root().join("models/zoo/default.skb")
}

fn demo_session() -> PathBuf {
    common::repo_root().join("models/zoo/sessions/session-utd-mhad-s4-p001.skr")
}

fn succeeded(output: Output, what: &str) -> Output {
    assert!(output.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `skelact classify --json` on `files` with the default bundle.
fn classify_json(files: &[PathBuf], extra: &[&str]) -> serde_json::Value {
    let output = Command::new(SKELACT)
        .args(["classify", "--json", "--bundle"])
        .arg(default_bundle())
        .args(files)
        .args(extra)
        .output()
        .unwrap();
    serde_json::from_slice(&succeeded(output, "classify").stdout).unwrap()
}

/// Every window has `k` labels with scores in 0..=1, best first.
fn assert_top_k(file: &serde_json::Value, k: usize) {
    let windows = file["windows"].as_array().unwrap();
    assert!(!windows.is_empty(), "{}: no windows", file["file"]);
    for window in windows {
        let top = window["top"].as_array().unwrap();
        assert_eq!(top.len(), k, "{window}");
        let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{window}");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{window}");
    }
}

#[test]
fn the_committed_session_gives_the_daemons_events_and_a_verdict_the_ground_truth_supports() {
    let session = demo_session();
    let document = classify_json(std::slice::from_ref(&session), &[]);
    let file = &document["files"][0];
    assert_top_k(file, 3);

    // The events are the daemon's own for the same bytes, field for field.
    let daemon = common::run_over_pty(&default_bundle(), &std::fs::read(&session).unwrap());
    let events = file["events"].as_array().unwrap();
    assert!(!events.is_empty());
    // Field for field; confidences to 1e-4, since the two may run on different CPU backends (onnxruntime when its
    // library is found, tract otherwise), which agree to float rounding.
    let without_confidence = |events: &[serde_json::Value]| -> Vec<serde_json::Value> {
        events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["confidence"] = serde_json::Value::Null;
                e
            })
            .collect()
    };
    assert_eq!(without_confidence(events), without_confidence(&daemon), "classify and `skelact run` disagree");
    for (ours, theirs) in events.iter().zip(&daemon) {
        let (a, b) = (ours["confidence"].as_f64().unwrap(), theirs["confidence"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "confidence {a} against the daemon's {b}");
    }

    // The verdict is a label the session performs, and the one its events cover longest.
    let truth = scoring::read_ground_truth(&session.with_file_name("session-utd-mhad-s4-p001.segments.json")).unwrap();
    let verdict = &file["verdict"];
    let label = verdict["label"].as_str().unwrap();
    assert!(truth.iter().any(|s| s.label == label), "verdict {verdict} is no action of the session");
    assert_eq!(verdict["basis"], "events");
    // The ground truth beside the file is found and scored as the demo scores it.
    let scored = &file["truth"]["score"]["overall"];
    assert!(4 * scored["true_positives"].as_u64().unwrap() >= 3 * truth.len() as u64, "{scored}");
}

#[test]
fn ntu_recordings_are_classified_window_by_window_with_a_verdict_each() {
    let Some(files) = common::ntu_fixtures() else { return };
    let document = classify_json(&files, &["--top-k", "5"]);
    let classified = document["files"].as_array().unwrap();
    assert_eq!(classified.len(), files.len());
    for file in classified {
        assert_eq!(file["format"], "NTU RGB+D");
        assert_top_k(file, 5);
        assert!(file["frames"].as_u64().unwrap() >= 70, "{}", file["file"]);
        // None of NTU's actions in these files is one the default model knows, so only the verdict's shape is fixed.
        assert!(["events", "windows", "nothing"].contains(&file["verdict"]["basis"].as_str().unwrap()));
    }

    // The text output has one verdict line per file.
    let output =
        Command::new(SKELACT).arg("classify").arg("--bundle").arg(default_bundle()).args(&files).output().unwrap();
    let text = String::from_utf8(succeeded(output, "classify").stdout).unwrap();
    for path in &files {
        let line = format!("verdict {}: ", path.display());
        assert_eq!(text.lines().filter(|l| l.starts_with(&line)).count(), 1, "{text}");
    }
}

#[test]
fn real_sequences_score_as_skelact_eval_scores_them_and_get_their_true_label() {
    let Some(root) = common::datasets() else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("eval.json");
    let output = Command::new(SKELACT)
        .args(["eval", "--dataset", "utd-mhad", "--limit", "4", "--root"])
        .arg(&root)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    succeeded(output, "eval");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let files: Vec<PathBuf> =
        results.iter().map(|r| root.join("utd-mhad").join(format!("{}.mat", r["name"].as_str().unwrap()))).collect();
    let document = classify_json(&files, &[]);
    let classes = Dataset::UtdMhad.classes();
    for (result, file) in results.iter().zip(document["files"].as_array().unwrap()) {
        // The file's last window is the whole sequence, the window eval classifies: the same label and score.
        let last = file["windows"].as_array().unwrap().last().unwrap();
        let top1 = classes[result["top1"].as_u64().unwrap() as usize];
        assert_eq!(last["top"][0]["label"], top1, "{result} / {last}");
        assert_eq!(last["top"][0]["score"].as_f64(), result["score"].as_f64(), "{result} / {last}");
    }

    // Two test sequences the daemon and eval get right (real_datasets.rs): the verdict is their true label.
    for name in ["a1_s2_t1_skeleton.mat", "a22_s6_t3_skeleton.mat"] {
        let path = root.join("utd-mhad").join(name);
        let truth = Dataset::UtdMhad.classes()[Dataset::UtdMhad.sequence(&path).unwrap().label];
        let document = classify_json(std::slice::from_ref(&path), &[]);
        assert_eq!(document["files"][0]["verdict"]["label"], truth, "{name}: {}", document["files"][0]);
    }
}

#[test]
fn an_installed_binary_finds_its_bundle_beside_it_and_skelact_bundle_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    // A copy, not a link: the search path follows links back to the build.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(SKELACT, bin.join("skelact")).unwrap();
    let share = dir.path().join("share/skelact");
    std::fs::create_dir_all(&share).unwrap();
    common::write(&share, "default.skb", &common::default_bundle(TestHead::Logits, DecisionConfig::default()));
    let session = common::repo_root().join("models/zoo/sessions/session-s0-p001.skr");
    let installed = |variable: Option<&Path>| {
        let mut command = Command::new(bin.join("skelact"));
        command.args(["classify", "--json"]).arg(&session).current_dir(dir.path()).env_remove("SKELACT_BUNDLE");
        if let Some(path) = variable {
            command.env("SKELACT_BUNDLE", path);
        }
        command.output().unwrap()
    };
    let found: serde_json::Value =
        serde_json::from_slice(&succeeded(installed(None), "installed classify").stdout).unwrap();
    assert_eq!(found["model"], "stars-small-test", "not the bundle in ../share/skelact: {}", found["bundle"]);
    let reported = std::fs::canonicalize(found["bundle"].as_str().unwrap()).unwrap();
    assert_eq!(reported, std::fs::canonicalize(share.join("default.skb")).unwrap());

    let chosen: serde_json::Value =
        serde_json::from_slice(&succeeded(installed(Some(&default_bundle())), "classify").stdout).unwrap();
    assert_eq!(chosen["model"], "hcn-utd-mhad-32");
    let missing = installed(Some(&dir.path().join("nowhere.skb")));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("$SKELACT_BUNDLE names"), "{missing:?}");
}
