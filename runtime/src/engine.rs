//! The boundary where a network runs: one fixed-shape f32 tensor in, one fixed-shape f32 tensor out.
//!
//! Backends (tract on the CPU, TensorRT on the GPU) live in `board/backends/` (`skelact-tract`, `skelact-tensorrt`); this crate names none of them.
//! The layers above only need [`Engine`], so they are tested with [`TestEngine`], which is deterministic
//! arithmetic and not a backend.

/// Why a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EngineError {
    /// The input slice does not have the engine's input length.
    InputLength { expected: usize, actual: usize },
    /// The output slice does not have the engine's output length.
    OutputLength { expected: usize, actual: usize },
    /// The backend failed; the code is backend-specific and its log says more.
    Backend { code: i32 },
}

impl core::fmt::Display for EngineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EngineError::InputLength { expected, actual } => {
                write!(f, "engine input has {actual} values, expected {expected}")
            }
            EngineError::OutputLength { expected, actual } => {
                write!(f, "engine output has room for {actual} values, expected {expected}")
            }
            EngineError::Backend { code } => write!(f, "inference backend failed with code {code}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EngineError {}

/// A compiled network with fixed input and output shapes.
///
/// Implementations keep their plan immutable and their scratch state inside `self`, so `run` must not
/// allocate in steady state.
pub trait Engine {
    /// Number of f32 values in the input tensor (the product of its shape).
    fn input_len(&self) -> usize;
    /// Number of f32 values in the output tensor.
    fn output_len(&self) -> usize;
    /// Runs the network on `input`, writing `output`. Both slices must have exactly the lengths above.
    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError>;
}

/// Checks slice lengths the way every backend must, so they all report the same errors.
pub fn check_lengths(engine: &impl Engine, input: &[f32], output: &[f32]) -> Result<(), EngineError> {
    if input.len() != engine.input_len() {
        return Err(EngineError::InputLength { expected: engine.input_len(), actual: input.len() });
    }
    if output.len() != engine.output_len() {
        return Err(EngineError::OutputLength { expected: engine.output_len(), actual: output.len() });
    }
    Ok(())
}

/// A deterministic stand-in network for testing the layers around inference.
///
/// Output `k` is the mean of the input values at indices `i` with `i % outputs == k`, scaled by `gain`.
/// That is cheap, depends on every input value, and lets a test steer which output wins by shaping the input.
#[derive(Clone, Debug)]
pub struct TestEngine {
    inputs: usize,
    outputs: usize,
    gain: f32,
}

impl TestEngine {
    pub fn new(inputs: usize, outputs: usize, gain: f32) -> Self {
        assert!(outputs > 0 && inputs >= outputs, "a TestEngine needs at least one input per output");
        TestEngine { inputs, outputs, gain }
    }
}

impl Engine for TestEngine {
    fn input_len(&self) -> usize {
        self.inputs
    }

    fn output_len(&self) -> usize {
        self.outputs
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        output.iter_mut().for_each(|o| *o = 0.0);
        let mut counts_per_output = self.inputs / self.outputs;
        if counts_per_output == 0 {
            counts_per_output = 1;
        }
        for (i, value) in input.iter().enumerate() {
            output[i % self.outputs] += *value;
        }
        let scale = self.gain / counts_per_output as f32;
        output.iter_mut().for_each(|o| *o *= scale);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_engine_rejects_wrong_lengths() {
        let mut engine = TestEngine::new(8, 2, 1.0);
        let mut out = [0.0; 2];
        assert_eq!(engine.run(&[0.0; 7], &mut out), Err(EngineError::InputLength { expected: 8, actual: 7 }));
        let mut short = [0.0; 1];
        assert_eq!(engine.run(&[0.0; 8], &mut short), Err(EngineError::OutputLength { expected: 2, actual: 1 }));
    }

    #[test]
    fn test_engine_is_strided_mean() {
        let mut engine = TestEngine::new(4, 2, 2.0);
        let mut out = [0.0; 2];
        engine.run(&[1.0, 10.0, 3.0, 20.0], &mut out).unwrap();
        assert_eq!(out, [4.0, 30.0]);
    }
}
