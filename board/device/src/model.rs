//! The one path from a bundle file to running engines and a classifier, used by every command that runs a model
//! (`run`, `enroll`, `validate`, `bench`, `info`, the demo):
//!
//! 1. [`BundleFile::read`]: the file's bytes, in aligned storage (float sections are viewed in place);
//! 2. [`LoadedModel::open`]: the bundle is parsed and checked once (container, checksum, manifest, sections),
//!    with its enrollment [`Overlay`]; everything later borrows that parse;
//! 3. [`LoadedModel::engines`]: one [`DeviceEngine`] per stream on the chosen backend. A TensorRT engine is taken
//!    only where the runtime's compatibility rule (`Bundle::tensorrt_engine`) says it was built for this device;
//! 4. [`LoadedModel::classifier`]: the runtime's `Classifier` with the bundle's head, and the overlay's enrolled
//!    exemplars in it (a prototype head's own bank, or [`EnrolledOverLinear`] over a linear head). A text-aligned
//!    bundle's linear head gains one row per label typed as words ([`LoadedModel::text_encoder`] embeds them).

use std::path::{Path, PathBuf};

use skelact_onnxruntime::{OrtEngine, OrtLoadError, OrtOptions};
use skelact_runtime::bundle::{
    AlignedBytes, Bundle, BundleError, ExemplarStorage, HeadSpec, Precision, StreamKind, HEADER_LEN, MAGIC,
};
use skelact_runtime::engine::{Engine, EngineError};
use skelact_runtime::head::{EnrolledOverLinear, HeadError, LinearHead, PrototypeHead, TypedRanker};
use skelact_runtime::layout::SourceFormat;
use skelact_runtime::pipeline::{Classifier, Frontend, FrontendConfig, Head, PipelineError, StreamEngines};
use skelact_runtime::reconstruct::{Reconstruction, ReconstructionMode, ReconstructionPolicy};
use skelact_runtime::wire::{Event, LayoutId};
use skelact_tensorrt::{TensorRtEngine, TensorRtError, TensorRtOptions};
use skelact_text::{TdsmScorer, TextEncoder, TextError};
use skelact_tract::{TractEngine, TractLoadError, TractOptions};

use crate::overlay::{hex, Overlay, OverlayError, DEFAULT_MIN_SIMILARITY};

/// Most labels a device handles: the bundle's (at most 128) plus those enrolled on it.
pub const MAX_CLASSES: usize = 160;
/// Most bodies tracked and classified at once (the design's "up to 4 bodies per frame").
pub const TRACKS: usize = 4;
/// Longest engine output (logits or embedding) the classifier holds.
pub const MAX_OUT: usize = 512;
/// Score vectors kept per body for smoothing (a bundle's `smoothing_windows` must not exceed it).
pub const HISTORY: usize = 8;
/// Longest model window in raw frames the device serves (10 s at 30 Hz). The track rings are sized for it once, and
/// each model uses as much of them as its window needs, so the daemon is compiled once for every model.
pub const MAX_RAW_FRAMES: usize = 300;

/// The classifier the device runs.
pub type DeviceClassifier<'a, E> = Classifier<'a, E, MAX_OUT, TRACKS, MAX_CLASSES, HISTORY>;

/// The frame side the device runs: rings for [`MAX_RAW_FRAMES`] per body, of which a model uses its window.
pub type DeviceFrontend = Frontend<TRACKS, MAX_RAW_FRAMES>;

/// Stack for building a [`DeviceFrontend`]: it is built by value (about 0.8 MB, several copies in a debug build)
/// before it moves to the heap, more than a spawned thread's default 2 MB stack holds.
const FRONTEND_BUILD_STACK: usize = 32 << 20;

/// A [`DeviceFrontend`] on the heap, keeping `history_frames` of each track (`Frontend::with_history`), for
/// sensors speaking the model's format until a `Hello` says otherwise. It is built on a short-lived thread with a
/// stack large enough for it, so that any thread may call this.
pub fn boxed_frontend(config: FrontendConfig, history_frames: usize) -> Result<Box<DeviceFrontend>, FrontendError> {
    let build = move || DeviceFrontend::with_history(config, SourceFormat::MODEL, history_frames).map(Box::new);
    let builder = std::thread::Builder::new().name("skelact-frontend-build".into()).stack_size(FRONTEND_BUILD_STACK);
    let handle = builder.spawn(build).map_err(FrontendError::Thread)?;
    handle.join().map_err(|_| FrontendError::Panicked)?.map_err(FrontendError::Config)
}

/// Why the frame side could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("the frame side refused its settings: {0}")]
    Config(PipelineError),
    #[error("cannot start a thread to build the frame side: {0}")]
    Thread(std::io::Error),
    #[error("building the frame side panicked")]
    Panicked,
}

/// Why a model could not be loaded, or its engines or classifier built. Each names what it refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read bundle {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} refused: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("{path} refused: {source}")]
    Bundle { path: PathBuf, source: BundleError },
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error("{path}: {reason}")]
    Labels { path: PathBuf, reason: String },
    #[error("the bundle's windows span {raw_frames} raw frames; this device serves at most {MAX_RAW_FRAMES}")]
    WindowTooLong { raw_frames: usize },
    #[error("the bundle has no {what}")]
    Missing { what: String },
    #[error("the {stream:?} stream: {source}")]
    Tract { stream: StreamKind, source: TractLoadError },
    #[error("--backend tensorrt is unavailable: {0}")]
    TensorRtUnavailable(TensorRtError),
    #[error("onnxruntime cannot be used: {0}")]
    OnnxruntimeUnavailable(OrtLoadError),
    #[error("onnxruntime cannot load the {stream:?} stream: {source}")]
    Onnxruntime { stream: StreamKind, source: OrtLoadError },
    #[error("the {stream:?} stream's TensorRT engine: {source}")]
    TensorRtEngine { stream: StreamKind, source: BundleError },
    #[error("the {stream:?} stream on TensorRT: {source}")]
    TensorRt { stream: StreamKind, source: TensorRtError },
    #[error("{path}: the classifier: {source}")]
    Classifier { path: PathBuf, source: PipelineError },
    #[error("{path}: enrolled exemplar of {label:?}: {source}")]
    Exemplar { path: PathBuf, label: String, source: HeadError },
    #[error("the reconstruction model on {backend}: {reason}")]
    Reconstruction { backend: &'static str, reason: String },
    #[error("{path}: the text encoder: {source}")]
    TextEncoder { path: PathBuf, source: TextError },
    #[error("{path}: TDSM's scorer: {source}")]
    Tdsm { path: PathBuf, source: TextError },
}

/// Which inference backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// The fastest that can run here: TensorRT when the bundle holds an engine for this device and TensorRT and a
    /// GPU are found at run time, else onnxruntime when its library is found, else tract. The log says which and
    /// why.
    #[default]
    Auto,
    /// tract on the CPU (built in, always available).
    Tract,
    /// onnxruntime on the CPU; refuses to start when its library is not found, naming where it looked.
    Onnxruntime,
    /// TensorRT on the GPU; refuses to start when it cannot be used, naming where it looked for the libraries.
    Tensorrt,
}

/// Whether to load an enrollment overlay.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OverlayChoice {
    /// `NAME.overlay.json` next to the bundle, when it exists.
    #[default]
    BesideBundle,
    /// This file, which must exist.
    File(PathBuf),
    /// None, even if one lies next to the bundle.
    Ignore,
}

impl OverlayChoice {
    /// `path` when the file exists, else none: how the commands that edit an overlay (`enroll`, `labels`) open the
    /// bundle before the overlay's first write.
    pub fn if_exists(path: &Path) -> Self {
        if path.exists() {
            OverlayChoice::File(path.to_path_buf())
        } else {
            OverlayChoice::Ignore
        }
    }
}

/// One label as the device reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelInfo {
    pub name: String,
    pub action_id: u16,
    /// Whether the label comes from the overlay rather than the bundle.
    pub enrolled: bool,
    /// The words it was typed as, for a text label.
    pub prompt: Option<String>,
}

/// A bundle file's bytes, in the aligned storage the loaded model borrows.
#[derive(Debug)]
pub struct BundleFile {
    pub path: PathBuf,
    bytes: AlignedBytes,
}

/// The largest bundle file the device reads: the bundles here are 1-6 MB, and TensorRT engines for three streams
/// in three precisions stay far below it. Larger files are refused before their contents are read.
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// Offset of the header's total-length field (`docs/bundle.md`, "Byte layout").
const HEADER_TOTAL_LENGTH_AT: usize = 16;

impl BundleFile {
    /// Reads a bundle file, refusing before reading its contents anything that is not a regular file, is larger
    /// than [`MAX_BUNDLE_BYTES`], or whose header declares another length than the file has (a damaged or sparse
    /// file). The bundle's own checks (`Bundle::parse`) come after.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        use std::io::Read as _;
        let io = |source: std::io::Error| ModelError::Read { path: path.to_path_buf(), source };
        let refused = |reason: String| ModelError::Refused { path: path.to_path_buf(), reason };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(refused("not a regular file".into()));
        }
        let len = meta.len();
        if len > MAX_BUNDLE_BYTES {
            return Err(refused(format!("{len} bytes, more than the {MAX_BUNDLE_BYTES} a bundle may have")));
        }
        let mut header = [0u8; HEADER_LEN];
        if len >= HEADER_LEN as u64 {
            file.read_exact(&mut header).map_err(io)?;
            let mut declared = [0u8; 8];
            declared.copy_from_slice(&header[HEADER_TOTAL_LENGTH_AT..HEADER_TOTAL_LENGTH_AT + 8]);
            let declared = u64::from_le_bytes(declared);
            if header[..MAGIC.len()] == MAGIC && declared != len {
                return Err(refused(format!("its header declares {declared} bytes but the file has {len}")));
            }
        }
        // The rest, never more than the limit even if the file grows meanwhile.
        let mut bytes = header[..(len.min(HEADER_LEN as u64)) as usize].to_vec();
        file.take(MAX_BUNDLE_BYTES + 1 - bytes.len() as u64).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(refused(format!("it grew past {MAX_BUNDLE_BYTES} bytes while being read")));
        }
        Ok(BundleFile { path: path.to_path_buf(), bytes: AlignedBytes::copy_from(&bytes) })
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_bytes()
    }
}

/// A bundle parsed and checked once, with its overlay. Borrows the [`BundleFile`].
#[derive(Debug)]
pub struct LoadedModel<'b> {
    pub path: PathBuf,
    pub bundle: Bundle<'b>,
    pub sha256: [u8; 32],
    pub labels: Vec<LabelInfo>,
    pub overlay: Option<Overlay>,
    pub overlay_path: Option<PathBuf>,
    /// Raw frames per window: the track history the frontend keeps.
    pub raw_frames: usize,
    /// Values per stream tensor.
    pub tensor_len: usize,
}

/// The engine of one stream, whichever backend runs it.
// A model has at most three engines, made once; boxing the larger one would only add an indirection per run.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum DeviceEngine {
    Tract(TractEngine),
    Onnxruntime(OrtEngine),
    TensorRt(TensorRtEngine),
}

impl Engine for DeviceEngine {
    fn input_len(&self) -> usize {
        match self {
            DeviceEngine::Tract(e) => e.input_len(),
            DeviceEngine::Onnxruntime(e) => e.input_len(),
            DeviceEngine::TensorRt(e) => e.input_len(),
        }
    }

    fn output_len(&self) -> usize {
        match self {
            DeviceEngine::Tract(e) => e.output_len(),
            DeviceEngine::Onnxruntime(e) => e.output_len(),
            DeviceEngine::TensorRt(e) => e.output_len(),
        }
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        match self {
            DeviceEngine::Tract(e) => e.run(input, output),
            DeviceEngine::Onnxruntime(e) => e.run(input, output),
            DeviceEngine::TensorRt(e) => e.run(input, output),
        }
    }
}

impl DeviceEngine {
    /// `tract`, `onnxruntime` or `tensorrt`, for logs and reports.
    pub fn backend_name(&self) -> &'static str {
        match self {
            DeviceEngine::Tract(_) => "tract",
            DeviceEngine::Onnxruntime(_) => "onnxruntime",
            DeviceEngine::TensorRt(_) => "tensorrt",
        }
    }
}

/// The CPU backend chosen for the streams TensorRT does not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CpuBackend {
    Tract,
    Onnxruntime,
}

/// How to build the engines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    pub backend: BackendChoice,
    /// CPU threads per run (tract, onnxruntime).
    pub threads: usize,
    /// The onnxruntime library, when configured; otherwise it is searched (`skelact_onnxruntime::locate_library`).
    pub onnxruntime: Option<PathBuf>,
    /// ONNX precision for tract, and the precision a TensorRT engine must have when `exact_precision` is set.
    pub precision: Precision,
    /// Refuse rather than fall back to FP32 when the bundle lacks `precision` (validation compares precisions).
    pub exact_precision: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backend: BackendChoice::Auto,
            threads: 1,
            onnxruntime: None,
            precision: Precision::Fp32,
            exact_precision: false,
        }
    }
}

/// Caller-owned storage the classifier's head borrows: a prototype head's exemplar bank, or the enrolled
/// exemplars, centre, thresholds and query buffer of [`EnrolledOverLinear`]. Empty for other heads.
#[derive(Debug, Default)]
pub struct HeadStore {
    embeddings: Vec<f32>,
    labels: Vec<u16>,
    center: Vec<f32>,
    thresholds: Vec<f32>,
    query: Vec<f32>,
    /// A text-aligned linear head's weights and bias with the text labels' rows (empty without text labels).
    linear_weights: Vec<f32>,
    linear_bias: Vec<f32>,
    /// TDSM's scorer ranking the typed labels behind the gate, when the overlay asks for it.
    ranker: Option<Box<dyn TypedRanker>>,
}

const STREAMS: [StreamKind; 3] = [StreamKind::Joint, StreamKind::Bone, StreamKind::Motion];

impl<'b> LoadedModel<'b> {
    /// Parses and checks the bundle (NTU-25 layout) once, and reads its overlay.
    pub fn open(file: &'b BundleFile, overlay: &OverlayChoice) -> Result<Self, ModelError> {
        let path = file.path.clone();
        let bundle = Bundle::open(file.as_bytes(), LayoutId::KinectV2)
            .map_err(|source| ModelError::Bundle { path: path.clone(), source })?;
        let manifest = bundle.manifest();
        let sha256 = bundle.checksum();
        let mut labels: Vec<LabelInfo> = manifest
            .labels
            .iter()
            .map(|l| LabelInfo { name: l.name.to_string(), action_id: l.action_id, enrolled: false, prompt: None })
            .collect();
        let overlay_path = match overlay {
            OverlayChoice::BesideBundle => Some(Overlay::path_for(&path)).filter(|p| p.exists()),
            OverlayChoice::File(file) => Some(file.clone()),
            OverlayChoice::Ignore => None,
        };
        let overlay = match &overlay_path {
            Some(file) => {
                let overlay = Overlay::read(file, &sha256, manifest.output_len() as usize)?;
                let refuse = |reason: String| ModelError::Labels { path: file.clone(), reason };
                if !can_enroll(&manifest.head) && !overlay.exemplars.is_empty() {
                    return Err(refuse(format!(
                        "the bundle's head is {}, but enrolled exemplars need a prototype or linear head",
                        head_name(&manifest.head)
                    )));
                }
                if !overlay.text_labels.is_empty() && !text_aligned(&bundle) {
                    return Err(refuse(
                        "it has labels typed as words, but the bundle is not text-aligned (a text encoder and a linear \
                         head over embeddings of the text encoder's length)"
                            .into(),
                    ));
                }
                if overlay.rank_typed_by_tdsm {
                    if overlay.typed_gate.is_none() {
                        return Err(refuse(
                            "rank_typed_by_tdsm needs typed_gate: TDSM ranks the typed labels of the windows the gate \
                             gives them"
                                .into(),
                        ));
                    }
                    if bundle.denoiser_spec().is_none() {
                        return Err(refuse(
                            "rank_typed_by_tdsm, but the bundle carries no TDSM scorer (format 1.5; `cargo xtask \
                             text-encoder` writes the text-aligned bundle with one)"
                                .into(),
                        ));
                    }
                }
                if let Some(gate) = overlay.typed_gate {
                    if !(0.0..=1.0).contains(&gate) {
                        return Err(refuse(format!("typed_gate {gate} is not a probability (0 to 1)")));
                    }
                    if !overlay.exemplars.is_empty() {
                        return Err(refuse(
                            "typed_gate and enrolled exemplars together are not supported: remove the gate or the \
                             exemplars"
                                .into(),
                        ));
                    }
                }
                // Text labels first: their rows follow the bundle's in the linear head.
                for label in &overlay.text_labels {
                    let (name, action_id) = (label.name.clone(), label.action_id);
                    labels.push(LabelInfo { name, action_id, enrolled: true, prompt: Some(label.prompt.clone()) });
                }
                for label in &overlay.labels {
                    let (name, action_id) = (label.name.clone(), label.action_id);
                    labels.push(LabelInfo { name, action_id, enrolled: true, prompt: None });
                }
                check_labels(&labels).map_err(refuse)?;
                if let Some(e) = overlay.exemplars.iter().find(|e| !labels.iter().any(|l| l.name == e.label)) {
                    return Err(refuse(format!(
                        "an exemplar names label {:?}, which neither the bundle nor the overlay has",
                        e.label
                    )));
                }
                tracing::info!(
                    overlay = %file.display(),
                    labels = overlay.labels.len(),
                    exemplars = overlay.exemplars.len(),
                    text_labels = overlay.text_labels.len(),
                    "enrollment overlay loaded"
                );
                Some(overlay)
            }
            None => None,
        };
        if labels.len() > MAX_CLASSES {
            return Err(ModelError::Labels {
                path,
                reason: format!("{} labels, the device handles at most {MAX_CLASSES}", labels.len()),
            });
        }
        let raw_frames = manifest.window.raw_frames as usize;
        if raw_frames > MAX_RAW_FRAMES {
            return Err(ModelError::WindowTooLong { raw_frames });
        }
        let tensor_len = manifest.tensor_len();
        Ok(LoadedModel { path, bundle, sha256, labels, overlay, overlay_path, raw_frames, tensor_len })
    }

    pub fn model_name(&self) -> &str {
        self.bundle.manifest().model_name
    }

    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// Label index → action id.
    pub fn action_ids(&self) -> Vec<u16> {
        self.labels.iter().map(|l| l.action_id).collect()
    }

    /// The name of a label index, or `unknown`.
    pub fn label_name(&self, label_index: u16) -> &str {
        if label_index == Event::UNKNOWN {
            return "unknown";
        }
        self.labels.get(usize::from(label_index)).map_or("?", |l| l.name.as_str())
    }

    /// The frame-side settings. The frontend keeps [`Self::raw_frames`] of history in rings of
    /// [`MAX_RAW_FRAMES`] (`Frontend::with_history`).
    pub fn frontend_config(&self) -> Result<FrontendConfig, ModelError> {
        let mut config = self
            .bundle
            .manifest()
            .frontend_config(MAX_RAW_FRAMES)
            .map_err(|source| ModelError::Bundle { path: self.path.clone(), source })?;
        // Sensors are resampled onto the grid of the rate the model was trained at (30 Hz before format 1.2).
        config.grid.model_rate_millihertz = self.bundle.model_rate_millihertz();
        Ok(config)
    }

    /// The embedding (or logits) length of the models.
    pub fn output_len(&self) -> usize {
        self.bundle.manifest().output_len() as usize
    }

    /// Whether enrolled exemplars can be used with this bundle's head (prototype or linear over embeddings).
    pub fn can_enroll(&self) -> bool {
        can_enroll(&self.bundle.manifest().head)
    }

    /// The loaded overlay, or an empty one bound to this bundle: what `enroll` and `labels` add to.
    pub fn overlay_to_edit(&self) -> Overlay {
        self.overlay.clone().unwrap_or_else(|| Overlay::new(&self.sha256, self.model_name(), self.output_len()))
    }

    /// Whether labels can be typed as words for this bundle ([`text_aligned`]).
    pub fn text_aligned(&self) -> bool {
        text_aligned(&self.bundle)
    }

    /// The bundle's text encoder and tokenizer, loaded for tract. Errors when the bundle has none, or when it
    /// cannot be loaded.
    pub fn text_encoder(&self) -> Result<TextEncoder, ModelError> {
        let (onnx, tokenizer) = self.bundle.text_encoder().ok_or_else(|| ModelError::Missing {
            what: "text encoder (bundle format 1.4 with --text-encoder; `skelact info` says what it carries)".into(),
        })?;
        TextEncoder::load(onnx, tokenizer.as_bytes())
            .map_err(|source| ModelError::TextEncoder { path: self.path.clone(), source })
    }

    /// TDSM's scorer from the bundle, planned for the typed labels: each prompt encoded again by the bundle's text
    /// encoder (the overlay keeps the sentence embedding, TDSM needs the token features too).
    fn tdsm_ranker(&self) -> Result<TdsmRanker, ModelError> {
        let onnx = self.bundle.denoiser_onnx().ok_or_else(|| ModelError::Missing {
            what: "TDSM scorer (bundle format 1.5; `cargo xtask text-encoder` writes the text-aligned bundle with one)"
                .into(),
        })?;
        let encoder = self.text_encoder()?;
        let tdsm_error = |source| ModelError::Tdsm { path: self.path.clone(), source };
        let candidates: Vec<_> = self
            .text_labels()
            .iter()
            .map(|l| encoder.encode(&l.prompt))
            .collect::<Result<_, _>>()
            .map_err(tdsm_error)?;
        let scorer = TdsmScorer::load(onnx, self.output_len(), &candidates).map_err(tdsm_error)?;
        tracing::info!(candidates = scorer.candidates(), "TDSM ranks the labels typed as words");
        Ok(TdsmRanker(scorer))
    }

    fn text_labels(&self) -> &[crate::overlay::TextLabel] {
        self.overlay.as_ref().map_or(&[], |o| o.text_labels.as_slice())
    }

    /// The linear head's weights and bias with one row per text label after the bundle's rows: the label's
    /// embedding scaled to the mean length of the bundle's rows (a text-aligned head's rows are text embeddings
    /// over a temperature), so that its logits compare with the trained classes' own; its bias is 0. `None`
    /// without text labels.
    fn text_rows(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        let HeadSpec::Linear { section, dim, bias } = self.bundle.manifest().head else { return None };
        let typed = self.text_labels();
        if typed.is_empty() {
            return None;
        }
        let values = self.bundle.f32_section(section).ok()?;
        let (dim, classes) = (dim as usize, self.bundle.manifest().labels.len());
        let rows = values.get(..classes * dim)?;
        let length = |row: &[f32]| row.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        let scale = rows.chunks_exact(dim).map(length).sum::<f64>() / classes as f64;
        let mut weights = rows.to_vec();
        for label in typed {
            let norm = length(&label.embedding).max(f64::MIN_POSITIVE);
            weights.extend(label.embedding.iter().map(|v| (f64::from(*v) * scale / norm) as f32));
        }
        let mut biases = if bias { values.get(classes * dim..)?.to_vec() } else { vec![0.0; classes] };
        biases.resize(classes + typed.len(), 0.0);
        Some((weights, biases))
    }

    /// The linear head: the bundle's, or with the text labels' rows from `store` ([`Self::head_store`]).
    fn linear_head<'s>(
        &'s self,
        store_weights: &'s [f32],
        store_bias: &'s [f32],
    ) -> Result<LinearHead<'s>, ModelError> {
        let path = &self.path;
        if !store_weights.is_empty() {
            let (classes, dim) = (store_bias.len(), self.output_len());
            return LinearHead::new(store_weights, Some(store_bias), classes, dim)
                .map_err(|source| ModelError::Exemplar { path: path.clone(), label: "(text labels)".into(), source });
        }
        let linear = self.bundle.linear_head().ok_or_else(|| ModelError::Missing { what: "linear head".into() })?;
        linear.map_err(|source| ModelError::Bundle { path: path.clone(), source })
    }

    /// The overlay's exemplars, when there are any and the head is linear: they are checked before the linear head.
    fn enrolled_over_linear(&self) -> Option<&Overlay> {
        let linear = matches!(self.bundle.manifest().head, HeadSpec::Linear { .. });
        self.overlay.as_ref().filter(|o| linear && !o.exemplars.is_empty())
    }

    /// One engine per stream of the model, on the chosen backend.
    pub fn engines(&self, options: &EngineOptions) -> Result<StreamEngines<DeviceEngine>, ModelError> {
        let manifest = self.bundle.manifest();
        let cpu = match options.backend {
            BackendChoice::Onnxruntime => {
                skelact_onnxruntime::locate_library(options.onnxruntime.as_deref())
                    .map_err(ModelError::OnnxruntimeUnavailable)?;
                CpuBackend::Onnxruntime
            }
            BackendChoice::Auto => match skelact_onnxruntime::locate_library(options.onnxruntime.as_deref()) {
                Ok(_) => CpuBackend::Onnxruntime,
                Err(error) => {
                    tracing::info!(%error, "using tract");
                    CpuBackend::Tract
                }
            },
            BackendChoice::Tract | BackendChoice::Tensorrt => CpuBackend::Tract,
        };
        let use_tensorrt = match options.backend {
            BackendChoice::Tract | BackendChoice::Onnxruntime => false,
            BackendChoice::Tensorrt => {
                TensorRtEngine::device_info(&TensorRtOptions::default()).map_err(ModelError::TensorRtUnavailable)?;
                true
            }
            // The bundle is asked first, so that a CPU-only bundle never opens TensorRT.
            BackendChoice::Auto if manifest.tensorrt.is_empty() => {
                tracing::info!("the bundle has no TensorRT engine; using the CPU");
                false
            }
            BackendChoice::Auto => match TensorRtEngine::device_info(&TensorRtOptions::default()) {
                Ok(_) => true,
                Err(error) => {
                    tracing::info!(%error, "TensorRT cannot be used; using the CPU");
                    false
                }
            },
        };
        let mut engines: [Option<DeviceEngine>; 3] = [None, None, None];
        for stream in STREAMS {
            if manifest.stream(stream).is_none() {
                continue;
            }
            let engine = if use_tensorrt {
                match self.tensorrt_engine(stream, options) {
                    Ok(engine) => engine,
                    Err(error) if options.backend == BackendChoice::Auto => {
                        tracing::warn!(%error, ?stream, "TensorRT cannot run this stream; using the CPU");
                        self.cpu_engine(cpu, stream, options)?
                    }
                    Err(error) => return Err(error),
                }
            } else {
                self.cpu_engine(cpu, stream, options)?
            };
            engines[stream.position()] = Some(engine);
        }
        let [joint, bone, motion] = engines;
        let joint = joint.ok_or_else(|| ModelError::Missing { what: "joint stream".into() })?;
        Ok(StreamEngines { joint, bone, motion, weights: manifest.fusion_weights() })
    }

    /// The ONNX model of `stream` in the wanted precision (FP32 when the bundle lacks it and the caller allows).
    fn onnx(&self, stream: StreamKind, options: &EngineOptions, backend: &str) -> Result<&[u8], ModelError> {
        let exact = self.bundle.onnx(stream, options.precision);
        if options.exact_precision { exact } else { exact.or_else(|| self.bundle.onnx(stream, Precision::Fp32)) }
            .ok_or_else(|| ModelError::Missing {
                what: format!("{:?} ONNX model of the {stream:?} stream for {backend}", options.precision),
            })
    }

    fn cpu_engine(
        &self,
        backend: CpuBackend,
        stream: StreamKind,
        options: &EngineOptions,
    ) -> Result<DeviceEngine, ModelError> {
        match backend {
            CpuBackend::Tract => self.tract_engine(stream, options),
            CpuBackend::Onnxruntime => self.onnxruntime_engine(stream, options),
        }
    }

    fn onnxruntime_engine(&self, stream: StreamKind, options: &EngineOptions) -> Result<DeviceEngine, ModelError> {
        let manifest = self.bundle.manifest();
        let onnx = self.onnx(stream, options, "onnxruntime")?;
        let ort_options = OrtOptions {
            library: options.onnxruntime.clone(),
            threads: options.threads,
            input_shape: Some(manifest.input.shape.iter().map(|&d| d as usize).collect()),
            output_name: Some(manifest.output.name.to_string()),
            ..OrtOptions::default()
        };
        let engine =
            OrtEngine::load(onnx, &ort_options).map_err(|source| ModelError::Onnxruntime { stream, source })?;
        if stream == StreamKind::Joint {
            tracing::info!(library = %engine.library().display(), threads = options.threads, "using onnxruntime");
        }
        Ok(DeviceEngine::Onnxruntime(engine))
    }

    fn tract_engine(&self, stream: StreamKind, options: &EngineOptions) -> Result<DeviceEngine, ModelError> {
        let manifest = self.bundle.manifest();
        let onnx = self.onnx(stream, options, "tract")?;
        let tract_options = TractOptions {
            threads: options.threads,
            input_shape: Some(manifest.input.shape.iter().map(|&d| d as usize).collect()),
            output_name: Some(manifest.output.name.to_string()),
        };
        let engine = TractEngine::load(onnx, &tract_options).map_err(|source| ModelError::Tract { stream, source })?;
        Ok(DeviceEngine::Tract(engine))
    }

    fn tensorrt_engine(&self, stream: StreamKind, options: &EngineOptions) -> Result<DeviceEngine, ModelError> {
        // TensorRT is opened once per process; this asks the library already open.
        let device =
            TensorRtEngine::device_info(&TensorRtOptions::default()).map_err(ModelError::TensorRtUnavailable)?;
        let (entry, plan) = self
            .bundle
            .tensorrt_engine(stream, device.tensorrt, device.compute_capability)
            .map_err(|source| ModelError::TensorRtEngine { stream, source })?;
        if options.exact_precision && entry.precision != options.precision {
            return Err(ModelError::Missing {
                what: format!("{:?} TensorRT engine of the {stream:?} stream for this device", options.precision),
            });
        }
        let manifest = self.bundle.manifest();
        let tensorrt_options = TensorRtOptions {
            input_name: Some(manifest.input.name.to_string()),
            output_name: Some(manifest.output.name.to_string()),
            ..TensorRtOptions::default()
        };
        let engine =
            TensorRtEngine::load(plan, &tensorrt_options).map_err(|source| ModelError::TensorRt { stream, source })?;
        Ok(DeviceEngine::TensorRt(engine))
    }

    /// The bundle's reconstruction model (REC), on the encoder's CPU backend: tract or onnxruntime as `encoder`
    /// runs on; for an encoder on TensorRT, onnxruntime when its library is found, else tract (the bundle carries
    /// the model as ONNX only). `None` when the bundle has none.
    pub fn reconstruction_engine(
        &self,
        options: &EngineOptions,
        encoder: &DeviceEngine,
    ) -> Result<Option<DeviceEngine>, ModelError> {
        let backend = match encoder {
            DeviceEngine::Tract(_) => BackendChoice::Tract,
            DeviceEngine::Onnxruntime(_) => BackendChoice::Onnxruntime,
            DeviceEngine::TensorRt(_) => BackendChoice::Auto,
        };
        self.reconstruction_engine_on(options, backend)
    }

    /// The bundle's reconstruction model on `backend`: tract or onnxruntime as named; for `auto` and `tensorrt`,
    /// onnxruntime when its library is found, else tract. `None` when the bundle has none.
    pub fn reconstruction_engine_on(
        &self,
        options: &EngineOptions,
        backend: BackendChoice,
    ) -> Result<Option<DeviceEngine>, ModelError> {
        let (Some(spec), Some(onnx)) = (self.bundle.reconstruction(), self.bundle.reconstruction_onnx()) else {
            return Ok(None);
        };
        let backend = match backend {
            BackendChoice::Tract => CpuBackend::Tract,
            BackendChoice::Onnxruntime => CpuBackend::Onnxruntime,
            BackendChoice::Auto | BackendChoice::Tensorrt => {
                match skelact_onnxruntime::locate_library(options.onnxruntime.as_deref()) {
                    Ok(_) => CpuBackend::Onnxruntime,
                    Err(_) => CpuBackend::Tract,
                }
            }
        };
        let frames = spec.frames as usize;
        let inputs = [("joint", vec![1, 3, frames, 25, 2]), ("missing", vec![1, 1, frames, 25, 2])];
        let engine = match backend {
            CpuBackend::Tract => {
                let tract_options =
                    TractOptions { threads: options.threads, input_shape: None, output_name: Some("completed".into()) };
                TractEngine::load_inputs(onnx, &tract_options, &inputs)
                    .map(DeviceEngine::Tract)
                    .map_err(|e| ModelError::Reconstruction { backend: "tract", reason: e.to_string() })?
            }
            CpuBackend::Onnxruntime => {
                let ort_options = OrtOptions {
                    library: options.onnxruntime.clone(),
                    threads: options.threads,
                    output_name: Some("completed".into()),
                    ..OrtOptions::default()
                };
                OrtEngine::load_inputs(onnx, &ort_options, &inputs)
                    .map(DeviceEngine::Onnxruntime)
                    .map_err(|e| ModelError::Reconstruction { backend: "onnxruntime", reason: e.to_string() })?
            }
        };
        let expected = (skelact_runtime::reconstruct::input_len(frames), self.tensor_len);
        if (engine.input_len(), engine.output_len()) != expected {
            return Err(ModelError::Reconstruction {
                backend: engine.backend_name(),
                reason: format!(
                    "the model takes {} values and gives {}, the window needs {} and {}",
                    engine.input_len(),
                    engine.output_len(),
                    expected.0,
                    expected.1
                ),
            });
        }
        tracing::info!(
            backend = engine.backend_name(),
            frames,
            threshold = spec.threshold,
            "reconstruction model loaded"
        );
        Ok(Some(engine))
    }

    /// REC ready to run: the policy for `mode` and `threshold` ([`Self::reconstruction_policy`]) and, unless the
    /// mode is off or the bundle has no model, the model on the encoder's CPU backend
    /// ([`Self::reconstruction_engine`]) with its input storage, which `input` is sized to hold.
    pub fn reconstruction<'i>(
        &self,
        options: &EngineOptions,
        encoder: &DeviceEngine,
        mode: ReconstructionMode,
        threshold: Option<f32>,
        input: &'i mut Vec<f32>,
    ) -> Result<(ReconstructionPolicy, Option<Reconstruction<'i, DeviceEngine>>), ModelError> {
        let policy = self.reconstruction_policy(mode, threshold)?;
        if mode == ReconstructionMode::Off {
            return Ok((policy, None));
        }
        let Some(engine) = self.reconstruction_engine(options, encoder)? else { return Ok((policy, None)) };
        let frames_out = self.bundle.manifest().preprocess.frames_out as usize;
        input.resize(skelact_runtime::reconstruct::input_len(frames_out), 0.0);
        let backend = engine.backend_name();
        let rec = Reconstruction::new(engine, policy, frames_out, input)
            .map_err(|e| ModelError::Reconstruction { backend, reason: e.to_string() })?;
        Ok((policy, Some(rec)))
    }

    /// The REC policy for `mode`: the threshold given (the configuration's), else the bundle's, else
    /// [`skelact_runtime::reconstruct::DEFAULT_THRESHOLD`].
    pub fn reconstruction_policy(
        &self,
        mode: ReconstructionMode,
        threshold: Option<f32>,
    ) -> Result<ReconstructionPolicy, ModelError> {
        let threshold = threshold
            .or(self.bundle.reconstruction().map(|spec| spec.threshold))
            .unwrap_or(skelact_runtime::reconstruct::DEFAULT_THRESHOLD);
        ReconstructionPolicy::new(mode, threshold)
            .map_err(|e| ModelError::Reconstruction { backend: "-", reason: e.to_string() })
    }

    /// Storage for the head: the bundle's exemplars, the overlay's, and `spare` more (enrollment).
    pub fn head_store(&self, spare: usize) -> HeadStore {
        let overlay = self.overlay.as_ref().map_or(0, |o| o.exemplars.len());
        let (linear_weights, linear_bias) = self.text_rows().unwrap_or_default();
        let (exemplars, dim) = match self.bundle.manifest().head {
            HeadSpec::Prototype { exemplars, dim, .. } => (exemplars as usize, dim as usize),
            HeadSpec::Linear { dim, .. } if self.enrolled_over_linear().is_some() => (0, dim as usize),
            _ => return HeadStore { linear_weights, linear_bias, ..HeadStore::default() },
        };
        // At least one slot: a head with no storage cannot be built, even to enroll into.
        let capacity = (exemplars + overlay + spare).max(1);
        HeadStore {
            embeddings: vec![0.0; capacity * dim],
            labels: vec![0; capacity],
            center: Vec::new(),
            thresholds: Vec::new(),
            query: vec![0.0; dim],
            linear_weights,
            linear_bias,
            ranker: None,
        }
    }

    /// The runtime's window-side half: engines, the bundle's head with the overlay's exemplars (in a prototype
    /// head's bank, or checked before a linear head), decisions.
    pub fn classifier<'s, E: Engine>(
        &'s self,
        store: &'s mut HeadStore,
        engines: StreamEngines<E>,
    ) -> Result<DeviceClassifier<'s, E>, ModelError> {
        let path = &self.path;
        let exemplar_error =
            |label: &str, source: HeadError| ModelError::Exemplar { path: path.clone(), label: label.into(), source };
        let label_index = |name: &str| -> Result<u16, ModelError> {
            let index = self.labels.iter().position(|l| l.name == name);
            // `open` checked that every exemplar names a label, and there are at most MAX_CLASSES.
            index.and_then(|i| u16::try_from(i).ok()).ok_or_else(|| ModelError::Labels {
                path: path.clone(),
                reason: format!("exemplar label {name:?} is not a label"),
            })
        };
        let head = if let Some(overlay) = self.enrolled_over_linear() {
            let k = usize::from(overlay.k.unwrap_or(1));
            let fallback = overlay.min_similarity.unwrap_or(DEFAULT_MIN_SIMILARITY);
            store.center = overlay.center.clone().unwrap_or_default();
            store.thresholds =
                self.labels.iter().map(|l| overlay.thresholds.get(&l.name).copied().unwrap_or(fallback)).collect();
            let HeadStore { embeddings, labels, center, thresholds, query, linear_weights, linear_bias, .. } = store;
            let linear = self.linear_head(linear_weights, linear_bias)?;
            let dim = query.len();
            let mut enrolled =
                PrototypeHead::new(embeddings, labels, dim, k).map_err(|source| exemplar_error("(all)", source))?;
            for exemplar in &overlay.exemplars {
                let centred: Vec<f32> = match overlay.center.as_deref() {
                    Some(c) => exemplar.embedding.iter().zip(c).map(|(e, c)| e - c).collect(),
                    None => exemplar.embedding.clone(),
                };
                enrolled
                    .enroll(label_index(&exemplar.label)?, &centred)
                    .map_err(|source| exemplar_error(&exemplar.label, source))?;
            }
            tracing::info!(
                exemplars = overlay.exemplars.len(),
                k,
                centred = !center.is_empty(),
                "linear head with enrolled actions checked first"
            );
            let head = EnrolledOverLinear::new(linear, enrolled, center, thresholds, query)
                .map_err(|source| exemplar_error("(all)", source))?;
            Head::EnrolledOverLinear(head)
        } else if !store.linear_weights.is_empty() {
            if self.overlay.as_ref().is_some_and(|o| o.rank_typed_by_tdsm) {
                store.ranker = Some(Box::new(self.tdsm_ranker()?));
            }
            let linear = self.linear_head(&store.linear_weights, &store.linear_bias)?;
            match self.overlay.as_ref().and_then(|o| o.typed_gate) {
                Some(gate) => {
                    let ranker = store.ranker.as_deref_mut();
                    tracing::info!(
                        text_labels = self.text_labels().len(),
                        gate,
                        ranked_by = if ranker.is_some() { "TDSM" } else { "cosine" },
                        "labels typed as words behind a gate"
                    );
                    Head::TypedBehindGate { linear, trained: self.bundle.manifest().labels.len(), gate, ranker }
                }
                None => {
                    tracing::info!(text_labels = self.text_labels().len(), "linear head with labels typed as words");
                    Head::Linear(linear)
                }
            }
        } else {
            let storage = ExemplarStorage { embeddings: &mut store.embeddings, labels: &mut store.labels };
            let mut head =
                self.bundle.head(storage).map_err(|source| ModelError::Bundle { path: path.clone(), source })?;
            if let (Head::Prototype { head, .. }, Some(overlay)) = (&mut head, &self.overlay) {
                for exemplar in &overlay.exemplars {
                    head.enroll(label_index(&exemplar.label)?, &exemplar.embedding)
                        .map_err(|source| exemplar_error(&exemplar.label, source))?;
                }
            }
            head
        };
        let actions = self.action_ids();
        Classifier::new(engines, head, self.bundle.manifest().decision_config(), &actions)
            .map_err(|source| ModelError::Classifier { path: path.clone(), source })
    }
}

/// TDSM's scorer as the runtime's ranker of typed labels. A failed run costs its window (the engine error the
/// classifier reports); the reason goes to the log.
#[derive(Debug)]
struct TdsmRanker(TdsmScorer);

/// [`EngineError::Backend`] code of a failed TDSM run.
const TDSM_FAILED: i32 = 15;

impl TypedRanker for TdsmRanker {
    fn errors(&mut self, embedding: &[f32], errors: &mut [f32]) -> Result<(), EngineError> {
        self.0.score(embedding, errors).map_err(|error| {
            tracing::warn!(%error, "TDSM scorer failed");
            EngineError::Backend { code: TDSM_FAILED }
        })
    }
}

/// The first action id from 1000 that no label uses: what a label added on the device gets unless told.
pub fn first_free_action_id(labels: &[LabelInfo]) -> Option<u16> {
    (1000..u16::MAX).find(|id| !labels.iter().any(|l| l.action_id == *id))
}

/// Label names and action ids must be unique, and no action id may be the reserved unknown.
fn check_labels(labels: &[LabelInfo]) -> Result<(), String> {
    for (i, label) in labels.iter().enumerate() {
        if label.action_id == Event::UNKNOWN {
            return Err(format!("label {:?} uses the reserved action id {}", label.name, Event::UNKNOWN));
        }
        if let Some(other) = labels[..i].iter().find(|l| l.name == label.name || l.action_id == label.action_id) {
            return Err(format!(
                "labels {:?} (action {}) and {:?} (action {}) clash: names and action ids must be unique",
                other.name, other.action_id, label.name, label.action_id
            ));
        }
    }
    Ok(())
}

/// Whether labels can be typed as words for `bundle`: it carries a text encoder whose embeddings have the length
/// of the skeleton embedding, and its head is linear over that embedding (a text-aligned model, whose rows are the
/// trained classes' text embeddings over a temperature: `models/skelact_models/textaligned.py`).
pub fn text_aligned(bundle: &Bundle<'_>) -> bool {
    let linear_dim = match bundle.manifest().head {
        HeadSpec::Linear { dim, .. } => dim,
        _ => return false,
    };
    bundle.text_encoder_spec().is_some_and(|text| text.dim == linear_dim)
}

/// Whether exemplars enrolled on the device can be used with `head`.
pub fn can_enroll(head: &HeadSpec) -> bool {
    matches!(head, HeadSpec::Prototype { .. } | HeadSpec::Linear { .. })
}

/// A head's kind in words.
pub fn head_name(head: &HeadSpec) -> &'static str {
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

    #[test]
    fn bundle_files_are_refused_unread_when_not_regular_too_large_or_misdeclared() {
        let refusal = |path: &Path| BundleFile::read(path).err().map(|e| e.to_string()).unwrap_or_default();
        // `skelact info /dev/zero` used to read until memory ran out.
        assert!(refusal(Path::new("/dev/zero")).contains("not a regular file"));
        let dir = tempfile::tempdir().expect("temporary folder");
        // A sparse file past the limit is refused from its size alone.
        let big = dir.path().join("big.skb");
        std::fs::File::create(&big).and_then(|f| f.set_len(MAX_BUNDLE_BYTES + 1)).expect("sparse file");
        assert!(refusal(&big).contains("more than the 268435456"), "{}", refusal(&big));
        // A header that declares another length than the file has.
        let mut bytes = vec![0u8; 64];
        bytes[..MAGIC.len()].copy_from_slice(&MAGIC);
        bytes[16..24].copy_from_slice(&2_000_000_000u64.to_le_bytes());
        let lying = dir.path().join("lying.skb");
        std::fs::write(&lying, &bytes).expect("write");
        assert!(refusal(&lying).contains("declares 2000000000 bytes but the file has 64"), "{}", refusal(&lying));
        // The committed default bundle reads, whole, and opens.
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo/default.skb");
        let file = BundleFile::read(&default).expect("the committed default bundle reads");
        let len = std::fs::metadata(&default).map(|m| m.len()).unwrap_or(0);
        assert_eq!(file.as_bytes().len() as u64, len);
        assert!(LoadedModel::open(&file, &OverlayChoice::Ignore).is_ok());
    }

    #[test]
    fn a_typed_gate_must_be_a_probability_and_not_meet_enrolled_exemplars() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo/default.skb");
        let file = BundleFile::read(&default).expect("the committed default bundle reads");
        let model = LoadedModel::open(&file, &OverlayChoice::Ignore).expect("it opens");
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("default.overlay.json");
        let refusal = |overlay: &Overlay| {
            overlay.write(&path).expect("write");
            LoadedModel::open(&file, &OverlayChoice::File(path.clone())).expect_err("refused").to_string()
        };
        let mut overlay = Overlay::new(&model.sha256, model.model_name(), model.output_len());
        overlay.typed_gate = Some(1.5);
        assert!(refusal(&overlay).contains("typed_gate 1.5 is not a probability"), "{}", refusal(&overlay));
        overlay.typed_gate = Some(0.7);
        let label = model.labels[0].name.clone();
        let exemplar =
            crate::overlay::Exemplar { label, embedding: vec![0.1; model.output_len()], source: String::new() };
        overlay.exemplars.push(exemplar);
        assert!(refusal(&overlay).contains("typed_gate and enrolled exemplars"), "{}", refusal(&overlay));
        overlay.exemplars.clear();
        overlay.write(&path).expect("write");
        assert!(LoadedModel::open(&file, &OverlayChoice::File(path.clone())).is_ok(), "a gate alone is accepted");
        // TDSM ranks behind the gate, with the bundle's scorer: the default bundle has none.
        overlay.rank_typed_by_tdsm = true;
        assert!(refusal(&overlay).contains("the bundle carries no TDSM scorer"), "{}", refusal(&overlay));
        overlay.typed_gate = None;
        assert!(refusal(&overlay).contains("rank_typed_by_tdsm needs typed_gate"), "{}", refusal(&overlay));
    }

    #[test]
    fn typed_labels_need_a_text_aligned_bundle() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/zoo/default.skb");
        let file = BundleFile::read(&default).expect("the committed default bundle reads");
        let model = LoadedModel::open(&file, &OverlayChoice::Ignore).expect("it opens");
        assert!(!model.text_aligned(), "the default bundle carries no text encoder");
        assert!(matches!(model.text_encoder(), Err(ModelError::Missing { .. })));
        let dim = model.output_len();
        let mut overlay = Overlay::new(&model.sha256, model.model_name(), dim);
        let embedding = vec![0.1; dim];
        let label =
            crate::overlay::TextLabel { name: "bow".into(), action_id: 1000, prompt: "a bow".into(), embedding };
        overlay.text_labels.push(label);
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("default.overlay.json");
        overlay.write(&path).expect("write");
        let refused = LoadedModel::open(&file, &OverlayChoice::File(path)).expect_err("refused").to_string();
        assert!(refused.contains("not text-aligned"), "{refused}");
    }
}
