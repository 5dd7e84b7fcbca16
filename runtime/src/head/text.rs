//! Text-prototype head: zero-shot labels by similarity to label text embeddings.
//!
//! A text-aligned skeleton encoder (AC-SAR's FiLM alignment, TDSM's matching space) embeds a window into the
//! same space as label prompts. The bundle ships one text embedding per label; a label never trained on becomes
//! recognisable by adding its prompt's embedding.

use super::softmax::softmax_scaled;
use super::{all_finite, dot, expect_len, norm, HeadError};

/// Cosine similarity to borrowed label embeddings `[labels × dim]`, and softmax(similarity / temperature).
///
/// The label embeddings need not be normalised: the bundle's are borrowed read-only as they are, so their norms
/// are computed per query (one more pass over each row, cheap next to running the encoder).
#[derive(Debug, Clone, Copy)]
pub struct TextPrototypeHead<'a> {
    label_embeddings: &'a [f32],
    labels: usize,
    dim: usize,
    temperature: f32,
}

impl<'a> TextPrototypeHead<'a> {
    /// Checks the label embeddings once: shape ([`HeadError::Length`], [`HeadError::ZeroDimension`]), values
    /// ([`HeadError::NotFinite`]), no all-zero label ([`HeadError::ZeroVector`]) and the temperature
    /// ([`HeadError::Temperature`]: finite and > 0). CLIP-style models use about 0.01 to 0.07.
    pub fn new(label_embeddings: &'a [f32], labels: usize, dim: usize, temperature: f32) -> Result<Self, HeadError> {
        if labels == 0 || dim == 0 {
            return Err(HeadError::ZeroDimension);
        }
        let expected = labels
            .checked_mul(dim)
            .ok_or(HeadError::Length { expected: usize::MAX, actual: label_embeddings.len() })?;
        expect_len(label_embeddings, expected)?;
        all_finite(label_embeddings)?;
        if label_embeddings.chunks_exact(dim).any(|row| norm(row) == 0.0) {
            return Err(HeadError::ZeroVector);
        }
        Self::check_temperature(temperature)?;
        Ok(TextPrototypeHead { label_embeddings, labels, dim, temperature })
    }

    /// Number of labels.
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Softmax temperature.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Changes the temperature; on [`HeadError::Temperature`] it stays as it was.
    pub fn set_temperature(&mut self, temperature: f32) -> Result<(), HeadError> {
        Self::check_temperature(temperature)?;
        self.temperature = temperature;
        Ok(())
    }

    /// Writes each label's cosine similarity to `embedding` into `similarities` and
    /// softmax(similarity / temperature) into `scores` (both of length [`Self::labels`]).
    ///
    /// Errors: [`HeadError::Length`], [`HeadError::NotFinite`], [`HeadError::ZeroVector`] for an all-zero
    /// embedding; both outputs are then untouched.
    pub fn scores(&self, embedding: &[f32], similarities: &mut [f32], scores: &mut [f32]) -> Result<(), HeadError> {
        expect_len(embedding, self.dim)?;
        expect_len(similarities, self.labels)?;
        expect_len(scores, self.labels)?;
        all_finite(embedding)?;
        let query_norm = norm(embedding);
        if query_norm == 0.0 {
            return Err(HeadError::ZeroVector);
        }
        for (similarity, row) in similarities.iter_mut().zip(self.label_embeddings.chunks_exact(self.dim)) {
            let cosine = f64::from(dot(row, embedding)) / (norm(row) * query_norm);
            *similarity = (cosine as f32).clamp(-1.0, 1.0);
        }
        // Similarities are in -1..=1 and 1 / temperature is finite, so this cannot fail on finite input; it
        // would only fail on a temperature so small that 1 / temperature overflows, which the constructor refuses.
        softmax_scaled(similarities, 1.0 / self.temperature, scores)
    }

    fn check_temperature(temperature: f32) -> Result<(), HeadError> {
        if temperature.is_finite() && temperature > 0.0 && (1.0 / temperature).is_finite() {
            Ok(())
        } else {
            Err(HeadError::Temperature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows [1, 0], [0, 2] (not normalised) and [-1, 0].
    const LABELS: [f32; 6] = [1.0, 0.0, 0.0, 2.0, -1.0, 0.0];

    fn assert_close(actual: &[f32], expected: &[f32]) {
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6, "{actual:?} != {expected:?}");
        }
    }

    #[test]
    fn similarities_and_temperature() {
        let head = TextPrototypeHead::new(&LABELS, 3, 2, 1.0).unwrap();
        let mut similarities = [0.0; 3];
        let mut scores = [0.0; 3];
        // The query's length does not matter, only its direction.
        head.scores(&[2.0, 0.0], &mut similarities, &mut scores).unwrap();
        assert_eq!(similarities, [1.0, 0.0, -1.0]);
        // softmax([1, 0, -1]).
        assert_close(&scores, &[0.665_240_96, 0.244_728_47, 0.090_030_57]);

        // Temperature 0.5 sharpens: softmax([2, 0, -2]).
        let mut head = head;
        head.set_temperature(0.5).unwrap();
        head.scores(&[2.0, 0.0], &mut similarities, &mut scores).unwrap();
        assert_close(&scores, &[0.866_813_3, 0.117_310_43, 0.015_876_24]);
        // Temperature 2 flattens: softmax([0.5, 0, -0.5]).
        head.set_temperature(2.0).unwrap();
        head.scores(&[2.0, 0.0], &mut similarities, &mut scores).unwrap();
        assert_close(&scores, &[0.506_480_4, 0.307_195_9, 0.186_323_72]);
        assert_eq!(head.temperature(), 2.0);

        // A diagonal query: cos 45° to the first two labels.
        head.scores(&[1.0, 1.0], &mut similarities, &mut scores).unwrap();
        assert_close(
            &similarities,
            &[core::f32::consts::FRAC_1_SQRT_2, core::f32::consts::FRAC_1_SQRT_2, -core::f32::consts::FRAC_1_SQRT_2],
        );
    }

    #[test]
    fn construction_is_checked() {
        assert_eq!(
            TextPrototypeHead::new(&LABELS, 3, 3, 1.0).unwrap_err(),
            HeadError::Length { expected: 9, actual: 6 }
        );
        assert_eq!(TextPrototypeHead::new(&LABELS, 0, 2, 1.0).unwrap_err(), HeadError::ZeroDimension);
        assert_eq!(TextPrototypeHead::new(&[1.0, 0.0, 0.0, 0.0], 2, 2, 1.0).unwrap_err(), HeadError::ZeroVector);
        assert_eq!(TextPrototypeHead::new(&[1.0, f32::NAN], 1, 2, 1.0).unwrap_err(), HeadError::NotFinite);
        for temperature in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-40] {
            assert_eq!(
                TextPrototypeHead::new(&LABELS, 3, 2, temperature).unwrap_err(),
                HeadError::Temperature,
                "{temperature}"
            );
        }
        let mut head = TextPrototypeHead::new(&LABELS, 3, 2, 0.07).unwrap();
        assert_eq!(head.set_temperature(0.0), Err(HeadError::Temperature));
        assert_eq!(head.temperature(), 0.07);
        assert_eq!((head.labels(), head.dim()), (3, 2));
    }

    #[test]
    fn bad_queries_write_nothing() {
        let head = TextPrototypeHead::new(&LABELS, 3, 2, 1.0).unwrap();
        let mut similarities = [9.0; 3];
        let mut scores = [9.0; 3];
        assert_eq!(head.scores(&[0.0, 0.0], &mut similarities, &mut scores), Err(HeadError::ZeroVector));
        assert_eq!(head.scores(&[f32::NAN, 1.0], &mut similarities, &mut scores), Err(HeadError::NotFinite));
        assert_eq!(
            head.scores(&[1.0], &mut similarities, &mut scores),
            Err(HeadError::Length { expected: 2, actual: 1 })
        );
        assert_eq!(
            head.scores(&[1.0, 0.0], &mut [0.0; 2], &mut scores),
            Err(HeadError::Length { expected: 3, actual: 2 })
        );
        assert_eq!(similarities, [9.0; 3]);
        assert_eq!(scores, [9.0; 3]);
    }
}
