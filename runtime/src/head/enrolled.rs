//! A linear head that keeps scoring a bundle's labels, with actions enrolled on the device checked first.
//!
//! A bundle with a linear head knows its own labels; an integrator adds new ones by enrolling a few examples.
//! Embeddings are compared with the enrolled exemplars after subtracting a centre (the mean embedding of the
//! windows enrollment saw), because embeddings of one encoder share a large common component that would make every
//! window look alike. A window whose nearest exemplar reaches that label's calibrated threshold is scored by a
//! k-NN vote over the exemplars; any other window by the linear head's softmax (fused over the streams). So what
//! the bundle knows keeps working, and a new action is recognised where it resembles its examples more than the
//! rest of the enrollment recording did.

use super::{stream_probabilities, HeadError, LinearHead, PrototypeHead, DEFAULT_MAX_K};

/// See the module documentation. Every buffer is the caller's; nothing allocates.
#[derive(Debug)]
pub struct EnrolledOverLinear<'a, const MAX_K: usize = DEFAULT_MAX_K> {
    linear: LinearHead<'a>,
    /// Centred exemplars, labelled with label indices after the bundle's own.
    enrolled: PrototypeHead<'a, MAX_K>,
    /// Subtracted from the joint stream's embedding before comparing (`dim` values, or empty for no centre).
    center: &'a [f32],
    /// Per label index, the similarity from which a window counts as that enrolled label.
    thresholds: &'a [f32],
    /// Working storage for the centred query (`dim` values).
    query: &'a mut [f32],
}

impl<'a, const MAX_K: usize> EnrolledOverLinear<'a, MAX_K> {
    /// Errors with [`HeadError::Length`] when the exemplars, the centre or the query storage do not have the linear
    /// head's input length, or the thresholds are fewer than the labels the exemplars use.
    pub fn new(
        linear: LinearHead<'a>,
        enrolled: PrototypeHead<'a, MAX_K>,
        center: &'a [f32],
        thresholds: &'a [f32],
        query: &'a mut [f32],
    ) -> Result<Self, HeadError> {
        let dim = linear.input_len();
        for actual in [enrolled.dim(), query.len()] {
            if actual != dim {
                return Err(HeadError::Length { expected: dim, actual });
            }
        }
        if !center.is_empty() && center.len() != dim {
            return Err(HeadError::Length { expected: dim, actual: center.len() });
        }
        let labels = enrolled.label_bound().max(linear.classes());
        if thresholds.len() < labels {
            return Err(HeadError::Length { expected: labels, actual: thresholds.len() });
        }
        if center.iter().chain(thresholds.iter()).any(|v| !v.is_finite()) {
            return Err(HeadError::NotFinite);
        }
        Ok(EnrolledOverLinear { linear, enrolled, center, thresholds, query })
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.linear.input_len()
    }

    /// Labels of the bundle (the linear head's classes); enrolled labels follow them.
    pub fn bundle_classes(&self) -> usize {
        self.linear.classes()
    }

    /// One past the largest label index an exemplar uses.
    pub fn label_bound(&self) -> usize {
        self.enrolled.label_bound()
    }

    /// Scores one window: `embeddings[k][..dim]` is the k-th stream's embedding (joint first), `weights` their
    /// fusion weights, `logits` per-stream scratch of at least the bundle's classes, `scores` one per label.
    /// Returns whether the enrolled exemplars decided.
    pub fn scores<const N: usize, const C: usize>(
        &mut self,
        embeddings: &[[f32; N]; 3],
        weights: &[f32],
        logits: &mut [[f32; C]; 3],
        scores: &mut [f32],
    ) -> Result<bool, HeadError> {
        let dim = self.dim();
        let bundle = self.bundle_classes();
        let joint = embeddings[0].get(..dim).ok_or(HeadError::Length { expected: dim, actual: N })?;
        if scores.len() < bundle.max(self.label_bound()) || C < bundle {
            return Err(HeadError::Length { expected: bundle.max(self.label_bound()), actual: scores.len().min(C) });
        }
        for (i, (q, e)) in self.query.iter_mut().zip(joint).enumerate() {
            *q = e - self.center.get(i).copied().unwrap_or(0.0);
        }
        // No exemplar at all is an error of the k-NN; the linear head then decides alone.
        let close = match self.enrolled.classify(self.query) {
            Ok(m) => self.thresholds.get(usize::from(m.label)).is_some_and(|t| m.best_similarity >= *t),
            Err(_) => false,
        };
        if close {
            self.enrolled.vote_shares(self.query, scores)?;
            return Ok(true);
        }
        for (s, embedding) in embeddings.iter().enumerate().take(weights.len()) {
            self.linear.logits(&embedding[..dim], &mut logits[s][..bundle])?;
        }
        stream_probabilities(logits, weights, &mut scores[..bundle])?;
        scores[bundle..].iter_mut().for_each(|s| *s = 0.0);
        Ok(false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // Two bundle labels over a 2-d embedding: label 0 along +x, label 1 along +y.
    const WEIGHTS: [f32; 4] = [4.0, 0.0, 0.0, 4.0];

    #[test]
    fn an_embedding_near_an_enrolled_exemplar_is_that_label_and_others_go_to_the_linear_head() {
        let linear = LinearHead::new(&WEIGHTS, None, 2, 2).unwrap();
        let (mut bank, mut labels) = ([0.0f32; 2], [0u16; 1]);
        let mut enrolled = PrototypeHead::<4>::new(&mut bank, &mut labels, 2, 1).unwrap();
        // Enrolled label 2, centred on (1, 1): it lies along -x - y from the centre.
        enrolled.enroll(2, &[-1.0, -1.0]).unwrap();
        let center = [1.0, 1.0];
        let thresholds = [1.0, 1.0, 0.9];
        let mut query = [0.0; 2];
        let mut head = EnrolledOverLinear::new(linear, enrolled, &center, &thresholds, &mut query).unwrap();
        let mut logits = [[0.0f32; 4]; 3];
        let mut scores = [0.0f32; 3];

        let near = [[0.1f32, 0.0], [0.0; 2], [0.0; 2]];
        assert!(head.scores(&near, &[1.0], &mut logits, &mut scores).unwrap());
        assert_eq!(scores, [0.0, 0.0, 1.0]);

        let far = [[3.0f32, 1.0], [0.0; 2], [0.0; 2]];
        assert!(!head.scores(&far, &[1.0], &mut logits, &mut scores).unwrap());
        assert!(scores[0] > 0.99 && scores[2] == 0.0, "{scores:?}");
    }

    #[test]
    fn mismatched_buffers_are_refused() {
        let linear = LinearHead::new(&WEIGHTS, None, 2, 2).unwrap();
        let (mut bank, mut labels) = ([0.0f32; 2], [0u16; 1]);
        let enrolled = PrototypeHead::<4>::new(&mut bank, &mut labels, 2, 1).unwrap();
        let mut query = [0.0; 3];
        let refused = EnrolledOverLinear::new(linear, enrolled, &[], &[1.0, 1.0], &mut query).unwrap_err();
        assert_eq!(refused, HeadError::Length { expected: 2, actual: 3 });
    }
}
