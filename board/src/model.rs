//! A bundle made ready to run: its bytes, its labels (with an enrollment overlay's), its engines and its head.
//!
//! [`LoadedModel::open`] reads and checks the bundle and the overlay once. The pipeline's halves are then built
//! from it: [`LoadedModel::frontend_config`] for the frame side, [`LoadedModel::engines`] and
//! [`LoadedModel::classifier`] for the window side. The classifier borrows the bundle bytes (linear and text heads
//! view their weights in place) and an [`ExemplarStore`] (a prototype head's exemplars), so both outlive it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use skelact_runtime::bundle::{AlignedBytes, Bundle, ExemplarStorage, HeadSpec, Precision, StreamKind};
use skelact_runtime::engine::{Engine, EngineError};
use skelact_runtime::head::PrototypeHead;
use skelact_runtime::pipeline::{Classifier, FrontendConfig, Head, StreamEngines};
use skelact_runtime::wire::{Event, LayoutId};

use crate::backend::tensorrt;
use crate::backend::tract::{TractEngine, TractOptions};
use crate::overlay::{hex, Overlay, DEFAULT_MIN_SIMILARITY};
use crate::window_side::{BoardWindowSide, EnrolledClassifier};

/// Most labels a device handles: the bundle's (at most 128) plus those enrolled on it.
pub const MAX_CLASSES: usize = 160;
/// Most bodies tracked and classified at once (the design's "up to 4 bodies per frame").
pub const TRACKS: usize = 4;
/// Longest engine output (logits or embedding) the classifier holds.
pub const MAX_OUT: usize = 512;
/// Score vectors kept per body for smoothing (a bundle's `smoothing_windows` must not exceed it).
pub const HISTORY: usize = 8;

/// The classifier the board runs.
pub type BoardClassifier<'a, E> = Classifier<'a, E, MAX_OUT, TRACKS, MAX_CLASSES, HISTORY>;

/// Which inference backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// TensorRT when this build has it and the bundle holds an engine for this device; tract otherwise.
    #[default]
    Auto,
    /// tract on the CPU.
    Tract,
    /// TensorRT on the GPU; refuses to start when it cannot be used.
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

/// One label as the device reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelInfo {
    pub name: String,
    pub action_id: u16,
    /// Whether the label comes from the overlay rather than the bundle.
    pub enrolled: bool,
}

/// A checked bundle with its overlay.
#[derive(Debug)]
pub struct LoadedModel {
    pub path: PathBuf,
    bytes: AlignedBytes,
    pub sha256: [u8; 32],
    pub labels: Vec<LabelInfo>,
    pub overlay: Option<Overlay>,
    pub overlay_path: Option<PathBuf>,
    /// Raw frames per window: the track ring length the frontend must have.
    pub raw_frames: usize,
    /// Values per stream tensor.
    pub tensor_len: usize,
}

/// Caller-owned exemplar storage for a prototype head (empty for other heads).
#[derive(Debug, Default)]
pub struct ExemplarStore {
    embeddings: Vec<f32>,
    labels: Vec<u16>,
}

/// The engine of one stream, whichever backend runs it.
// A model has at most three engines, made once; boxing the larger one would only add an indirection per run.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum BoardEngine {
    Tract(TractEngine),
    #[cfg(feature = "tensorrt")]
    TensorRt(tensorrt::TensorRtEngine),
}

impl Engine for BoardEngine {
    fn input_len(&self) -> usize {
        match self {
            BoardEngine::Tract(e) => e.input_len(),
            #[cfg(feature = "tensorrt")]
            BoardEngine::TensorRt(e) => e.input_len(),
        }
    }

    fn output_len(&self) -> usize {
        match self {
            BoardEngine::Tract(e) => e.output_len(),
            #[cfg(feature = "tensorrt")]
            BoardEngine::TensorRt(e) => e.output_len(),
        }
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        match self {
            BoardEngine::Tract(e) => e.run(input, output),
            #[cfg(feature = "tensorrt")]
            BoardEngine::TensorRt(e) => e.run(input, output),
        }
    }
}

/// How to build the engines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    pub backend: BackendChoice,
    /// tract threads per run.
    pub threads: usize,
    /// ONNX precision for tract (FP32 is the CPU speed default, see docs/performance.md).
    pub precision: Precision,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { backend: BackendChoice::Auto, threads: 1, precision: Precision::Fp32 }
    }
}

const STREAMS: [StreamKind; 3] = [StreamKind::Joint, StreamKind::Bone, StreamKind::Motion];

impl LoadedModel {
    /// Reads and checks a bundle (NTU-25 layout) and its overlay.
    pub fn open(path: &Path, overlay: &OverlayChoice) -> anyhow::Result<Self> {
        let bytes = AlignedBytes::read(path).with_context(|| format!("cannot read bundle {}", path.display()))?;
        let bundle = Bundle::open(bytes.as_bytes(), LayoutId::KinectV2)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let manifest = bundle.manifest();
        let sha256 = bundle.checksum();
        let mut labels: Vec<LabelInfo> = manifest
            .labels
            .iter()
            .map(|l| LabelInfo { name: l.name.to_string(), action_id: l.action_id, enrolled: false })
            .collect();
        let overlay_path = match overlay {
            OverlayChoice::BesideBundle => Some(Overlay::path_for(path)).filter(|p| p.exists()),
            OverlayChoice::File(file) => Some(file.clone()),
            OverlayChoice::Ignore => None,
        };
        let overlay = match &overlay_path {
            Some(file) => {
                let overlay = Overlay::read(file, &sha256, manifest.output_len() as usize)?;
                if !can_enroll(&manifest.head) && !overlay.exemplars.is_empty() {
                    bail!(
                        "{}: the bundle's head is {}, but enrolled exemplars need a prototype or linear head",
                        file.display(),
                        head_name(&manifest.head)
                    );
                }
                for label in &overlay.labels {
                    labels.push(LabelInfo { name: label.name.clone(), action_id: label.action_id, enrolled: true });
                }
                check_labels(&labels).with_context(|| format!("{}", file.display()))?;
                if let Some(e) = overlay.exemplars.iter().find(|e| !labels.iter().any(|l| l.name == e.label)) {
                    bail!(
                        "{}: an exemplar names label {:?}, which neither the bundle nor the overlay has",
                        file.display(),
                        e.label
                    );
                }
                tracing::info!(overlay = %file.display(), labels = overlay.labels.len(), exemplars = overlay.exemplars.len(), "enrollment overlay loaded");
                Some(overlay)
            }
            None => None,
        };
        if labels.len() > MAX_CLASSES {
            bail!("{} labels, the device handles at most {MAX_CLASSES}", labels.len());
        }
        let raw_frames = manifest.window.raw_frames as usize;
        let tensor_len = manifest.tensor_len();
        drop(bundle);
        Ok(LoadedModel {
            path: path.to_path_buf(),
            bytes,
            sha256,
            labels,
            overlay,
            overlay_path,
            raw_frames,
            tensor_len,
        })
    }

    /// The checked bundle (parsed again from the bytes: checking costs one SHA-256 pass, about a millisecond per
    /// megabyte, and keeps this type free of self-references).
    pub fn bundle(&self) -> Bundle<'_> {
        match Bundle::parse(self.bytes.as_bytes()) {
            Ok(bundle) => bundle,
            // `open` parsed these very bytes, and they are immutable.
            Err(e) => unreachable!("bundle bytes changed after loading: {e}"),
        }
    }

    pub fn model_name(&self) -> String {
        self.bundle().manifest().model_name.to_string()
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

    /// The frame-side settings, for track rings of exactly `raw_frames`.
    pub fn frontend_config(&self) -> anyhow::Result<FrontendConfig> {
        Ok(self.bundle().manifest().frontend_config(self.raw_frames)?)
    }

    /// The embedding (or logits) length of the models.
    pub fn output_len(&self) -> usize {
        self.bundle().manifest().output_len() as usize
    }

    /// Whether enrolled exemplars can be used with this bundle's head (prototype or linear over embeddings).
    pub fn can_enroll(&self) -> bool {
        can_enroll(&self.bundle().manifest().head)
    }

    /// Whether the board classifies with [`EnrolledClassifier`]: a linear head with enrolled exemplars.
    fn uses_enrolled_classifier(&self) -> bool {
        let linear = matches!(self.bundle().manifest().head, HeadSpec::Linear { .. });
        linear && self.overlay.as_ref().is_some_and(|o| !o.exemplars.is_empty())
    }

    /// One engine per stream of the model, on the chosen backend.
    pub fn engines(&self, options: &EngineOptions) -> anyhow::Result<StreamEngines<BoardEngine>> {
        let bundle = self.bundle();
        let manifest = bundle.manifest();
        let use_tensorrt = match options.backend {
            BackendChoice::Tract => false,
            BackendChoice::Tensorrt => {
                if let Err(error) = tensorrt::build_status() {
                    bail!("--backend tensorrt is unavailable: {error}");
                }
                true
            }
            BackendChoice::Auto => match tensorrt::build_status() {
                Ok(_) if !manifest.tensorrt.is_empty() => true,
                Ok(_) => {
                    tracing::info!("the bundle has no TensorRT engine; using tract");
                    false
                }
                Err(_) => false,
            },
        };
        let mut engines: [Option<BoardEngine>; 3] = [None, None, None];
        for stream in STREAMS {
            if manifest.stream(stream).is_none() {
                continue;
            }
            let engine = if use_tensorrt {
                match self.tensorrt_engine(&bundle, stream) {
                    Ok(engine) => engine,
                    Err(error) if options.backend == BackendChoice::Auto => {
                        tracing::warn!(%error, ?stream, "TensorRT cannot run this stream; using tract");
                        self.tract_engine(&bundle, stream, options)?
                    }
                    Err(error) => return Err(error),
                }
            } else {
                self.tract_engine(&bundle, stream, options)?
            };
            engines[stream.position()] = Some(engine);
        }
        let [joint, bone, motion] = engines;
        let joint = joint.context("the bundle has no joint stream")?;
        Ok(StreamEngines { joint, bone, motion, weights: manifest.fusion_weights() })
    }

    fn tract_engine(
        &self,
        bundle: &Bundle<'_>,
        stream: StreamKind,
        options: &EngineOptions,
    ) -> anyhow::Result<BoardEngine> {
        let manifest = bundle.manifest();
        let onnx = bundle
            .onnx(stream, options.precision)
            .or_else(|| bundle.onnx(stream, Precision::Fp32))
            .with_context(|| format!("the bundle has no ONNX model of the {stream:?} stream for tract"))?;
        let tract_options = TractOptions {
            threads: options.threads,
            input_shape: Some(manifest.input.shape.iter().map(|&d| d as usize).collect()),
            output_name: Some(manifest.output.name.to_string()),
        };
        let engine = TractEngine::load(onnx, &tract_options).with_context(|| format!("{stream:?} stream"))?;
        Ok(BoardEngine::Tract(engine))
    }

    #[cfg(feature = "tensorrt")]
    fn tensorrt_engine(&self, bundle: &Bundle<'_>, stream: StreamKind) -> anyhow::Result<BoardEngine> {
        use tensorrt::{ComputeCapability, EngineTarget, TensorRtEngine, TensorRtOptions, TrtVersion};
        let device = TensorRtEngine::device_info(0)?;
        let manifest = bundle.manifest();
        let candidates: Vec<_> = manifest.tensorrt.iter().filter(|e| e.stream == stream).collect();
        let target = |e: &skelact_runtime::bundle::TensorRtEngine| EngineTarget {
            tensorrt: TrtVersion {
                major: u32::from(e.tensorrt.major),
                minor: u32::from(e.tensorrt.minor),
                patch: u32::from(e.tensorrt.patch),
            },
            compute_capability: ComputeCapability {
                major: u32::from(e.compute_capability.major),
                minor: u32::from(e.compute_capability.minor),
            },
        };
        // The shim reports major.minor.patch; engines are matched on those and on the GPU, and the shim refuses
        // a mismatch naming both sides, so the first candidate's refusal is the message when none fits.
        let chosen = candidates
            .iter()
            .find(|e| tensorrt::check_compatible(&target(e), &device).is_ok())
            .or(candidates.first())
            .with_context(|| format!("the bundle has no TensorRT engine for the {stream:?} stream"))?;
        let plan = bundle.section(chosen.section).context("engine section")?.payload;
        let options = TensorRtOptions {
            device: 0,
            input_name: Some(manifest.input.name.to_string()),
            output_name: Some(manifest.output.name.to_string()),
        };
        Ok(BoardEngine::TensorRt(TensorRtEngine::load(plan, &target(chosen), &options)?))
    }

    #[cfg(not(feature = "tensorrt"))]
    fn tensorrt_engine(&self, _bundle: &Bundle<'_>, _stream: StreamKind) -> anyhow::Result<BoardEngine> {
        match tensorrt::build_status() {
            Err(error) => bail!("--backend tensorrt is unavailable: {error}"),
            Ok(_) => bail!("--backend tensorrt is unavailable: this build lacks the `tensorrt` feature"),
        }
    }

    /// Storage for the prototype head: the bundle's exemplars, the overlay's, and `spare` more (enrollment).
    pub fn exemplar_store(&self, spare: usize) -> ExemplarStore {
        let bundle = self.bundle();
        let overlay = self.overlay.as_ref().map_or(0, |o| o.exemplars.len());
        let (exemplars, dim) = match bundle.manifest().head {
            HeadSpec::Prototype { exemplars, dim, .. } => (exemplars, dim),
            HeadSpec::Linear { dim, .. } if self.uses_enrolled_classifier() => (0, dim),
            _ => return ExemplarStore::default(),
        };
        // At least one slot: a head with no storage cannot be built, even to enroll into.
        let capacity = (exemplars as usize + overlay + spare).max(1);
        ExemplarStore { embeddings: vec![0.0; capacity * dim as usize], labels: vec![0; capacity] }
    }

    /// The window side the daemon runs: [`EnrolledClassifier`] for a linear head with enrolled exemplars, the
    /// runtime's classifier with the bundle's head otherwise.
    pub fn window_classifier<'s, E: Engine>(
        &'s self,
        bundle: &Bundle<'s>,
        store: &'s mut ExemplarStore,
        engines: StreamEngines<E>,
    ) -> anyhow::Result<BoardWindowSide<'s, E>> {
        let (Some(overlay), true) = (&self.overlay, self.uses_enrolled_classifier()) else {
            return Ok(BoardWindowSide::Standard(Box::new(self.classifier(bundle, store, engines)?)));
        };
        let linear = bundle.linear_head().context("linear head")?.map_err(|e| anyhow::anyhow!("{e}"))?;
        let dim = self.output_len();
        let k = usize::from(overlay.k.unwrap_or(1));
        let mut enrolled = PrototypeHead::new(&mut store.embeddings, &mut store.labels, dim, k)
            .map_err(|e| anyhow::anyhow!("enrolled exemplars: {e}"))?;
        let center = overlay.center.as_deref();
        for exemplar in &overlay.exemplars {
            let index = self.labels.iter().position(|l| l.name == exemplar.label).context("overlay label")?;
            let centred: Vec<f32> = match center {
                Some(c) => exemplar.embedding.iter().zip(c).map(|(e, c)| e - c).collect(),
                None => exemplar.embedding.clone(),
            };
            enrolled
                .enroll(index as u16, &centred)
                .map_err(|e| anyhow::anyhow!("overlay exemplar of {:?}: {e}", exemplar.label))?;
        }
        let fallback = overlay.min_similarity.unwrap_or(DEFAULT_MIN_SIMILARITY);
        let thresholds: Vec<f32> =
            self.labels.iter().map(|l| overlay.thresholds.get(&l.name).copied().unwrap_or(fallback)).collect();
        let actions = self.action_ids();
        let decision = bundle.manifest().decision_config();
        let classifier = EnrolledClassifier::new(engines, linear, enrolled, center, &thresholds, decision, &actions)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))?;
        tracing::info!(
            exemplars = overlay.exemplars.len(),
            k,
            centred = center.is_some(),
            "linear head with enrolled actions checked first"
        );
        Ok(BoardWindowSide::Enrolled(Box::new(classifier)))
    }

    /// The runtime's window-side half: engines, the bundle's head (a prototype head with the overlay's exemplars
    /// enrolled), decisions.
    pub fn classifier<'s, E: Engine>(
        &'s self,
        bundle: &Bundle<'s>,
        store: &'s mut ExemplarStore,
        engines: StreamEngines<E>,
    ) -> anyhow::Result<BoardClassifier<'s, E>> {
        let storage = ExemplarStorage { embeddings: &mut store.embeddings, labels: &mut store.labels };
        let mut head = bundle.head(storage).map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))?;
        if let (Head::Prototype { head, .. }, Some(overlay)) = (&mut head, &self.overlay) {
            for exemplar in &overlay.exemplars {
                let index = self.labels.iter().position(|l| l.name == exemplar.label).context("overlay label")?;
                head.enroll(index as u16, &exemplar.embedding)
                    .map_err(|e| anyhow::anyhow!("overlay exemplar of {:?}: {e}", exemplar.label))?;
            }
        }
        let actions = self.action_ids();
        Classifier::new(engines, head, bundle.manifest().decision_config(), &actions)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))
    }
}

/// Label names and action ids must be unique, and no action id may be the reserved unknown.
fn check_labels(labels: &[LabelInfo]) -> anyhow::Result<()> {
    for (i, label) in labels.iter().enumerate() {
        if label.action_id == Event::UNKNOWN {
            bail!("label {:?} uses the reserved action id {}", label.name, Event::UNKNOWN);
        }
        if let Some(other) = labels[..i].iter().find(|l| l.name == label.name || l.action_id == label.action_id) {
            bail!(
                "labels {:?} (action {}) and {:?} (action {}) clash: names and action ids must be unique",
                other.name,
                other.action_id,
                label.name,
                label.action_id
            );
        }
    }
    Ok(())
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
