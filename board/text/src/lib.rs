//! The on-device text encoder: a prompt such as "waving both arms above the head" becomes the sentence embedding
//! a text-aligned skeleton model compares windows with.
//!
//! Two parts, both exactly the desktop's (`models/skelact_models/text.py`):
//! - the tokenizer is Hugging Face's own `tokenizers` crate reading the model's `tokenizer.json` (BERT WordPiece,
//!   lower-casing, accent stripping), set to cut and pad at the model's fixed length as Python sets it;
//! - the model is all-MiniLM-L6-v2 exported to ONNX with its mean pooling and L2 normalisation inside, run by
//!   tract on the CPU. Inputs `input_ids` and `attention_mask` (int64 `[1, L]`), outputs `sentence` (`[1, D]`,
//!   unit length) and `tokens` (`[1, L, D]`, zero where padded).
//!
//! Encoding runs when a label is added, not per frame: it allocates freely, and takes tens of milliseconds.
//! Bad input is refused with a reason ([`TextError`]); nothing here panics on a prompt.

use std::io::Cursor;
use std::sync::Arc;

use thiserror::Error;
use tokenizers::{PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

mod tdsm;
pub use tdsm::{TdsmScorer, MAX_CANDIDATES};

/// The longest prompt accepted, in bytes: far beyond any label (the model sees at most its `L` tokens anyway),
/// small enough that no prompt can make the tokenizer allocate without bound.
pub const MAX_PROMPT_BYTES: usize = 512;

/// What can go wrong loading the encoder or encoding a prompt.
#[derive(Debug, Error)]
pub enum TextError {
    /// The tokenizer file could not be read.
    #[error("tokenizer.json is not a valid tokenizer: {0}")]
    Tokenizer(String),
    /// The ONNX model could not be read, optimised or run.
    #[error("text encoder model: {0}")]
    Model(String),
    /// The model's inputs or outputs are not the text encoder's contract.
    #[error("text encoder model does not have the expected interface: {0}")]
    Interface(String),
    /// The prompt is empty or only white space.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The prompt is longer than [`MAX_PROMPT_BYTES`].
    #[error("the prompt is {0} bytes long; at most {MAX_PROMPT_BYTES} are accepted")]
    PromptTooLong(usize),
    /// The tokenizer's ids do not fit the model's vocabulary or the output is not finite.
    #[error("the text encoder gave an unusable result: {0}")]
    Output(String),
}

/// A prompt as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// `L` token ids: `[CLS] ... [SEP]` then padding (0).
    pub ids: Vec<i64>,
    /// 1 for the prompt's tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Whether the prompt had more than `L` tokens and was cut (its end is not seen by the model).
    pub truncated: bool,
}

impl Tokens {
    /// Number of real tokens (special tokens included).
    pub fn len(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m != 0).count()
    }

    /// Whether no token is real (never the case for an accepted prompt: `[CLS]` and `[SEP]` are always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The encoding of one prompt.
#[derive(Debug, Clone)]
pub struct TextEmbedding {
    /// Unit-length sentence embedding, `D` values.
    pub sentence: Vec<f32>,
    /// Token features `[L × D]` (row-major, zero rows where padded): TDSM's token-level condition.
    pub tokens: Vec<f32>,
    /// What the model was given.
    pub input: Tokens,
}

/// The tokenizer and model, loaded once.
#[derive(Debug)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    plan: Arc<TypedRunnableModel>,
    /// Model input position of `input_ids` and of `attention_mask`.
    input_order: [usize; 2],
    /// Model output position of `sentence` and of `tokens`.
    output_order: [usize; 2],
    max_tokens: usize,
    dim: usize,
    vocabulary: usize,
}

impl TextEncoder {
    /// Loads `tokenizer.json` and the exported ONNX from their bytes. The fixed token length `L` and the
    /// embedding size `D` are read from the model.
    pub fn load(onnx: &[u8], tokenizer_json: &[u8]) -> Result<Self, TextError> {
        let model_error = |e: TractError| TextError::Model(format!("{e:#}"));
        let model = tract_onnx::onnx().model_for_read(&mut Cursor::new(onnx)).map_err(model_error)?;
        let input_order = input_order(&model, ["input_ids", "attention_mask"])?;
        let max_tokens = fixed_token_length(&model, input_order[0])?;
        let mut model = model;
        for index in 0..2 {
            model = model.with_input_fact(index, i64::fact([1, max_tokens]).into()).map_err(model_error)?;
        }
        let labels: Vec<String> = model
            .outputs
            .iter()
            .map(|o| model.outlet_label(*o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone()))
            .collect();
        let output = |wanted: &str| {
            labels.iter().position(|n| n == wanted).ok_or_else(|| {
                TextError::Interface(format!("outputs are [{}], expected sentence and tokens", labels.join(", ")))
            })
        };
        let output_order = [output("sentence")?, output("tokens")?];
        let optimized = model.into_optimized().map_err(model_error)?;
        let dim = output_dim(&optimized, output_order[0])?;
        let plan = optimized.into_runnable().map_err(model_error)?;

        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json).map_err(|e| TextError::Tokenizer(e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_tokens, ..TruncationParams::default() }))
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_tokens),
            direction: PaddingDirection::Right,
            pad_id: 0,
            pad_token: "[PAD]".to_string(),
            ..PaddingParams::default()
        }));
        let vocabulary = tokenizer.get_vocab_size(true);
        Ok(TextEncoder { tokenizer, plan, input_order, output_order, max_tokens, dim, vocabulary })
    }

    /// The fixed token length `L`.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The embedding size `D` (384 for all-MiniLM-L6-v2).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The prompt's tokens, as the model will see them.
    pub fn tokenize(&self, prompt: &str) -> Result<Tokens, TextError> {
        if prompt.len() > MAX_PROMPT_BYTES {
            return Err(TextError::PromptTooLong(prompt.len()));
        }
        if prompt.trim().is_empty() {
            return Err(TextError::EmptyPrompt);
        }
        let encoding = self.tokenizer.encode(prompt, true).map_err(|e| TextError::Tokenizer(e.to_string()))?;
        let ids: Vec<i64> = encoding.get_ids().iter().map(|&id| i64::from(id)).collect();
        let attention_mask: Vec<i64> = encoding.get_attention_mask().iter().map(|&m| i64::from(m)).collect();
        if ids.len() != self.max_tokens || attention_mask.len() != self.max_tokens {
            return Err(TextError::Output(format!("{} tokens after padding, expected {}", ids.len(), self.max_tokens)));
        }
        if let Some(bad) = ids.iter().find(|&&id| id < 0 || id as usize >= self.vocabulary) {
            return Err(TextError::Output(format!("token id {bad} outside the vocabulary of {}", self.vocabulary)));
        }
        Ok(Tokens { ids, attention_mask, truncated: !encoding.get_overflowing().is_empty() })
    }

    /// Tokenizes and runs the model.
    pub fn encode(&self, prompt: &str) -> Result<TextEmbedding, TextError> {
        let input = self.tokenize(prompt)?;
        let model_error = |e: TractError| TextError::Model(format!("{e:#}"));
        let tensor = |values: &[i64]| Tensor::from_shape(&[1, self.max_tokens], values).map_err(model_error);
        let mut inputs: [Option<TValue>; 2] = [None, None];
        inputs[self.input_order[0]] = Some(tensor(&input.ids)?.into());
        inputs[self.input_order[1]] = Some(tensor(&input.attention_mask)?.into());
        let inputs: TVec<TValue> = inputs.into_iter().flatten().collect();
        let outputs = self.plan.run(inputs).map_err(model_error)?;
        let values = |index: usize| -> Result<Vec<f32>, TextError> {
            let view = outputs[index].to_plain_array_view::<f32>().map_err(model_error)?;
            Ok(view.iter().copied().collect())
        };
        let sentence = values(self.output_order[0])?;
        let tokens = values(self.output_order[1])?;
        if sentence.len() != self.dim || tokens.len() != self.max_tokens * self.dim {
            return Err(TextError::Output(format!(
                "output sizes {} and {}, expected {} and {}",
                sentence.len(),
                tokens.len(),
                self.dim,
                self.max_tokens * self.dim
            )));
        }
        if !sentence.iter().chain(&tokens).all(|v| v.is_finite()) {
            return Err(TextError::Output("a value is not finite".to_string()));
        }
        Ok(TextEmbedding { sentence, tokens, input })
    }
}

/// The model's input positions of the inputs named `wanted`, in that order; the model must have exactly those.
fn input_order<const N: usize>(model: &InferenceModel, wanted: [&str; N]) -> Result<[usize; N], TextError> {
    let names: Vec<String> = model.inputs.iter().map(|o| model.node(o.node).name.clone()).collect();
    let mismatch =
        || TextError::Interface(format!("inputs are [{}], expected [{}]", names.join(", "), wanted.join(", ")));
    if names.len() != N {
        return Err(mismatch());
    }
    let mut order = [0; N];
    for (slot, name) in order.iter_mut().zip(wanted) {
        *slot = names.iter().position(|n| n == name).ok_or_else(mismatch)?;
    }
    Ok(order)
}

/// `L` of an input declared `[1, L]` with a fixed L.
fn fixed_token_length(model: &InferenceModel, input: usize) -> Result<usize, TextError> {
    let fact = model.input_fact(input).map_err(|e| TextError::Model(format!("{e:#}")))?;
    let shape = fact.shape.concretize().ok_or_else(|| TextError::Interface("input_ids has no fixed shape".into()))?;
    let dims: Vec<Option<usize>> = shape.iter().map(|d| d.to_usize().ok()).collect();
    match dims.as_slice() {
        [Some(1), Some(length)] if *length >= 2 => Ok(*length),
        _ => Err(TextError::Interface(format!("input_ids has shape {shape:?}, expected [1, L] with L >= 2"))),
    }
}

/// `D` of the output declared `[1, D]`.
fn output_dim(model: &TypedModel, output: usize) -> Result<usize, TextError> {
    let fact = model.output_fact(output).map_err(|e| TextError::Model(format!("{e:#}")))?;
    let dims: Vec<Option<usize>> = fact.shape.iter().map(|d| d.to_usize().ok()).collect();
    match dims.as_slice() {
        [Some(1), Some(dim)] if *dim > 0 => Ok(*dim),
        _ => Err(TextError::Interface(format!("sentence has shape {:?}, expected [1, D]", fact.shape))),
    }
}
