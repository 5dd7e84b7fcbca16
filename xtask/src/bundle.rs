//! `cargo xtask bundle`: a model directory (`model.json` and the files it names) becomes one `.skb` bundle.
//!
//! The Python steps (export, quantize, validate, engine) each add their part to `model.json`; this step maps it
//! field for field onto the runtime's [`Manifest`] and writes the bundle with the runtime's [`BundleWriter`], which
//! refuses anything the device's reader would refuse. The layout is normative in `docs/bundle.md`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use skelact_runtime::bundle::{
    with_version, Bundle, BundleWriter, ComputeCapability, DecisionParams, EncoderFamily, HeadSpec, Label, Manifest,
    Precision, PreprocessParams, SectionKind, SelfTest, StreamKind, StreamModel, TensorRtEngine, TensorRtVersion,
    TensorSpec, ValidationSummary, VariantFigures, WindowParams, MAX_VARIANTS,
};
use skelact_runtime::wire::LayoutId;

/// `model.json`, as far as the bundle needs it (the steps' own records are ignored here).
#[derive(Debug, Deserialize)]
pub struct ModelDescription {
    pub format: String,
    pub version: u32,
    pub model_name: String,
    pub encoder: String,
    pub layout: String,
    pub bodies: u8,
    pub checkpoint_sha256: String,
    pub preprocess: PreprocessParams,
    pub window: WindowParams,
    pub decision: DecisionParams,
    pub input: TensorDescription,
    pub output: TensorDescription,
    pub head: HeadDescription,
    pub labels: Vec<LabelDescription>,
    pub streams: Vec<StreamDescription>,
    #[serde(default)]
    pub engines: Vec<EngineDescription>,
}

#[derive(Debug, Deserialize)]
pub struct TensorDescription {
    pub name: String,
    pub shape: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HeadDescription {
    Logits,
    Linear { dim: u32, weights: Vec<Vec<f32>>, bias: Option<Vec<f32>> },
}

#[derive(Debug, Deserialize)]
pub struct LabelDescription {
    pub name: String,
    pub action_id: u16,
}

#[derive(Debug, Deserialize)]
pub struct StreamDescription {
    pub stream: String,
    pub weight: f32,
    pub onnx: OnnxFiles,
}

#[derive(Debug, Default, Deserialize)]
pub struct OnnxFiles {
    pub fp32: Option<String>,
    pub fp16: Option<String>,
    pub int8: Option<String>,
}

/// A TensorRT engine added by `cargo xtask engine`.
#[derive(Debug, Deserialize)]
pub struct EngineDescription {
    pub stream: String,
    pub precision: String,
    pub file: String,
    /// `major.minor.patch.build`, e.g. `10.3.0.0`.
    pub tensorrt: String,
    /// `major.minor`, e.g. `8.7`.
    pub compute_capability: String,
}

/// The part of a validation report (`validation.json`) the bundle carries.
#[derive(Debug, Deserialize)]
struct ValidationReport {
    variants: Vec<ValidatedVariant>,
}

#[derive(Debug, Deserialize)]
struct ValidatedVariant {
    variant: String,
    top1_agreement: f32,
    cosine_min: f32,
    cosine_mean: f32,
    accuracy: f32,
    #[serde(default)]
    passed: Option<bool>,
}

/// What to bundle.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    pub model_dir: PathBuf,
    pub out: PathBuf,
    /// The full validation report; without it the bundle says it was not validated (zero hash, no figures).
    pub validation: Option<PathBuf>,
    /// Precisions to include (FP32 is always included when the model has it).
    pub precisions: Vec<Precision>,
    /// The bundle's version (anti-rollback on the device: it must rise from one shipped bundle to the next).
    pub version: u64,
    /// A reconstruction model (REC) to carry: its FP32 ONNX file, and the missing fraction above which the device
    /// runs it by default ([`DEFAULT_RECONSTRUCTION_THRESHOLD`] when not given).
    pub reconstruction: Option<(PathBuf, Option<f32>)>,
    /// A text encoder to carry: the folder holding its `text.onnx` and `tokenizer.json` (`cargo xtask
    /// text-encoder` writes `models/build/text`).
    pub text_encoder: Option<PathBuf>,
}

/// The default REC threshold a bundle records when `--reconstruction-threshold` is not given.
pub const DEFAULT_RECONSTRUCTION_THRESHOLD: f32 = skelact_runtime::reconstruct::DEFAULT_THRESHOLD;

/// Self-test windows written by the self-test step (`python -m skelact_models selftest`) into the model directory.
#[derive(Debug, Deserialize)]
struct SelfTestFile {
    windows: u32,
    min_cosine: f32,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
}

/// The `SelfTest` payload from `selftest.json` in `dir`, if the self-test step has run.
fn self_test_payload(dir: &Path) -> Result<Option<Vec<u8>>> {
    let path = dir.join("selftest.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
    let file: SelfTestFile =
        serde_json::from_slice(&text).with_context(|| format!("{} is malformed", path.display()))?;
    ensure!(
        file.inputs.len() == file.windows as usize && file.outputs.len() == file.windows as usize,
        "{} lists {} windows but has {} inputs and {} outputs",
        path.display(),
        file.windows,
        file.inputs.len(),
        file.outputs.len()
    );
    let inputs: Vec<f32> = file.inputs.concat();
    let outputs: Vec<f32> = file.outputs.concat();
    Ok(Some(SelfTest::encode(file.windows, &inputs, &outputs, file.min_cosine)))
}

pub fn read_description(model_dir: &Path) -> Result<ModelDescription> {
    let path = model_dir.join("model.json");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("could not read {}: run `cargo xtask export` first", path.display()))?;
    let description: ModelDescription =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid model description", path.display()))?;
    ensure!(
        description.format == "skelact-model" && description.version == 1,
        "{} is a {} v{} description, this xtask reads skelact-model v1",
        path.display(),
        description.format,
        description.version
    );
    Ok(description)
}

/// Writes the bundle and returns its bytes (already checked by the runtime's reader).
pub fn write_bundle(options: &BundleOptions) -> Result<Vec<u8>> {
    let description = read_description(&options.model_dir)?;
    let report_bytes = match &options.validation {
        Some(path) => Some(fs::read(path).with_context(|| format!("could not read {}", path.display()))?),
        None => None,
    };
    let bytes = build(&description, &options.model_dir, report_bytes.as_deref(), &options.precisions)?;
    let bytes = with_version(&bytes, options.version).map_err(|e| anyhow::anyhow!("cannot set the version: {e}"))?;
    let bytes = match &options.reconstruction {
        Some((file, threshold)) => add_reconstruction(&bytes, file, *threshold)?,
        None => bytes,
    };
    let bytes = match &options.text_encoder {
        Some(dir) => add_text_encoder(&bytes, dir)?,
        None => bytes,
    };
    if let Some(parent) = options.out.parent() {
        fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    fs::write(&options.out, &bytes).with_context(|| format!("could not write {}", options.out.display()))?;
    Ok(bytes)
}

/// The bundle with the reconstruction model in `file` (FP32 ONNX with inputs `joint` and `missing` for the
/// encoder's T), run by default above `threshold`.
pub fn add_reconstruction(bytes: &[u8], file: &Path, threshold: Option<f32>) -> Result<Vec<u8>> {
    let onnx = fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    ensure!(!onnx.is_empty(), "{} is empty", file.display());
    let threshold = threshold.unwrap_or(DEFAULT_RECONSTRUCTION_THRESHOLD);
    skelact_runtime::bundle::with_reconstruction(bytes, &onnx, threshold)
        .map_err(|e| anyhow::anyhow!("the bundle with {} would be refused: {e}", file.display()))
}

/// The bundle with the text encoder of `dir` (`text.onnx` and `tokenizer.json`), after loading it as the device
/// does (tokenizer and tract) to read its token length and embedding size and to refuse one it could not run.
pub fn add_text_encoder(bytes: &[u8], dir: &Path) -> Result<Vec<u8>> {
    let read =
        |name: &str| fs::read(dir.join(name)).with_context(|| format!("could not read {}", dir.join(name).display()));
    let (onnx, tokenizer) = (read("text.onnx")?, read("tokenizer.json")?);
    let encoder = skelact_text::TextEncoder::load(&onnx, &tokenizer)
        .with_context(|| format!("{} is not a text encoder the device can run", dir.display()))?;
    let (max_tokens, dim) = (u32::try_from(encoder.max_tokens())?, u32::try_from(encoder.dim())?);
    skelact_runtime::bundle::with_text_encoder(bytes, &onnx, &tokenizer, max_tokens, dim)
        .map_err(|e| anyhow::anyhow!("the bundle with the text encoder of {} would be refused: {e}", dir.display()))
}

/// The bundle with TDSM's scorer `onnx_path` (`tdsm.WindowScorer` exported), after planning it on tract as the
/// device does for one candidate (the candidate's features are zeros: only the shapes are checked).
pub fn add_denoiser(bytes: &[u8], onnx_path: &Path) -> Result<Vec<u8>> {
    let onnx = fs::read(onnx_path).with_context(|| format!("could not read {}", onnx_path.display()))?;
    let bundle = skelact_runtime::bundle::Bundle::parse(bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = bundle.text_encoder_spec().context("a TDSM scorer needs the bundle's text encoder first")?;
    let (dim, tokens) = (text.dim as usize, text.max_tokens as usize);
    let candidate = skelact_text::TextEmbedding {
        sentence: vec![0.0; dim],
        tokens: vec![0.0; tokens * dim],
        input: skelact_text::Tokens { ids: Vec::new(), attention_mask: Vec::new(), truncated: false },
    };
    let feature = bundle.manifest().output_len() as usize;
    let scorer = skelact_text::TdsmScorer::load(&onnx, feature, &[candidate])
        .with_context(|| format!("{} is not a TDSM scorer the device can run", onnx_path.display()))?;
    scorer.score(&vec![0.0; feature], &mut [0.0]).with_context(|| format!("{} does not run", onnx_path.display()))?;
    skelact_runtime::bundle::with_denoiser(bytes, &onnx)
        .map_err(|e| anyhow::anyhow!("the bundle with the TDSM scorer {} would be refused: {e}", onnx_path.display()))
}

/// Builds the bundle bytes from a description, the files it names (relative to `dir`) and the validation
/// report's bytes.
pub fn build(
    description: &ModelDescription,
    dir: &Path,
    report: Option<&[u8]>,
    precisions: &[Precision],
) -> Result<Vec<u8>> {
    let d = description;
    let mut writer = BundleWriter::new();

    let mut streams = heapless::Vec::new();
    for s in &d.streams {
        let stream = stream_kind(&s.stream)?;
        let mut model = StreamModel { stream, weight: s.weight, onnx_fp32: None, onnx_fp16: None, onnx_int8: None };
        for (precision, file) in
            [(Precision::Fp32, &s.onnx.fp32), (Precision::Fp16, &s.onnx.fp16), (Precision::Int8, &s.onnx.int8)]
        {
            let Some(file) = file else { continue };
            if precision != Precision::Fp32 && !precisions.contains(&precision) {
                continue;
            }
            let payload = read_payload(dir, file)?;
            let index = writer.add(SectionKind::onnx(precision), &payload)?;
            match precision {
                Precision::Fp32 => model.onnx_fp32 = Some(index),
                Precision::Fp16 => model.onnx_fp16 = Some(index),
                Precision::Int8 => model.onnx_int8 = Some(index),
            }
        }
        streams.push(model).map_err(|_| anyhow::anyhow!("more than 3 streams"))?;
    }

    let mut tensorrt = heapless::Vec::new();
    for e in &d.engines {
        let payload = read_payload(dir, &e.file)?;
        let section = writer.add(SectionKind::TensorRtEngine, &payload)?;
        let engine = TensorRtEngine {
            stream: stream_kind(&e.stream)?,
            precision: precision(&e.precision)?,
            section,
            tensorrt: tensorrt_version(&e.tensorrt)?,
            compute_capability: compute_capability(&e.compute_capability)?,
        };
        tensorrt.push(engine).map_err(|_| anyhow::anyhow!("more than 12 TensorRT engines"))?;
    }

    let head = match &d.head {
        HeadDescription::Logits => HeadSpec::Logits,
        HeadDescription::Linear { dim, weights, bias } => {
            ensure!(
                weights.len() == d.labels.len(),
                "the linear head has {} rows for {} labels",
                weights.len(),
                d.labels.len()
            );
            ensure!(
                weights.iter().all(|row| row.len() == *dim as usize),
                "a linear head row does not have dim = {dim} values"
            );
            let flat: Vec<f32> = weights.iter().flatten().copied().collect();
            if let Some(bias) = bias {
                ensure!(
                    bias.len() == d.labels.len(),
                    "the linear head has {} biases for {} labels",
                    bias.len(),
                    d.labels.len()
                );
            }
            let section = writer.add_linear_head(&flat, bias.as_deref())?;
            HeadSpec::Linear { section, dim: *dim, bias: bias.is_some() }
        }
    };

    let (report_sha256, summary_json, variants_src) = match report {
        Some(bytes) => {
            let parsed: ValidationReport = serde_json::from_slice(bytes)
                .context("the validation report is not valid JSON of the expected form")?;
            let summary = summary_json(&parsed);
            (sha256(bytes), Some(summary), parsed.variants)
        }
        None => ([0; 32], None, Vec::new()),
    };
    if let Some(payload) = self_test_payload(dir)? {
        writer.add(SectionKind::SelfTest, &payload)?;
    }
    let summary_section = match &summary_json {
        Some(text) => Some(writer.add(SectionKind::ValidationSummary, text.as_bytes())?),
        None => None,
    };
    let mut variants = heapless::Vec::new();
    for v in variants_src.iter().take(MAX_VARIANTS) {
        let figures = VariantFigures {
            variant: &v.variant,
            top1_agreement: v.top1_agreement,
            cosine_min: v.cosine_min,
            cosine_mean: v.cosine_mean,
            accuracy: v.accuracy,
        };
        variants.push(figures).map_err(|_| anyhow::anyhow!("too many variants"))?;
    }

    let mut labels = heapless::Vec::new();
    for l in &d.labels {
        labels
            .push(Label { name: &l.name, action_id: l.action_id })
            .map_err(|_| anyhow::anyhow!("more than {} labels", skelact_runtime::bundle::MAX_LABELS))?;
    }

    let manifest = Manifest {
        model_name: &d.model_name,
        encoder: encoder_family(&d.encoder)?,
        layout: layout(&d.layout)?,
        bodies: d.bodies,
        preprocess: d.preprocess,
        window: d.window,
        streams,
        input: tensor_spec(&d.input)?,
        output: tensor_spec(&d.output)?,
        head,
        labels,
        decision: d.decision,
        tensorrt,
        checkpoint_sha256: hex32(&d.checkpoint_sha256).context("checkpoint_sha256")?,
        validation: ValidationSummary { report_sha256, section: summary_section, variants },
    };
    let bytes = writer.finish(&manifest).map_err(|e| anyhow::anyhow!("the bundle would be refused: {e}"))?;
    // The writer checked the container; the device also checks the layout it expects.
    Bundle::open(&bytes, LayoutId::KinectV2).map_err(|e| anyhow::anyhow!("the bundle would be refused: {e}"))?;
    Ok(bytes)
}

/// The summary shipped inside the bundle: the figures per variant and whether each passed its gates.
fn summary_json(report: &ValidationReport) -> String {
    let variants: Vec<serde_json::Value> = report
        .variants
        .iter()
        .map(|v| {
            serde_json::json!({
                "variant": v.variant, "top1_agreement": v.top1_agreement, "cosine_min": v.cosine_min,
                "cosine_mean": v.cosine_mean, "accuracy": v.accuracy, "passed": v.passed,
            })
        })
        .collect();
    serde_json::json!({ "variants": variants }).to_string()
}

fn read_payload(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    let bytes = fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
    ensure!(!bytes.is_empty(), "{} is empty", path.display());
    Ok(bytes)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex32(text: &str) -> Result<[u8; 32]> {
    ensure!(text.len() == 64 && text.is_ascii(), "expected 64 hex digits, got {text:?}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).with_context(|| format!("not hex: {text:?}"))?;
    }
    Ok(out)
}

fn tensor_spec(t: &TensorDescription) -> Result<TensorSpec<'_>> {
    let shape =
        heapless::Vec::from_slice(&t.shape).map_err(|_| anyhow::anyhow!("tensor {} has rank above 6", t.name))?;
    Ok(TensorSpec { name: &t.name, shape })
}

pub fn stream_kind(name: &str) -> Result<StreamKind> {
    Ok(match name {
        "joint" => StreamKind::Joint,
        "bone" => StreamKind::Bone,
        "motion" => StreamKind::Motion,
        other => bail!("unknown stream {other:?} (joint, bone or motion)"),
    })
}

pub fn precision(name: &str) -> Result<Precision> {
    Ok(match name {
        "fp32" => Precision::Fp32,
        "fp16" => Precision::Fp16,
        "int8" => Precision::Int8,
        other => bail!("unknown precision {other:?} (fp32, fp16 or int8)"),
    })
}

fn encoder_family(name: &str) -> Result<EncoderFamily> {
    Ok(match name {
        "StarsTransformer" => EncoderFamily::StarsTransformer,
        "DualBranchGcn" => EncoderFamily::DualBranchGcn,
        "Hcn" => EncoderFamily::Hcn,
        "Tdsm" => EncoderFamily::Tdsm,
        "Dcmae" => EncoderFamily::Dcmae,
        "Other" => EncoderFamily::Other,
        other => bail!("unknown encoder family {other:?}"),
    })
}

fn layout(name: &str) -> Result<LayoutId> {
    Ok(match name {
        "KinectV2" => LayoutId::KinectV2,
        "AzureKinect32" => LayoutId::AzureKinect32,
        "ZedBody34" => LayoutId::ZedBody34,
        "ZedBody38" => LayoutId::ZedBody38,
        "MediaPipe33" => LayoutId::MediaPipe33,
        "XsensMvn23" => LayoutId::XsensMvn23,
        other => bail!("unknown joint layout {other:?}"),
    })
}

fn numbers<const N: usize>(text: &str, what: &str) -> Result<[u16; N]> {
    let parts: Vec<&str> = text.split('.').collect();
    ensure!(parts.len() == N, "{what} {text:?} should have {N} dot-separated numbers");
    let mut out = [0u16; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = p.parse().with_context(|| format!("{what} {text:?}: {p:?} is not a number"))?;
    }
    Ok(out)
}

fn tensorrt_version(text: &str) -> Result<TensorRtVersion> {
    let [major, minor, patch, build] = numbers::<4>(text, "TensorRT version")?;
    Ok(TensorRtVersion { major, minor, patch, build })
}

fn compute_capability(text: &str) -> Result<ComputeCapability> {
    let [major, minor] = numbers::<2>(text, "compute capability")?;
    let narrow = |v: u16| u8::try_from(v).map_err(|_| anyhow::anyhow!("compute capability {text:?} out of range"));
    Ok(ComputeCapability { major: narrow(major)?, minor: narrow(minor)? })
}

/// One line per section and the manifest's main fields, for the command's output.
pub fn describe(bytes: &[u8]) -> Result<String> {
    let bundle = Bundle::parse(bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let m = bundle.manifest();
    let mut out = format!(
        "{} ({:?}), T = {}, {} labels, head {:?}, {} bytes, SHA-256 {}\n",
        m.model_name,
        m.encoder,
        m.preprocess.frames_out,
        m.labels.len(),
        head_name(&m.head),
        bytes.len(),
        hex(&bundle.checksum())
    );
    for section in bundle.sections() {
        out.push_str(&format!(
            "  section {:>2}: {:?}, {} bytes\n",
            section.index,
            section.kind(),
            section.payload.len()
        ));
    }
    match bundle.reconstruction() {
        Some(r) => out.push_str(&format!(
            "  reconstruction (REC): section {}, T = {}, default threshold {} (missing fraction)\n",
            r.section, r.frames, r.threshold
        )),
        None => out.push_str("  reconstruction (REC): none\n"),
    }
    match bundle.text_encoder_spec() {
        Some(t) => out.push_str(&format!(
            "  text encoder: section {}, tokenizer section {}, {} tokens, {}-d embeddings\n",
            t.encoder_section, t.tokenizer_section, t.max_tokens, t.dim
        )),
        None => out.push_str("  text encoder: none\n"),
    }
    match bundle.denoiser_spec() {
        Some(d) => out.push_str(&format!("  TDSM scorer: section {}, {}-d embeddings\n", d.section, d.feature)),
        None => out.push_str("  TDSM scorer: none\n"),
    }
    for v in &m.validation.variants {
        out.push_str(&format!(
            "  validated {}: top-1 agreement {:.4}, cosine min {:.6}, accuracy {:.4}\n",
            v.variant, v.top1_agreement, v.cosine_min, v.accuracy
        ));
    }
    Ok(out)
}

fn head_name(head: &HeadSpec) -> &'static str {
    match head {
        HeadSpec::Logits => "logits",
        HeadSpec::Linear { .. } => "linear",
        HeadSpec::Prototype { .. } => "prototype",
        HeadSpec::Text { .. } => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skelact_runtime::bundle::{BundleError, FORMAT_MAJOR};

    /// A small model directory: ONNX payloads stand in for models (the container does not look inside them).
    fn model_dir(head_rows: usize, layout: &str) -> (tempfile::TempDir, ModelDescription) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("joint.fp32.onnx"), b"fp32 model").unwrap();
        fs::write(dir.path().join("joint.int8.onnx"), b"int8 model").unwrap();
        let weights: Vec<Vec<f32>> =
            (0..head_rows).map(|r| (0..4).map(|c| (r * 4 + c) as f32 * 0.25).collect()).collect();
        let json = serde_json::json!({
            "format": "skelact-model", "version": 1, "model_name": "tiny", "encoder": "StarsTransformer",
            "layout": layout, "bodies": 2, "checkpoint_sha256": "ab".repeat(32),
            "preprocess": {"frames_out": 16, "crop_ratio": 0.95, "align": false},
            "window": {"raw_frames": 64, "stride_frames": 8, "min_frames": 32, "max_gap_frames": 10,
                       "timeout_us": 1_000_000, "partner_max_distance_m": 1.5, "min_confidence": 1},
            "decision": {"smoothing_windows": 3, "enter_threshold": 0.6, "exit_threshold": 0.4, "switch_margin": 0.1,
                         "min_duration_us": 300_000, "cooldown_us": 500_000, "unknown_threshold": 0.35,
                         "emit_unknown": false},
            "input": {"name": "window", "shape": [1, 3, 16, 25, 2]},
            "output": {"name": "embedding", "shape": [1, 4]},
            "head": {"kind": "linear", "dim": 4, "weights": weights, "bias": [0.5, -0.5]},
            "labels": [{"name": "hand waving", "action_id": 23}, {"name": "clapping", "action_id": 10}],
            "streams": [{"stream": "joint", "weight": 1.0, "onnx": {"fp32": "joint.fp32.onnx", "int8": "joint.int8.onnx"}}],
        });
        fs::write(dir.path().join("model.json"), json.to_string()).unwrap();
        let description = read_description(dir.path()).unwrap();
        (dir, description)
    }

    const REPORT: &str = r#"{"variants": [
        {"variant": "pytorch-fp32", "top1_agreement": 1.0, "cosine_min": 1.0, "cosine_mean": 1.0, "accuracy": 0.9, "passed": true},
        {"variant": "tract-int8", "top1_agreement": 0.995, "cosine_min": 0.9999, "cosine_mean": 0.99999, "accuracy": 0.895, "passed": true}]}"#;

    #[test]
    fn a_model_directory_becomes_a_bundle_the_device_opens() {
        let (dir, description) = model_dir(2, "KinectV2");
        let bytes =
            build(&description, dir.path(), Some(REPORT.as_bytes()), &[Precision::Fp32, Precision::Int8]).unwrap();
        let bundle = Bundle::open(&bytes, LayoutId::KinectV2).unwrap();
        let m = bundle.manifest();
        assert_eq!(m.model_name, "tiny");
        assert_eq!(m.action_ids().as_slice(), &[23, 10]);
        assert_eq!(bundle.onnx(StreamKind::Joint, Precision::Fp32), Some(&b"fp32 model"[..]));
        assert_eq!(bundle.onnx(StreamKind::Joint, Precision::Int8), Some(&b"int8 model"[..]));
        assert_eq!(m.head, HeadSpec::Linear { section: 3, dim: 4, bias: true });
        assert_eq!(m.checkpoint_sha256, [0xab; 32]);
        assert_eq!(m.validation.report_sha256, sha256(REPORT.as_bytes()));
        assert_eq!(m.validation.variants.len(), 2);
        assert_eq!(m.validation.variants[1].variant, "tract-int8");
        assert!(bundle.validation_summary().unwrap().contains("\"tract-int8\""));
        assert_eq!(m.frontend_config(64).unwrap().preprocess.frames_out, 16);
    }

    #[test]
    fn a_reconstruction_model_is_added_and_described() {
        let (dir, _) = model_dir(2, "KinectV2");
        fs::write(dir.path().join("rec.onnx"), b"rec model").unwrap();
        let out = dir.path().join("model.skb");
        let options = BundleOptions {
            model_dir: dir.path().to_path_buf(),
            out: out.clone(),
            validation: None,
            precisions: vec![Precision::Fp32],
            version: 3,
            reconstruction: Some((dir.path().join("rec.onnx"), Some(0.125))),
            text_encoder: None,
        };
        let bytes = write_bundle(&options).unwrap();
        let bundle = Bundle::open(&bytes, LayoutId::KinectV2).unwrap();
        assert_eq!(bundle.version(), 3);
        assert_eq!(bundle.reconstruction_onnx(), Some(&b"rec model"[..]));
        let spec = bundle.reconstruction().unwrap();
        assert_eq!((spec.frames, spec.threshold), (16, 0.125));
        let text = describe(&bytes).unwrap();
        assert!(text.contains("reconstruction (REC): section 3, T = 16, default threshold 0.125"), "{text}");
        assert!(text.contains("Some(Reconstruction)"), "{text}");
        // Without a threshold the default; without the model, none.
        let default = BundleOptions { reconstruction: Some((dir.path().join("rec.onnx"), None)), ..options.clone() };
        let bytes = write_bundle(&default).unwrap();
        assert_eq!(
            Bundle::parse(&bytes).unwrap().reconstruction().unwrap().threshold,
            DEFAULT_RECONSTRUCTION_THRESHOLD
        );
        let none = BundleOptions { reconstruction: None, ..options.clone() };
        let described = describe(&write_bundle(&none).unwrap()).unwrap();
        assert!(described.contains("reconstruction (REC): none") && described.contains("text encoder: none"));
        // A threshold that is no fraction, or a missing file, is refused with the reason.
        let bad = BundleOptions { reconstruction: Some((dir.path().join("rec.onnx"), Some(1.5))), ..options.clone() };
        let error = format!("{:#}", write_bundle(&bad).unwrap_err());
        assert!(error.contains("the reconstruction threshold must be in 0..=1"), "{error}");
        let absent = BundleOptions { reconstruction: Some((dir.path().join("nope.onnx"), None)), ..options };
        assert!(format!("{:#}", write_bundle(&absent).unwrap_err()).contains("nope.onnx"));
    }

    #[test]
    fn a_text_encoder_is_checked_added_and_described() {
        let built = crate::project_root().join(crate::python::TEXT_ENCODER_DIR);
        if !built.join("text.onnx").exists() {
            println!("SKIPPED: {} not built (run `cargo xtask text-encoder`)", built.display());
            return;
        }
        let (dir, _) = model_dir(2, "KinectV2");
        let options = BundleOptions {
            model_dir: dir.path().to_path_buf(),
            out: dir.path().join("model.skb"),
            validation: None,
            precisions: vec![Precision::Fp32],
            version: 1,
            reconstruction: None,
            text_encoder: Some(built.clone()),
        };
        let bytes = write_bundle(&options).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        let spec = bundle.text_encoder_spec().unwrap();
        assert_eq!((spec.max_tokens, spec.dim), (32, 384));
        let (onnx, tokenizer) = bundle.text_encoder().unwrap();
        assert_eq!(onnx, fs::read(built.join("text.onnx")).unwrap().as_slice());
        assert_eq!(tokenizer.as_bytes(), fs::read(built.join("tokenizer.json")).unwrap().as_slice());
        let text = describe(&bytes).unwrap();
        assert!(text.contains("text encoder: section 3, tokenizer section 4, 32 tokens, 384-d embeddings"), "{text}");
        // A folder whose model is no text encoder is refused before any bundle is written.
        let wrong = tempfile::tempdir().unwrap();
        fs::copy(built.join("tokenizer.json"), wrong.path().join("tokenizer.json")).unwrap();
        fs::write(wrong.path().join("text.onnx"), b"not a model").unwrap();
        let refused = BundleOptions { text_encoder: Some(wrong.path().to_path_buf()), ..options };
        let error = format!("{:#}", write_bundle(&refused).unwrap_err());
        assert!(error.contains("is not a text encoder the device can run"), "{error}");
    }

    #[test]
    fn precisions_not_asked_for_are_left_out() {
        let (dir, description) = model_dir(2, "KinectV2");
        let bytes = build(&description, dir.path(), None, &[Precision::Fp32]).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.onnx(StreamKind::Joint, Precision::Int8), None);
        assert_eq!(bundle.manifest().validation.report_sha256, [0; 32]);
        assert!(bundle.manifest().validation.variants.is_empty());
    }

    #[test]
    fn mismatched_descriptions_are_refused_with_the_reason() {
        let (dir, description) = model_dir(3, "KinectV2");
        let err = build(&description, dir.path(), None, &[]).unwrap_err().to_string();
        assert!(err.contains("3 rows for 2 labels"), "{err}");

        let (dir, description) = model_dir(2, "AzureKinect32");
        let err = build(&description, dir.path(), None, &[]).unwrap_err().to_string();
        assert!(err.contains("joint layout AzureKinect32, expected KinectV2"), "{err}");

        let (dir, mut description) = model_dir(2, "KinectV2");
        description.output.shape = vec![1, 5];
        let err = build(&description, dir.path(), None, &[]).unwrap_err().to_string();
        assert!(err.contains("output tensor shape holds 5 values, expected shape [1, 4]"), "{err}");

        let (dir, description) = model_dir(2, "KinectV2");
        fs::remove_file(dir.path().join("joint.fp32.onnx")).unwrap();
        let err = format!("{:#}", build(&description, dir.path(), None, &[]).unwrap_err());
        assert!(err.contains("joint.fp32.onnx"), "{err}");
    }

    #[test]
    fn damaged_bundles_are_refused_by_the_loader_naming_the_problem() {
        let (dir, description) = model_dir(2, "KinectV2");
        let good = build(&description, dir.path(), Some(REPORT.as_bytes()), &[Precision::Fp32]).unwrap();
        refusals(&good);
    }

    /// Truncated, altered, wrong-version and wrong-layout copies of `good` are each refused with their own error.
    fn refusals(good: &[u8]) {
        let truncated = &good[..good.len() - 100];
        assert!(matches!(Bundle::parse(truncated), Err(BundleError::Truncated { .. })));

        let mut altered = good.to_vec();
        let middle = altered.len() / 2;
        altered[middle] ^= 0x01;
        let err = Bundle::parse(&altered).unwrap_err();
        assert_eq!(err, BundleError::ChecksumMismatch);
        assert_eq!(err.to_string(), "bundle altered or damaged: SHA-256 checksum mismatch");

        let mut newer = good.to_vec();
        newer[8..10].copy_from_slice(&(FORMAT_MAJOR + 1).to_le_bytes());
        skelact_runtime::bundle::seal(&mut newer).unwrap();
        let err = Bundle::parse(&newer).unwrap_err();
        assert!(matches!(err, BundleError::UnsupportedMajor { .. }), "{err}");
        assert!(err.to_string().contains("is not supported"), "{err}");

        let err = Bundle::open(good, LayoutId::ZedBody34).unwrap_err();
        assert!(matches!(err, BundleError::WrongLayout { .. }));
        assert_eq!(err.to_string(), "bundle is for joint layout KinectV2, expected ZedBody34");
    }

    /// Every committed bundle the pipeline makes: the device opens it, it offers FP32, its labels carry the
    /// action numbers of its corpus, it was exported from the committed checkpoint, and it names the committed
    /// validation report by hash; every precision it ships passed validation.
    #[test]
    fn the_committed_bundles_are_consistent_with_their_checkpoints_and_validation_reports() {
        let root = crate::project_root();
        // (bundle, its first label and action number): UTD-MHAD's a1, NW-UCLA's a01, NTU-120's action 23.
        let first_labels = [
            ("default.skb", ("right arm swipe to the left", 1)),
            ("default-rec.skb", ("right arm swipe to the left", 1)),
            ("nw-ucla.skb", ("pick up with one hand", 1)),
            ("stars-synthetic.skb", ("hand waving", 23)),
        ];
        for (name, first_label) in first_labels {
            let model = crate::deploy::pipeline_model(name).expect("a pipeline model makes it");
            let bytes = fs::read(root.join("models/zoo").join(name)).expect("the bundle is committed");
            let aligned = skelact_runtime::bundle::AlignedBytes::copy_from(&bytes);
            let bundle = Bundle::open(aligned.as_bytes(), LayoutId::KinectV2).unwrap();
            let m = bundle.manifest();
            assert!(m.precisions().fp32, "{name}");
            assert_eq!(m.labels.first().map(|l| (l.name, l.action_id)), Some(first_label), "{name}");
            assert!(bundle.linear_head().is_some(), "{name}");
            // REC: exactly the committed reconstruction model at the pipeline's threshold, or none.
            match model.reconstruction {
                Some((onnx, threshold)) => {
                    assert_eq!(bundle.reconstruction_onnx(), Some(fs::read(root.join(onnx)).unwrap().as_slice()));
                    assert_eq!(bundle.reconstruction().map(|r| r.threshold), Some(threshold), "{name}");
                }
                None => assert!(bundle.reconstruction().is_none(), "{name}"),
            }
            let checkpoint = fs::read(root.join(model.checkpoint)).unwrap();
            assert_eq!(m.checkpoint_sha256, sha256(&checkpoint), "{name} was not exported from {}", model.checkpoint);
            let report = root.join("models/zoo").join(name.replace(".skb", ".validation.json"));
            if m.validation.variants.is_empty() {
                assert!(!report.exists(), "a validation report is committed but {name} carries no figures");
            } else {
                let report = fs::read(&report).unwrap();
                assert_eq!(m.validation.report_sha256, sha256(&report), "{name}'s validation report is not its own");
                let summary: serde_json::Value = serde_json::from_str(bundle.validation_summary().unwrap()).unwrap();
                let offered = m.precisions();
                for v in summary["variants"].as_array().unwrap() {
                    let variant = v["variant"].as_str().unwrap();
                    let shipped = (variant.ends_with("fp32") && offered.fp32)
                        || (variant.ends_with("fp16") && offered.fp16)
                        || (variant.ends_with("int8") && offered.int8);
                    assert!(!shipped || v["passed"] != false, "{name}: {variant} is shipped but failed validation");
                }
            }
            refusals(aligned.as_bytes());
        }
    }
}
