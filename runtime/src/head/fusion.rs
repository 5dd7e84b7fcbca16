//! Decision-level fusion of several input streams (joint, bone, motion) of one model family.

use super::math::exp_f32;
use super::softmax::max_and_denominator;
use super::{expect_len, HeadError};

/// Writes the weighted mean of the per-stream softmax of `stream_logits` into `fused`.
///
/// `fused[c] = Σ_s w_s · softmax(stream_logits[s])[c] / Σ_s w_s`
///
/// Weights are **normalised** to sum to 1, so the result is itself a probability distribution and the decision
/// thresholds keep their meaning however many streams are fused. Equal weights (the usual joint/bone/motion
/// 0.5 each) therefore give the plain mean, and only the ratios between weights matter. A weight of 0 drops a
/// stream (its logits are still checked).
///
/// Errors, with `fused` untouched: [`HeadError::ZeroDimension`] for no streams, [`HeadError::Length`] when
/// `weights` does not have one weight per stream or a stream's length differs from `fused`'s,
/// [`HeadError::Weight`] for a negative, NaN or infinite weight or all weights 0, and the errors of
/// [`super::softmax`] for a stream's logits.
pub fn fuse_softmax(stream_logits: &[&[f32]], weights: &[f32], fused: &mut [f32]) -> Result<(), HeadError> {
    if stream_logits.is_empty() {
        return Err(HeadError::ZeroDimension);
    }
    expect_len(weights, stream_logits.len())?;
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return Err(HeadError::Weight);
    }
    let weight_sum = weights.iter().map(|w| f64::from(*w)).sum::<f64>();
    if weight_sum <= 0.0 {
        return Err(HeadError::Weight);
    }
    // Validate every stream before writing anything, so an error leaves `fused` as it was.
    for logits in stream_logits {
        expect_len(logits, fused.len())?;
        max_and_denominator(logits)?;
    }
    fused.iter_mut().for_each(|f| *f = 0.0);
    for (logits, weight) in stream_logits.iter().zip(weights) {
        // Recomputing max and denominator keeps fusion free of scratch storage; it is one pass over the logits.
        let (max, denominator) = max_and_denominator(logits)?;
        let share = f64::from(*weight) / weight_sum;
        for (f, logit) in fused.iter_mut().zip(logits.iter()) {
            *f += (share * f64::from(exp_f32(logit - max)) / denominator) as f32;
        }
    }
    Ok(())
}

/// Label probabilities of the streams that ran, as the classifiers compute them: the plain [`super::softmax`] of
/// one stream's logits, or [`fuse_softmax`] of several with their weights. Stream `s` uses
/// `stream_logits[s][..probabilities.len()]`; `weights` has one weight per stream that ran (1 to 3).
pub fn stream_probabilities<const N: usize>(
    stream_logits: &[[f32; N]; 3],
    weights: &[f32],
    probabilities: &mut [f32],
) -> Result<(), HeadError> {
    let classes = probabilities.len();
    if classes > N {
        return Err(HeadError::Length { expected: classes, actual: N });
    }
    let [l0, l1, l2] = stream_logits;
    let all = [&l0[..classes], &l1[..classes], &l2[..classes]];
    match weights.len() {
        1 => super::softmax(all[0], probabilities),
        streams => fuse_softmax(
            all.get(..streams).ok_or(HeadError::Length { expected: 3, actual: streams })?,
            weights,
            probabilities,
        ),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn equal_weights_give_the_mean_of_the_softmaxes() {
        // softmax([0, 0]) = [0.5, 0.5]; softmax([ln 3, 0]) = [0.75, 0.25]; softmax([0, ln 3]) = [0.25, 0.75].
        let ln3 = std::primitive::f32::ln(3.0);
        let joint = [0.0, 0.0];
        let bone = [ln3, 0.0];
        let motion = [0.0, ln3];
        let mut fused = [0.0; 2];
        fuse_softmax(&[&joint, &bone, &motion], &[0.5, 0.5, 0.5], &mut fused).unwrap();
        // (0.5 + 0.75 + 0.25) / 3 = 0.5 for both classes: weights 0.5 each are normalised to 1/3.
        assert!((fused[0] - 0.5).abs() < 1e-6 && (fused[1] - 0.5).abs() < 1e-6, "{fused:?}");
        fuse_softmax(&[&joint, &bone], &[0.5, 0.5], &mut fused).unwrap();
        // (0.5 + 0.75) / 2 = 0.625.
        assert!((fused[0] - 0.625).abs() < 1e-6 && (fused[1] - 0.375).abs() < 1e-6, "{fused:?}");
    }

    #[test]
    fn unequal_weights_and_zero_weight() {
        let ln3 = std::primitive::f32::ln(3.0);
        let a = [ln3, 0.0]; // [0.75, 0.25]
        let b = [0.0, ln3]; // [0.25, 0.75]
        let mut fused = [0.0; 2];
        // Weights 3 : 1 → 0.75 · 0.75 + 0.25 · 0.25 = 0.625.
        fuse_softmax(&[&a, &b], &[0.6, 0.2], &mut fused).unwrap();
        assert!((fused[0] - 0.625).abs() < 1e-6, "{fused:?}");
        // Only the ratio matters.
        let mut scaled = [0.0; 2];
        fuse_softmax(&[&a, &b], &[3.0, 1.0], &mut scaled).unwrap();
        assert!((scaled[0] - fused[0]).abs() < 1e-7);
        // A zero weight drops the stream.
        fuse_softmax(&[&a, &b], &[0.0, 2.0], &mut fused).unwrap();
        assert!((fused[0] - 0.25).abs() < 1e-6, "{fused:?}");
        // One stream with any positive weight is its own softmax.
        fuse_softmax(&[&a], &[0.1], &mut fused).unwrap();
        assert!((fused[0] - 0.75).abs() < 1e-6, "{fused:?}");
    }

    #[test]
    fn bad_input_leaves_the_output_alone() {
        let a = [1.0, 2.0];
        let short = [1.0];
        let nan = [f32::NAN, 0.0];
        let mut fused = [9.0; 2];
        assert_eq!(fuse_softmax(&[], &[], &mut fused), Err(HeadError::ZeroDimension));
        assert_eq!(fuse_softmax(&[&a], &[1.0, 1.0], &mut fused), Err(HeadError::Length { expected: 1, actual: 2 }));
        assert_eq!(
            fuse_softmax(&[&a, &short], &[1.0, 1.0], &mut fused),
            Err(HeadError::Length { expected: 2, actual: 1 })
        );
        assert_eq!(fuse_softmax(&[&a, &nan], &[1.0, 1.0], &mut fused), Err(HeadError::NotFinite));
        assert_eq!(fuse_softmax(&[&a, &a], &[1.0, -0.1], &mut fused), Err(HeadError::Weight));
        assert_eq!(fuse_softmax(&[&a, &a], &[1.0, f32::NAN], &mut fused), Err(HeadError::Weight));
        assert_eq!(fuse_softmax(&[&a, &a], &[0.0, 0.0], &mut fused), Err(HeadError::Weight));
        assert_eq!(fuse_softmax(&[&[] as &[f32]], &[1.0], &mut []), Err(HeadError::Empty));
        assert_eq!(fused, [9.0; 2]);
    }

    #[test]
    fn stream_probabilities_is_softmax_for_one_stream_and_fusion_for_several() {
        let logits = [[1.0, 2.0, 9.0], [0.5, -1.0, 9.0], [3.0, 0.0, 9.0]];
        let (mut got, mut want) = ([0.0f32; 2], [0.0f32; 2]);
        stream_probabilities(&logits, &[0.3], &mut got).unwrap();
        super::super::softmax(&logits[0][..2], &mut want).unwrap();
        assert_eq!(got, want);
        stream_probabilities(&logits, &[1.0, 0.5, 2.0], &mut got).unwrap();
        fuse_softmax(&[&logits[0][..2], &logits[1][..2], &logits[2][..2]], &[1.0, 0.5, 2.0], &mut want).unwrap();
        assert_eq!(got, want);
        assert_eq!(
            stream_probabilities(&logits, &[1.0], &mut [0.0; 4]),
            Err(HeadError::Length { expected: 4, actual: 3 })
        );
        assert_eq!(
            stream_probabilities(&logits, &[1.0; 4], &mut got),
            Err(HeadError::Length { expected: 3, actual: 4 })
        );
    }
}
