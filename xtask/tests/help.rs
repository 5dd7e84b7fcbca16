//! `--help` after any command prints that command's usage and runs nothing.
//!
//! The binary runs with its repository root pointed at an empty folder (`CARGO_MANIFEST_DIR`, which
//! `project_root` reads first) and with `cargo` and `python3` replaced by `false`: a command that ran anything
//! would fail there, or leave files behind.

use std::path::Path;
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// Every command of `cargo xtask`'s overview.
const COMMANDS: [&str; 15] = [
    "test", "ci", "bench", "setup", "pytest", "train", "models", "export", "quantize", "validate", "bundle", "engine",
    "pipeline", "keygen", "sign",
];

fn xtask_in(root: &Path, args: &[&str]) -> Output {
    Command::new(XTASK)
        .args(args)
        .env("CARGO_MANIFEST_DIR", root.join("xtask"))
        .env("CARGO", "false")
        .env("PYTHON", "false")
        .env("CARGO_TARGET_DIR", root.join("target"))
        .current_dir(root)
        .output()
        .unwrap()
}

#[test]
fn help_after_any_command_prints_its_usage_and_runs_nothing() {
    for command in COMMANDS {
        for args in [vec![command, "--help"], vec![command, "-h"], vec![command, "--skip", "fuzz", "--help"]] {
            let root = tempfile::tempdir().unwrap();
            let output = xtask_in(root.path(), &args);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{args:?} failed:\n{stdout}\n{stderr}");
            assert!(stdout.starts_with(&format!("usage: cargo xtask {command}")), "{args:?}:\n{stdout}");
            assert!(!stderr.contains("xtask: running"), "{args:?} ran something:\n{stderr}");
            let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
            assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
        }
    }
}

#[test]
fn help_names_a_command_and_unknown_commands_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let output = xtask_in(root.path(), &["help", "bench"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: cargo xtask bench [--quick]"));
    let output = xtask_in(root.path(), &["--help"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("COMMAND --help"));
    let output = xtask_in(root.path(), &["frobnicate", "--help"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown command `frobnicate`"));
}
