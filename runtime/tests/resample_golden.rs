//! Golden vectors of step 0 of `docs/preprocessing.md` (the time grid), shared with the Python side
//! (`models/skelact_models/resample.py`, `models/tests/test_resample.py`).
//!
//! `cargo test -p skelact-runtime --test resample_golden` checks the resampler against
//! `tests/fixtures/resample/cases.json`: for each case's sensor frames, every grid frame (sequence, time, and which
//! sensor frame filled it, or none), exactly. With `SKELACT_BLESS=1` it first regenerates the file from the cases
//! below. Review a re-blessed diff like code: the Python side must agree.

use serde::{Deserialize, Serialize};
use skelact_runtime::resample::{GridConfig, HeldFrame, ResampleError, Resampler};
use skelact_runtime::skeleton::Pose;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Case {
    name: String,
    description: String,
    nominal_rate_millihertz: u32,
    sequences: Vec<u32>,
    timestamps_us: Vec<u64>,
    /// (grid sequence, grid time in µs, index of the sensor frame that filled it or null).
    expected: Vec<(u32, u64, Option<usize>)>,
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/resample/cases.json")
}

/// Runs the resampler over a case's frames; each sensor frame carries one body whose id is its index.
fn evaluate(case: &Case) -> Vec<(u32, u64, Option<usize>)> {
    let mut resampler = Resampler::new(GridConfig::default()).expect("default grid");
    resampler.set_nominal_rate(case.nominal_rate_millihertz);
    let mut out = Vec::new();
    for (index, (&sequence, &timestamp)) in case.sequences.iter().zip(&case.timestamps_us).enumerate() {
        let held = resampler.incoming();
        let (id, pose) = held.next_slot().expect("room for one body");
        *id = index as u32;
        *pose = Pose::MISSING;
        held.commit_slot();
        let outcome = resampler.push(sequence, timestamp, |s, t, frame: &HeldFrame| {
            out.push((s, t, frame.bodies().next().map(|(id, _)| id as usize)));
            Ok::<(), ()>(())
        });
        match outcome {
            Ok(()) | Err(ResampleError::Track(_)) => {}
            Err(ResampleError::Emit(())) => unreachable!("emit never fails here"),
        }
    }
    out
}

/// A small seeded generator for the jittered cases.
fn lcg(seed: &mut u32) -> u32 {
    *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    *seed >> 16
}

fn steady(hz: f64, frames: u32) -> (Vec<u32>, Vec<u64>) {
    ((0..frames).collect(), (0..frames).map(|i| (f64::from(i) * 1e6 / hz).round() as u64).collect())
}

fn cases() -> Vec<Case> {
    let case = |name: &str, description: &str, nominal: u32, (sequences, timestamps_us): (Vec<u32>, Vec<u64>)| Case {
        name: name.into(),
        description: description.into(),
        nominal_rate_millihertz: nominal,
        sequences,
        timestamps_us,
        expected: Vec::new(),
    };
    let mut seed = 11;
    let mut t = 1_000_000u64;
    let jittered: Vec<u64> = (0..90)
        .map(|_| {
            let now = t;
            t += 25_000 + u64::from(lcg(&mut seed)) % 20_001;
            now
        })
        .collect();
    let lost: Vec<u32> = (0..12).chain(15..20).chain(40..50).collect();
    let lost_times = lost.iter().map(|&i| u64::from(i) * 33_333).collect();
    let troubles_sequences = vec![0, 1, 2, 2, 3, 4, 5, 6, 7, 3, 4, 5];
    let troubles_times =
        vec![0, 33_333, 66_667, 70_000, 100_000, 5_100_000, 5_133_333, 40_000, 73_333, 106_667, 140_000, 173_333];
    vec![
        case("30hz", "a steady 30 Hz sensor: each frame is its own grid point", 30_000, steady(30.0, 60)),
        case("15hz", "a 15 Hz sensor: each frame fills two grid points", 15_000, steady(15.0, 30)),
        case("120hz", "a 120 Hz sensor: every fourth frame is kept", 120_000, steady(120.0, 240)),
        case("60hz-unannounced", "60 Hz without a Hello: the rate comes from the timestamps", 0, steady(60.0, 120)),
        case("variable", "MediaPipe-like: intervals of 25 to 45 ms", 0, ((0..90).collect(), jittered)),
        case(
            "lost-frames",
            "30 Hz with frames lost on the link: their grid points are empty",
            30_000,
            (lost, lost_times),
        ),
        case(
            "slower-than-announced",
            "announced 30 Hz, delivering 15 Hz: no empty grid points between frames",
            30_000,
            steady(15.0, 40),
        ),
        case(
            "troubles",
            "a repeated sequence number, a 5 s silence, a clock that goes back, a sequence that goes back",
            30_000,
            (troubles_sequences, troubles_times),
        ),
    ]
}

#[test]
fn the_grid_matches_the_golden_vectors() {
    let path = fixture();
    if std::env::var_os("SKELACT_BLESS").is_some() {
        let blessed: Vec<Case> = cases()
            .into_iter()
            .map(|mut c| {
                c.expected = evaluate(&c);
                c
            })
            .collect();
        std::fs::write(&path, serde_json::to_string_pretty(&blessed).expect("json") + "\n").expect("write fixture");
    }
    let text = std::fs::read_to_string(&path).expect("tests/fixtures/resample/cases.json (bless with SKELACT_BLESS=1)");
    let golden: Vec<Case> = serde_json::from_str(&text).expect("valid fixture");
    assert_eq!(golden.len(), cases().len(), "every case is in the fixture");
    for case in &golden {
        assert_eq!(evaluate(case), case.expected, "case {}", case.name);
    }
}
