//! Float functions for the no_std build.
//!
//! `core` has no transcendental float functions (they live in `std`), so the crate takes them from `libm`, the
//! Rust port of musl's maths library, which gives the same results with and without `std`.

/// Square root in f64.
pub(crate) fn sqrt_f64(x: f64) -> f64 {
    libm::sqrt(x)
}

/// e^x in f32.
pub(crate) fn exp_f32(x: f32) -> f32 {
    libm::expf(x)
}
