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
