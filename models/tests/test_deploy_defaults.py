"""The Python side's window and decision defaults are the runtime's: both read tests/fixtures/defaults.json.

The Rust test tests/tests/python_defaults.rs holds that file equal to `TrackConfig::for_frames(64)`,
`WindowConfig::default()` and `DecisionConfig::default()`; this one holds `description.py` to the file.
"""

import json

from skelact_models.deploy import description as desc


def fixture():
    return json.loads(desc.DEFAULTS_PATH.read_text())


def test_the_defaults_are_the_files():
    defaults = fixture()
    assert desc.DEFAULT_WINDOW == defaults["window"]
    assert desc.DEFAULT_DECISION == defaults["decision"]


def test_the_defaults_have_the_manifests_fields_and_types():
    # Field for field the bundle manifest's WindowParams and DecisionParams (docs/bundle.md), which `cargo xtask
    # bundle` reads from model.json.
    window, decision = desc.DEFAULT_WINDOW, desc.DEFAULT_DECISION
    assert list(window) == ["raw_frames", "stride_frames", "min_frames", "max_gap_frames", "timeout_us",
                            "partner_max_distance_m", "min_confidence"]
    assert list(decision) == ["smoothing_windows", "enter_threshold", "exit_threshold", "switch_margin",
                              "min_duration_us", "cooldown_us", "unknown_threshold", "emit_unknown"]
    for key in ["raw_frames", "stride_frames", "min_frames", "max_gap_frames", "timeout_us", "min_confidence"]:
        assert type(window[key]) is int, key
    for key in ["smoothing_windows", "min_duration_us", "cooldown_us"]:
        assert type(decision[key]) is int, key
    assert type(decision["emit_unknown"]) is bool
    # The runtime's own checks (TrackConfig and DecisionConfig::validate) hold.
    assert 1 <= window["min_frames"] <= window["raw_frames"]
    assert window["stride_frames"] > 0 and window["timeout_us"] > 0
    assert 0 <= decision["unknown_threshold"] <= decision["exit_threshold"] <= decision["enter_threshold"] <= 1
    assert decision["smoothing_windows"] >= 1
