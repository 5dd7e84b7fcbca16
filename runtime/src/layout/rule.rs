//! How one model joint is obtained from the joints of a source layout.
//!
//! Every rule is an affine combination of source joints (its weights sum to one), so it can be evaluated before
//! or after unit scaling and axis rotation with the same result, and a rule never invents an absolute position.

use crate::skeleton::Vec3;

/// The recipe for one NTU-25 joint in terms of source joint indices.
///
/// A rule that reads several source joints yields a valid joint only if every one of them is valid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JointRule {
    /// The source joint itself.
    Source(usize),
    /// Midpoint of two source joints: `(a + b) / 2`.
    Midpoint(usize, usize),
    /// A point on the segment `a → b`: `a + t·(b − a)`.
    Lerp { a: usize, b: usize, t: f32 },
    /// Continues the bone `from → to` beyond `to` by `by` times its length: `to + by·(to − from)`.
    Extend { from: usize, to: usize, by: f32 },
    /// Centroid of three source joints.
    Mean3([usize; 3]),
    /// A point on the segment between two midpoints: `mid(a) + t·(mid(b) − mid(a))`, where `mid` is the midpoint of
    /// a pair. `a = [j, j]` stands for the single joint `j`.
    LerpMidpoints { a: [usize; 2], b: [usize; 2], t: f32 },
    /// The source has nothing that fits; the joint is always missing.
    Missing,
}

impl JointRule {
    /// The source joints this rule reads (up to four) and how many of the array's entries are used.
    pub const fn inputs(&self) -> ([usize; 4], usize) {
        match *self {
            JointRule::Source(a) => ([a, 0, 0, 0], 1),
            JointRule::Midpoint(a, b) | JointRule::Lerp { a, b, .. } => ([a, b, 0, 0], 2),
            JointRule::Extend { from, to, .. } => ([from, to, 0, 0], 2),
            JointRule::Mean3([a, b, c]) => ([a, b, c, 0], 3),
            JointRule::LerpMidpoints { a, b, .. } => ([a[0], a[1], b[0], b[1]], 4),
            JointRule::Missing => ([0; 4], 0),
        }
    }

    /// Evaluates the rule. `point(i)` returns source joint `i` in model units and axes, or `None` when it is
    /// missing; any missing input makes the result missing.
    pub(crate) fn evaluate(&self, point: impl Fn(usize) -> Option<Vec3>) -> Option<Vec3> {
        match *self {
            JointRule::Source(a) => point(a),
            JointRule::Midpoint(a, b) => Some(midpoint(point(a)?, point(b)?)),
            JointRule::Lerp { a, b, t } => Some(lerp(point(a)?, point(b)?, t)),
            JointRule::Extend { from, to, by } => {
                let (from, to) = (point(from)?, point(to)?);
                Some(core::array::from_fn(|k| to[k] + by * (to[k] - from[k])))
            }
            JointRule::Mean3([a, b, c]) => {
                let (a, b, c) = (point(a)?, point(b)?, point(c)?);
                Some(core::array::from_fn(|k| (a[k] + b[k] + c[k]) / 3.0))
            }
            JointRule::LerpMidpoints { a, b, t } => {
                let from = midpoint(point(a[0])?, point(a[1])?);
                let to = midpoint(point(b[0])?, point(b[1])?);
                Some(lerp(from, to, t))
            }
            JointRule::Missing => None,
        }
    }
}

fn midpoint(a: Vec3, b: Vec3) -> Vec3 {
    core::array::from_fn(|k| (a[k] + b[k]) * 0.5)
}

fn lerp(a: Vec3, b: Vec3, t: f32) -> Vec3 {
    core::array::from_fn(|k| a[k] + t * (b[k] - a[k]))
}
