//! Linear classification head: logits = W · embedding + b, then softmax.

use super::softmax::softmax_in_place;
use super::{all_finite, dot, expect_len, HeadError};

/// A linear layer borrowed from the model bundle, or nothing when the model already outputs logits.
///
/// The weight matrix is row-major `[classes × dim]` (PyTorch's `nn.Linear.weight` layout), so row `c` holds the
/// weights of class `c`. Parameters are checked once at construction, so a corrupt bundle is refused when it
/// is loaded instead of producing NaN scores later.
#[derive(Debug, Clone, Copy)]
pub struct LinearHead<'a> {
    classes: usize,
    dim: usize,
    weights: Option<&'a [f32]>,
    bias: Option<&'a [f32]>,
}

impl<'a> LinearHead<'a> {
    /// A head for a model whose output already is `classes` logits: [`Self::logits`] copies them.
    pub fn logits_only(classes: usize) -> Result<Self, HeadError> {
        if classes == 0 {
            return Err(HeadError::ZeroDimension);
        }
        Ok(LinearHead { classes, dim: classes, weights: None, bias: None })
    }

    /// A head with weights `[classes × dim]` and an optional bias of `classes` values.
    ///
    /// Errors: [`HeadError::ZeroDimension`], [`HeadError::Length`] when a slice does not match the shape,
    /// [`HeadError::NotFinite`] when a parameter is NaN or infinite.
    pub fn new(weights: &'a [f32], bias: Option<&'a [f32]>, classes: usize, dim: usize) -> Result<Self, HeadError> {
        if classes == 0 || dim == 0 {
            return Err(HeadError::ZeroDimension);
        }
        let expected =
            classes.checked_mul(dim).ok_or(HeadError::Length { expected: usize::MAX, actual: weights.len() })?;
        expect_len(weights, expected)?;
        all_finite(weights)?;
        if let Some(bias) = bias {
            expect_len(bias, classes)?;
            all_finite(bias)?;
        }
        Ok(LinearHead { classes, dim, weights: Some(weights), bias })
    }

    /// Length of the embedding (or logit vector) the head takes.
    pub fn input_len(&self) -> usize {
        self.dim
    }

    /// Number of classes, the length of the logits and scores.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Writes the logits of `embedding` into `logits` (length [`Self::classes`]).
    ///
    /// Errors: [`HeadError::Length`] and [`HeadError::NotFinite`] for a NaN or infinite input value, both with
    /// `logits` untouched; [`HeadError::NotFinite`] also when finite inputs overflow a logit to infinity, and then
    /// `logits` holds partial results that must not be used.
    pub fn logits(&self, embedding: &[f32], logits: &mut [f32]) -> Result<(), HeadError> {
        expect_len(embedding, self.dim)?;
        expect_len(logits, self.classes)?;
        all_finite(embedding)?;
        match self.weights {
            None => logits.copy_from_slice(embedding),
            Some(weights) => {
                for (class, (logit, row)) in logits.iter_mut().zip(weights.chunks_exact(self.dim)).enumerate() {
                    let bias = self.bias.and_then(|b| b.get(class)).copied().unwrap_or(0.0);
                    *logit = dot(row, embedding) + bias;
                }
                all_finite(logits)?;
            }
        }
        Ok(())
    }

    /// Writes softmax(logits) into `scores` (length [`Self::classes`]): the class probabilities.
    ///
    /// Errors as [`Self::logits`].
    pub fn scores(&self, embedding: &[f32], scores: &mut [f32]) -> Result<(), HeadError> {
        self.logits(embedding, scores)?;
        softmax_in_place(scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_and_bias_hand_computed() {
        // Two classes over a 3-dimensional embedding.
        let weights = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5];
        let bias = [0.25, -1.0];
        let head = LinearHead::new(&weights, Some(&bias), 2, 3).unwrap();
        let mut logits = [0.0; 2];
        head.logits(&[2.0, 4.0, 1.0], &mut logits).unwrap();
        // Row 0: 2 - 1 + 0.25 = 1.25; row 1: 0.5 · 7 - 1 = 2.5.
        assert_eq!(logits, [1.25, 2.5]);
        let mut scores = [0.0; 2];
        head.scores(&[2.0, 4.0, 1.0], &mut scores).unwrap();
        // softmax([1.25, 2.5]) = [1, e^1.25] / (1 + e^1.25); e^1.25 = 3.490343.
        assert!((scores[0] - 0.222_700_13).abs() < 1e-7, "{scores:?}");
        assert!((scores[1] - 0.777_299_9).abs() < 1e-7, "{scores:?}");
    }

    #[test]
    fn no_bias_is_zero_bias() {
        let weights = [1.0, 2.0];
        let head = LinearHead::new(&weights, None, 1, 2).unwrap();
        let mut logits = [0.0];
        head.logits(&[3.0, -1.0], &mut logits).unwrap();
        assert_eq!(logits, [1.0]);
    }

    #[test]
    fn logits_only_passes_through() {
        let head = LinearHead::logits_only(3).unwrap();
        assert_eq!(head.input_len(), 3);
        let mut logits = [0.0; 3];
        head.logits(&[0.0, 1.0, 2.0], &mut logits).unwrap();
        assert_eq!(logits, [0.0, 1.0, 2.0]);
        let mut scores = [0.0; 3];
        head.scores(&[0.0, 1.0, 2.0], &mut scores).unwrap();
        assert!((scores[2] - 0.665_240_96).abs() < 1e-7);
    }

    #[test]
    fn shapes_and_values_are_checked() {
        let weights = [1.0; 6];
        assert_eq!(LinearHead::new(&weights, None, 2, 4).unwrap_err(), HeadError::Length { expected: 8, actual: 6 });
        assert_eq!(
            LinearHead::new(&weights, Some(&[0.0; 3]), 2, 3).unwrap_err(),
            HeadError::Length { expected: 2, actual: 3 }
        );
        assert_eq!(LinearHead::new(&weights, None, 0, 3).unwrap_err(), HeadError::ZeroDimension);
        assert_eq!(LinearHead::logits_only(0).unwrap_err(), HeadError::ZeroDimension);
        let bad = [1.0, f32::NAN, 0.0, 0.0];
        assert_eq!(LinearHead::new(&bad, None, 2, 2).unwrap_err(), HeadError::NotFinite);

        let head = LinearHead::new(&weights, None, 2, 3).unwrap();
        let mut logits = [7.0; 2];
        assert_eq!(head.logits(&[1.0; 2], &mut logits), Err(HeadError::Length { expected: 3, actual: 2 }));
        assert_eq!(head.logits(&[1.0; 3], &mut [0.0; 3]), Err(HeadError::Length { expected: 2, actual: 3 }));
        assert_eq!(head.logits(&[1.0, f32::NAN, 1.0], &mut logits), Err(HeadError::NotFinite));
        assert_eq!(logits, [7.0; 2]);
        // Finite but huge inputs overflow the dot product: an error, not an infinite score.
        assert_eq!(head.logits(&[3e38; 3], &mut logits), Err(HeadError::NotFinite));
        assert_eq!(head.scores(&[3e38; 3], &mut logits), Err(HeadError::NotFinite));
    }
}
