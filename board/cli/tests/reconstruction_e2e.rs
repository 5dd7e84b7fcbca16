//! REC end to end: the documented bundle that carries the reconstruction model (`models/zoo/default-rec.skb`,
//! `cargo xtask pipeline default-rec`), a real UTD-MHAD test recording that loses joints at the sensor, and the
//! daemon over a real pseudo-terminal. The device measures each window's missing joints, runs REC on the windows
//! above the bundle's threshold, and says so in its events and status lines; `--reconstruction off` and a
//! recording that loses nothing leave REC idle.

mod common;

use skelact_formats::dropout::drop_joints;
use skelact_formats::{self as sources, InputFormat};

/// A test-split recording (subject 2) of UTD-MHAD's first action.
const RECORDING: &str = "a1_s2_t1_skeleton.mat";

fn last_status(printed: &[serde_json::Value]) -> serde_json::Value {
    printed.iter().rev().find(|o| o["type"] == "status").cloned().expect("the daemon printed a status line")
}

fn counter(status: &serde_json::Value, name: &str) -> u64 {
    status[name].as_u64().unwrap_or_else(|| panic!("status has no {name}: {status}"))
}

#[test]
fn rec_completes_the_windows_that_lost_joints_and_says_so() {
    let Some(datasets) = common::datasets() else { return };
    let bundle = common::repo_root().join("models/zoo/default-rec.skb");
    assert!(bundle.exists(), "{} is committed (cargo xtask pipeline default-rec)", bundle.display());
    let clean = sources::read_messages(&datasets.join("utd-mhad").join(RECORDING), InputFormat::UtdMhad).unwrap();
    let mut lossy = clean.clone();
    assert!(drop_joints(&mut lossy, 0.2, 7) > 0);
    let lossy = sources::encode(&lossy).unwrap();

    let (printed, _) = common::run_over_pty_printing(&bundle, &lossy, &[]);
    let status = last_status(&printed);
    let events = common::of_type(printed, "event");
    assert!(!events.is_empty(), "no event; last status {status}");
    assert!(counter(&status, "windows_with_missing") > 0, "{status}");
    assert!(counter(&status, "windows_reconstructed") > 0, "{status}");
    assert_eq!(counter(&status, "reconstructions_failed"), 0, "{status}");
    // The action is still recognised from the completed windows.
    assert!(events.iter().all(|e| e["label"] == "right arm swipe to the left"), "{events:?}");
    // Events that come from a window (begin) say what it went through; an end event closes a segment and has none.
    let noted: Vec<&serde_json::Value> = events.iter().filter(|e| !e["reconstructed"].is_null()).collect();
    assert!(!noted.is_empty(), "{events:?}");
    for event in noted {
        assert_eq!(event["reconstructed"], true, "every window is above the threshold at 20 % loss: {event}");
        assert!(event["missing_fraction"].as_f64().unwrap() > 0.05, "{event}");
    }

    let (printed, _) = common::run_over_pty_printing(&bundle, &lossy, &["--reconstruction", "off"]);
    let status = last_status(&printed);
    assert!(counter(&status, "windows_with_missing") > 0, "{status}");
    assert_eq!(counter(&status, "windows_reconstructed"), 0, "{status}");
    assert!(common::of_type(printed, "event").iter().all(|e| e["reconstructed"] != true));

    let (printed, _) = common::run_over_pty_printing(&bundle, &sources::encode(&clean).unwrap(), &[]);
    let status = last_status(&printed);
    assert_eq!(counter(&status, "windows_with_missing"), 0, "a whole body has nothing to reconstruct: {status}");
    assert_eq!(counter(&status, "windows_reconstructed"), 0, "{status}");
}
