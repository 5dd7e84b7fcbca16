//! Labels typed as words behind a novelty gate (Socher et al., 2013: novelty detection, then zero-shot).
//!
//! A text-aligned bundle's linear head has one row per trained class, and the device appends one row per typed label.
//! Competing directly, the trained rows win almost every window of a new action: an encoder trained on some classes
//! maps every action near one of them. The gate splits the decision in two. The trained classes' own softmax comes
//! first; where its top probability reaches the gate, the window belongs to them and the typed labels score 0.
//! Below the gate the trained classes do not claim the window, and it goes to the typed labels: their softmax over
//! their own logits (cosine / T), so the nearest prompt takes it, and a single typed label takes it whole.
//!
//! The price is the trained windows that fall below the gate: they are named by a typed label instead.
//! `docs/models.md` ("Labels typed as words") gives the measured trade-off and the gate calibrated for the shipped
//! text-aligned model.

use super::{expect_len, softmax, HeadError};

/// Scores from the logits of every row: `logits[..trained]` the trained classes', the rest the typed labels'.
/// Writes one probability per row into `scores` (see the module documentation).
///
/// Errors, with `scores` untouched: [`HeadError::Length`] when `scores` differs from `logits` in length or
/// `trained` is 0 or beyond it, [`HeadError::Weight`] for a gate outside 0..=1 or NaN, and the errors of
/// [`softmax`] for non-finite logits.
pub fn typed_behind_gate(logits: &[f32], trained: usize, gate: f32, scores: &mut [f32]) -> Result<(), HeadError> {
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
    } else {
        trained_scores.iter_mut().for_each(|s| *s = 0.0);
        softmax(typed_logits, typed_scores)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_the_trained_classes_claim_keeps_their_softmax() {
        // softmax([ln 9, 0]) = [0.9, 0.1]: above a gate of 0.7, the typed label scores 0 however near it is.
        let logits = [9f32.ln(), 0.0, 50.0];
        let mut scores = [f32::NAN; 3];
        typed_behind_gate(&logits, 2, 0.7, &mut scores).unwrap();
        assert!((scores[0] - 0.9).abs() < 1e-6 && (scores[1] - 0.1).abs() < 1e-6 && scores[2] == 0.0, "{scores:?}");
    }

    #[test]
    fn below_the_gate_the_nearest_typed_label_takes_the_window() {
        // softmax([ln 3, 0]) = [0.75, 0.25]: below a gate of 0.8 the two typed labels share it by their softmax.
        let logits = [3f32.ln(), 0.0, 2f32.ln(), 0.0];
        let mut scores = [f32::NAN; 4];
        typed_behind_gate(&logits, 2, 0.8, &mut scores).unwrap();
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
        typed_behind_gate(&[0.0, 0.0], 2, 0.9, &mut scores).unwrap();
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
}
