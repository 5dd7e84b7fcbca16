//! Conversion of the wire's axis conventions into the model axes (Kinect v2 camera space: +x to the sensor's left,
//! +y up, +z away from the sensor).
//!
//! Every supported convention is right-handed and axis-aligned, so each conversion is a proper rotation whose
//! matrix holds only 0 and ±1. Applying it only moves and negates coordinates, which is exact in f32: a Kinect v2
//! stream comes out bit for bit as it went in. A mirror (determinant −1) would swap the body's left and right, which
//! is why no convention is converted by one.

use crate::skeleton::Vec3;
use crate::wire::Axes;

/// The rotation `R` with `model = R · source` for a source in `axes`. Rows are model axes, columns source axes.
///
/// | `Axes` | matrix (rows) | rotation |
/// |---|---|---|
/// | `XLeftYUpZForward` | `[1,0,0] [0,1,0] [0,0,1]` | identity |
/// | `XRightYDownZForward` | `[-1,0,0] [0,-1,0] [0,0,1]` | 180° about z |
/// | `XRightYUpZBackward` | `[-1,0,0] [0,1,0] [0,0,-1]` | 180° about y |
/// | `XForwardYLeftZUp` | `[0,1,0] [0,0,1] [1,0,0]` | 120° about (1,1,1)/√3 |
pub const fn rotation_to_model(axes: Axes) -> [[i8; 3]; 3] {
    match axes {
        Axes::XLeftYUpZForward => [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        // The camera's right is the Kinect's −x and its down is −y; depth points the same way.
        Axes::XRightYDownZForward => [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],
        // OpenGL looks down its −z, so the scene's depth is −z; right is −x as above; up is up.
        Axes::XRightYUpZBackward => [[-1, 0, 0], [0, 1, 0], [0, 0, -1]],
        // Looking along +x (depth) with +y to the left and +z up: model x = y, model y = z, model z = x.
        Axes::XForwardYLeftZUp => [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
    }
}

/// Rotates a point from `axes` into the model axes. Exact: it only selects and negates coordinates.
pub fn to_model_axes(axes: Axes, v: Vec3) -> Vec3 {
    let m = rotation_to_model(axes);
    core::array::from_fn(|row| {
        let mut acc = 0.0;
        for (col, &entry) in m[row].iter().enumerate() {
            match entry {
                1 => acc += v[col],
                -1 => acc -= v[col],
                _ => {}
            }
        }
        acc
    })
}
