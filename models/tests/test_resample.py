"""Step 0 of `docs/preprocessing.md` (the time grid) in Python against the golden vectors the device's resampler
writes (`runtime/tests/resample_golden.rs`): every grid frame of every case, exactly."""

import json
from pathlib import Path

from skelact_models.resample import grid_frames

CASES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "resample" / "cases.json"


def test_every_case_gives_the_devices_grid_frames():
    cases = json.loads(CASES.read_text())
    assert {c["name"] for c in cases} >= {"15hz", "120hz", "variable", "lost-frames", "troubles"}
    for case in cases:
        got = grid_frames(case["sequences"], case["timestamps_us"],
                          nominal_rate_millihertz=case["nominal_rate_millihertz"])
        assert got == [tuple(e) for e in case["expected"]], case["name"]


def test_a_15_hz_sensor_fills_two_grid_points_per_frame():
    sequences = list(range(10))
    times = [round(i * 1e6 / 15) for i in sequences]
    got = grid_frames(sequences, times, nominal_rate_millihertz=15_000)
    assert [frame for _, _, frame in got] == [k // 2 for k in range(19)]
