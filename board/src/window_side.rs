//! The window side of the daemon behind one small trait, with the two classifiers a board runs:
//!
//! - the runtime's [`Classifier`] with the bundle's own head (logits, linear, prototype, text); a prototype head
//!   takes enrolled exemplars into its own bank;
//! - [`EnrolledClassifier`], for a bundle with a **linear** head plus exemplars enrolled on the device: the linear
//!   head keeps scoring the bundle's labels, and enrolled labels are checked first. Embeddings are compared after
//!   subtracting the overlay's centre (the mean embedding of the windows `enroll` saw). A window whose nearest
//!   enrolled exemplar reaches that label's calibrated threshold is scored by a k-NN vote over the enrolled
//!   exemplars; any other window by the linear head's softmax. So what the bundle knows keeps working, and a new
//!   action is recognised where it resembles its examples more than the rest of the enrollment recording did.

use skelact_runtime::decision::Decisions;
use skelact_runtime::engine::Engine;
use skelact_runtime::head::{stream_probabilities, LinearHead, PrototypeHead};
use skelact_runtime::pipeline::{Classifier, PipelineError, StreamEngines, Tensors, WindowInfo};
use skelact_runtime::wire::Event;

use crate::model::{HISTORY, MAX_CLASSES, MAX_OUT, TRACKS};

/// What the inference thread needs of a classifier.
pub trait WindowClassifier: Send {
    /// Values per stream tensor the engines take.
    fn input_len(&self) -> usize;
    /// Classifies one window and feeds the body's decisions; events go to `emit`.
    fn classify(
        &mut self,
        window: &WindowInfo,
        tensors: Tensors<'_>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), PipelineError>;
    /// Closes the open segments of bodies that `still_tracked` no longer knows.
    fn retire_bodies(&mut self, still_tracked: &dyn Fn(u32) -> bool, emit: &mut dyn FnMut(Event));
}

impl<E: Engine + Send, const O: usize, const B: usize, const C: usize, const H: usize> WindowClassifier
    for Classifier<'_, E, O, B, C, H>
{
    fn input_len(&self) -> usize {
        Classifier::input_len(self)
    }

    fn classify(
        &mut self,
        window: &WindowInfo,
        tensors: Tensors<'_>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), PipelineError> {
        Classifier::classify(self, window, tensors, emit)
    }

    fn retire_bodies(&mut self, still_tracked: &dyn Fn(u32) -> bool, emit: &mut dyn FnMut(Event)) {
        Classifier::retire_bodies(self, still_tracked, emit)
    }
}

/// A linear-head bundle with enrolled exemplars; see the module documentation.
#[derive(Debug)]
pub struct EnrolledClassifier<'a, E> {
    engines: StreamEngines<E>,
    linear: LinearHead<'a>,
    /// Exemplars, centred, with their label indices.
    enrolled: PrototypeHead<'a>,
    /// Subtracted from every embedding before comparing (zeros without a centre).
    center: [f32; MAX_OUT],
    /// Per label index: the similarity from which a window counts as that enrolled label.
    thresholds: [f32; MAX_CLASSES],
    query: [f32; MAX_OUT],
    /// Labels of the bundle (the linear head's classes); enrolled labels follow them.
    bundle_classes: usize,
    classes: usize,
    outputs: [[f32; MAX_OUT]; 3],
    logits: [[f32; MAX_CLASSES]; 3],
    scores: [f32; MAX_CLASSES],
    decisions: Box<Decisions<TRACKS, MAX_CLASSES, HISTORY>>,
}

impl<'a, E: Engine> EnrolledClassifier<'a, E> {
    /// `actions` maps every label index (the bundle's, then the enrolled ones) to its action id; `enrolled` holds
    /// the exemplars, centred on `center` and labelled with those indices; `thresholds[label]` is each label's
    /// similarity threshold.
    pub fn new(
        engines: StreamEngines<E>,
        linear: LinearHead<'a>,
        enrolled: PrototypeHead<'a>,
        center: Option<&[f32]>,
        thresholds: &[f32],
        decision: skelact_runtime::decision::DecisionConfig,
        actions: &[u16],
    ) -> Result<Self, PipelineError> {
        let out = engines.joint.output_len();
        for engine in [engines.bone.as_ref(), engines.motion.as_ref()].into_iter().flatten() {
            if engine.output_len() != out || engine.input_len() != engines.joint.input_len() {
                return Err(PipelineError::Config("stream engines differ in input or output shape"));
            }
        }
        if out > MAX_OUT || linear.input_len() != out || enrolled.dim() != out {
            return Err(PipelineError::Config("the linear head and the exemplars must take the engines' embedding"));
        }
        if actions.len() > MAX_CLASSES || linear.classes() > actions.len() || enrolled.label_bound() > actions.len() {
            return Err(PipelineError::Config("labels do not fit the heads"));
        }
        if center.is_some_and(|c| c.len() != out) || thresholds.len() != actions.len() {
            return Err(PipelineError::Config("the centre or the thresholds do not fit the embedding or the labels"));
        }
        let mut center_values = [0.0; MAX_OUT];
        if let Some(center) = center {
            center_values[..out].copy_from_slice(center);
        }
        let mut threshold_values = [1.0; MAX_CLASSES];
        threshold_values[..thresholds.len()].copy_from_slice(thresholds);
        let decisions = Box::new(Decisions::new(decision, actions)?);
        Ok(EnrolledClassifier {
            bundle_classes: linear.classes(),
            classes: actions.len(),
            engines,
            linear,
            enrolled,
            center: center_values,
            thresholds: threshold_values,
            query: [0.0; MAX_OUT],
            outputs: [[0.0; MAX_OUT]; 3],
            logits: [[0.0; MAX_CLASSES]; 3],
            scores: [0.0; MAX_CLASSES],
            decisions,
        })
    }
}

impl<E: Engine + Send> WindowClassifier for EnrolledClassifier<'_, E> {
    fn input_len(&self) -> usize {
        self.engines.joint.input_len()
    }

    fn classify(
        &mut self,
        window: &WindowInfo,
        tensors: Tensors<'_>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), PipelineError> {
        let out = self.engines.joint.output_len();
        let (bundle, classes) = (self.bundle_classes, self.classes);
        let (streams, stream_weights) = self.engines.run_streams(tensors, &mut self.outputs)?;
        let t = window.end_us;
        let scores = &mut self.scores[..classes];
        // Enrolled labels first: the joint stream's embedding against their exemplars.
        // (No exemplar at all is an error of the k-NN; the linear head then decides alone.)
        for ((q, e), c) in self.query[..out].iter_mut().zip(&self.outputs[0][..out]).zip(&self.center[..out]) {
            *q = e - c;
        }
        let close = match self.enrolled.classify(&self.query[..out]) {
            Ok(m) => self.thresholds.get(usize::from(m.label)).is_some_and(|t| m.best_similarity >= *t),
            Err(_) => false,
        };
        if close {
            self.enrolled.vote_shares(&self.query[..out], scores)?;
        } else {
            for s in 0..streams {
                self.linear.logits(&self.outputs[s][..out], &mut self.logits[s][..bundle])?;
            }
            stream_probabilities(&self.logits, &stream_weights[..streams], &mut scores[..bundle])?;
            scores[bundle..].iter_mut().for_each(|s| *s = 0.0);
        }
        self.decisions.update(window.body_id, t, scores, emit)?;
        Ok(())
    }

    fn retire_bodies(&mut self, still_tracked: &dyn Fn(u32) -> bool, emit: &mut dyn FnMut(Event)) {
        let mut gone = [0u32; TRACKS];
        let mut count = 0;
        for body in self.decisions.body_ids().filter(|b| !still_tracked(*b)) {
            if let Some(slot) = gone.get_mut(count) {
                *slot = body;
                count += 1;
            }
        }
        for body in &gone[..count] {
            self.decisions.remove(*body, &mut *emit);
        }
    }
}

/// Either classifier, as [`crate::model::LoadedModel::window_classifier`] builds it.
#[derive(Debug)]
pub enum BoardWindowSide<'a, E> {
    /// Both boxed: each keeps its buffers inline (kilobytes).
    Standard(Box<crate::model::BoardClassifier<'a, E>>),
    Enrolled(Box<EnrolledClassifier<'a, E>>),
}

impl<E: Engine + Send> WindowClassifier for BoardWindowSide<'_, E> {
    fn input_len(&self) -> usize {
        match self {
            BoardWindowSide::Standard(c) => WindowClassifier::input_len(&**c),
            BoardWindowSide::Enrolled(c) => c.input_len(),
        }
    }

    fn classify(
        &mut self,
        window: &WindowInfo,
        tensors: Tensors<'_>,
        emit: &mut dyn FnMut(Event),
    ) -> Result<(), PipelineError> {
        match self {
            BoardWindowSide::Standard(c) => WindowClassifier::classify(&mut **c, window, tensors, emit),
            BoardWindowSide::Enrolled(c) => c.classify(window, tensors, emit),
        }
    }

    fn retire_bodies(&mut self, still_tracked: &dyn Fn(u32) -> bool, emit: &mut dyn FnMut(Event)) {
        match self {
            BoardWindowSide::Standard(c) => WindowClassifier::retire_bodies(&mut **c, still_tracked, emit),
            BoardWindowSide::Enrolled(c) => c.retire_bodies(still_tracked, emit),
        }
    }
}
