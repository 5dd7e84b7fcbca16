//! The TensorRT backend against the same onnxruntime outputs. Runs only where TensorRT was found at build time
//! and an engine for the fixture can be had; says `SKIPPED: ...` otherwise.
//!
//! The engine comes from `SKELACT_TRT_ENGINE` (a plan built from `tests/fixtures/engine/tiny_stars.onnx` on this
//! device), or is built with `trtexec --noTF32` when `trtexec` is on the PATH.

use skelact_tensorrt::build_status;

#[test]
fn tensorrt_matches_onnxruntime_or_says_why_not() {
    match build_status() {
        Err(error) => {
            println!("SKIPPED: TensorRT conformance: {error}");
            refuses_without_tensorrt();
        }
        Ok(_) => run_on_device(),
    }
}

/// Without TensorRT, loading must refuse with the build's explanation rather than pretend.
fn refuses_without_tensorrt() {
    use skelact_tensorrt::{TensorRtEngine, TensorRtError, TensorRtOptions};
    let refused = TensorRtEngine::load(b"plan", &TensorRtOptions::default()).unwrap_err();
    assert!(matches!(refused, TensorRtError::NotBuilt { .. }), "{refused}");
    assert!(refused.to_string().starts_with("TensorRT not found at build time"), "{refused}");
}

#[cfg(not(feature = "tensorrt"))]
fn run_on_device() {
    unreachable!("build_status() is Ok only when the `tensorrt` feature compiled the shim");
}

#[cfg(feature = "tensorrt")]
fn run_on_device() {
    use skelact_conformance::{check_engine, repository_fixture_dir, Fixture, FP32};
    use skelact_tensorrt::{TensorRtEngine, TensorRtOptions};
    let fixture = Fixture::load(&repository_fixture_dir(), "tiny_stars").expect("engine fixture");
    let device = TensorRtEngine::device_info(0).expect("a CUDA device");
    let plan = match std::env::var_os("SKELACT_TRT_ENGINE") {
        Some(path) => std::fs::read(&path).expect("SKELACT_TRT_ENGINE"),
        None => {
            let out = std::env::temp_dir().join(format!("skelact-tiny-stars-{}.plan", std::process::id()));
            let built = std::process::Command::new("trtexec")
                .arg(format!("--onnx={}", fixture.onnx_path.display()))
                .arg(format!("--saveEngine={}", out.display()))
                .arg("--noTF32")
                .output();
            match built {
                Ok(result) if result.status.success() => std::fs::read(&out).expect("trtexec output"),
                _ => {
                    println!("SKIPPED: TensorRT conformance: no SKELACT_TRT_ENGINE and trtexec could not build one");
                    return;
                }
            }
        }
    };
    let mut engine = TensorRtEngine::load(&plan, &TensorRtOptions::default()).unwrap();
    let report = check_engine(&mut engine, &fixture, FP32).unwrap();
    println!("tensorrt on {}: {report:?}", device.gpu_name);
}
