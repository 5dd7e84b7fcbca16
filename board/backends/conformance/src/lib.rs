//! The conformance suite every backend passes: the same inputs as the desktop, outputs checked against
//! onnxruntime's with named tolerances.
//!
//! A fixture is three files in one folder, made on the desktop (for the test model, by
//! `models/tools/make_engine_fixture.py`):
//! - `<name>.onnx`: the model;
//! - `<name>_inputs.npy`: `S` samples, shape `[S, ...input shape without its batch axis]`, float32;
//! - `<name>_ort_outputs.npy`: onnxruntime's outputs for them, shape `[S, ...]`.
//!
//! The committed fixtures (`tests/fixtures/engine/`) are `tiny_stars` (FP32) and `tiny_stars_int8` (static INT8,
//! per-channel Q/DQ weights, run on `tiny_stars`'s inputs).
//!
//! [`check_engine`] runs every sample, compares element-wise like `numpy.allclose`
//! (`|actual - expected| <= atol + rtol * |expected|`), runs the first sample again to catch state leaking
//! between runs, and checks that wrong slice lengths give the shared [`EngineError`]s.

use std::path::{Path, PathBuf};

use skelact_runtime::engine::{Engine, EngineError};

use skelact_formats::npy::{NpyArray, NpyError};

/// An element-wise tolerance, as in `numpy.allclose`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub atol: f32,
    pub rtol: f32,
}

/// FP32 model on an FP32 engine: only summation order differs from onnxruntime.
pub const FP32_ATOL: f32 = 1e-4;
pub const FP32_RTOL: f32 = 1e-3;
pub const FP32: Tolerance = Tolerance { atol: FP32_ATOL, rtol: FP32_RTOL };

/// FP32 model built into an FP16 engine (TensorRT): half precision keeps about three decimal digits.
pub const FP16_ATOL: f32 = 2e-2;
pub const FP16_RTOL: f32 = 2e-2;
pub const FP16: Tolerance = Tolerance { atol: FP16_ATOL, rtol: FP16_RTOL };

/// Q/DQ INT8 model against onnxruntime running the same Q/DQ model: engines may fuse or reorder rescaling and
/// round differently by one quantization step on intermediate tensors.
pub const INT8_ATOL: f32 = 5e-2;
pub const INT8_RTOL: f32 = 5e-2;
pub const INT8: Tolerance = Tolerance { atol: INT8_ATOL, rtol: INT8_RTOL };

impl Tolerance {
    /// Whether `actual` is close enough to `expected`. NaN is never close.
    pub fn accepts(&self, actual: f32, expected: f32) -> bool {
        (actual - expected).abs() <= self.atol + self.rtol * expected.abs()
    }
}

/// A reconstruction model (REC) against onnxruntime's `completed`: absolute 1e-4, whatever the magnitude.
pub const RECONSTRUCTION: Tolerance = Tolerance { atol: 1e-4, rtol: 0.0 };

/// A model with its reference inputs and outputs.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: String,
    pub onnx_path: PathBuf,
    pub inputs: NpyArray,
    pub expected: NpyArray,
}

/// Why a fixture could not be used, or how a backend failed the suite.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConformanceError {
    #[error("fixture {name}: {file}: {error}")]
    FixtureFile { name: String, file: String, error: NpyError },
    #[error("reconstruction fixture {file}: {reason}")]
    Reconstruction { file: PathBuf, reason: String },
    #[error("fixture {name}: inputs hold {inputs} samples but outputs hold {outputs}")]
    SampleCount { name: String, inputs: usize, outputs: usize },
    #[error("engine takes {engine} inputs per run but the fixture's samples have {fixture}")]
    InputLen { engine: usize, fixture: usize },
    #[error("engine gives {engine} outputs per run but the fixture's samples have {fixture}")]
    OutputLen { engine: usize, fixture: usize },
    #[error("sample {sample}: the engine failed: {error}")]
    Run { sample: usize, error: EngineError },
    #[error(
        "sample {sample}, output {index}: got {actual}, onnxruntime gave {expected} \
         (|diff| {diff:e} > atol {atol:e} + rtol {rtol:e} * |expected|)"
    )]
    Mismatch { sample: usize, index: usize, actual: f32, expected: f32, diff: f32, atol: f32, rtol: f32 },
    #[error(
        "sample 0 gave different outputs when run again after other samples (output {index}: {first} then {again})"
    )]
    NotRepeatable { index: usize, first: f32, again: f32 },
    #[error("a {what} of wrong length gave {got:?} instead of {expected:?}")]
    LengthCheck { what: &'static str, got: Result<(), EngineError>, expected: EngineError },
}

/// What a passing run measured, for logs and `docs/performance.md`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    pub samples: usize,
    pub max_abs_diff: f32,
    /// Largest `|diff| / |expected|` over elements with `|expected| > atol`.
    pub max_rel_diff: f32,
}

impl Fixture {
    /// Loads `<dir>/<name>.onnx` (path only), `<dir>/<name>_inputs.npy` and `<dir>/<name>_ort_outputs.npy`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, ConformanceError> {
        Self::load_with_inputs(dir, name, name)
    }

    /// Like [`Fixture::load`], with the inputs of another fixture (e.g. an INT8 model run on the FP32 model's
    /// inputs): `<dir>/<inputs_of>_inputs.npy`.
    pub fn load_with_inputs(dir: &Path, name: &str, inputs_of: &str) -> Result<Self, ConformanceError> {
        let read = |file: String| {
            NpyArray::read(&dir.join(&file)).map_err(|error| ConformanceError::FixtureFile {
                name: name.to_string(),
                file,
                error,
            })
        };
        let inputs = read(format!("{inputs_of}_inputs.npy"))?;
        let expected = read(format!("{name}_ort_outputs.npy"))?;
        let fixture = Fixture { name: name.to_string(), onnx_path: dir.join(format!("{name}.onnx")), inputs, expected };
        if fixture.samples() != fixture.expected.shape.first().copied().unwrap_or(0) {
            return Err(ConformanceError::SampleCount {
                name: name.to_string(),
                inputs: fixture.samples(),
                outputs: fixture.expected.shape.first().copied().unwrap_or(0),
            });
        }
        Ok(fixture)
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.inputs.shape.first().copied().unwrap_or(0)
    }

    /// The input shape of one run, batch axis of 1 included (e.g. `[1, 3, 16, 25, 2]`).
    pub fn input_shape(&self) -> Vec<usize> {
        let mut shape = vec![1];
        shape.extend_from_slice(self.inputs.shape.get(1..).unwrap_or(&[]));
        shape
    }

    fn per_sample(array: &NpyArray) -> usize {
        array.shape.get(1..).map_or(0, |dims| dims.iter().product())
    }

    fn sample(array: &NpyArray, index: usize) -> &[f32] {
        let len = Self::per_sample(array);
        &array.data[index * len..(index + 1) * len]
    }
}

/// Runs the whole suite on `engine`. See the module documentation.
pub fn check_engine(
    engine: &mut dyn Engine,
    fixture: &Fixture,
    tolerance: Tolerance,
) -> Result<Report, ConformanceError> {
    let input_len = Fixture::per_sample(&fixture.inputs);
    let output_len = Fixture::per_sample(&fixture.expected);
    if engine.input_len() != input_len {
        return Err(ConformanceError::InputLen { engine: engine.input_len(), fixture: input_len });
    }
    if engine.output_len() != output_len {
        return Err(ConformanceError::OutputLen { engine: engine.output_len(), fixture: output_len });
    }
    check_length_errors(engine)?;

    let mut report = Report { samples: fixture.samples(), max_abs_diff: 0.0, max_rel_diff: 0.0 };
    let mut output = vec![0.0f32; output_len];
    let mut first = Vec::new();
    for sample in 0..fixture.samples() {
        // Poison the buffer so that an engine which leaves outputs unwritten cannot pass.
        output.fill(f32::NAN);
        engine
            .run(Fixture::sample(&fixture.inputs, sample), &mut output)
            .map_err(|error| ConformanceError::Run { sample, error })?;
        let expected = Fixture::sample(&fixture.expected, sample);
        for (index, (&actual, &want)) in output.iter().zip(expected).enumerate() {
            let diff = (actual - want).abs();
            if !tolerance.accepts(actual, want) {
                return Err(ConformanceError::Mismatch {
                    sample,
                    index,
                    actual,
                    expected: want,
                    diff,
                    atol: tolerance.atol,
                    rtol: tolerance.rtol,
                });
            }
            report.max_abs_diff = report.max_abs_diff.max(diff);
            if want.abs() > tolerance.atol {
                report.max_rel_diff = report.max_rel_diff.max(diff / want.abs());
            }
        }
        if sample == 0 {
            first = output.clone();
        }
    }

    if fixture.samples() > 1 {
        output.fill(f32::NAN);
        engine
            .run(Fixture::sample(&fixture.inputs, 0), &mut output)
            .map_err(|error| ConformanceError::Run { sample: 0, error })?;
        // The same engine on the same input must give the same numbers, up to the tolerance (a GPU may pick
        // another kernel between runs, so bit equality is not required).
        if let Some((index, (&again, &was))) =
            output.iter().zip(&first).enumerate().find(|(_, (again, was))| !tolerance.accepts(**again, **was))
        {
            return Err(ConformanceError::NotRepeatable { index, first: was, again });
        }
    }
    Ok(report)
}

/// Wrong input or output lengths must give the runtime's shared errors, whatever the backend.
pub fn check_length_errors(engine: &mut dyn Engine) -> Result<(), ConformanceError> {
    let (input_len, output_len) = (engine.input_len(), engine.output_len());
    let mut output = vec![0.0f32; output_len];
    let short_input = vec![0.0f32; input_len.saturating_sub(1)];
    let got = engine.run(&short_input, &mut output);
    let expected = EngineError::InputLength { expected: input_len, actual: input_len.saturating_sub(1) };
    if got != Err(expected) {
        return Err(ConformanceError::LengthCheck { what: "short input", got, expected });
    }
    let long_input = vec![0.0f32; input_len + 1];
    let got = engine.run(&long_input, &mut output);
    let expected = EngineError::InputLength { expected: input_len, actual: input_len + 1 };
    if got != Err(expected) {
        return Err(ConformanceError::LengthCheck { what: "long input", got, expected });
    }
    let input = vec![0.0f32; input_len];
    let mut long_output = vec![0.0f32; output_len + 1];
    let got = engine.run(&input, &mut long_output);
    let expected = EngineError::OutputLength { expected: output_len, actual: output_len + 1 };
    if got != Err(expected) {
        return Err(ConformanceError::LengthCheck { what: "long output", got, expected });
    }
    Ok(())
}

/// The reconstruction fixture as the desktop writes it (`tests/fixtures/reconstruction/tiny_rec.json`): the
/// frames T, and cases of `joint` `[1, 3, T, 25, 2]`, `missing` `[1, 1, T, 25, 2]` and onnxruntime's `completed`.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ReconstructionCases {
    pub frames: usize,
    pub cases: Vec<ReconstructionCase>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct ReconstructionCase {
    #[serde(default)]
    pub name: String,
    pub joint: Vec<f32>,
    pub missing: Vec<f32>,
    pub completed: Vec<f32>,
}

impl Fixture {
    /// The reconstruction fixture `<dir>/<name>.json` with `<dir>/<name>.onnx`, as a fixture whose samples are the
    /// engine inputs of a reconstruction model ([`skelact_runtime::reconstruct`]: `joint` then `missing`,
    /// concatenated) and whose expected outputs are `completed`. Returns it with T.
    pub fn load_reconstruction(dir: &Path, name: &str) -> Result<(Self, usize), ConformanceError> {
        let file = format!("{name}.json");
        let bad = |reason: String| ConformanceError::Reconstruction { file: dir.join(&file), reason };
        let text = std::fs::read_to_string(dir.join(&file)).map_err(|e| bad(e.to_string()))?;
        let parsed: ReconstructionCases = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let (n, m) = (
            skelact_runtime::preprocess::tensor_len(parsed.frames),
            skelact_runtime::preprocess::mask_len(parsed.frames),
        );
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for case in &parsed.cases {
            if case.joint.len() != n || case.missing.len() != m || case.completed.len() != n {
                return Err(bad(format!("case {:?} does not have the sizes of T = {}", case.name, parsed.frames)));
            }
            inputs.extend_from_slice(&case.joint);
            inputs.extend_from_slice(&case.missing);
            expected.extend_from_slice(&case.completed);
        }
        let samples = parsed.cases.len();
        let fixture = Fixture {
            name: name.to_string(),
            onnx_path: dir.join(format!("{name}.onnx")),
            inputs: NpyArray { shape: vec![samples, n + m], data: inputs },
            expected: NpyArray { shape: vec![samples, n], data: expected },
        };
        Ok((fixture, parsed.frames))
    }
}

/// The reconstruction model's input shapes for T, by ONNX input name, in the order the runtime concatenates them.
pub fn reconstruction_inputs(frames: usize) -> [(&'static str, Vec<usize>); 2] {
    [("joint", vec![1, 3, frames, 25, 2]), ("missing", vec![1, 1, frames, 25, 2])]
}

/// The folder of the trained REC model (`models/zoo/rec`: `rec.onnx`, and `rec.json` with real windows and
/// onnxruntime's outputs, written by `models/tools/make_reconstruction_fixture.py --zoo`).
pub fn reconstruction_zoo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..").join("models").join("zoo").join("rec")
}

/// The folder of the reconstruction fixture in this repository (`tests/fixtures/reconstruction`).
pub fn reconstruction_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..").join("tests").join("fixtures").join("reconstruction")
}

/// The folder of the engine fixtures in this repository (`tests/fixtures/engine`).
pub fn repository_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..").join("tests").join("fixtures").join("engine")
}

#[cfg(test)]
mod tests {
    use super::*;
    use skelact_runtime::engine::TestEngine;

    fn fixture_for(engine: &mut TestEngine, inputs: Vec<Vec<f32>>) -> Fixture {
        let mut expected = Vec::new();
        for input in &inputs {
            let mut out = vec![0.0; engine.output_len()];
            engine.run(input, &mut out).unwrap();
            expected.extend(out);
        }
        let samples = inputs.len();
        Fixture {
            name: "strided-mean".into(),
            onnx_path: PathBuf::new(),
            inputs: NpyArray { shape: vec![samples, engine.input_len()], data: inputs.concat() },
            expected: NpyArray { shape: vec![samples, engine.output_len()], data: expected },
        }
    }

    #[test]
    fn a_correct_engine_passes_and_a_wrong_one_fails() {
        let mut engine = TestEngine::new(12, 3, 1.0);
        let inputs = (0..3).map(|s| (0..12).map(|i| (i * (s + 1)) as f32 * 0.1).collect()).collect();
        let fixture = fixture_for(&mut engine, inputs);
        let report = check_engine(&mut engine, &fixture, FP32).unwrap();
        assert_eq!(report.samples, 3);
        assert_eq!(report.max_abs_diff, 0.0);

        let mut off = TestEngine::new(12, 3, 1.001);
        let error = check_engine(&mut off, &fixture, Tolerance { atol: 1e-6, rtol: 1e-6 }).unwrap_err();
        assert!(matches!(error, ConformanceError::Mismatch { sample: 0, .. }), "{error}");
        // The same deviation is inside a looser, named tolerance.
        check_engine(&mut off, &fixture, FP16).unwrap();

        let mut wrong_shape = TestEngine::new(10, 2, 1.0);
        assert_eq!(
            check_engine(&mut wrong_shape, &fixture, FP32).unwrap_err(),
            ConformanceError::InputLen { engine: 10, fixture: 12 }
        );
    }

    #[test]
    fn nan_is_never_accepted() {
        assert!(!FP32.accepts(f32::NAN, 0.0));
        assert!(!FP32.accepts(0.0, f32::NAN));
        assert!(FP32.accepts(1.0 + 5e-4, 1.0));
        assert!(!FP32.accepts(1.0 + 2e-3, 1.0));
    }
}
