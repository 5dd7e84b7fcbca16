//! The Python side (models/): a virtual environment at `.venv` built from pinned requirements.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};

use crate::{project_root, run};

/// Path of the interpreter inside the project's virtual environment.
pub fn venv_python() -> PathBuf {
    project_root().join(".venv").join("bin").join("python")
}

/// Creates `.venv` if needed and installs the pinned requirements and the `skelact_models` package into it.
pub fn setup() -> Result<()> {
    let root = project_root();
    let requirements = root.join("models").join("requirements.txt");
    if !requirements.is_file() {
        bail!("{} is missing", requirements.display());
    }
    if !venv_python().is_file() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        if Command::new(&python).arg("--version").output().is_err() {
            bail!("`{python}` was not found. Install Python 3.10 or newer, for example: apt-get install python3 python3-venv");
        }
        run(Command::new(&python).args(["-m", "venv", ".venv"]))?;
    }
    run(Command::new(venv_python()).args(["-m", "pip", "install", "--quiet", "-r"]).arg(&requirements))?;
    run(Command::new(venv_python()).args(["-m", "pip", "install", "--quiet", "--no-deps", "-e", "models"]))?;
    Ok(())
}

/// Runs pytest on models/tests inside the virtual environment.
pub fn pytest(extra: &[String]) -> Result<()> {
    if !venv_python().is_file() {
        bail!(".venv does not exist yet: run `cargo xtask setup` first");
    }
    run(Command::new(venv_python()).args(["-m", "pytest", "models/tests", "-q"]).args(extra))
}
