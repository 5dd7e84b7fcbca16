//! The glue from decoded messages to events, in two halves that a device may run on different threads:
//!
//! - [`Frontend`]: per frame, maps bodies into the model layout and feeds the tracks; per due window, extracts and
//!   preprocesses it into tensors. Cheap and allocation-free, it runs on every frame.
//! - [`Classifier`]: per window, runs the engine of each stream, the head, stream fusion and the decision layer.
//!   It is the expensive half: a device that falls behind drops whole windows between the halves, never frames.
//!
//! [`Pipeline`] joins both for single-threaded use (tests, MCU-class targets, replay).

use crate::decision::{DecisionConfig, DecisionError, Decisions};
use crate::engine::{Engine, EngineError};
use crate::head::{
    lowest_takes_all, stream_probabilities, typed_behind_gate, EnrolledOverLinear, HeadError, LinearHead,
    PrototypeHead, TextPrototypeHead, TypedRanker,
};
use crate::layout::{map_body, provided_joints, SourceFormat};
use crate::preprocess::{mask_len, MissingCount, Outputs, PreprocessConfig, PreprocessError, Preprocessor, Streams};
use crate::reconstruct::{Reconstruction, ReconstructionCounters, WindowOutcome};
use crate::resample::{GridConfig, ResampleCounters, ResampleError, Resampler};
use crate::track::{FrameReport, TrackConfig, TrackError, TrackId, Tracks};
use crate::window::{extract, WindowConfig, WindowError, WindowFrames};
use crate::wire::{Event, Frame, Hello, Message, PROTOCOL_MAJOR};

/// Why a `Hello` was refused. The layout, units and axes in use before it stay in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HelloError {
    /// The sender speaks another major version of the protocol, whose layouts and fields this build cannot know
    /// (the packet's own version byte said v1, so the sender is confused or broken).
    UnsupportedMajor { major: u8 },
}

impl core::fmt::Display for HelloError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HelloError::UnsupportedMajor { major } => write!(
                f,
                "Hello announces protocol major version {major}; this build speaks v{PROTOCOL_MAJOR}, so the previous layout stays in use"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HelloError {}

/// Why a frame or a window failed. Each costs only that frame or window.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PipelineError {
    Hello(HelloError),
    Track(TrackError),
    Window(WindowError),
    Preprocess(PreprocessError),
    Engine(EngineError),
    Head(HeadError),
    Decision(DecisionError),
    /// The streams, engines, head and buffers do not fit together (found at construction).
    Config(&'static str),
}

impl core::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PipelineError::Hello(e) => write!(f, "hello: {e}"),
            PipelineError::Track(e) => write!(f, "tracks: {e}"),
            PipelineError::Window(e) => write!(f, "window: {e}"),
            PipelineError::Preprocess(e) => write!(f, "preprocessing: {e}"),
            PipelineError::Engine(e) => write!(f, "engine: {e}"),
            PipelineError::Head(e) => write!(f, "head: {e}"),
            PipelineError::Decision(e) => write!(f, "decision: {e}"),
            PipelineError::Config(what) => write!(f, "pipeline configuration: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PipelineError {}

macro_rules! from_error {
    ($($source:ty => $variant:ident),*) => {
        $(impl From<$source> for PipelineError {
            fn from(e: $source) -> Self {
                PipelineError::$variant(e)
            }
        })*
    };
}
from_error!(HelloError => Hello, TrackError => Track, WindowError => Window, PreprocessError => Preprocess, EngineError => Engine,
    HeadError => Head, DecisionError => Decision);

/// Settings of the frame-side half. They must match the bundle the model came with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrontendConfig {
    /// Joints below this wire confidence count as missing (1 = anything tracked).
    pub min_confidence: u8,
    /// The model's time grid, onto which every sensor's frames are resampled before the tracks.
    pub grid: GridConfig,
    pub tracks: TrackConfig,
    pub window: WindowConfig,
    pub preprocess: PreprocessConfig,
}

/// A window ready for classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WindowInfo {
    pub body_id: u32,
    /// The partner packed as the second body, if any.
    pub partner_id: Option<u32>,
    /// Sensor time of the first and last raw frame in the window.
    pub start_us: u64,
    pub end_us: u64,
    /// How much of the window was missing (`docs/preprocessing.md`, "The missing mask").
    pub missing: MissingCount,
}

/// Counters of the frame-side half.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrontendCounters {
    pub frames: u32,
    /// Bodies whose joints did not fit the announced layout; they were left out of their frame.
    pub bodies_rejected: u32,
    /// Joints of mapped bodies that lay implausibly far away (`layout::MAX_JOINT_DISTANCE_M`); each was treated as
    /// missing.
    pub joints_implausible: u32,
    /// `Hello`s refused (see [`HelloError`]).
    pub hellos_refused: u32,
    pub windows_prepared: u32,
    /// Windows that could not be built or preprocessed (for example a body without a usable root joint).
    pub windows_failed: u32,
    /// The sensor's frames against the model's time grid: rates, frames lost, grid frames emitted.
    pub grid: ResampleCounters,
}

/// Frame-side half: layout mapping, tracks, windows, preprocessing.
#[derive(Debug)]
pub struct Frontend<const TRACKS: usize = 4, const FRAMES: usize = 64> {
    format: SourceFormat,
    min_confidence: u8,
    window_config: WindowConfig,
    resampler: Resampler,
    tracks: Tracks<TRACKS, FRAMES>,
    window: WindowFrames<FRAMES>,
    preprocessor: Preprocessor<FRAMES>,
    counters: FrontendCounters,
}

impl<const TRACKS: usize, const FRAMES: usize> Frontend<TRACKS, FRAMES> {
    /// A frontend for sensors speaking `format` until a `Hello` says otherwise, keeping `FRAMES` frames per track.
    pub fn new(config: FrontendConfig, format: SourceFormat) -> Result<Self, PipelineError> {
        Self::with_history(config, format, FRAMES)
    }

    /// As [`Frontend::new`], keeping `history_frames` (`1..=FRAMES`) frames per track: a device compiled once with
    /// room for its longest supported window serves a model of any window up to that (see
    /// [`Tracks::with_history`]).
    pub fn with_history(
        config: FrontendConfig,
        format: SourceFormat,
        history_frames: usize,
    ) -> Result<Self, PipelineError> {
        let mut preprocessor = Preprocessor::new(config.preprocess)?;
        preprocessor.set_provided(provided_joints(format.layout));
        Ok(Frontend {
            format,
            min_confidence: config.min_confidence,
            window_config: config.window,
            resampler: Resampler::new(config.grid)
                .ok_or(PipelineError::Config("grid: model rate or tolerance out of range"))?,
            tracks: Tracks::with_history(config.tracks, history_frames)?,
            window: WindowFrames::new(),
            preprocessor,
            counters: FrontendCounters::default(),
        })
    }

    /// Length of each stream tensor `[3, T, 25, 2]`.
    pub fn tensor_len(&self) -> usize {
        self.preprocessor.tensor_len()
    }

    /// Length of the missing mask `[1, T, 25, 2]` ([`Outputs::missing`]).
    pub fn mask_len(&self) -> usize {
        mask_len(self.preprocessor.config().frames_out)
    }

    /// T, frames of the model input.
    pub fn frames_out(&self) -> usize {
        self.preprocessor.config().frames_out
    }

    pub fn streams(&self) -> Streams {
        self.preprocessor.config().streams
    }

    pub fn tracks(&self) -> &Tracks<TRACKS, FRAMES> {
        &self.tracks
    }

    pub fn counters(&self) -> FrontendCounters {
        FrontendCounters { grid: self.resampler.counters(), ..self.counters }
    }

    /// Whether the rate the sensor's timestamps show is outside the tolerance around the rate its `Hello` announced.
    pub fn rate_mismatched(&self) -> bool {
        self.resampler.rate_mismatched()
    }

    /// Adopts the layout, units and axes a sensor announces, unless the `Hello` is refused (counted in
    /// `hellos_refused`): then the previous ones stay.
    pub fn on_hello(&mut self, hello: &Hello) -> Result<(), HelloError> {
        if hello.protocol_major != PROTOCOL_MAJOR {
            self.counters.hellos_refused = self.counters.hellos_refused.wrapping_add(1);
            return Err(HelloError::UnsupportedMajor { major: hello.protocol_major });
        }
        self.format = SourceFormat::from_hello(hello);
        self.preprocessor.set_provided(provided_joints(self.format.layout));
        self.resampler.set_nominal_rate(hello.nominal_fps_millihertz);
        Ok(())
    }

    /// Maps the frame's bodies into the model layout, resamples them onto the model's time grid and advances the
    /// tracks by every grid frame this frame completes (none, one, or several for a sensor slower than the model).
    ///
    /// A body that does not fit the layout is left out of this frame and counted; the rest of the frame is used. A
    /// repeated sequence number is refused and changes nothing.
    pub fn push_frame(&mut self, frame: &Frame) -> Result<FrameReport, PipelineError> {
        let held = self.resampler.incoming();
        for body in &frame.bodies {
            let Some((id, pose)) = held.next_slot() else { break };
            match map_body(&self.format, &body.joints, self.min_confidence, pose) {
                Ok(report) => {
                    self.counters.joints_implausible =
                        self.counters.joints_implausible.wrapping_add(u32::from(report.implausible_joints));
                    *id = body.id;
                    held.commit_slot();
                }
                Err(_) => self.counters.bodies_rejected = self.counters.bodies_rejected.wrapping_add(1),
            }
        }
        let tracks = &mut self.tracks;
        let mut report = FrameReport::default();
        let outcome = self.resampler.push(frame.sequence, frame.timestamp_us, |sequence, time_us, held| {
            report.merge(&tracks.push_frame(sequence, time_us, held.bodies())?);
            Ok::<(), TrackError>(())
        });
        match outcome {
            Ok(()) => {}
            Err(ResampleError::Track(error) | ResampleError::Emit(error)) => return Err(error.into()),
        }
        self.counters.frames = self.counters.frames.wrapping_add(1);
        Ok(report)
    }

    /// The next track whose window is due, if any.
    pub fn next_due(&self) -> Option<TrackId> {
        self.tracks.due().next()
    }

    /// Builds and preprocesses the window of `id` into `tensors`, and marks the track as served so that a
    /// window that fails is not retried on every frame.
    pub fn prepare(&mut self, id: TrackId, tensors: Outputs<'_>) -> Result<WindowInfo, PipelineError> {
        let outcome = self.prepare_unmarked(id, tensors);
        self.tracks.mark_inferred(id)?;
        let counter = match outcome {
            Ok(_) => &mut self.counters.windows_prepared,
            Err(_) => &mut self.counters.windows_failed,
        };
        *counter = counter.wrapping_add(1);
        outcome
    }

    fn prepare_unmarked(&mut self, id: TrackId, tensors: Outputs<'_>) -> Result<WindowInfo, PipelineError> {
        extract(&self.tracks, id, &self.window_config, &mut self.window)?;
        self.preprocessor.run(&self.window, tensors)?;
        let body = self.window.sources[0].ok_or(PipelineError::Window(WindowError::UnknownTrack))?;
        Ok(WindowInfo {
            body_id: body.body_id,
            partner_id: self.window.sources[1].map(|p| p.body_id),
            start_us: self.window.start_us,
            end_us: self.window.end_us,
            missing: self.preprocessor.missing(),
        })
    }

    /// Whether a body id still has a track (the decision layer closes segments of bodies that are gone).
    pub fn is_tracked(&self, body_id: u32) -> bool {
        self.tracks.find_body(body_id).is_some()
    }
}

/// How the classifier turns engine outputs into per-label scores.
#[derive(Debug)]
pub enum Head<'a, const MAX_K: usize = 16> {
    /// The engines output logits: softmax per stream, then weighted fusion.
    Logits,
    /// The engines output embeddings; a linear layer from the bundle makes logits (per stream, then fusion).
    Linear(LinearHead<'a>),
    /// The joint engine outputs an embedding, compared with exemplars enrolled on the device. Below
    /// `min_similarity` the window is unknown.
    Prototype { head: PrototypeHead<'a, MAX_K>, min_similarity: f32 },
    /// The joint engine outputs an embedding, compared with label text embeddings (zero-shot labels).
    Text { head: TextPrototypeHead<'a>, min_similarity: f32 },
    /// The engines output embeddings; exemplars enrolled on the device are checked first, the bundle's linear head
    /// scores every other window (see [`EnrolledOverLinear`]).
    EnrolledOverLinear(EnrolledOverLinear<'a, MAX_K>),
    /// The joint engine outputs an embedding; a linear head with the `trained` classes' rows first and one row per
    /// label typed as words after them. The typed labels take the windows whose trained top probability is below
    /// `gate` (see [`typed_behind_gate`]); among them the cosine decides, or, given a `ranker`, its lowest error
    /// ([`lowest_takes_all`]).
    TypedBehindGate {
        linear: LinearHead<'a>,
        trained: usize,
        gate: f32,
        /// `'static` inside, so that the head stays covariant in `'a` (the ranker owns its model).
        ranker: Option<&'a mut (dyn TypedRanker + 'static)>,
    },
}

/// The engines of a model, one per input stream. Bone and motion are optional.
#[derive(Debug)]
pub struct StreamEngines<E> {
    pub joint: E,
    pub bone: Option<E>,
    pub motion: Option<E>,
    /// Fusion weights of joint, bone and motion (normalised by the fusion; see `docs/decisions.md`).
    pub weights: [f32; 3],
}

impl<E: Engine> StreamEngines<E> {
    /// Runs every stream the model has on its tensor. The outputs are packed: the k-th stream that ran (in joint,
    /// bone, motion order) writes `outputs[k][..joint.output_len()]`, and its fusion weight is the k-th returned.
    /// Returns how many streams ran and their weights.
    pub fn run_streams<const N: usize>(
        &mut self,
        tensors: Tensors<'_>,
        outputs: &mut [[f32; N]; 3],
    ) -> Result<(usize, [f32; 3]), EngineError> {
        let out = self.joint.output_len();
        let StreamEngines { joint, bone, motion, weights } = self;
        let inputs = [tensors.joint, tensors.bone, tensors.motion];
        let mut streams = 0;
        let mut stream_weights = [0.0f32; 3];
        for (s, engine) in [Some(joint), bone.as_mut(), motion.as_mut()].into_iter().enumerate() {
            if let Some(engine) = engine {
                let output =
                    outputs[streams].get_mut(..out).ok_or(EngineError::OutputLength { expected: out, actual: N })?;
                engine.run(inputs[s], output)?;
                stream_weights[streams] = weights[s];
                streams += 1;
            }
        }
        Ok((streams, stream_weights))
    }
}

/// Input tensors of one window, as filled by [`Frontend::prepare`].
#[derive(Clone, Copy, Debug)]
pub struct Tensors<'a> {
    pub joint: &'a [f32],
    pub bone: &'a [f32],
    pub motion: &'a [f32],
}

/// Window-side half: engines, head, fusion and decisions.
///
/// `MAX_OUT` bounds an engine's output length (logits or embedding), `MAX_CLASSES` the label count.
#[derive(Debug)]
pub struct Classifier<
    'a,
    E,
    const MAX_OUT: usize = 512,
    const BODIES: usize = 4,
    const MAX_CLASSES: usize = 64,
    const HISTORY: usize = 8,
> {
    engines: StreamEngines<E>,
    head: Head<'a>,
    classes: usize,
    outputs: [[f32; MAX_OUT]; 3],
    logits: [[f32; MAX_CLASSES]; 3],
    scores: [f32; MAX_CLASSES],
    decisions: Decisions<BODIES, MAX_CLASSES, HISTORY>,
    windows_run: u32,
}

impl<'a, E: Engine, const MAX_OUT: usize, const BODIES: usize, const MAX_CLASSES: usize, const HISTORY: usize>
    Classifier<'a, E, MAX_OUT, BODIES, MAX_CLASSES, HISTORY>
{
    /// `actions` maps label index → action id and so fixes the label count.
    pub fn new(
        engines: StreamEngines<E>,
        head: Head<'a>,
        decision: DecisionConfig,
        actions: &[u16],
    ) -> Result<Self, PipelineError> {
        let classes = actions.len();
        let out = engines.joint.output_len();
        for engine in [Some(&engines.joint), engines.bone.as_ref(), engines.motion.as_ref()].into_iter().flatten() {
            if engine.output_len() != out || engine.input_len() != engines.joint.input_len() {
                return Err(PipelineError::Config("stream engines differ in input or output shape"));
            }
        }
        if out > MAX_OUT {
            return Err(PipelineError::Config("engine output longer than MAX_OUT"));
        }
        if classes > MAX_CLASSES {
            return Err(PipelineError::Config("more labels than MAX_CLASSES"));
        }
        let multi_stream = engines.bone.is_some() || engines.motion.is_some();
        let head_fits = match &head {
            Head::Logits => out == classes,
            Head::Linear(linear) => linear.input_len() == out && linear.classes() == classes,
            Head::Prototype { head, .. } => head.dim() == out && !multi_stream,
            Head::Text { head, .. } => head.dim() == out && head.labels() == classes && !multi_stream,
            Head::EnrolledOverLinear(head) => {
                head.dim() == out && head.bundle_classes() <= classes && head.label_bound() <= classes
            }
            Head::TypedBehindGate { linear, trained, gate, .. } => {
                linear.input_len() == out
                    && linear.classes() == classes
                    && (1..=classes).contains(trained)
                    && (0.0..=1.0).contains(gate)
                    && !multi_stream
            }
        };
        if !head_fits {
            return Err(PipelineError::Config(
                "head does not match the engine output or the labels (embedding heads take the joint stream only)",
            ));
        }
        Ok(Classifier {
            engines,
            head,
            classes,
            outputs: [[0.0; MAX_OUT]; 3],
            logits: [[0.0; MAX_CLASSES]; 3],
            scores: [0.0; MAX_CLASSES],
            decisions: Decisions::new(decision, actions)?,
            windows_run: 0,
        })
    }

    /// Input length each engine expects (must equal the frontend's tensor length).
    pub fn input_len(&self) -> usize {
        self.engines.joint.input_len()
    }

    pub fn windows_run(&self) -> u32 {
        self.windows_run
    }

    /// The head, for enrolment on the device.
    pub fn head_mut(&mut self) -> &mut Head<'a> {
        &mut self.head
    }

    /// Scores of the latest classified window (label probabilities or vote shares).
    pub fn last_scores(&self) -> &[f32] {
        &self.scores[..self.classes]
    }

    /// Runs the engines on `embedding_only` stream 0 and returns its output, for enrolment.
    pub fn embed(&mut self, tensors: Tensors<'_>) -> Result<&[f32], PipelineError> {
        let out = self.engines.joint.output_len();
        self.engines.joint.run(tensors.joint, &mut self.outputs[0][..out])?;
        Ok(&self.outputs[0][..out])
    }

    /// Classifies one window and feeds the body's decisions; events go to `emit`.
    pub fn classify(
        &mut self,
        window: &WindowInfo,
        tensors: Tensors<'_>,
        emit: impl FnMut(Event),
    ) -> Result<(), PipelineError> {
        let out = self.engines.joint.output_len();
        let classes = self.classes;
        let (streams, stream_weights) = self.engines.run_streams(tensors, &mut self.outputs)?;
        self.windows_run = self.windows_run.wrapping_add(1);
        let t = window.end_us;
        match &mut self.head {
            Head::EnrolledOverLinear(head) => {
                let scores = &mut self.scores[..classes];
                head.scores(&self.outputs, &stream_weights[..streams], &mut self.logits, scores)?;
                self.decisions.update(window.body_id, t, scores, emit)?;
            }
            Head::Logits | Head::Linear(_) => {
                for s in 0..streams {
                    match &self.head {
                        Head::Linear(linear) => {
                            linear.logits(&self.outputs[s][..out], &mut self.logits[s][..classes])?
                        }
                        _ => self.logits[s][..classes].copy_from_slice(&self.outputs[s][..classes]),
                    }
                }
                stream_probabilities(&self.logits, &stream_weights[..streams], &mut self.scores[..classes])?;
                self.decisions.update(window.body_id, t, &self.scores[..classes], emit)?;
            }
            Head::TypedBehindGate { linear, trained, gate, ranker } => {
                let [logits, errors, ..] = &mut self.logits;
                let embedding = &self.outputs[0][..out];
                linear.logits(embedding, &mut logits[..classes])?;
                let typed = typed_behind_gate(&logits[..classes], *trained, *gate, &mut self.scores[..classes])?;
                if let (true, Some(ranker)) = (typed, ranker.as_deref_mut()) {
                    let errors = &mut errors[*trained..classes];
                    ranker.errors(embedding, errors)?;
                    lowest_takes_all(errors, &mut self.scores[*trained..classes])?;
                }
                self.decisions.update(window.body_id, t, &self.scores[..classes], emit)?;
            }
            Head::Prototype { head, min_similarity } => {
                let best = head.vote_shares(&self.outputs[0][..out], &mut self.scores[..classes])?;
                if best.best_similarity < *min_similarity {
                    self.decisions.update_unknown(window.body_id, t, emit)?;
                } else {
                    self.decisions.update(window.body_id, t, &self.scores[..classes], emit)?;
                }
            }
            Head::Text { head, min_similarity } => {
                let similarities = &mut self.logits[0][..classes];
                head.scores(&self.outputs[0][..out], similarities, &mut self.scores[..classes])?;
                let best = similarities.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if best < *min_similarity {
                    self.decisions.update_unknown(window.body_id, t, emit)?;
                } else {
                    self.decisions.update(window.body_id, t, &self.scores[..classes], emit)?;
                }
            }
        }
        Ok(())
    }

    /// Closes the open segments of bodies that `still_tracked` no longer knows.
    pub fn retire_bodies(&mut self, still_tracked: impl Fn(u32) -> bool, mut emit: impl FnMut(Event)) {
        let mut gone = [0u32; BODIES];
        let mut count = 0;
        for body in self.decisions.body_ids() {
            if !still_tracked(body) && count < BODIES {
                gone[count] = body;
                count += 1;
            }
        }
        for body in &gone[..count] {
            self.decisions.remove(*body, &mut emit);
        }
    }
}

/// Counters of a [`Pipeline`], beyond those of its halves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PipelineCounters {
    pub frames_refused: u32,
    pub windows_failed: u32,
    pub events: u32,
    /// Windows with missing joints, and what REC did about them.
    pub reconstruction: ReconstructionCounters,
}

/// Both halves on one thread: every due window is classified as soon as its frame arrives.
#[derive(Debug)]
pub struct Pipeline<
    'a,
    E,
    const TRACKS: usize = 4,
    const FRAMES: usize = 64,
    const MAX_OUT: usize = 512,
    const MAX_CLASSES: usize = 64,
> {
    pub frontend: Frontend<TRACKS, FRAMES>,
    pub classifier: Classifier<'a, E, MAX_OUT, TRACKS, MAX_CLASSES>,
    /// Caller-supplied storage for the three stream tensors (3 × tensor length), then, with a reconstruction model,
    /// the missing mask.
    tensors: &'a mut [f32],
    /// REC, when the model has one (see [`Pipeline::with_reconstruction`]).
    reconstruction: Option<Reconstruction<'a, E>>,
    counters: PipelineCounters,
    last_error: Option<PipelineError>,
}

impl<'a, E: Engine, const TRACKS: usize, const FRAMES: usize, const MAX_OUT: usize, const MAX_CLASSES: usize>
    Pipeline<'a, E, TRACKS, FRAMES, MAX_OUT, MAX_CLASSES>
{
    /// `tensors` must hold three stream tensors; it is the only large buffer and the caller decides where it lives.
    pub fn new(
        frontend: Frontend<TRACKS, FRAMES>,
        classifier: Classifier<'a, E, MAX_OUT, TRACKS, MAX_CLASSES>,
        tensors: &'a mut [f32],
    ) -> Result<Self, PipelineError> {
        if classifier.input_len() != frontend.tensor_len() {
            return Err(PipelineError::Config("engine input length differs from the preprocessing tensor length"));
        }
        if tensors.len() < 3 * frontend.tensor_len() {
            return Err(PipelineError::Config("tensor storage smaller than three stream tensors"));
        }
        Ok(Pipeline {
            frontend,
            classifier,
            tensors,
            reconstruction: None,
            counters: PipelineCounters::default(),
            last_error: None,
        })
    }

    /// Reconstructs missing joints before the encoder, as `reconstruction`'s policy says. The tensor storage must
    /// then also hold the missing mask (3 × tensor length + [`Frontend::mask_len`]), and the model must be for the
    /// frontend's T.
    pub fn with_reconstruction(mut self, reconstruction: Reconstruction<'a, E>) -> Result<Self, PipelineError> {
        if reconstruction.frames_out() != self.frontend.frames_out() {
            return Err(PipelineError::Config("the reconstruction model is for another T than the encoder"));
        }
        if self.tensors.len() < 3 * self.frontend.tensor_len() + self.frontend.mask_len() {
            return Err(PipelineError::Config("tensor storage has no room for the missing mask"));
        }
        self.reconstruction = Some(reconstruction);
        Ok(self)
    }

    pub fn counters(&self) -> PipelineCounters {
        self.counters
    }

    /// The latest error of a frame or window, for logs.
    pub fn last_error(&self) -> Option<PipelineError> {
        self.last_error
    }

    /// Handles one decoded message; events go to `emit`. Errors cost the frame or window they occur in, are
    /// counted, and the rest of the message is still processed.
    pub fn on_message(&mut self, message: &Message, mut emit: impl FnMut(Event)) {
        match message {
            Message::Hello(hello) => {
                // Refused: counted by the frontend, and the previous layout stays in use.
                if let Err(error) = self.frontend.on_hello(hello) {
                    self.last_error = Some(error.into());
                }
            }
            Message::Frame(frame) => self.on_frame(frame, &mut emit),
            Message::Heartbeat(_) | Message::Event(_) | Message::Status(_) => {}
        }
    }

    fn on_frame(&mut self, frame: &Frame, emit: &mut impl FnMut(Event)) {
        let mut counted = |event: Event| {
            self.counters.events = self.counters.events.wrapping_add(1);
            emit(event)
        };
        if let Err(error) = self.frontend.push_frame(frame) {
            self.counters.frames_refused = self.counters.frames_refused.wrapping_add(1);
            self.last_error = Some(error);
            return;
        }
        let frontend = &self.frontend;
        self.classifier.retire_bodies(|body| frontend.is_tracked(body), &mut counted);
        let len = self.frontend.tensor_len();
        let mask_len = if self.reconstruction.is_some() { self.frontend.mask_len() } else { 0 };
        let streams = self.frontend.streams();
        while let Some(id) = self.frontend.next_due() {
            let (joint, rest) = self.tensors.split_at_mut(len);
            let (bone, rest) = rest.split_at_mut(len);
            let (motion, rest) = rest.split_at_mut(len);
            let missing = &mut rest[..mask_len];
            let outputs =
                Outputs { joint: &mut *joint, bone: &mut *bone, motion: &mut *motion, missing: &mut *missing };
            let outcome = match self.frontend.prepare(id, outputs) {
                Ok(window) => {
                    let outcome = match &mut self.reconstruction {
                        Some(rec) => rec.apply(window.missing, missing, joint, bone, motion, streams),
                        None => WindowOutcome::Interpolated,
                    };
                    self.counters.reconstruction.record(window.missing, &outcome);
                    if let WindowOutcome::Failed(error) = outcome {
                        // Counted; the window is classified with its interpolated joints.
                        self.last_error = Some(error.into());
                    }
                    let tensors = Tensors {
                        joint: &self.tensors[..len],
                        bone: &self.tensors[len..2 * len],
                        motion: &self.tensors[2 * len..3 * len],
                    };
                    self.classifier.classify(&window, tensors, &mut counted)
                }
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                self.counters.windows_failed = self.counters.windows_failed.wrapping_add(1);
                self.last_error = Some(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TestEngine;
    use crate::preprocess::PreprocessConfig;
    use crate::wire::{Axes, Body, Joint, LayoutId, Units};

    fn frontend() -> Frontend<2, 16> {
        let config = FrontendConfig {
            min_confidence: 1,
            grid: GridConfig::default(),
            tracks: TrackConfig { stride_frames: 4, min_frames: 8, ..TrackConfig::for_frames(16) },
            window: WindowConfig::default(),
            preprocess: PreprocessConfig { frames_out: 8, ..PreprocessConfig::default() },
        };
        Frontend::new(config, SourceFormat::MODEL).unwrap()
    }

    fn hello(major: u8, layout: LayoutId) -> Hello {
        Hello {
            protocol_major: major,
            protocol_minor: 0,
            layout,
            units: Units::Metres,
            axes: Axes::XLeftYUpZForward,
            nominal_fps_millihertz: 30_000,
            sensor_name: heapless::String::new(),
        }
    }

    /// One body of 25 joints, 2.5 m away; `far` puts joint 3 at an absurd distance.
    fn frame(sequence: u32, far: bool) -> Frame {
        let mut body = Body { id: 1, joints: heapless::Vec::new() };
        for j in 0..25 {
            let z = if far && j == 3 { 3.0e38 } else { 2.5 };
            body.joints.push(Joint { x: j as f32 * 0.01, y: 0.5 - j as f32 * 0.04, z, confidence: 255 }).unwrap();
        }
        let mut frame = Frame { sequence, timestamp_us: u64::from(sequence) * 33_333, bodies: heapless::Vec::new() };
        frame.bodies.push(body).unwrap();
        frame
    }

    #[test]
    fn a_hello_of_another_major_version_is_refused_and_the_layout_kept() {
        let mut frontend = frontend();
        assert_eq!(frontend.on_hello(&hello(2, LayoutId::ZedBody34)), Err(HelloError::UnsupportedMajor { major: 2 }));
        assert_eq!(frontend.counters().hellos_refused, 1);
        // Kinect v2 is still in use: its 25-joint bodies are mapped, not rejected.
        frontend.push_frame(&frame(0, false)).unwrap();
        assert_eq!((frontend.counters().bodies_rejected, frontend.tracks().active_count()), (0, 1));
        // A v1 Hello is adopted: the same bodies no longer fit ZED's 34 joints.
        frontend.on_hello(&hello(PROTOCOL_MAJOR, LayoutId::ZedBody34)).unwrap();
        frontend.push_frame(&frame(1, false)).unwrap();
        assert_eq!(frontend.counters().bodies_rejected, 1);
        assert_eq!(frontend.counters().hellos_refused, 1);
    }

    #[test]
    fn implausibly_far_joints_are_counted() {
        let mut frontend = frontend();
        frontend.push_frame(&frame(0, true)).unwrap();
        frontend.push_frame(&frame(1, false)).unwrap();
        frontend.push_frame(&frame(2, true)).unwrap();
        assert_eq!(frontend.counters().joints_implausible, 2);
        assert_eq!(frontend.counters().bodies_rejected, 0, "the rest of each body is used");
    }

    /// Errors it was told to give, and how many windows it ranked.
    #[derive(Debug)]
    struct FixedRanker {
        errors: [f32; 2],
        calls: usize,
    }

    impl TypedRanker for FixedRanker {
        fn errors(&mut self, _embedding: &[f32], errors: &mut [f32]) -> Result<(), EngineError> {
            self.calls += 1;
            errors.copy_from_slice(&self.errors);
            Ok(())
        }
    }

    #[test]
    fn a_ranker_decides_among_the_typed_labels_only_for_windows_the_gate_gives_them() {
        // Two trained rows and two typed rows over a 2-value embedding (the TestEngine sums halves of the input).
        let weights = [4.0, 0.0, 0.0, 4.0, 1.0, 1.0, 1.0, -1.0];
        let mut ranker = FixedRanker { errors: [0.3, 0.1], calls: 0 };
        let linear = LinearHead::new(&weights, None, 4, 2).unwrap();
        let head = Head::TypedBehindGate { linear, trained: 2, gate: 0.9, ranker: Some(&mut ranker) };
        let engines = StreamEngines { joint: TestEngine::new(4, 2, 1.0), bone: None, motion: None, weights: [1.0; 3] };
        let mut classifier: Classifier<'_, TestEngine, 8, 2, 8, 4> =
            Classifier::new(engines, head, DecisionConfig::default(), &[1, 2, 3, 4]).unwrap();
        let window = WindowInfo { body_id: 1, partner_id: None, start_us: 0, end_us: 1, missing: Default::default() };
        let tensors = |joint: &'static [f32]| Tensors { joint, bone: &[], motion: &[] };
        // Embedding [2, 0]: the first trained class claims it (softmax of [8, 0]); the ranker is not asked.
        classifier.classify(&window, tensors(&[2.0, 0.0, 2.0, 0.0]), |_| {}).unwrap();
        assert!(classifier.last_scores()[0] > 0.99 && classifier.last_scores()[2..] == [0.0, 0.0]);
        // Embedding [1, 1]: the trained classes tie at 0.5, below the gate. By cosine the first typed row (logit 2
        // against 0) would take it; the ranker's lower error gives it to the second.
        classifier.classify(&window, tensors(&[1.0, 1.0, 1.0, 1.0]), |_| {}).unwrap();
        assert_eq!(classifier.last_scores(), &[0.0, 0.0, 0.0, 1.0]);
        drop(classifier);
        assert_eq!(ranker.calls, 1, "only the window below the gate was ranked");
    }
}
