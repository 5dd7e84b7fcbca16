//! The manifest: what a model is and how a device must feed it, postcard-encoded in the bundle's manifest section.
//!
//! Field order is part of the format (postcard writes no tags): never reorder fields or enum variants. A newer
//! minor version may only append fields at the end of [`Manifest`]; anything else needs a new major version.
//! Strings are borrowed from the bundle bytes and vectors are bounded, so decoding allocates nothing.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::decision::DecisionConfig;
use crate::pipeline::FrontendConfig;
use crate::preprocess::{self, PreprocessConfig, Stream, Streams, MAX_FRAMES_OUT};
use crate::skeleton::NTU_JOINTS;
use crate::track::TrackConfig;
use crate::window::{WindowConfig, WINDOW_BODIES};
use crate::wire::{Event, LayoutId};

use super::error::BundleError;

/// Most labels a manifest may carry (NTU RGB+D 120 has 120 classes).
pub const MAX_LABELS: usize = 128;
/// Most streams: joint, bone, motion.
pub const MAX_STREAMS: usize = 3;
/// Most TensorRT engines (per stream, several GPU or TensorRT targets).
pub const MAX_ENGINES: usize = 12;
/// Most validated variants in the validation figures.
pub const MAX_VARIANTS: usize = 8;
/// Most dimensions of a tensor shape.
pub const MAX_SHAPE_RANK: usize = 6;

/// The encoder architecture, for information and for tools; the device runs whatever the ONNX or engine holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncoderFamily {
    /// STARS / MAMP skeleton transformer.
    StarsTransformer,
    /// AC-SAR / SCD-Net dual-branch GCN + transformer encoder.
    DualBranchGcn,
    /// HCN lightweight CNN encoder.
    Hcn,
    /// TDSM diffusion skeleton-text matching.
    Tdsm,
    /// DCMAE reconstruction model.
    Dcmae,
    /// Anything else; the model name says what.
    Other,
}

/// One of the three input streams (the manifest's own copy of [`preprocess::Stream`], which is not serialized).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamKind {
    Joint,
    Bone,
    Motion,
}

impl StreamKind {
    /// Position of the stream in fusion weights and tensor triples (joint, bone, motion).
    pub const fn position(self) -> usize {
        match self {
            StreamKind::Joint => 0,
            StreamKind::Bone => 1,
            StreamKind::Motion => 2,
        }
    }
}

impl From<StreamKind> for Stream {
    fn from(kind: StreamKind) -> Stream {
        match kind {
            StreamKind::Joint => Stream::Joint,
            StreamKind::Bone => Stream::Bone,
            StreamKind::Motion => Stream::Motion,
        }
    }
}

/// Numeric precision of a model variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Precision {
    Fp32,
    Fp16,
    /// Explicit quantization: Q/DQ nodes, symmetric per-channel weights, per-tensor activations.
    Int8,
}

/// Which precisions a bundle offers for the whole model (every stream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PrecisionSet {
    pub fp32: bool,
    pub fp16: bool,
    pub int8: bool,
}

/// Preprocessing settings (`docs/preprocessing.md`); they become a [`PreprocessConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessParams {
    /// T, frames of the model input.
    pub frames_out: u32,
    /// Centred crop ratio p, in (0, 1].
    pub crop_ratio: f64,
    /// MS-G3D view alignment.
    pub align: bool,
}

/// How raw frames become windows: the [`TrackConfig`], [`WindowConfig`] and confidence cut the model was
/// trained and validated with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowParams {
    /// Raw sensor frames a window spans at most (the device's track ring length).
    pub raw_frames: u32,
    /// Frames between two windows of one body.
    pub stride_frames: u32,
    /// Fewest frames of history before a body's first window.
    pub min_frames: u32,
    /// Most consecutive missing frames a track keeps its history through.
    pub max_gap_frames: u32,
    /// Sensor time without a body after which its track is evicted, in microseconds.
    pub timeout_us: u64,
    /// Farthest SpineMid distance for two bodies to be paired into one window, in metres.
    pub partner_max_distance_m: f32,
    /// Joints below this wire confidence count as missing.
    pub min_confidence: u8,
}

/// One input stream of the model: its fusion weight and the sections of its ONNX models.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamModel {
    pub stream: StreamKind,
    /// Weight of the stream in decision-level fusion (weights are normalised by the fusion).
    pub weight: f32,
    /// Section index of the FP32 ONNX model.
    pub onnx_fp32: Option<u16>,
    /// Section index of the FP16 ONNX model.
    pub onnx_fp16: Option<u16>,
    /// Section index of the INT8 (Q/DQ) ONNX model.
    pub onnx_int8: Option<u16>,
}

impl StreamModel {
    /// Section index of the ONNX model of `precision`.
    pub fn onnx(&self, precision: Precision) -> Option<u16> {
        match precision {
            Precision::Fp32 => self.onnx_fp32,
            Precision::Fp16 => self.onnx_fp16,
            Precision::Int8 => self.onnx_int8,
        }
    }
}

/// Name and shape of a model tensor. Every stream's model has the same input and the same output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec<'a> {
    pub name: &'a str,
    pub shape: Vec<u32, MAX_SHAPE_RANK>,
}

/// How engine outputs become label scores; the parameters of [`crate::pipeline::Head`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum HeadSpec {
    /// The models output one logit per label.
    Logits,
    /// The models output `dim`-long embeddings; a [`super::SectionKind::LinearHead`] section maps them to logits.
    Linear { section: u16, dim: u32, bias: bool },
    /// The joint model outputs a `dim`-long embedding, matched against exemplars by a `k`-NN vote. Exemplars
    /// shipped in the bundle are in a [`super::SectionKind::Prototypes`] section; more can be enrolled on the
    /// device. Below `min_similarity` (cosine) a window is unknown.
    Prototype { section: Option<u16>, exemplars: u32, dim: u32, k: u16, min_similarity: f32 },
    /// The joint model outputs a `dim`-long embedding, compared with one text embedding per label
    /// ([`super::SectionKind::TextEmbeddings`]); scores are softmax(similarity / `temperature`).
    Text { section: u16, dim: u32, temperature: f32, min_similarity: f32 },
}

/// One label: its name and the action id events carry. Its position in [`Manifest::labels`] is its label index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label<'a> {
    pub name: &'a str,
    pub action_id: u16,
}

/// The decision rules, field for field a [`DecisionConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionParams {
    pub smoothing_windows: u32,
    pub enter_threshold: f32,
    pub exit_threshold: f32,
    pub switch_margin: f32,
    pub min_duration_us: u64,
    pub cooldown_us: u64,
    pub unknown_threshold: f32,
    pub emit_unknown: bool,
}

impl From<DecisionParams> for DecisionConfig {
    fn from(p: DecisionParams) -> DecisionConfig {
        DecisionConfig {
            smoothing_windows: p.smoothing_windows as usize,
            enter_threshold: p.enter_threshold,
            exit_threshold: p.exit_threshold,
            switch_margin: p.switch_margin,
            min_duration_us: p.min_duration_us,
            cooldown_us: p.cooldown_us,
            unknown_threshold: p.unknown_threshold,
            emit_unknown: p.emit_unknown,
        }
    }
}

impl From<DecisionConfig> for DecisionParams {
    fn from(c: DecisionConfig) -> DecisionParams {
        DecisionParams {
            smoothing_windows: u32::try_from(c.smoothing_windows).unwrap_or(u32::MAX),
            enter_threshold: c.enter_threshold,
            exit_threshold: c.exit_threshold,
            switch_margin: c.switch_margin,
            min_duration_us: c.min_duration_us,
            cooldown_us: c.cooldown_us,
            unknown_threshold: c.unknown_threshold,
            emit_unknown: c.emit_unknown,
        }
    }
}

/// A TensorRT version, as `getInferLibVersion` and `trtexec` report it. Engines only load on the exact version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TensorRtVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
    pub build: u16,
}

impl core::fmt::Display for TensorRtVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}.{}.{}", self.major, self.minor, self.patch, self.build)
    }
}

/// A CUDA GPU compute capability (Jetson Orin: 8.7, Xavier: 7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ComputeCapability {
    pub major: u8,
    pub minor: u8,
}

impl core::fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A serialized TensorRT engine of one stream and the target it was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRtEngine {
    pub stream: StreamKind,
    /// Precision of the ONNX model it was built from.
    pub precision: Precision,
    /// Section index of the engine.
    pub section: u16,
    pub tensorrt: TensorRtVersion,
    pub compute_capability: ComputeCapability,
}

/// Validation figures of one variant against the PyTorch FP32 reference on the held-out windows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantFigures<'a> {
    /// Which variant, e.g. `pytorch-fp32`, `onnxruntime-int8`, `tract-fp32`, `tensorrt-int8`.
    pub variant: &'a str,
    /// Share of windows whose top-1 label equals the reference's, 0..=1.
    pub top1_agreement: f32,
    /// Smallest and mean cosine similarity of the outputs to the reference's.
    pub cosine_min: f32,
    pub cosine_mean: f32,
    /// Top-1 accuracy on the labelled windows, 0..=1.
    pub accuracy: f32,
}

/// What validation found, and which report it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationSummary<'a> {
    /// SHA-256 of the full validation report (`*.validation.json`), which stays beside the bundle.
    pub report_sha256: [u8; 32],
    /// Section index of the summary JSON, if shipped.
    pub section: Option<u16>,
    #[serde(borrow)]
    pub variants: Vec<VariantFigures<'a>, MAX_VARIANTS>,
}

/// Everything a device needs to know to run the model of a bundle. See `docs/bundle.md` for each field's rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest<'a> {
    pub model_name: &'a str,
    pub encoder: EncoderFamily,
    /// Joint layout of the model input: [`LayoutId::KinectV2`] (NTU-25) for every model the runtime can feed.
    pub layout: LayoutId,
    /// M, bodies per window: 2.
    pub bodies: u8,
    pub preprocess: PreprocessParams,
    pub window: WindowParams,
    pub streams: Vec<StreamModel, MAX_STREAMS>,
    #[serde(borrow)]
    pub input: TensorSpec<'a>,
    #[serde(borrow)]
    pub output: TensorSpec<'a>,
    pub head: HeadSpec,
    #[serde(borrow)]
    pub labels: Vec<Label<'a>, MAX_LABELS>,
    pub decision: DecisionParams,
    pub tensorrt: Vec<TensorRtEngine, MAX_ENGINES>,
    /// SHA-256 of the source checkpoint the models were exported from.
    pub checkpoint_sha256: [u8; 32],
    #[serde(borrow)]
    pub validation: ValidationSummary<'a>,
}

/// Fields appended to the manifest in format 1.1, after every field of [`Manifest`]. A 1.0 bundle has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestExtension {
    /// Rises with every bundle a publisher ships (see [`super::Bundle::version`]).
    pub version: u64,
}

/// Fields appended to the manifest in format 1.2, after the [`ManifestExtension`]. A 1.0 or 1.1 bundle has none:
/// its model was trained at [`crate::resample::MODEL_RATE_MILLIHERTZ`] (30 Hz), as every model before 1.2 was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeBase {
    /// The frame rate the model was trained at, in millihertz: the device resamples every sensor onto this grid
    /// (`docs/preprocessing.md`, step 0), and the window's `raw_frames` are frames at this rate. In 1 000..=1 000 000.
    pub model_rate_millihertz: u32,
}

impl Default for TimeBase {
    fn default() -> Self {
        TimeBase { model_rate_millihertz: crate::resample::MODEL_RATE_MILLIHERTZ }
    }
}

impl TimeBase {
    pub(super) fn validate(&self) -> Result<(), BundleError> {
        if (1_000..=1_000_000).contains(&self.model_rate_millihertz) {
            Ok(())
        } else {
            Err(invalid("the model rate must be 1 Hz to 1 kHz"))
        }
    }
}

/// The reconstruction model a bundle carries (format 1.3): which section holds it, the frames of its windows and
/// the missing fraction above which the device runs it by default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionSpec {
    /// Section index of the model, a [`super::SectionKind::Reconstruction`] section.
    pub section: u16,
    /// T of its input and output: must equal the encoder's `frames_out`.
    pub frames: u32,
    /// The default missing fraction above which REC runs (`docs/preprocessing.md`, "The missing mask"), 0..=1. The
    /// device's configuration may override it.
    pub threshold: f32,
}

/// Fields appended to the manifest in format 1.3, after the [`TimeBase`]. A bundle before 1.3 has none: no
/// reconstruction model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionExtension {
    pub reconstruction: Option<ReconstructionSpec>,
}

impl ReconstructionExtension {
    /// Checks the spec against the manifest (its section reference is checked with the others).
    pub(super) fn validate(&self, manifest: &Manifest<'_>) -> Result<(), BundleError> {
        let Some(spec) = self.reconstruction else { return Ok(()) };
        if !(0.0..=1.0).contains(&spec.threshold) {
            return Err(invalid("the reconstruction threshold must be in 0..=1"));
        }
        if spec.frames != manifest.preprocess.frames_out {
            return Err(BundleError::ReconstructionFrames {
                reconstruction: spec.frames,
                encoder: manifest.preprocess.frames_out,
            });
        }
        Ok(())
    }
}

/// The text encoder a bundle carries (format 1.4): the sections of its model and tokenizer, and the shapes the
/// device checks the model against when it loads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpec {
    /// Section index of the model, a [`super::SectionKind::TextEncoder`] section.
    pub encoder_section: u16,
    /// Section index of its `tokenizer.json`, a [`super::SectionKind::Tokenizer`] section.
    pub tokenizer_section: u16,
    /// L, the fixed token length of its inputs: 2 (`[CLS]`, `[SEP]`) to [`TextSpec::MAX_TOKENS`].
    pub max_tokens: u32,
    /// D, the length of its sentence embedding: 1 to [`TextSpec::MAX_DIM`].
    pub dim: u32,
}

impl TextSpec {
    /// The longest token length a bundle may declare.
    pub const MAX_TOKENS: u32 = 512;
    /// The largest embedding a bundle may declare.
    pub const MAX_DIM: u32 = 4096;
}

/// Fields appended to the manifest in format 1.4, after the [`ReconstructionExtension`]. A bundle before 1.4 has
/// none: no text encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextExtension {
    pub text: Option<TextSpec>,
}

impl TextExtension {
    /// Checks the shapes (the section references are checked with the others).
    pub(super) fn validate(&self) -> Result<(), BundleError> {
        let Some(spec) = self.text else { return Ok(()) };
        if !(2..=TextSpec::MAX_TOKENS).contains(&spec.max_tokens) {
            return Err(invalid("the text encoder's token length must be 2 to 512"));
        }
        if !(1..=TextSpec::MAX_DIM).contains(&spec.dim) {
            return Err(invalid("the text encoder's embedding length must be 1 to 4096"));
        }
        Ok(())
    }
}

/// TDSM's scorer a bundle carries (format 1.5): the section of its model and the embedding length it scores. The
/// candidates' text features come from the bundle's text encoder, so a scorer needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenoiserSpec {
    /// Section index of the model, a [`super::SectionKind::Denoiser`] section.
    pub section: u16,
    /// F, the length of the skeleton embedding it scores: the models' output length.
    pub feature: u32,
}

/// Fields appended to the manifest in format 1.5, after the [`TextExtension`]. A bundle before 1.5 has none: no
/// TDSM scorer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenoiserExtension {
    pub denoiser: Option<DenoiserSpec>,
}

impl DenoiserExtension {
    /// Checks the scorer against the manifest and the text encoder (its section is checked with the others).
    pub(super) fn validate(&self, manifest: &Manifest<'_>, text: &TextExtension) -> Result<(), BundleError> {
        let Some(spec) = self.denoiser else { return Ok(()) };
        if text.text.is_none() {
            return Err(invalid("a TDSM scorer needs the text encoder that gives its candidates' features"));
        }
        if spec.feature != manifest.output_len() {
            return Err(invalid("the TDSM scorer's embedding length differs from the models' output length"));
        }
        Ok(())
    }
}

fn invalid(reason: &'static str) -> BundleError {
    BundleError::InvalidManifest { reason }
}

impl<'a> Manifest<'a> {
    /// The stream entry of `stream`, if the model has it.
    pub fn stream(&self, stream: StreamKind) -> Option<&StreamModel> {
        self.streams.iter().find(|s| s.stream == stream)
    }

    /// The derived streams preprocessing must produce.
    pub fn preprocess_streams(&self) -> Streams {
        Streams { bone: self.stream(StreamKind::Bone).is_some(), motion: self.stream(StreamKind::Motion).is_some() }
    }

    /// Fusion weights of joint, bone and motion, as [`crate::pipeline::StreamEngines::weights`] takes them
    /// (0 for an absent stream).
    pub fn fusion_weights(&self) -> [f32; 3] {
        let mut weights = [0.0; 3];
        for s in &self.streams {
            weights[s.stream.position()] = s.weight;
        }
        weights
    }

    /// Precisions in which every stream has an ONNX model.
    pub fn precisions(&self) -> PrecisionSet {
        let all = |p: Precision| !self.streams.is_empty() && self.streams.iter().all(|s| s.onnx(p).is_some());
        PrecisionSet { fp32: all(Precision::Fp32), fp16: all(Precision::Fp16), int8: all(Precision::Int8) }
    }

    /// Values in each stream's input tensor `[1, 3, T, 25, 2]`.
    pub fn tensor_len(&self) -> usize {
        preprocess::tensor_len(self.preprocess.frames_out as usize)
    }

    /// Length of each model output: labels for a logits head, the embedding size otherwise.
    pub fn output_len(&self) -> u32 {
        match self.head {
            HeadSpec::Logits => self.labels.len() as u32,
            HeadSpec::Linear { dim, .. } | HeadSpec::Prototype { dim, .. } | HeadSpec::Text { dim, .. } => dim,
        }
    }

    /// Label index → action id, the table [`crate::pipeline::Classifier::new`] takes.
    pub fn action_ids(&self) -> Vec<u16, MAX_LABELS> {
        self.labels.iter().map(|l| l.action_id).collect()
    }

    /// The decision rules.
    pub fn decision_config(&self) -> DecisionConfig {
        self.decision.into()
    }

    /// Refuses a bundle whose model layout is not `expected`.
    pub fn check_layout(&self, expected: LayoutId) -> Result<(), BundleError> {
        if self.layout == expected {
            Ok(())
        } else {
            Err(BundleError::WrongLayout { expected, found: self.layout })
        }
    }

    /// The frame-side settings for a device whose track rings can hold `ring_frames` frames (the `FRAMES` of
    /// [`crate::pipeline::Frontend`]). The device keeps exactly the model's `window.raw_frames` of history
    /// ([`crate::pipeline::Frontend::with_history`]): a longer history would feed windows longer than the model
    /// was validated on.
    ///
    /// Errors: [`BundleError::WrongLayout`] unless the model takes NTU-25 (the only layout the runtime's
    /// preprocessing produces), [`BundleError::RingFrames`] when `ring_frames` is shorter than the model's raw
    /// window.
    pub fn frontend_config(&self, ring_frames: usize) -> Result<FrontendConfig, BundleError> {
        self.check_layout(LayoutId::KinectV2)?;
        let w = &self.window;
        if ring_frames < w.raw_frames as usize {
            let device = u32::try_from(ring_frames).unwrap_or(u32::MAX);
            return Err(BundleError::RingFrames { bundle: w.raw_frames, device });
        }
        Ok(FrontendConfig {
            min_confidence: w.min_confidence,
            // Every bundle's model is trained at 30 Hz; format 1.1 has no field for another rate.
            grid: crate::resample::GridConfig::default(),
            tracks: TrackConfig {
                max_gap_frames: w.max_gap_frames,
                timeout_us: w.timeout_us,
                stride_frames: w.stride_frames,
                min_frames: w.min_frames as usize,
            },
            window: WindowConfig { partner_max_distance_m: w.partner_max_distance_m },
            preprocess: PreprocessConfig {
                frames_out: self.preprocess.frames_out as usize,
                crop_ratio: self.preprocess.crop_ratio,
                align: self.preprocess.align,
                streams: self.preprocess_streams(),
            },
        })
    }

    /// Checks everything the manifest says about itself (not its section references: see
    /// [`super::Bundle::parse`]). The order of the checks is the order of `docs/bundle.md`.
    pub fn validate(&self) -> Result<(), BundleError> {
        if usize::from(self.bodies) != WINDOW_BODIES {
            return Err(BundleError::UnsupportedBodies { found: self.bodies, supported: WINDOW_BODIES as u8 });
        }
        self.validate_preprocess()?;
        self.validate_window()?;
        self.validate_streams()?;
        self.validate_shapes()?;
        self.validate_labels()?;
        self.validate_head()?;
        self.decision_config().validate().map_err(BundleError::InvalidDecision)?;
        if self.tensorrt.iter().any(|e| self.stream(e.stream).is_none()) {
            return Err(invalid("a TensorRT engine is for a stream the model does not have"));
        }
        Ok(())
    }

    fn validate_preprocess(&self) -> Result<(), BundleError> {
        let p = &self.preprocess;
        if p.frames_out == 0 || p.frames_out as usize > MAX_FRAMES_OUT {
            return Err(invalid("frames_out (T) must be in 1..=10000"));
        }
        if !(p.crop_ratio > 0.0 && p.crop_ratio <= 1.0) {
            return Err(invalid("crop_ratio must be in (0, 1]"));
        }
        Ok(())
    }

    fn validate_window(&self) -> Result<(), BundleError> {
        let w = &self.window;
        if w.raw_frames == 0 {
            return Err(invalid("raw_frames must be at least 1"));
        }
        if w.min_frames == 0 || w.min_frames > w.raw_frames {
            return Err(invalid("min_frames must be in 1..=raw_frames"));
        }
        if w.stride_frames == 0 {
            return Err(invalid("stride_frames must be at least 1"));
        }
        if w.timeout_us == 0 {
            return Err(invalid("timeout_us must be more than 0"));
        }
        if !(w.partner_max_distance_m.is_finite() && w.partner_max_distance_m >= 0.0) {
            return Err(invalid("partner_max_distance_m must be finite and not negative"));
        }
        Ok(())
    }

    fn validate_streams(&self) -> Result<(), BundleError> {
        if self.stream(StreamKind::Joint).is_none() {
            return Err(invalid("the model has no joint stream"));
        }
        for (i, s) in self.streams.iter().enumerate() {
            if self.streams.iter().skip(i + 1).any(|other| other.stream == s.stream) {
                return Err(invalid("a stream is listed twice"));
            }
            if !(s.weight.is_finite() && s.weight >= 0.0) {
                return Err(invalid("a stream fusion weight is negative or not finite"));
            }
            let has_onnx = [Precision::Fp32, Precision::Fp16, Precision::Int8].iter().any(|&p| s.onnx(p).is_some());
            if !has_onnx && !self.tensorrt.iter().any(|e| e.stream == s.stream) {
                return Err(invalid("a stream has neither an ONNX model nor a TensorRT engine"));
            }
        }
        if self.streams.iter().all(|s| s.weight == 0.0) {
            return Err(invalid("every stream fusion weight is zero"));
        }
        Ok(())
    }

    fn validate_shapes(&self) -> Result<(), BundleError> {
        let t = self.preprocess.frames_out;
        let expected_input = [1, preprocess::CHANNELS as u32, t, NTU_JOINTS as u32, u32::from(self.bodies)];
        if self.input.shape.as_slice() != expected_input {
            return Err(BundleError::InputShape { frames_out: t, bodies: self.bodies });
        }
        let expected = self.output_len();
        if self.output.shape.as_slice() != [1, expected] {
            let actual = self.output.shape.iter().fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
            return Err(BundleError::OutputShape { expected, actual });
        }
        if self.input.name.is_empty() || self.output.name.is_empty() {
            return Err(invalid("a tensor name is empty"));
        }
        Ok(())
    }

    fn validate_labels(&self) -> Result<(), BundleError> {
        if self.labels.is_empty() {
            return Err(invalid("the model has no labels"));
        }
        if self.labels.iter().any(|l| l.action_id == Event::UNKNOWN) {
            return Err(invalid("a label uses the reserved unknown action id 65535"));
        }
        Ok(())
    }

    fn validate_head(&self) -> Result<(), BundleError> {
        let similarity_ok = |s: f32| (-1.0..=1.0).contains(&s);
        let embedding_head = match self.head {
            HeadSpec::Logits => false,
            HeadSpec::Linear { dim, .. } => {
                if dim == 0 {
                    return Err(invalid("linear head dim is 0"));
                }
                false
            }
            HeadSpec::Prototype { section, exemplars, dim, k, min_similarity } => {
                if dim == 0 || k == 0 {
                    return Err(invalid("prototype head dim or k is 0"));
                }
                if section.is_none() != (exemplars == 0) {
                    return Err(invalid("prototype exemplars need a section, and a section needs exemplars"));
                }
                if !similarity_ok(min_similarity) {
                    return Err(invalid("prototype min_similarity must be in -1..=1"));
                }
                true
            }
            HeadSpec::Text { dim, temperature, min_similarity, .. } => {
                if dim == 0 {
                    return Err(invalid("text head dim is 0"));
                }
                if !(temperature.is_finite() && temperature > 0.0) {
                    return Err(invalid("text head temperature must be finite and more than 0"));
                }
                if !similarity_ok(min_similarity) {
                    return Err(invalid("text min_similarity must be in -1..=1"));
                }
                true
            }
        };
        if embedding_head && self.streams.len() != 1 {
            return Err(invalid("prototype and text heads take the joint stream only"));
        }
        Ok(())
    }
}
