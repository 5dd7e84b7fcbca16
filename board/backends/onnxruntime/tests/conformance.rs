//! The onnxruntime backend against onnxruntime's own outputs (from Python) for the committed tiny STARS-shaped
//! encoder: the same suite as tract and TensorRT. Needs the library: `cargo xtask test` points
//! `SKELACT_ONNXRUNTIME` at the one in `.venv`; without it each test prints `SKIPPED` and why.

use skelact_conformance::{check_engine, repository_fixture_dir, Fixture, FP32, INT8};
use skelact_onnxruntime::{locate_library, Optimization, OrtEngine, OrtLoadError, OrtOptions};

fn fixture(name: &str) -> Option<(Fixture, Vec<u8>)> {
    if let Err(error) = locate_library(None) {
        println!("SKIPPED: {error}");
        return None;
    }
    let fixture = Fixture::load_with_inputs(&repository_fixture_dir(), name, "tiny_stars").expect("engine fixture");
    let onnx = std::fs::read(&fixture.onnx_path).expect("fixture model");
    Some((fixture, onnx))
}

#[test]
fn fp32_matches_onnxruntime_from_python_at_one_and_two_threads() {
    let Some((fixture, onnx)) = fixture("tiny_stars") else { return };
    for threads in [1, 2] {
        let options = OrtOptions { threads, input_shape: Some(fixture.input_shape()), ..OrtOptions::default() };
        let mut engine = OrtEngine::load(&onnx, &options).unwrap();
        assert_eq!(engine.input_shape(), [1, 3, 16, 25, 2]);
        assert_eq!(engine.output_shape(), [1, 8]);
        let report = check_engine(&mut engine, &fixture, FP32).unwrap();
        eprintln!("onnxruntime ({}), {threads} thread(s): {report:?}", engine.library().display());
    }
}

#[test]
fn int8_qdq_matches_onnxruntime_from_python() {
    let Some((fixture, onnx)) = fixture("tiny_stars_int8") else { return };
    // The fixture's reference ran the Q/DQ graph as written (no integer-kernel fusion), so the same here.
    let options = OrtOptions { optimization: Optimization::Basic, ..OrtOptions::default() };
    let mut engine = OrtEngine::load(&onnx, &options).unwrap();
    let report = check_engine(&mut engine, &fixture, INT8).unwrap();
    eprintln!("onnxruntime, INT8 Q/DQ as written: {report:?}");
}

#[test]
fn bad_models_shapes_and_settings_are_refused_clearly() {
    let Some((_, onnx)) = fixture("tiny_stars") else { return };
    for bytes in [&onnx[..onnx.len() / 2], b"definitely not a protobuf".as_slice()] {
        let error = OrtEngine::load(bytes, &OrtOptions::default()).unwrap_err();
        assert!(matches!(error, OrtLoadError::Session(_)), "{error}");
    }
    let wrong = OrtOptions { input_shape: Some(vec![1, 3, 32, 25, 2]), ..OrtOptions::default() };
    let error = OrtEngine::load(&onnx, &wrong).unwrap_err();
    assert!(matches!(error, OrtLoadError::Shape(_)) && error.to_string().contains("16"), "{error}");
    assert_eq!(
        OrtEngine::load(&onnx, &OrtOptions { threads: 0, ..OrtOptions::default() }).unwrap_err(),
        OrtLoadError::Threads(0)
    );
    // Wrong slice lengths are checked by `check_engine` in the tests above, as for every backend.
}

#[test]
fn a_missing_or_wrong_library_is_an_error_naming_where_it_looked() {
    let missing = std::path::Path::new("/nowhere/libonnxruntime.so");
    let error = locate_library(Some(missing)).unwrap_err();
    assert!(error.to_string().contains("/nowhere/libonnxruntime.so (configured)"), "{error}");
    assert!(error.to_string().contains("SKELACT_ONNXRUNTIME"), "{error}");
    // A file that is not a library is refused by the loader, not a crash.
    let dir = std::env::temp_dir().join(format!("skelact-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("libonnxruntime.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let error = OrtEngine::load(b"", &OrtOptions { library: Some(fake.clone()), ..OrtOptions::default() }).unwrap_err();
    assert!(matches!(&error, OrtLoadError::BadLibrary { path, .. } if path.contains("libonnxruntime.so")), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The reconstruction fixture `<dir>/<name>` on the onnxruntime backend, held to onnxruntime's outputs from
/// Python; returns T, the model's bytes and the engine, or `None` (having said SKIPPED) without the library.
fn reconstruction_matches(dir: &std::path::Path, name: &str) -> Option<(usize, Vec<u8>, OrtEngine)> {
    use skelact_conformance::{reconstruction_inputs, RECONSTRUCTION};
    if let Err(error) = locate_library(None) {
        println!("SKIPPED: {error}");
        return None;
    }
    let (fixture, frames) = Fixture::load_reconstruction(dir, name).unwrap();
    let onnx = std::fs::read(&fixture.onnx_path).expect("the fixture's model");
    let named: Vec<(&str, Vec<usize>)> = reconstruction_inputs(frames).into_iter().collect();
    let mut engine = OrtEngine::load_inputs(&onnx, &OrtOptions::default(), &named).unwrap();
    let report = check_engine(&mut engine, &fixture, RECONSTRUCTION).unwrap();
    eprintln!("onnxruntime, reconstruction model {name}: {report:?}");
    Some((frames, onnx, engine))
}

#[test]
fn the_reconstruction_model_matches_onnxruntime_from_python_on_every_fixture_case() {
    let dir = skelact_conformance::reconstruction_fixture_dir();
    let Some((frames, onnx, engine)) = reconstruction_matches(&dir, "tiny_rec") else { return };
    assert_eq!(engine.output_shape(), [1, 3, frames, 25, 2]);
    let refused = OrtEngine::load_inputs(&onnx, &OrtOptions::default(), &[("x", vec![1, 3, frames, 25, 2])]);
    let error = refused.unwrap_err().to_string();
    assert!(error.contains("the model's inputs are joint, missing; expected x"), "{error}");
}

#[test]
fn the_trained_reconstruction_model_matches_onnxruntime_from_python_on_real_windows() {
    reconstruction_matches(&skelact_conformance::reconstruction_zoo_dir(), "rec");
}
