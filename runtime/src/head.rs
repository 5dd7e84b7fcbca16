//! Heads: what turns the network's output vector into per-label scores.
//!
//! Every head writes into caller-supplied slices and never allocates, so it can run on the per-frame path.
//! Scores come out as probabilities (0..=1, summing to 1) or cosine similarities (-1..=1); the decision layer
//! ([`crate::decision`]) expects probabilities or similarities the caller has chosen thresholds for.
//!
//! | head | input | output |
//! |---|---|---|
//! | [`softmax`] | logits | probabilities |
//! | [`LinearHead`] | embedding (or logits) | logits, probabilities |
//! | [`PrototypeHead`] | embedding | k-NN vote over enrolled exemplars, per-label best similarity |
//! | [`EnrolledOverLinear`] | embeddings of every stream | enrolled exemplars' k-NN vote when one is close enough, else the linear head's fused probabilities |
//! | [`TextPrototypeHead`] | embedding | cosine similarity to label text embeddings, softmax(similarity / T) |
//! | [`fuse_softmax`] | logits of several streams | weighted mean of the per-stream softmax |
//! | [`typed_behind_gate`] | logits of trained and typed rows | the trained softmax where it reaches the gate, else the typed labels' softmax |
//! | [`lowest_takes_all`] | a [`TypedRanker`]'s errors of the typed labels | one-hot at the lowest (TDSM's rule), for windows the gate gave them |
//!
//! Cosine similarity with a zero vector is undefined, and every head reports it as [`HeadError::ZeroVector`]
//! rather than inventing a score: a zero embedding means the network produced nothing usable.

mod enrolled;
mod fusion;
mod gate;
mod linear;
pub(crate) mod math;
mod prototype;
mod softmax;
mod text;

pub use enrolled::EnrolledOverLinear;
pub use fusion::{fuse_softmax, stream_probabilities};
pub use gate::{lowest_takes_all, typed_behind_gate, TypedRanker};
pub use linear::LinearHead;
pub use prototype::{PrototypeHead, PrototypeMatch, DEFAULT_MAX_K};
pub use softmax::{softmax, softmax_in_place};
pub use text::TextPrototypeHead;

/// Why a head refused its input. Whenever a head returns an error, it has written nothing and changed nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadError {
    /// The input has no values (softmax of nothing is undefined).
    Empty,
    /// An input or parameter value is NaN or infinite.
    NotFinite,
    /// Two slices that must agree in length do not.
    Length { expected: usize, actual: usize },
    /// A vector has zero length (L2 norm 0), so its direction and any cosine similarity with it are undefined.
    ZeroVector,
    /// The exemplar storage is full; nothing was stored.
    StorageFull { capacity: usize },
    /// No exemplar is enrolled, so there is nothing to compare with.
    NoExemplars,
    /// A label is `Event::UNKNOWN` (reserved) or does not fit the caller's per-label output slice.
    Label { label: u16 },
    /// k of a k-NN vote is 0 or larger than the head's compile-time maximum.
    K { k: usize, max: usize },
    /// A temperature is zero, negative or not finite.
    Temperature,
    /// A fusion weight is negative or not finite, or all weights are zero.
    Weight,
    /// A dimension (classes, embedding size, streams) is zero.
    ZeroDimension,
}

impl core::fmt::Display for HeadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeadError::Empty => write!(f, "head input is empty"),
            HeadError::NotFinite => write!(f, "head input contains NaN or infinity"),
            HeadError::Length { expected, actual } => {
                write!(f, "head slice has {actual} values, expected {expected}")
            }
            HeadError::ZeroVector => write!(f, "vector has zero length, cosine similarity is undefined"),
            HeadError::StorageFull { capacity } => {
                write!(f, "exemplar storage is full ({capacity} exemplars)")
            }
            HeadError::NoExemplars => write!(f, "no exemplar is enrolled"),
            HeadError::Label { label } => {
                write!(f, "label {label} is reserved or outside the per-label output")
            }
            HeadError::K { k, max } => write!(f, "k = {k} is outside 1..={max}"),
            HeadError::Temperature => write!(f, "temperature must be finite and greater than zero"),
            HeadError::Weight => {
                write!(f, "fusion weights must be finite, non-negative and not all zero")
            }
            HeadError::ZeroDimension => write!(f, "a head dimension is zero"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HeadError {}

/// Checks that every value is finite.
fn all_finite(values: &[f32]) -> Result<(), HeadError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(HeadError::NotFinite)
    }
}

/// Checks a slice length.
fn expect_len(values: &[f32], expected: usize) -> Result<(), HeadError> {
    if values.len() == expected {
        Ok(())
    } else {
        Err(HeadError::Length { expected, actual: values.len() })
    }
}

/// Dot product, accumulated in f64 so that long embeddings lose no precision to the summation order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>() as f32
}

/// L2 norm (in f64, see [`dot`]).
fn norm(a: &[f32]) -> f64 {
    math::sqrt_f64(a.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>())
}
