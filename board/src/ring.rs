//! Track rings have a compile-time length (`Frontend<TRACKS, FRAMES>`), and a bundle says at run time which one it
//! needs (`window.raw_frames`). [`with_ring`] bridges the two: it calls a visitor with the matching const
//! parameter, for every length this build supports.

/// Window lengths in raw frames this build supports (0.5 s to 10 s at 30 Hz).
pub const SUPPORTED: [usize; 10] = [16, 24, 32, 48, 64, 96, 120, 128, 150, 300];

/// Code to run with the ring length as a const parameter.
pub trait RingVisitor {
    type Output;
    fn visit<const FRAMES: usize>(self) -> Self::Output;
}

/// Calls `visitor.visit::<raw_frames>()`, or says which lengths are supported.
pub fn with_ring<V: RingVisitor>(raw_frames: usize, visitor: V) -> anyhow::Result<V::Output> {
    macro_rules! rings {
        ($($n:literal),*) => {
            match raw_frames {
                $($n => Ok(visitor.visit::<$n>()),)*
                other => anyhow::bail!(
                    "the bundle's windows span {other} raw frames; this build supports {:?}",
                    SUPPORTED
                ),
            }
        };
    }
    rings!(16, 24, 32, 48, 64, 96, 120, 128, 150, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl RingVisitor for Echo {
        type Output = usize;
        fn visit<const FRAMES: usize>(self) -> usize {
            FRAMES
        }
    }

    #[test]
    fn every_supported_length_reaches_its_const_and_others_are_refused() {
        for n in SUPPORTED {
            assert_eq!(with_ring(n, Echo).unwrap(), n);
        }
        assert!(with_ring(65, Echo).unwrap_err().to_string().contains("65 raw frames"));
    }
}
