//! The TensorRT backend against the same onnxruntime outputs. Runs only where the shim is compiled, TensorRT and
//! a CUDA device are there, and an engine for the fixture can be had; says `SKIPPED: ...` and why otherwise.
//!
//! The FP32 engine comes from `SKELACT_TRT_ENGINE` (a plan built from `tests/fixtures/engine/tiny_stars.onnx` on
//! this device), or is built with `trtexec --noTF32` when `trtexec` is on the PATH. `gpu-check.sh` builds all three
//! and also sets `SKELACT_TRT_ENGINE_FP16` (the same model in half precision, FP16 tolerance) and
//! `SKELACT_TRT_ENGINE_INT8` (`tiny_stars_int8.onnx`, the Q/DQ model, against its own onnxruntime outputs).

use skelact_conformance::{check_engine, repository_fixture_dir, Fixture, Tolerance, FP16, FP32, INT8};
use skelact_tensorrt::{build_status, TensorRtEngine, TensorRtOptions};

#[test]
fn tensorrt_matches_onnxruntime_or_says_why_not() {
    if let Err(error) = build_status() {
        println!("SKIPPED: TensorRT conformance: {error}");
        return;
    }
    let device = match TensorRtEngine::device_info(&TensorRtOptions::default()) {
        Ok(device) => device,
        Err(error) => {
            println!("SKIPPED: TensorRT conformance: {error}");
            return;
        }
    };
    let fixture = Fixture::load(&repository_fixture_dir(), "tiny_stars").expect("engine fixture");
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
    println!("tensorrt {} on {}, FP32: {report:?}", device.tensorrt, device.gpu_name);
    drop(engine);

    let others: [(&str, &str, Tolerance); 2] =
        [("SKELACT_TRT_ENGINE_FP16", "tiny_stars", FP16), ("SKELACT_TRT_ENGINE_INT8", "tiny_stars_int8", INT8)];
    for (variable, name, tolerance) in others {
        let Some(path) = std::env::var_os(variable) else {
            println!("SKIPPED: {variable} is not set");
            continue;
        };
        let plan = std::fs::read(&path).expect(variable);
        let fixture = Fixture::load_with_inputs(&repository_fixture_dir(), name, "tiny_stars").expect("fixture");
        let mut engine = TensorRtEngine::load(&plan, &TensorRtOptions::default()).unwrap();
        let report = check_engine(&mut engine, &fixture, tolerance).unwrap();
        println!("tensorrt {} on {}, {variable}: {report:?}", device.tensorrt, device.gpu_name);
    }
}
