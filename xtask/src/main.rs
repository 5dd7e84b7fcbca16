//! `cargo xtask`: the project's automation. One binary, subcommands, no install steps outside this file tree.

mod bundle;
mod ci;
mod deploy;
mod engine;
mod python;
mod sign;
mod usage;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [--help]

commands:
  test      what CI runs, the same as `ci`
  ci        every guardrail in order: fmt, clippy, doc, test, no-std, pytest (creates .venv and .venv-bridges), ruff, fuzz
            (60 s per fuzz target; installs cargo-fuzz when missing). `--skip STEP[,STEP...]` leaves steps out,
            `--keep-going` runs the remaining steps after a failure
  bench     the benchmarks behind docs/performance.md: the runtime's criterion benches (decode, frontend), then
            `skelact bench` (release) on the default bundle at 1 and 2 threads, tract against onnxruntime when
            .venv has it. `bench --quick` runs criterion's quick mode and fewer inference runs
  setup     create or update .venv at the repository root from models/requirements.txt; `setup --bridges` also
            .venv-bridges (MediaPipe for the sender's bridge, models/sender/requirements-mediapipe.txt)
  pytest    run the Python tests of models/ inside .venv (extra arguments go to pytest)
  train     train a model inside .venv: `train real-hcn --dataset utd-mhad --align --epochs 120 --out models/zoo/default`
            the default model (HCN on real UTD-MHAD), `train stars-synthetic` the synthetic-corpus transformer;
            `train --help` lists recipes and options
  text-encoder
            export the device's text encoder (all-MiniLM-L6-v2 from the pinned Python package, offline) to
            models/build/text/: text.onnx and tokenizer.json (`--force` exports again); then each text-aligned
            bundle of models/zoo/ with it, as models/build/NAME.skb (the one to flash for `skelact labels add`)
  models    run the skelact_models command line inside .venv (`models --help`): synthetic session
            recordings (`models session`), classifying a recording's segments (`models classify-segments`)

model pipeline (model directory models/build/<model>, see docs/models.md (Deploying a model)):
  export    checkpoint -> FP32 ONNX per stream; ONNX checker; onnxruntime vs PyTorch parity on real windows
  quantize  INT8 Q/DQ (symmetric per-channel weights, per-tensor activations; --method, --calibration N) and FP16
  validate  PyTorch FP32 reference vs onnxruntime FP32/INT8 vs the Rust runtime (tract) FP32/INT8
            [vs TensorRT outputs with --tensorrt VARIANT=DIR]; gates; markdown, JSON and confusion-matrix PNG
  bundle    model directory -> .skb bundle (docs/bundle.md), with the self-test windows when the model has them;
            `--version N` sets its version; `bundle --check FILE` describes a bundle
  keygen    `keygen NAME [--out DIR]`: an Ed25519 key pair for signing bundles (NAME.key secret, NAME.pub for devices)
  sign      `sign BUNDLE --key NAME.key [--version N] [--signer NAME] [--out FILE]`: set the version and sign
  engine    build a TensorRT engine from the Q/DQ or FP16 ONNX and add it to the model (needs TensorRT)
  pipeline  `pipeline default|default-rec|nw-ucla|stars-synthetic`: export, quantize, validate, bundle a model into
            models/zoo/NAME.skb (--retrain trains the checkpoint first)

`cargo xtask COMMAND --help` prints that command's usage and runs nothing.
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    // `--help` after a command prints its usage and runs nothing, whatever else the arguments say.
    if usage::asks_for_help(rest) && !matches!(command, "help" | "--help" | "-h") {
        return usage::print_help(command);
    }
    match command {
        "test" | "ci" => ci::ci(rest),
        "bench" => bench(rest),
        "setup" => setup(rest),
        "pytest" => python::pytest(rest),
        "train" => python::models_cli(&[&["train".to_string()], rest].concat()),
        "models" => python::models_cli(rest),
        "text-encoder" => deploy::text_bundles(rest),
        "export" | "quantize" | "validate" | "bundle" | "engine" | "pipeline" => deploy::run(command, rest),
        "keygen" => sign::keygen(rest),
        "sign" => sign::sign_command(rest),
        "help" | "--help" | "-h" => match rest.first() {
            Some(command) => usage::print_help(command),
            None => {
                print!("{USAGE}");
                Ok(())
            }
        },
        other => bail!("unknown command `{other}`\n{USAGE}"),
    }
}

/// The repository root, found from this crate's manifest so that xtask works from any directory.
///
/// `cargo run` (the `cargo xtask` alias) sets CARGO_MANIFEST_DIR for the process too, and that one comes first:
/// the path compiled in is the checkout that last built the binary, which is another clone when two checkouts
/// share a CARGO_TARGET_DIR.
pub fn project_root() -> PathBuf {
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    manifest_dir.parent().expect("xtask/ has a parent").to_path_buf()
}

/// Runs a command in the repository root, echoing it, and fails with its exit status.
pub fn run(command: &mut Command) -> Result<()> {
    command.current_dir(project_root());
    eprintln!("xtask: running {command:?}");
    let status = command.status().with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, or `target/` in the repository root.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Every benchmark whose figures docs/performance.md quotes, in one run so that their ratios share a machine state.
/// `setup [--bridges]`: `.venv`, and `.venv-bridges` when asked.
fn setup(args: &[String]) -> Result<()> {
    match args {
        [] => python::setup(),
        [flag] if flag == "--bridges" => {
            python::setup()?;
            python::BRIDGES.setup()
        }
        _ => anyhow::bail!("usage: cargo xtask setup [--bridges]"),
    }
}

fn bench(args: &[String]) -> Result<()> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => bail!("usage: cargo xtask bench [--quick]"),
    };
    let mut criterion = cargo();
    criterion.args(["bench", "--package", "skelact-runtime", "--bench", "*"]);
    if quick {
        criterion.args(["--", "--quick"]);
    }
    run(&mut criterion)?;
    run(cargo().args(["build", "--release", "--package", "skelact", "--bin", "skelact"]))?;
    let target = target_dir();
    let skelact = target.join("release").join("skelact");
    let bundle = project_root().join("models").join("zoo").join("default.skb");
    let python = project_root().join(".venv").join("bin").join("python");
    for threads in ["1", "2"] {
        let mut command = Command::new(&skelact);
        command.arg("bench").arg("--bundle").arg(&bundle).args(["--threads", threads]);
        if quick {
            command.args(["--runs", "20", "--rounds", "1"]);
        }
        if python.is_file() {
            command.arg("--python").arg(&python);
        } else {
            eprintln!("xtask: no .venv (cargo xtask setup): tract only, without the onnxruntime ratio");
        }
        run(&mut command)?;
    }
    Ok(())
}
