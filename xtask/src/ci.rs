//! `cargo xtask ci` (also `cargo xtask test`, the README's test command that `.ci/run` calls): every guardrail the
//! project declares, run in order, each step echoing its commands and a failure naming its step.
//!
//! Steps: `fmt`, `clippy`, `doc`, `test` (creates `.venv` first, for the onnxruntime library), `no-std`, `pytest`, `ruff`, `fuzz`. Any of them
//! can be left out with `--skip STEP[,STEP…]` while iterating, and `--keep-going` runs the rest after a failure;
//! CI runs them all and stops at the first failure.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{cargo, project_root, python, run};

/// Seconds each fuzz target runs for.
const FUZZ_SECONDS: u32 = 60;

/// The command that installs the nightly toolchain cargo-fuzz needs (printed when it is missing).
const NIGHTLY_INSTALL: &str = "rustup toolchain install nightly --profile minimal";

pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) what: &'static str,
    run: fn() -> Result<()>,
}

pub(crate) const STEPS: &[Step] = &[
    Step { name: "fmt", what: "rustfmt check of the workspace and fuzz/", run: fmt },
    Step { name: "clippy", what: "clippy on every target of the workspace, warnings denied", run: clippy },
    Step { name: "doc", what: "rustdoc of the workspace, warnings denied", run: doc },
    Step { name: "test", what: "cargo tests of the workspace", run: test },
    Step { name: "no-std", what: "skelact-runtime without default features (no_std)", run: no_std },
    Step {
        name: "pytest",
        what: "Python tests of models/ in .venv, with .venv-bridges for the MediaPipe bridge (both from pinned requirements)",
        run: pytest,
    },
    Step { name: "ruff", what: "ruff check models/ (from .venv)", run: ruff },
    Step { name: "fuzz", what: "every fuzz target for 60 s each (cargo +nightly fuzz)", run: fuzz },
];

/// Runs every step not named in `--skip`, stopping at the first failure (or, with `--keep-going`, running the rest
/// and naming every failed step at the end), then prints how long each step took.
pub fn ci(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    // A CI run builds once from a clean clone, so incremental state is never reused; it was 15 GiB of the target
    // directory and, with .venv's 5.5 GiB, once filled the CI machine's disk. Every cargo this process starts
    // inherits the setting.
    std::env::set_var("CARGO_INCREMENTAL", "0");
    let started = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    let selected: Vec<&Step> = STEPS.iter().filter(|s| !options.skip.contains(&s.name)).collect();
    for (number, step) in selected.iter().enumerate() {
        eprintln!("\n==> xtask ci: step {}/{} `{}`: {}", number + 1, selected.len(), step.name, step.what);
        let step_started = Instant::now();
        let outcome = (step.run)();
        timings.push((step.name, step_started.elapsed()));
        if let Err(error) = outcome {
            let error = error.context(format!("CI step `{}` failed", step.name));
            if !options.keep_going {
                print_timings(&timings, started.elapsed());
                return Err(error);
            }
            eprintln!("xtask ci: {error:#}");
            failed.push(step.name);
        }
    }
    print_timings(&timings, started.elapsed());
    for name in &options.skip {
        eprintln!("xtask ci: step `{name}` was skipped (--skip)");
    }
    if !failed.is_empty() {
        bail!("CI steps failed: {}", failed.join(", "));
    }
    Ok(())
}

struct Options {
    skip: Vec<&'static str>,
    keep_going: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options { skip: Vec::new(), keep_going: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--keep-going" {
            options.keep_going = true;
            continue;
        }
        let list = match arg.strip_prefix("--skip=") {
            Some(list) => list,
            None if arg == "--skip" => args.next().context("--skip needs a step name")?,
            None => bail!("unknown argument `{arg}`; usage: cargo xtask ci [--keep-going] [--skip STEP[,STEP...]]"),
        };
        for name in list.split(',') {
            match STEPS.iter().find(|s| s.name == name) {
                Some(step) => options.skip.push(step.name),
                None => {
                    let names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
                    bail!("no CI step `{name}`; the steps are {}", names.join(", "));
                }
            }
        }
    }
    Ok(options)
}

fn print_timings(timings: &[(&str, Duration)], total: Duration) {
    eprintln!("\nxtask ci: time per step");
    for (name, duration) in timings {
        eprintln!("  {name:<8} {:>7.1} s", duration.as_secs_f64());
    }
    eprintln!("  {:<8} {:>7.1} s", "total", total.as_secs_f64());
}

fn fmt() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    // fuzz/ is a workspace of its own (it needs nightly), so `--all` does not reach it.
    run(cargo().args(["fmt", "--check", "--manifest-path", "fuzz/Cargo.toml"]))
}

fn clippy() -> Result<()> {
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

fn doc() -> Result<()> {
    run(cargo().args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
}

/// The workspace's tests, with `.venv` made first so that the onnxruntime backend's tests find the library of the
/// pinned `onnxruntime` wheel (`SKELACT_ONNXRUNTIME`), as the demo does, and the text encoder exported for the
/// text crate's golden test, with the text-aligned bundle that carries it for the typed-label tests.
fn test() -> Result<()> {
    python::setup()?;
    crate::deploy::text_bundles(&[])?;
    provide_tmux();
    let mut command = cargo();
    command.args(["test", "--workspace", "--all-targets"]);
    match python::onnxruntime_library() {
        Some(library) => {
            eprintln!("xtask: onnxruntime library for the tests: {}", library.display());
            command.env("SKELACT_ONNXRUNTIME", library);
        }
        None => eprintln!("xtask: .venv has no onnxruntime library: the onnxruntime backend's tests will skip"),
    }
    run(&mut command)
}

/// The monitor's end-to-end test runs `skelact monitor` in a tmux pane. Where tmux is missing and this process may
/// install Debian packages (root, with apt-get), it installs it; otherwise the test says SKIPPED and why.
fn provide_tmux() {
    const INSTALL: &str = "apt-get install -y --no-install-recommends tmux";
    if Command::new("tmux").arg("-V").output().is_ok() {
        return;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root || Command::new("apt-get").arg("--version").output().is_err() {
        eprintln!("xtask: tmux is missing, so the monitor's terminal test will skip; install it with: {INSTALL}");
        return;
    }
    eprintln!("xtask: installing tmux for the monitor's terminal test: {INSTALL}");
    let installed = Command::new("sh")
        .args(["-c", &format!("DEBIAN_FRONTEND=noninteractive {INSTALL} || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive {INSTALL})")])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("xtask: could not install tmux; the monitor's terminal test will skip");
    }
}

/// The no_std build is part of the contract: build it explicitly so that an accidental `std` use fails CI.
fn no_std() -> Result<()> {
    run(cargo().args(["build", "--package", "skelact-runtime", "--no-default-features"]))
}

fn pytest() -> Result<()> {
    python::setup()?;
    // The MediaPipe bridge's test runs MediaPipe on a real photograph; without .venv-bridges it would only skip.
    python::BRIDGES.setup()?;
    python::pytest(&[])
}

fn ruff() -> Result<()> {
    let ruff = project_root().join(".venv").join("bin").join("ruff");
    if !ruff.is_file() {
        bail!(
            "{} is missing: ruff is pinned in models/requirements.txt, so `cargo xtask setup` installs it",
            ruff.display()
        );
    }
    // The configuration is models/pyproject.toml's [tool.ruff].
    run(Command::new(ruff).args(["check", "models/"]))
}

/// Plain `cargo` from PATH, the rustup proxy, which understands `+nightly`. (`$CARGO` is the stable toolchain's
/// own binary, which does not.)
fn rustup_cargo() -> Command {
    Command::new("cargo")
}

fn fuzz() -> Result<()> {
    // Asked not to install it: a toolchain download is not something a CI step should start on its own.
    let nightly = rustup_cargo().args(["+nightly", "--version"]).env("RUSTUP_AUTO_INSTALL", "0").output();
    if !nightly.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: fuzz: the nightly toolchain is missing (cargo-fuzz needs it); install it with `{NIGHTLY_INSTALL}`");
        return Ok(());
    }
    let has_cargo_fuzz = rustup_cargo().args(["+nightly", "fuzz", "--version"]).output();
    if !has_cargo_fuzz.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "xtask: cargo-fuzz is missing; installing it with `cargo install cargo-fuzz --locked` (a few minutes)"
        );
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let listed = rustup_cargo()
        .args(["+nightly", "fuzz", "list"])
        .current_dir(project_root())
        .output()
        .context("could not run `cargo +nightly fuzz list`")?;
    if !listed.status.success() {
        bail!("`cargo +nightly fuzz list` failed: {}", String::from_utf8_lossy(&listed.stderr));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&listed.stdout).split_whitespace().map(String::from).collect();
    if targets.is_empty() {
        bail!("`cargo +nightly fuzz list` names no fuzz target");
    }
    eprintln!("xtask: fuzz targets: {}", targets.join(", "));
    for target in &targets {
        let corpus = Path::new("fuzz").join("corpus").join(target);
        fs::create_dir_all(project_root().join(&corpus)).with_context(|| format!("could not create {corpus:?}"))?;
        write_seeds(target, &project_root().join(&corpus))?;
        run(rustup_cargo()
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .args(["--", &format!("-max_total_time={FUZZ_SECONDS}")]))
        .with_context(|| format!("fuzz target `{target}` failed (its input is under fuzz/artifacts/{target}/)"))?;
    }
    Ok(())
}

/// Valid inputs to start a target's corpus from, so that the fuzzer mutates real structure instead of having to
/// find a valid checksum and manifest by chance. Written by the format's own writer, so they never go stale.
fn write_seeds(target: &str, corpus: &Path) -> Result<()> {
    let seeds = match target {
        "bundle" => bundle_seeds()?,
        _ => return Ok(()),
    };
    for (name, bytes) in seeds {
        let path = corpus.join(name);
        fs::write(&path, bytes).with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// Two small bundles the reader accepts: a linear head over joint and bone streams, and a prototype head with
/// shipped exemplars and a TensorRT engine entry.
fn bundle_seeds() -> Result<Vec<(&'static str, Vec<u8>)>> {
    use skelact_runtime::bundle::{
        BundleWriter, ComputeCapability, DecisionParams, EncoderFamily, HeadSpec, Label, Manifest, Precision,
        PreprocessParams, SectionKind, StreamKind, StreamModel, TensorRtEngine, TensorRtVersion, TensorSpec,
        ValidationSummary, WindowParams,
    };
    use skelact_runtime::decision::DecisionConfig;
    use skelact_runtime::heapless::Vec as HVec;
    use skelact_runtime::wire::LayoutId;

    const DIM: u32 = 4;
    let stream =
        |stream, weight, fp32, int8| StreamModel { stream, weight, onnx_fp32: fp32, onnx_fp16: None, onnx_int8: int8 };
    let manifest = |head, streams: &[StreamModel], tensorrt: &[TensorRtEngine], summary| -> Result<Manifest<'static>> {
        Ok(Manifest {
            model_name: "fuzz-seed",
            encoder: EncoderFamily::StarsTransformer,
            layout: LayoutId::KinectV2,
            bodies: 2,
            preprocess: PreprocessParams { frames_out: 16, crop_ratio: 0.9, align: true },
            window: WindowParams {
                raw_frames: 32,
                stride_frames: 4,
                min_frames: 16,
                max_gap_frames: 10,
                timeout_us: 1_000_000,
                partner_max_distance_m: 1.5,
                min_confidence: 1,
            },
            streams: HVec::from_slice(streams).ok().context("too many streams")?,
            input: TensorSpec { name: "skeleton", shape: HVec::from_slice(&[1, 3, 16, 25, 2]).ok().context("rank")? },
            output: TensorSpec { name: "embedding", shape: HVec::from_slice(&[1, DIM]).ok().context("rank")? },
            head,
            labels: [("wave", 1), ("clap", 2)].into_iter().map(|(name, action_id)| Label { name, action_id }).collect(),
            decision: DecisionParams::from(DecisionConfig::default()),
            tensorrt: HVec::from_slice(tensorrt).ok().context("too many engines")?,
            checkpoint_sha256: [1; 32],
            validation: ValidationSummary { report_sha256: [2; 32], section: summary, variants: HVec::new() },
        })
    };

    let mut linear = BundleWriter::new();
    let joint = linear.add(SectionKind::OnnxFp32, b"onnx joint")?;
    let bone = linear.add(SectionKind::OnnxInt8, b"onnx bone")?;
    let weights: Vec<f32> = (0..2 * DIM + 2).map(|i| i as f32 * 0.25).collect();
    let head = linear.add_linear_head(&weights[..2 * DIM as usize], Some(&weights[2 * DIM as usize..]))?;
    let summary = linear.add(SectionKind::ValidationSummary, br#"{"ok":true}"#)?;
    let streams = [stream(StreamKind::Joint, 0.6, Some(joint), None), stream(StreamKind::Bone, 0.4, None, Some(bone))];
    let linear = linear.finish(&manifest(
        HeadSpec::Linear { section: head, dim: DIM, bias: true },
        &streams,
        &[],
        Some(summary),
    )?)?;

    let mut prototype = BundleWriter::new();
    let joint = prototype.add(SectionKind::OnnxFp16, b"onnx joint")?;
    let engine = prototype.add(SectionKind::TensorRtEngine, b"plan")?;
    let exemplars = prototype.add_prototypes(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &[0, 1])?;
    let head = HeadSpec::Prototype { section: Some(exemplars), exemplars: 2, dim: DIM, k: 1, min_similarity: 0.5 };
    let tensorrt = TensorRtEngine {
        stream: StreamKind::Joint,
        section: engine,
        precision: Precision::Fp16,
        tensorrt: TensorRtVersion { major: 10, minor: 3, patch: 0, build: 26 },
        compute_capability: ComputeCapability { major: 8, minor: 7 },
    };
    let joint = StreamModel { onnx_fp16: Some(joint), ..stream(StreamKind::Joint, 1.0, None, None) };
    let prototype = prototype.finish(&manifest(head, &[joint], &[tensorrt], None)?)?;
    Ok(vec![("seed-linear.skb", linear), ("seed-prototype.skb", prototype)])
}
