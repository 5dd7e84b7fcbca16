//! The tract backend against onnxruntime's outputs for the committed tiny STARS-shaped encoder.

use skelact_conformance::{check_engine, repository_fixture_dir, Fixture, FP32, INT8};
use skelact_runtime::engine::{Engine, EngineError};
use skelact_tract::{TractEngine, TractLoadError, TractOptions};

fn fixture() -> (Fixture, Vec<u8>) {
    let fixture = Fixture::load(&repository_fixture_dir(), "tiny_stars").expect("engine fixture");
    let onnx = std::fs::read(&fixture.onnx_path).expect("tiny_stars.onnx");
    (fixture, onnx)
}

#[test]
fn one_thread_matches_onnxruntime() {
    let (fixture, onnx) = fixture();
    let options = TractOptions { threads: 1, input_shape: Some(fixture.input_shape()), output_name: None };
    let mut engine = TractEngine::load(&onnx, &options).unwrap();
    assert_eq!(engine.input_shape(), [1, 3, 16, 25, 2]);
    assert_eq!(engine.output_shape(), [1, 8]);
    let report = check_engine(&mut engine, &fixture, FP32).unwrap();
    eprintln!("tract, 1 thread: {report:?}");
}

#[test]
fn two_threads_with_the_declared_shape_match_onnxruntime() {
    let (fixture, onnx) = fixture();
    let mut engine =
        TractEngine::load(&onnx, &TractOptions { threads: 2, input_shape: None, output_name: None }).unwrap();
    assert_eq!(engine.threads(), 2);
    let report = check_engine(&mut engine, &fixture, FP32).unwrap();
    eprintln!("tract, 2 threads: {report:?}");
}

#[test]
fn per_channel_int8_qdq_matches_onnxruntime() {
    let fixture = Fixture::load_with_inputs(&repository_fixture_dir(), "tiny_stars_int8", "tiny_stars").unwrap();
    let onnx = std::fs::read(&fixture.onnx_path).unwrap();
    let mut engine = TractEngine::load(&onnx, &TractOptions::default()).unwrap();
    let report = check_engine(&mut engine, &fixture, INT8).unwrap();
    eprintln!("tract, INT8 Q/DQ, 1 thread: {report:?}");
}

#[test]
fn truncated_and_garbage_models_are_refused_clearly() {
    let (_, onnx) = fixture();
    for bytes in [&onnx[..onnx.len() / 2], &onnx[..10], b"definitely not a protobuf".as_slice(), &[]] {
        match TractEngine::load(bytes, &TractOptions::default()) {
            Err(error @ TractLoadError::Parse(_)) => {
                assert!(error.to_string().starts_with("not a loadable ONNX model"), "{error}")
            }
            other => panic!("{} bytes: expected a parse error, got {other:?}", bytes.len()),
        }
    }
}

#[test]
fn a_shape_that_contradicts_the_model_is_refused() {
    let (_, onnx) = fixture();
    let options = TractOptions { threads: 1, input_shape: Some(vec![1, 3, 32, 25, 2]), output_name: None };
    match TractEngine::load(&onnx, &options) {
        Err(TractLoadError::ShapeConflict { requested, declared }) => {
            assert_eq!(requested, [1, 3, 32, 25, 2]);
            assert!(declared.contains("16"), "{declared}");
        }
        other => panic!("expected a shape conflict, got {other:?}"),
    }
    let zero_threads = TractOptions { threads: 0, input_shape: None, output_name: None };
    assert_eq!(TractEngine::load(&onnx, &zero_threads).unwrap_err(), TractLoadError::Threads(0));
}

#[test]
fn wrong_slice_lengths_are_engine_errors() {
    let (_, onnx) = fixture();
    let mut engine = TractEngine::load(&onnx, &TractOptions::default()).unwrap();
    let mut output = [0.0f32; 8];
    assert_eq!(engine.run(&[0.0; 100], &mut output), Err(EngineError::InputLength { expected: 2400, actual: 100 }));
    let input = vec![0.0f32; engine.input_len()];
    assert_eq!(engine.run(&input, &mut [0.0; 7]), Err(EngineError::OutputLength { expected: 8, actual: 7 }));
    // The engine is still usable after refusing bad calls.
    engine.run(&input, &mut output).unwrap();
    assert!(output.iter().all(|v| v.is_finite()));
}

/// The reconstruction fixture `<dir>/<name>` on tract, held to onnxruntime's outputs; returns what the caller may
/// check further: the fixture, T, the model's bytes and the engine.
fn reconstruction_matches(dir: &std::path::Path, name: &str) -> (Fixture, usize, Vec<u8>, TractEngine) {
    use skelact_conformance::{reconstruction_inputs, RECONSTRUCTION};
    let (fixture, frames) = Fixture::load_reconstruction(dir, name).unwrap();
    let onnx = std::fs::read(&fixture.onnx_path).expect("the fixture's model");
    let named: Vec<(&str, Vec<usize>)> = reconstruction_inputs(frames).into_iter().collect();
    let mut engine = TractEngine::load_inputs(&onnx, &TractOptions::default(), &named).unwrap();
    let report = check_engine(&mut engine, &fixture, RECONSTRUCTION).unwrap();
    eprintln!("tract, reconstruction model {name}: {report:?}");
    (fixture, frames, onnx, engine)
}

#[test]
fn the_reconstruction_model_matches_onnxruntime_on_every_fixture_case() {
    let (fixture, frames, onnx, mut engine) =
        reconstruction_matches(&skelact_conformance::reconstruction_fixture_dir(), "tiny_rec");
    assert_eq!(engine.input_len(), skelact_runtime::reconstruct::input_len(frames));
    assert_eq!(engine.output_shape(), [1, 3, frames, 25, 2]);
    assert!(fixture.samples() >= 2, "the fixture has cases with and without missing joints");
    // The inputs named in the other order are taken in that order: the same model, joint and missing swapped.
    let [joint, missing] = skelact_conformance::reconstruction_inputs(frames);
    let swapped = [missing, joint];
    let mut swapped_engine = TractEngine::load_inputs(&onnx, &TractOptions::default(), &swapped).unwrap();
    let sample = &fixture.inputs.data[..engine.input_len()];
    let split = skelact_runtime::preprocess::tensor_len(frames);
    let reordered: Vec<f32> = sample[split..].iter().chain(&sample[..split]).copied().collect();
    let (mut a, mut b) = (vec![0.0; engine.output_len()], vec![0.0; engine.output_len()]);
    engine.run(sample, &mut a).unwrap();
    swapped_engine.run(&reordered, &mut b).unwrap();
    assert_eq!(a, b);
    // A model without those inputs is refused, naming what it has.
    let refused = TractEngine::load_inputs(&onnx, &TractOptions::default(), &[("x", vec![1, 3, frames, 25, 2])]);
    let error = refused.unwrap_err().to_string();
    assert!(error.contains("the model's inputs are joint, missing; expected x"), "{error}");
}

#[test]
fn the_trained_reconstruction_model_matches_onnxruntime_on_real_windows() {
    reconstruction_matches(&skelact_conformance::reconstruction_zoo_dir(), "rec");
}
