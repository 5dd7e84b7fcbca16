//! `exp` and `sqrt` for the no_std build.
//!
//! `core` has no transcendental float functions (they live in `std`), and this crate may not pull in `libm`
//! just for two functions. Both are computed in f64 and rounded once to f32, which keeps them within an ulp or
//! so of `std`'s results; the tests below compare them with `std` over the whole range the heads use.

const TWO_TO_54: f64 = (1u64 << 54) as f64;
const TWO_TO_108: f64 = TWO_TO_54 * TWO_TO_54;

/// Square root of a non-negative f64 (NaN for negative input, the input itself for 0, +∞ and NaN).
pub(crate) fn sqrt_f64(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x == f64::INFINITY {
        return x;
    }
    if x < f64::MIN_POSITIVE {
        // Subnormal: the bit trick below needs a normal exponent, so scale by 2^108 (exact) and undo by 2^54.
        return sqrt_f64(x * TWO_TO_108) / TWO_TO_54;
    }
    // Halving the exponent bits gives a first guess within about 4 %. Each Newton step squares the relative
    // error, so four steps reach f64's precision; six leave a margin.
    let mut y = f64::from_bits((x.to_bits() >> 1) + 0x1FF8_0000_0000_0000);
    for _ in 0..6 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// e^x in f32, for any f32 (0 below about -104, +∞ above about 88.7, NaN for NaN).
pub(crate) fn exp_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    // Outside these bounds the f32 result is 0 or +∞ anyway; clamping keeps 2^k inside the f64 exponent range.
    if x > 89.0 {
        return f32::INFINITY;
    }
    if x < -104.0 {
        return 0.0;
    }
    let x = f64::from(x);
    // exp(x) = 2^k · exp(r) with k = round(x / ln 2) and |r| ≤ ln 2 / 2.
    let scaled = x * core::f64::consts::LOG2_E;
    let k = if scaled >= 0.0 { (scaled + 0.5) as i32 } else { (scaled - 0.5) as i32 };
    let r = x - f64::from(k) * core::f64::consts::LN_2;
    // Taylor series of exp(r) to r^11/11!: the next term is below 1e-15 for |r| ≤ 0.35. Horner form.
    let mut series = 1.0;
    for n in (1..=11).rev() {
        series = 1.0 + series * r / f64::from(n);
    }
    // 2^k built from its exponent bits; k is in -150..=129 here, well inside f64's normal range.
    let two_to_k = f64::from_bits(((k + 1023) as u64) << 52);
    (series * two_to_k) as f32
}

#[cfg(test)]
// A failed unwrap in a test is a failed test, which is what it should be.
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;
    use super::*;

    /// Relative error of `ours` against `reference`, treating equal values (including both 0) as exact.
    fn relative_error(ours: f32, reference: f32) -> f64 {
        if ours == reference {
            return 0.0;
        }
        ((f64::from(ours) - f64::from(reference)) / f64::from(reference)).abs()
    }

    #[test]
    fn exp_matches_std_over_the_softmax_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            worst = worst.max(relative_error(exp_f32(x), std::primitive::f32::exp(x)));
            x += 0.0137;
        }
        // f32 has a 6e-8 unit roundoff; one rounding from an accurate f64 value stays within it.
        assert!(worst <= 1.2e-7, "worst relative error {worst}");
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        // Deep in the subnormal range the result must still be close to std's, not flushed to zero.
        let sub = exp_f32(-100.0);
        assert!(sub > 0.0 && relative_error(sub, std::primitive::f32::exp(-100.0)) < 1e-3);
    }

    #[test]
    fn sqrt_matches_std() {
        let samples = [1e-300, 4.9e-324, 1e-10, 0.25, 1.0, 2.0, 3.0, 10.0, 12345.678, 1e20, 1.7e308];
        for x in samples {
            let ours = sqrt_f64(x);
            let reference = std::primitive::f64::sqrt(x);
            assert!(((ours - reference) / reference).abs() <= 4e-16, "sqrt({x}) = {ours}, std says {reference}");
        }
        assert_eq!(sqrt_f64(0.0), 0.0);
        assert_eq!(sqrt_f64(f64::INFINITY), f64::INFINITY);
        assert!(sqrt_f64(-1.0).is_nan());
        assert!(sqrt_f64(f64::NAN).is_nan());
    }
}
