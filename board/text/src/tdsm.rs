//! TDSM on the device: which label typed as words a window is nearest to, asked of a diffusion denoiser.
//!
//! The bundle's scorer (`models/skelact_models/tdsm.py`, `WindowScorer`) takes the window's skeleton embedding
//! once per candidate, with each candidate's sentence and token features by the text encoder, and gives one error
//! per candidate: how badly the denoiser, told that prompt, recovers the fixed noises added to the embedding at
//! t_test. The lowest error is the nearest prompt (Do & Kim's inference rule). The candidates are the labels typed
//! on the device; their features are computed once, when the scorer is loaded, and every candidate is scored in one
//! batched run per window.

use std::io::Cursor;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::{TextEmbedding, TextError};

/// Most candidates one scorer takes: a device's labels are bounded (160), and each candidate costs one batch row
/// per window, so no overlay can make a window's run grow without bound.
pub const MAX_CANDIDATES: usize = 256;

/// The scorer, planned for a fixed set of candidates.
#[derive(Debug)]
pub struct TdsmScorer {
    plan: Arc<TypedRunnableModel>,
    /// Model input position of `x0`, `sentence` and `tokens`.
    input_order: [usize; 3],
    feature: usize,
    candidates: usize,
    sentences: TValue,
    tokens: TValue,
}

impl TdsmScorer {
    /// Loads the scorer's ONNX for embeddings of `feature` values and plans it for `candidates` (text features by
    /// one text encoder, in label order).
    pub fn load(onnx: &[u8], feature: usize, candidates: &[TextEmbedding]) -> Result<Self, TextError> {
        let model_error = |e: TractError| TextError::Model(format!("TDSM scorer: {e:#}"));
        let count = candidates.len();
        if count == 0 || count > MAX_CANDIDATES {
            return Err(TextError::Interface(format!("TDSM scores 1 to {MAX_CANDIDATES} candidates, not {count}")));
        }
        let dim = candidates[0].sentence.len();
        let token_values = candidates[0].tokens.len();
        if dim == 0 || token_values % dim != 0 {
            return Err(TextError::Interface(format!("candidate features of {dim} and {token_values} values")));
        }
        if candidates.iter().any(|c| c.sentence.len() != dim || c.tokens.len() != token_values) {
            return Err(TextError::Interface("the candidates' features differ in shape".into()));
        }
        let length = token_values / dim;
        let model = tract_onnx::onnx().model_for_read(&mut Cursor::new(onnx)).map_err(model_error)?;
        let input_order = crate::input_order(&model, ["x0", "sentence", "tokens"])
            .map_err(|e| TextError::Interface(format!("TDSM scorer: {e}")))?;
        let shapes: [Vec<usize>; 3] = [vec![count, feature], vec![count, dim], vec![count, length, dim]];
        let mut model = model;
        for (index, shape) in input_order.iter().zip(&shapes) {
            model = model.with_input_fact(*index, f32::fact(shape).into()).map_err(model_error)?;
        }
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(model_error)?;
        let sentences: Vec<f32> = candidates.iter().flat_map(|c| c.sentence.iter().copied()).collect();
        let tokens: Vec<f32> = candidates.iter().flat_map(|c| c.tokens.iter().copied()).collect();
        let sentences = Tensor::from_shape(&shapes[1], &sentences).map_err(model_error)?.into();
        let tokens = Tensor::from_shape(&shapes[2], &tokens).map_err(model_error)?.into();
        Ok(TdsmScorer { plan, input_order, feature, candidates: count, sentences, tokens })
    }

    /// Number of candidates.
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// One error per candidate for the window's `embedding` ([`Self::load`]'s `feature` values), lower is nearer.
    pub fn score(&self, embedding: &[f32], errors: &mut [f32]) -> Result<(), TextError> {
        if embedding.len() != self.feature || errors.len() != self.candidates {
            return Err(TextError::Interface(format!(
                "an embedding of {} values for {} errors; the scorer takes {} for {}",
                embedding.len(),
                errors.len(),
                self.feature,
                self.candidates
            )));
        }
        let model_error = |e: TractError| TextError::Model(format!("TDSM scorer: {e:#}"));
        let repeated: Vec<f32> = (0..self.candidates).flat_map(|_| embedding.iter().copied()).collect();
        let x0 = Tensor::from_shape(&[self.candidates, self.feature], &repeated).map_err(model_error)?;
        let mut inputs: [Option<TValue>; 3] = [None, None, None];
        inputs[self.input_order[0]] = Some(x0.into());
        inputs[self.input_order[1]] = Some(self.sentences.clone());
        inputs[self.input_order[2]] = Some(self.tokens.clone());
        let outputs = self.plan.run(inputs.into_iter().flatten().collect()).map_err(model_error)?;
        let output = outputs.first().ok_or_else(|| TextError::Output("the TDSM scorer gave no output".into()))?;
        let view = output.to_plain_array_view::<f32>().map_err(model_error)?;
        if view.len() != self.candidates || !view.iter().all(|v| v.is_finite()) {
            return Err(TextError::Output(format!(
                "the TDSM scorer gave {} values (finite: {}) for {} candidates",
                view.len(),
                view.iter().all(|v| v.is_finite()),
                self.candidates
            )));
        }
        errors.iter_mut().zip(view.iter()).for_each(|(e, v)| *e = *v);
        Ok(())
    }
}
