//! The model pipeline's commands: `export`, `quantize`, `validate`, `bundle`, `engine` and `pipeline`.
//!
//! The Python steps run inside `.venv` (`python -m skelact_models <step>`); the bundle is written here with the
//! runtime's own writer; validation of the Rust runtime runs the real `skelact validate` binary on a bundle. Each
//! step reads and extends the model directory's `model.json` (default `models/build/default`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use skelact_runtime::bundle::Precision;

use crate::bundle::{self, BundleOptions};
use crate::{cargo, engine, project_root, python};

const DEFAULT_MODEL_DIR: &str = "models/build/default";
const ZOO: &str = "models/zoo";

pub fn run(command: &str, args: &[String]) -> Result<()> {
    match command {
        "export" | "quantize" => python::models_cli(&[&[command.to_string()], args].concat()),
        "validate" => {
            let mut args = Args::new(args);
            let dir = args.path("--model", DEFAULT_MODEL_DIR);
            let rust = !args.flag("--no-rust");
            validate(&dir, rust, &args.rest)
        }
        "bundle" => {
            let mut args = Args::new(args);
            if let Some(file) = args.value("--check") {
                let bytes = fs::read(&file).with_context(|| format!("could not read {file}"))?;
                print!("{}", bundle::describe(&bytes)?);
                return Ok(());
            }
            let dir = args.path("--model", DEFAULT_MODEL_DIR);
            let out = args.path("--out", &format!("{}/model.skb", dir.display()));
            let validation = if args.flag("--no-validation") { None } else { Some(dir.join("validation.json")) };
            let precisions = parse_precisions(&args.value("--precisions").unwrap_or_else(|| "fp32,fp16,int8".into()))?;
            let version = parse_version(args.value("--version"))?;
            let reconstruction = args.value("--reconstruction").map(|file| absolute(Path::new(&file)));
            let threshold = match args.value("--reconstruction-threshold") {
                Some(value) => {
                    let t: f32 =
                        value.parse().with_context(|| format!("--reconstruction-threshold {value}: not a number"))?;
                    anyhow::ensure!(
                        (0.0..=1.0).contains(&t),
                        "--reconstruction-threshold {value}: a missing fraction, 0 to 1"
                    );
                    anyhow::ensure!(reconstruction.is_some(), "--reconstruction-threshold needs --reconstruction FILE");
                    Some(t)
                }
                None => None,
            };
            let text_encoder = args.value("--text-encoder").map(|dir| absolute(Path::new(&dir)));
            args.finish()?;
            let validation = validation.filter(|p| {
                let found = p.is_file();
                if !found {
                    eprintln!("xtask: {} not found: the bundle carries no validation figures", p.display());
                }
                found
            });
            let reconstruction = reconstruction.map(|file| (file, threshold));
            write_bundle(&BundleOptions {
                model_dir: dir,
                out,
                validation,
                precisions,
                version,
                reconstruction,
                text_encoder,
            })
        }
        "engine" => engine::run(args),
        "pipeline" => pipeline(args),
        other => bail!("unknown pipeline command {other}"),
    }
}

/// A tiny argument scanner: xtask takes a handful of options and passes the rest on to Python.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn new(args: &[String]) -> Self {
        Args { rest: args.to_vec() }
    }

    fn value(&mut self, name: &str) -> Option<String> {
        let i = self.rest.iter().position(|a| a == name)?;
        if i + 1 >= self.rest.len() {
            return None;
        }
        let value = self.rest.remove(i + 1);
        self.rest.remove(i);
        Some(value)
    }

    fn path(&mut self, name: &str, default: &str) -> PathBuf {
        let value = self.value(name).unwrap_or_else(|| default.to_string());
        absolute(Path::new(&value))
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    fn finish(self) -> Result<()> {
        if let Some(extra) = self.rest.first() {
            bail!("unexpected argument {extra:?}");
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        project_root().join(path)
    }
}

/// `--version N`: the bundle's version, 0 when not given.
fn parse_version(value: Option<String>) -> Result<u64> {
    value.map_or(Ok(0), |v| v.parse().with_context(|| format!("--version {v}: not a whole number")))
}

fn parse_precisions(list: &str) -> Result<Vec<Precision>> {
    list.split(',').filter(|p| !p.is_empty()).map(bundle::precision).collect()
}

fn write_bundle(options: &BundleOptions) -> Result<()> {
    let bytes = bundle::write_bundle(options)?;
    eprintln!("xtask: wrote {} ({} bytes)", options.out.display(), bytes.len());
    print!("{}", bundle::describe(&bytes)?);
    Ok(())
}

/// Builds the device binary (dev profile: its dependencies, tract included, are optimized there) and returns it.
fn skelact_binary() -> Result<PathBuf> {
    crate::run(cargo().args(["build", "--package", "skelact", "--bin", "skelact"]))?;
    let target = crate::target_dir();
    let binary = target.join("debug").join("skelact");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// Validates every variant. With `rust`, a bundle of every precision is written first and the Rust runtime
/// (`skelact validate`) runs it, so the device path validated is the bundle's own bytes.
fn validate(dir: &Path, rust: bool, extra: &[String]) -> Result<()> {
    let mut args: Vec<String> = vec!["validate".into(), "--model".into(), dir.display().to_string()];
    if rust {
        let candidate = dir.join("candidate.skb");
        let options = BundleOptions {
            model_dir: dir.to_path_buf(),
            out: candidate.clone(),
            validation: None,
            precisions: vec![Precision::Fp32, Precision::Fp16, Precision::Int8],
            version: 0,
            reconstruction: None,
            text_encoder: None,
        };
        bundle::write_bundle(&options)?;
        let binary = skelact_binary()?;
        args.extend([
            "--skelact".into(),
            binary.display().to_string(),
            "--bundle".into(),
            candidate.display().to_string(),
        ]);
    }
    args.extend(extra.iter().cloned());
    python::models_cli(&args)
}

/// A model the pipeline knows: where its checkpoint is, how to retrain it, and where its bundle goes.
pub(crate) struct PipelineModel {
    name: &'static str,
    /// The trained checkpoint, relative to the repository.
    pub(crate) checkpoint: &'static str,
    /// `skelact_models` arguments that retrain it into the checkpoint's folder.
    train: &'static [&'static str],
    /// How long retraining takes on 2 idle cores, for the progress line.
    train_time: &'static str,
    /// Extra export arguments.
    export: &'static [&'static str],
    /// The bundle's file name under `models/zoo/`; its validation report is written beside it.
    bundle: &'static str,
    /// A reconstruction model (REC) the bundle carries, and the missing fraction above which the device runs it.
    pub(crate) reconstruction: Option<(&'static str, f32)>,
    /// A text-aligned model: besides the committed bundle in `models/zoo/`, [`text_bundles`] writes the same bundle
    /// with the text encoder (90 MB, built not committed) into `models/build/`, for labels typed on the device.
    text_encoder: bool,
    /// TDSM's scorer (ONNX, committed) that [`text_bundles`] adds beside the text encoder, to rank typed labels.
    denoiser: Option<&'static str>,
}

/// The missing fraction above which `default-rec.skb` runs REC (chosen in docs/models.md, "REC").
const REC_THRESHOLD: f32 = 0.05;

/// The shipped default: HCN trained on UTD-MHAD (real Kinect v1, cross-subject), 128-frame windows so that each of
/// UTD-MHAD's actions (41-125 frames) fits one window.
const DEFAULT_MODEL: PipelineModel = PipelineModel {
    name: "default",
    checkpoint: "models/zoo/default/hcn.pt",
    train: &["train", "real-hcn", "--dataset", "utd-mhad", "--align", "--epochs", "120", "--out", "models/zoo/default"],
    train_time: "about 15 minutes",
    // The unknown threshold accepts 90% of an unseen training subject's known actions in the open-set
    // measurement (models/tools/real_open_set_hcn.py, docs/models.md); the exit threshold may not be below it.
    export: &["--raw-frames", "128", "--decision", "unknown_threshold=0.507", "--decision", "exit_threshold=0.507"],
    bundle: "default.skb",
    reconstruction: None,
    text_encoder: false,
    denoiser: None,
};

/// The models `cargo xtask pipeline NAME` builds. Settings are the ones docs/models.md reports.
const PIPELINE_MODELS: &[PipelineModel] = &[
    DEFAULT_MODEL,
    // The default with the DCMAE reconstruction model (REC, docs/models.md): for sensors that lose joints.
    PipelineModel {
        name: "default-rec",
        bundle: "default-rec.skb",
        reconstruction: Some(("models/zoo/rec/rec.onnx", REC_THRESHOLD)),
        ..DEFAULT_MODEL
    },
    // HCN trained on NW-UCLA (cross-view), for the ten daily actions of that benchmark; 208-frame windows hold
    // its longest sequence (201 frames).
    PipelineModel {
        name: "nw-ucla",
        checkpoint: "models/zoo/hcn-nw-ucla-aligned/hcn.pt",
        train: &["train", "real-hcn", "--dataset", "nw-ucla", "--align", "--yaw", "30", "--epochs", "120"],
        train_time: "about 40 minutes",
        export: &["--raw-frames", "208"],
        bundle: "nw-ucla.skb",
        reconstruction: None,
        text_encoder: false,
        denoiser: None,
    },
    // HCN in the text encoder's space, five UTD-MHAD actions held out of all training (docs/models.md, "Labels typed
    // as words"): labels typed on the device become rows of its linear head. 128-frame windows as the default.
    PipelineModel {
        name: "text-aligned",
        checkpoint: "models/zoo/text-aligned-hcn/hcn_text.pt",
        train: &["train", "text-aligned-hcn"],
        train_time: "about 25 minutes",
        export: &["--raw-frames", "128", "--name", "hcn-text-aligned-utd-mhad-22"],
        bundle: "text-aligned.skb",
        reconstruction: None,
        text_encoder: true,
        // Trained on the seen classes' embeddings of this model (`python -m skelact_models.tdsm --device`).
        denoiser: Some("models/zoo/text-aligned-hcn/tdsm.onnx"),
    },
    // The small STARS transformer trained on the synthetic corpus only (the default before real data).
    PipelineModel {
        name: "stars-synthetic",
        checkpoint: "models/zoo/stars-synthetic/stars_small.pt",
        train: &["train", "stars-synthetic"],
        train_time: "about 20 minutes",
        export: &[],
        bundle: "stars-synthetic.skb",
        reconstruction: None,
        text_encoder: false,
        denoiser: None,
    },
];

/// The pipeline model whose bundle is `models/zoo/{bundle}`.
#[cfg(test)]
pub(crate) fn pipeline_model(bundle: &str) -> Option<&'static PipelineModel> {
    PIPELINE_MODELS.iter().find(|m| m.bundle == bundle)
}

pub(crate) fn pipeline_usage() -> String {
    let names: Vec<&str> = PIPELINE_MODELS.iter().map(|m| m.name).collect();
    format!(
        "usage: cargo xtask pipeline {} [--retrain] [--calibration N] [--method minmax|entropy|percentile] [--count N] [--version N]",
        names.join("|")
    )
}

/// `cargo xtask pipeline NAME [--retrain] [options]`: every step for one of `PIPELINE_MODELS`, ending with its
/// bundle and validation report in `models/zoo/`.
fn pipeline(args: &[String]) -> Result<()> {
    let mut args = Args::new(args);
    let retrain = args.flag("--retrain");
    let calibration = args.value("--calibration");
    let method = args.value("--method");
    let count = args.value("--count");
    let version = parse_version(args.value("--version"))?;
    let Some(name) = args.rest.first().cloned() else { bail!(pipeline_usage()) };
    let Some(model) = PIPELINE_MODELS.iter().find(|m| m.name == name) else { bail!(pipeline_usage()) };
    args.rest.remove(0);
    args.finish()?;
    let root = project_root();
    let dir = root.join("models/build").join(model.name);
    let zoo = root.join(ZOO);
    let checkpoint = root.join(model.checkpoint);
    let steps = 6;
    let step = |i: usize, what: &str| eprintln!("\nxtask pipeline [{i}/{steps}] {what}");

    if retrain {
        step(1, &format!("train {} ({} on 2 idle cores)", model.name, model.train_time));
        python::models_cli(&model.train.iter().map(|a| a.to_string()).collect::<Vec<_>>())?;
    } else {
        step(1, &format!("reuse {} (--retrain to train)", model.checkpoint));
    }
    step(2, "export");
    let mut export: Vec<String> =
        vec!["export".into(), "--checkpoint".into(), checkpoint.display().to_string(), "--out".into()];
    export.push(dir.display().to_string());
    export.extend(model.export.iter().map(|a| a.to_string()));
    python::models_cli(&export)?;
    step(3, "quantize");
    let mut quantize = vec!["quantize".to_string(), "--model".into(), dir.display().to_string()];
    if let Some(n) = calibration {
        quantize.extend(["--calibration".into(), n]);
    }
    if let Some(m) = method {
        quantize.extend(["--method".into(), m]);
    }
    python::models_cli(&quantize)?;
    step(4, "validate (PyTorch, onnxruntime, Rust runtime with tract)");
    let mut extra = Vec::new();
    if let Some(n) = count {
        extra.extend(["--count".into(), n]);
    }
    let validated = validate(&dir, true, &extra);
    step(5, "self-test windows (onnxruntime FP32 outputs on training-split windows)");
    python::models_cli(&["selftest".to_string(), "--model".into(), dir.display().to_string()])?;
    step(6, "bundle (the precisions whose every variant passed its gates)");
    let report = dir.join("validation.json");
    let (precisions, failed) = passing_precisions(&report)?;
    if !precisions.contains(&Precision::Fp32) {
        validated?;
        bail!("the FP32 variants failed validation: no bundle is written (see {})", report.display());
    }
    let out = zoo.join(model.bundle);
    write_bundle(&BundleOptions {
        model_dir: dir.clone(),
        out,
        validation: Some(report),
        precisions,
        version,
        reconstruction: model.reconstruction.map(|(onnx, threshold)| (root.join(onnx), Some(threshold))),
        text_encoder: None,
    })?;
    let stem = model.bundle.trim_end_matches(".skb");
    for ext in ["md", "json", "png"] {
        let from = dir.join(format!("validation.{ext}"));
        let to = zoo.join(format!("{stem}.validation.{ext}"));
        fs::copy(&from, &to).with_context(|| format!("could not copy {} to {}", from.display(), to.display()))?;
    }
    eprintln!(
        "xtask pipeline: models/zoo/{} and models/zoo/{stem}.validation.{{md,json,png}} are up to date",
        model.bundle
    );
    if model.text_encoder {
        text_bundles(&[])?;
    }
    if !failed.is_empty() {
        bail!(
            "{} failed validation gates and {} left out of the bundle (figures in models/zoo/{stem}.validation.md)",
            failed.join(", "),
            if failed.len() == 1 { "was" } else { "were" }
        );
    }
    Ok(())
}

/// Where [`text_bundles`] writes the text-aligned bundles with their text encoder.
const TEXT_BUNDLE_DIR: &str = "models/build";

/// `cargo xtask text-encoder [--force]`: exports the text encoder ([`python::text_encoder`]), then writes each
/// text-aligned pipeline model's committed bundle with it (and its TDSM scorer, if any) into [`TEXT_BUNDLE_DIR`]
/// under the same name: the bundle to flash for labels typed on the device. The text encoder is 90 MB, so these bundles are built, not committed.
pub(crate) fn text_bundles(args: &[String]) -> Result<()> {
    python::text_encoder(args)?;
    let root = project_root();
    for model in PIPELINE_MODELS.iter().filter(|m| m.text_encoder) {
        let from = root.join(ZOO).join(model.bundle);
        let bytes = fs::read(&from).with_context(|| format!("could not read {}", from.display()))?;
        let mut with_text = bundle::add_text_encoder(&bytes, &root.join(python::TEXT_ENCODER_DIR))?;
        if let Some(denoiser) = model.denoiser {
            with_text = bundle::add_denoiser(&with_text, &root.join(denoiser))?;
        }
        let out = root.join(TEXT_BUNDLE_DIR).join(model.bundle);
        fs::write(&out, &with_text).with_context(|| format!("could not write {}", out.display()))?;
        eprintln!("xtask: {} with the text encoder: {} ({} bytes)", model.bundle, out.display(), with_text.len());
    }
    Ok(())
}

/// Precisions to ship: those whose every validated variant passed its gates (FP16 and INT8 also need to have
/// been validated at all). Returns them and the names of the precisions that failed.
fn passing_precisions(report: &Path) -> Result<(Vec<Precision>, Vec<String>)> {
    let text =
        fs::read_to_string(report).with_context(|| format!("validation wrote no report at {}", report.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let variants = json["variants"].as_array().context("the report has no variants")?;
    let (mut passing, mut failed) = (Vec::new(), Vec::new());
    for (name, precision) in [("fp32", Precision::Fp32), ("fp16", Precision::Fp16), ("int8", Precision::Int8)] {
        let of: Vec<&serde_json::Value> = variants.iter().filter(|v| v["precision"] == name).collect();
        if of.is_empty() {
            continue;
        }
        if of.iter().all(|v| v["passed"] == true) {
            passing.push(precision);
        } else {
            failed.push(name.to_uppercase());
        }
    }
    Ok((passing, failed))
}
