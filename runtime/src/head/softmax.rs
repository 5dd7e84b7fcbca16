//! Numerically stable softmax.

use super::math::exp_f32;
use super::{all_finite, expect_len, HeadError};

/// Writes `softmax(logits)` into `probabilities`.
///
/// The largest logit is subtracted before exponentiating, so no term overflows and the largest term is exactly
/// 1, which also keeps the denominator ≥ 1 (no division by zero). Errors, with `probabilities` untouched:
/// [`HeadError::Empty`] for no logits, [`HeadError::Length`] when the slices differ in length,
/// [`HeadError::NotFinite`] for a NaN or infinite logit.
pub fn softmax(logits: &[f32], probabilities: &mut [f32]) -> Result<(), HeadError> {
    softmax_scaled(logits, 1.0, probabilities)
}

/// [`softmax`] of `values`, in place. On error `values` is untouched.
pub fn softmax_in_place(values: &mut [f32]) -> Result<(), HeadError> {
    let (max, _) = check_and_max(values, 1.0)?;
    let mut sum = 0.0f64;
    for v in values.iter_mut() {
        *v = exp_f32(*v - max);
        sum += f64::from(*v);
    }
    normalise(values, sum);
    Ok(())
}

/// Writes `softmax(values · scale)` into `out` (`scale` = 1 / temperature). `scale` must be finite and > 0.
pub(crate) fn softmax_scaled(values: &[f32], scale: f32, out: &mut [f32]) -> Result<(), HeadError> {
    expect_len(out, values.len())?;
    let (max, scale) = check_and_max(values, scale)?;
    let mut sum = 0.0f64;
    for (o, v) in out.iter_mut().zip(values) {
        *o = exp_f32(*v * scale - max);
        sum += f64::from(*o);
    }
    normalise(out, sum);
    Ok(())
}

/// The parts of a softmax: returns `(max, sum)` such that
/// `softmax(values)[i] = exp(values[i] - max) / sum`. Used by fusion, which must not need scratch storage.
pub(crate) fn max_and_denominator(values: &[f32]) -> Result<(f32, f64), HeadError> {
    let (max, _) = check_and_max(values, 1.0)?;
    let sum = values.iter().map(|v| f64::from(exp_f32(*v - max))).sum::<f64>();
    Ok((max, sum))
}

/// Validates the input and returns the largest scaled value (and the scale, for convenience).
fn check_and_max(values: &[f32], scale: f32) -> Result<(f32, f32), HeadError> {
    if values.is_empty() {
        return Err(HeadError::Empty);
    }
    all_finite(values)?;
    let max = values.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v * scale));
    // A huge logit times a large scale can overflow to infinity even though both were finite.
    if !max.is_finite() || values.iter().any(|v| !(*v * scale).is_finite()) {
        return Err(HeadError::NotFinite);
    }
    Ok((max, scale))
}

fn normalise(values: &mut [f32], sum: f64) {
    // The largest term is exp(0) = 1, so sum ≥ 1.
    debug_assert!(sum >= 1.0);
    for v in values.iter_mut() {
        *v = (f64::from(*v) / sum) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() <= tolerance, "{actual:?} != {expected:?}");
        }
    }

    #[test]
    fn hand_computed_values() {
        // exp(0), exp(1), exp(2) = 1, 2.718282, 7.389056; sum 11.107338.
        let mut out = [0.0; 3];
        softmax(&[0.0, 1.0, 2.0], &mut out).unwrap();
        assert_close(&out, &[0.090_030_57, 0.244_728_47, 0.665_240_96], 1e-7);
        // Equal logits give a uniform distribution.
        let mut out = [0.0; 4];
        softmax(&[3.0; 4], &mut out).unwrap();
        assert_close(&out, &[0.25; 4], 0.0);
        // A single logit is certainty.
        let mut one = [0.0];
        softmax(&[-7.5], &mut one).unwrap();
        assert_eq!(one, [1.0]);
    }

    #[test]
    fn shift_invariant_and_stable_for_huge_logits() {
        // Without subtracting the max, exp(1000) overflows to infinity and the result is NaN.
        let mut big = [0.0; 3];
        softmax(&[1000.0, 1001.0, 1002.0], &mut big).unwrap();
        assert_close(&big, &[0.090_030_57, 0.244_728_47, 0.665_240_96], 1e-7);
        let mut tiny = [0.0; 2];
        softmax(&[-1000.0, 0.0], &mut tiny).unwrap();
        assert_eq!(tiny, [0.0, 1.0]);
    }

    #[test]
    fn in_place_agrees() {
        let mut values = [0.0, 1.0, 2.0];
        softmax_in_place(&mut values).unwrap();
        assert_close(&values, &[0.090_030_57, 0.244_728_47, 0.665_240_96], 1e-7);
    }

    #[test]
    fn scaled_is_temperature() {
        // Scale 2 (temperature 0.5) on [0, 1] is softmax([0, 2]) = [1, e²] / (1 + e²).
        let mut out = [0.0; 2];
        softmax_scaled(&[0.0, 1.0], 2.0, &mut out).unwrap();
        assert_close(&out, &[0.119_202_92, 0.880_797_1], 1e-7);
    }

    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        let mut out = [9.0; 2];
        assert_eq!(softmax(&[], &mut []), Err(HeadError::Empty));
        assert_eq!(softmax(&[1.0, f32::NAN], &mut out), Err(HeadError::NotFinite));
        assert_eq!(softmax(&[1.0, f32::INFINITY], &mut out), Err(HeadError::NotFinite));
        assert_eq!(softmax(&[1.0, 2.0, 3.0], &mut out), Err(HeadError::Length { expected: 3, actual: 2 }));
        assert_eq!(out, [9.0; 2]);
        let mut values = [1.0, f32::NAN];
        assert_eq!(softmax_in_place(&mut values), Err(HeadError::NotFinite));
        assert_eq!(values[0], 1.0);
        assert_eq!(softmax_in_place(&mut []), Err(HeadError::Empty));
        // Finite logits whose scaled value overflows are refused, not turned into NaN.
        assert_eq!(softmax_scaled(&[3e38, 0.0], 10.0, &mut out), Err(HeadError::NotFinite));
    }
}
