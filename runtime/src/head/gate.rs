//! Labels typed as words behind a novelty gate (Socher et al., 2013: novelty detection, then zero-shot).
//!
//! A text-aligned bundle's linear head has one row per trained class, and the device appends one row per typed label.
//! Competing directly, the trained rows win almost every window of a new action: an encoder trained on some classes
//! maps every action near one of them. The gate splits the decision in two. The trained classes' own softmax comes
//! first; where its top probability reaches the gate, the window belongs to them and the typed labels score 0.
//! Below the gate the trained classes do not claim the window, and it goes to the typed labels: their softmax over
//! their own logits (cosine / T), so the nearest prompt takes it, and a single typed label takes it whole.
//!
//! Among the typed labels, the nearest prompt by cosine takes the window, unless a [`TypedRanker`] ranks them:
//! then the label with the lowest error takes it whole ([`lowest_takes_all`]; TDSM's inference rule, the ranker
//! being its denoiser, `board/text`). The ranker runs only on windows the gate gave to the typed labels.
//!
//! The price is the trained windows that fall below the gate: they are named by a typed label instead.
//! `docs/models.md` ("Labels typed as words") gives the measured trade-off and the gate calibrated for the shipped
//! text-aligned model.

use super::{expect_len, softmax, HeadError};
use crate::engine::EngineError;

/// Ranks the labels typed as words for a window the gate gave them: one error per typed label, lower is nearer.
/// A network (TDSM's denoiser on the board), hence an engine's errors.
pub trait TypedRanker: core::fmt::Debug + Send {
    /// Writes one error per typed label (`errors.len()` of them, in label order) for the window's `embedding`.
    fn errors(&mut self, embedding: &[f32], errors: &mut [f32]) -> Result<(), EngineError>;
}

/// One-hot scores at the lowest of `errors`: the nearest typed label takes the window whole. Errors, with `scores`
/// untouched: [`HeadError::Length`] when the lengths differ, [`HeadError::Empty`] for none, [`HeadError::NotFinite`].
pub fn lowest_takes_all(errors: &[f32], scores: &mut [f32]) -> Result<(), HeadError> {
    expect_len(scores, errors.len())?;
    if errors.is_empty() {
        return Err(HeadError::Empty);
    }
    if errors.iter().any(|e| !e.is_finite()) {
        return Err(HeadError::NotFinite);
    }
    let mut best = 0;
    for (i, error) in errors.iter().enumerate() {
        if *error < errors[best] {
            best = i;
        }
    }
    scores.iter_mut().enumerate().for_each(|(i, s)| *s = if i == best { 1.0 } else { 0.0 });
    Ok(())
}

/// Scores from the logits of every row: `logits[..trained]` the trained classes', the rest the typed labels'.
/// Writes one probability per row into `scores` (see the module documentation) and returns whether the window went
/// to the typed labels (there are some, and the trained top probability is below the gate).
///
/// Errors, with `scores` untouched: [`HeadError::Length`] when `scores` differs from `logits` in length or
/// `trained` is 0 or beyond it, [`HeadError::Weight`] for a gate outside 0..=1 or NaN, and the errors of
/// [`softmax`] for non-finite logits.
pub fn typed_behind_gate(logits: &[f32], trained: usize, gate: f32, scores: &mut [f32]) -> Result<bool, HeadError> {
    expect_len(scores, logits.len())?;
    if trained == 0 || trained > logits.len() {
        return Err(HeadError::Length { expected: logits.len(), actual: trained });
    }
    if !(0.0..=1.0).contains(&gate) {
        return Err(HeadError::Weight);
    }
    let (trained_logits, typed_logits) = logits.split_at(trained);
    // Check the typed logits too before writing, so that an error leaves `scores` as it was.
    if typed_logits.iter().any(|v| !v.is_finite()) {
        return Err(HeadError::NotFinite);
    }
    let (trained_scores, typed_scores) = scores.split_at_mut(trained);
    softmax(trained_logits, trained_scores)?;
    let best = trained_scores.iter().copied().fold(0.0f32, f32::max);
    if typed_logits.is_empty() || best >= gate {
        typed_scores.iter_mut().for_each(|s| *s = 0.0);
        return Ok(false);
    }
    trained_scores.iter_mut().for_each(|s| *s = 0.0);
    softmax(typed_logits, typed_scores)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_the_trained_classes_claim_keeps_their_softmax() {
        // softmax([ln 9, 0]) = [0.9, 0.1]: above a gate of 0.7, the typed label scores 0 however near it is.
        let logits = [9f32.ln(), 0.0, 50.0];
        let mut scores = [f32::NAN; 3];
        assert!(!typed_behind_gate(&logits, 2, 0.7, &mut scores).unwrap());
        assert!((scores[0] - 0.9).abs() < 1e-6 && (scores[1] - 0.1).abs() < 1e-6 && scores[2] == 0.0, "{scores:?}");
    }

    #[test]
    fn below_the_gate_the_nearest_typed_label_takes_the_window() {
        // softmax([ln 3, 0]) = [0.75, 0.25]: below a gate of 0.8 the two typed labels share it by their softmax.
        let logits = [3f32.ln(), 0.0, 2f32.ln(), 0.0];
        let mut scores = [f32::NAN; 4];
        assert!(typed_behind_gate(&logits, 2, 0.8, &mut scores).unwrap());
        assert_eq!(&scores[..2], &[0.0, 0.0]);
        assert!((scores[2] - 2.0 / 3.0).abs() < 1e-6 && (scores[3] - 1.0 / 3.0).abs() < 1e-6, "{scores:?}");
        // One typed label takes it whole.
        let mut one = [f32::NAN; 3];
        typed_behind_gate(&logits[..3], 2, 0.8, &mut one).unwrap();
        assert_eq!(one, [0.0, 0.0, 1.0]);
    }

    #[test]
    fn without_typed_labels_it_is_the_trained_softmax() {
        let mut scores = [0.0; 2];
        assert!(!typed_behind_gate(&[0.0, 0.0], 2, 0.9, &mut scores).unwrap(), "nothing typed takes nothing");
        assert_eq!(scores, [0.5, 0.5]);
    }

    #[test]
    fn bad_input_is_refused_and_leaves_the_scores_alone() {
        let mut scores = [7.0; 3];
        for (logits, trained, gate) in [
            (&[0.0, 0.0, f32::NAN][..], 2, 0.5),
            (&[f32::INFINITY, 0.0, 0.0][..], 2, 0.5),
            (&[0.0, 0.0, 0.0][..], 0, 0.5),
            (&[0.0, 0.0, 0.0][..], 4, 0.5),
            (&[0.0, 0.0, 0.0][..], 2, 1.5),
            (&[0.0, 0.0, 0.0][..], 2, f32::NAN),
        ] {
            assert!(typed_behind_gate(logits, trained, gate, &mut scores).is_err(), "{logits:?} {trained} {gate}");
            assert_eq!(scores, [7.0; 3]);
        }
        assert!(typed_behind_gate(&[0.0; 3], 2, 0.5, &mut [0.0; 2]).is_err());
    }

    #[test]
    fn the_lowest_error_takes_the_window_whole() {
        let mut scores = [f32::NAN; 3];
        lowest_takes_all(&[0.9, 0.4, 0.7], &mut scores).unwrap();
        assert_eq!(scores, [0.0, 1.0, 0.0]);
        // A tie goes to the first label, as an argmin does.
        lowest_takes_all(&[0.5, 0.5, 0.7], &mut scores).unwrap();
        assert_eq!(scores, [1.0, 0.0, 0.0]);
        for (errors, scores_len) in [(&[0.1, f32::NAN][..], 2), (&[][..], 0), (&[0.1, 0.2][..], 3)] {
            let mut scores = [7.0; 3];
            assert!(lowest_takes_all(errors, &mut scores[..scores_len]).is_err(), "{errors:?}");
            assert_eq!(scores, [7.0; 3]);
        }
    }
}
