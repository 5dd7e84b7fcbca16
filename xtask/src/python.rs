//! The Python side (models/): a virtual environment at `.venv` built from pinned requirements, and the commands
//! that run inside it (pytest, training, the `skelact_models` command line).
//!
//! Nothing here assumes a virtual environment that someone made by hand: `setup` creates it from
//! `models/requirements.txt` and records a fingerprint of the files it was built from, so running it again is
//! cheap when nothing changed and reinstalls when a pin changed.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{project_root, run};

/// Path of the interpreter inside the project's virtual environment.
pub fn venv_python() -> PathBuf {
    project_root().join(".venv").join("bin").join("python")
}

/// File inside `.venv` holding the fingerprint of the inputs the environment was last built from.
fn stamp_path() -> PathBuf {
    project_root().join(".venv").join("skelact-setup.stamp")
}

/// FNV-1a over the files that define the environment. Not cryptographic: it only has to notice edits.
fn fingerprint() -> Result<String> {
    let root = project_root();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for relative in ["models/requirements.txt", "models/pyproject.toml", "models/sender/pyproject.toml"] {
        let bytes = fs::read(root.join(relative)).with_context(|| format!("could not read {relative}"))?;
        for byte in relative.as_bytes().iter().chain(bytes.iter()) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}

/// Creates `.venv` if needed and installs the pinned requirements and the `skelact_models` and `skelact_sender`
/// packages into it.
/// Idempotent: when the requirements and pyproject are unchanged since the last successful run it does nothing.
pub fn setup() -> Result<()> {
    let root = project_root();
    let requirements = root.join("models").join("requirements.txt");
    if !requirements.is_file() {
        bail!("{} is missing", requirements.display());
    }
    let wanted = fingerprint()?;
    if venv_python().is_file() && fs::read_to_string(stamp_path()).ok().as_deref() == Some(wanted.as_str()) {
        eprintln!("xtask: .venv is up to date with models/requirements.txt (fingerprint {wanted})");
        return Ok(());
    }
    if !venv_python().is_file() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        if Command::new(&python).arg("--version").output().is_err() {
            bail!("`{python}` was not found. Install Python 3.10 or newer, for example: apt-get install python3 python3-venv");
        }
        eprintln!("xtask: creating .venv with {python}");
        run(Command::new(&python).args(["-m", "venv", ".venv"]))?;
    }
    // PyPI's Linux x86_64 torch wheel pulls in the CUDA runtime (.venv ends up at 5.5 GiB). pip's cache would keep
    // another 3 GiB of wheels, which a CI machine's disk may not have room for, so it is not used: a reinstall
    // downloads again (a few minutes). See docs/models.md, "Environment".
    eprintln!("xtask: installing the pinned requirements into .venv (about 5.5 GiB, a few minutes)");
    run(Command::new(venv_python())
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-cache-dir", "-r"])
        .arg(&requirements))?;
    // Our own packages, editable and without dependencies (their dependencies are the pinned requirements above;
    // the sender has none).
    for (package, folder) in [("skelact_models", "models"), ("skelact_sender", "models/sender")] {
        eprintln!("xtask: installing {package} (editable) into .venv");
        run(Command::new(venv_python())
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"])
            .args(["--no-build-isolation", "-e", folder]))?;
    }
    fs::write(stamp_path(), &wanted).context("could not write the .venv stamp")?;
    eprintln!("xtask: .venv is ready");
    Ok(())
}

/// Runs pytest on models/tests inside the virtual environment.
///
/// When the workspace's debug binaries exist (`cargo xtask test` builds them first), their paths go to the tests
/// in SKELACT_BIN and SKELACT_XTASK_BIN, so the model pipeline's tests also run the Rust runtime and bundle writer.
pub fn pytest(extra: &[String]) -> Result<()> {
    if !venv_python().is_file() {
        bail!(".venv does not exist yet: run `cargo xtask setup` first");
    }
    let mut command = Command::new(venv_python());
    // `-rs` prints why each skipped test was skipped, so that a pass that skipped something says so.
    command.args(["-m", "pytest", "models/tests", "-q", "-rs"]).args(extra);
    let target = crate::target_dir();
    for (variable, name) in [("SKELACT_BIN", "skelact"), ("SKELACT_XTASK_BIN", "xtask")] {
        let binary = target.join("debug").join(name);
        if binary.is_file() {
            command.env(variable, binary);
        }
    }
    run(&mut command)
}

/// Runs the `skelact_models` command line inside the virtual environment, creating it first if needed.
/// `cargo xtask train real-hcn ...` becomes `python -m skelact_models train real-hcn ...`.
pub fn models_cli(args: &[String]) -> Result<()> {
    setup()?;
    run(Command::new(venv_python()).args(["-m", "skelact_models"]).args(args))
}

/// The onnxruntime library of the pinned `onnxruntime` wheel in `.venv` (`onnxruntime/capi/libonnxruntime.so.*`),
/// for the onnxruntime backend's tests, the demo and `bench`.
pub fn onnxruntime_library() -> Option<std::path::PathBuf> {
    let lib = project_root().join(".venv").join("lib");
    let mut found: Vec<std::path::PathBuf> = fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|python| python.path().join("site-packages").join("onnxruntime").join("capi"))
        .filter_map(|capi| fs::read_dir(capi).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so")))
        .collect();
    found.sort();
    found.pop()
}
