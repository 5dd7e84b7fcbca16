//! Any sensor rate (`docs/preprocessing.md`, step 0): real UTD-MHAD recordings retimed to 15, 60 and 120 Hz and to
//! a jittered variable rate (`skelact convert --rate`, `skelact_formats::retime`) go through the daemon over a real
//! pseudo-terminal and give the events they give at the recorded 30 Hz, with no frame counted as dropped.
//!
//! Tolerance: the same actions, begin and end, in the same order; each confidence within 0.05 of the 30 Hz one
//! (15 Hz and the jittered rate see interpolated poses, so their windows differ a little).

mod common;

use skelact_formats::retime::{retime, Retime};
use skelact_formats::{self as sources, InputFormat};

/// Test-split recordings (subject 2) of three actions the default model reports.
const RECORDINGS: [&str; 3] = ["a1_s2_t1_skeleton.mat", "a5_s2_t1_skeleton.mat", "a27_s2_t1_skeleton.mat"];

/// (rate in Hz, jitter in ms).
const RATES: [(f64, f64); 4] = [(15.0, 0.0), (60.0, 0.0), (120.0, 0.0), (30.0, 12.0)];

fn summary(events: &[serde_json::Value]) -> Vec<(u64, String, f64)> {
    events
        .iter()
        .map(|e| {
            (
                e["action_id"].as_u64().unwrap(),
                e["phase"].as_str().unwrap().to_string(),
                e["confidence"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_same_actions_are_recognised_at_any_sensor_rate() {
    let Some(datasets) = common::datasets() else { return };
    let bundle = common::repo_root().join("models/zoo/default.skb");
    for name in RECORDINGS {
        let messages = sources::read_messages(&datasets.join("utd-mhad").join(name), InputFormat::UtdMhad).unwrap();
        let (reference, status) = common::run_over_pty_with_status(&bundle, &sources::encode(&messages).unwrap());
        let reference = summary(&reference);
        assert!(!reference.is_empty(), "{name}: no event at 30 Hz");
        assert_eq!(status.map(|s| s.dropped_frames), Some(0), "{name} at 30 Hz");
        for (rate_hz, jitter_ms) in RATES {
            let retimed = retime(&messages, &Retime { rate_hz, jitter_ms, seed: 3 }).unwrap();
            let (events, status) = common::run_over_pty_with_status(&bundle, &sources::encode(&retimed).unwrap());
            let what = format!("{name} at {rate_hz} Hz, jitter {jitter_ms} ms");
            assert_eq!(status.map(|s| s.dropped_frames), Some(0), "{what}");
            let events = summary(&events);
            let actions = |s: &[(u64, String, f64)]| s.iter().map(|(a, p, _)| (*a, p.clone())).collect::<Vec<_>>();
            assert_eq!(actions(&events), actions(&reference), "{what}");
            for ((_, _, got), (_, _, want)) in events.iter().zip(&reference) {
                assert!((got - want).abs() <= 0.05, "{what}: confidence {got} against {want} at 30 Hz");
            }
        }
    }
}
