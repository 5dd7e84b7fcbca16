//! Opening TensorRT at run time where it is absent or wrong: every refusal names where it looked, or the file and
//! what is wrong with it, and nothing crashes. One test, because it changes the process's environment and working
//! folder, which tests running side by side would see.
//!
//! On a machine with TensorRT and a GPU, the cases that need its absence print `SKIPPED` and why.

use std::path::{Path, PathBuf};

use skelact_tensorrt::{build_status, TensorRtEngine, TensorRtError, TensorRtOptions};

/// The C maths library: a real shared library without any of TensorRT's functions.
fn libm() -> Option<PathBuf> {
    ["/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6", "/usr/lib/libm.so.6", "/lib64/libm.so.6"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn refusal(options: &TensorRtOptions) -> TensorRtError {
    let refused = TensorRtEngine::device_info(options).expect_err("TensorRT is absent or wrong here");
    // Loading an engine must refuse the same way, before it looks at the plan.
    assert_eq!(TensorRtEngine::load(b"not a plan", options).unwrap_err(), refused);
    refused
}

#[test]
fn loading_refuses_clearly_when_tensorrt_is_absent_or_not_a_tensorrt_library() {
    if let Err(error) = build_status() {
        println!("SKIPPED: loading: {error}");
        return;
    }
    for variable in ["SKELACT_TENSORRT", "SKELACT_CUDART"] {
        std::env::remove_var(variable);
    }
    // A project folder with a virtual environment that lacks the TensorRT wheel, as the search sees it.
    let project = tempfile::tempdir().expect("temporary folder");
    let site = Path::new(".venv/lib/python3.12/site-packages");
    std::fs::create_dir_all(project.path().join(site)).expect("fake .venv");
    std::env::set_current_dir(project.path()).expect("cd");

    // 1. Absent: the message lists the system folders, the wheel's folder in .venv, and the system loader.
    match TensorRtEngine::device_info(&TensorRtOptions::default()) {
        Err(refused @ TensorRtError::NotFound { .. }) => {
            let text = refused.to_string();
            assert!(text.starts_with("TensorRT 10 (libnvinfer.so.10) not found; looked in: "), "{text}");
            for place in [
                "/usr/lib/aarch64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/usr/local/tensorrt/lib",
                ".venv/lib/python3.12/site-packages/tensorrt_libs",
                "the system loader (",
            ] {
                assert!(text.contains(place), "{place} missing from: {text}");
            }
            assert!(text.contains("pip install tensorrt-cu12==10.3.*") && text.contains("SKELACT_TENSORRT"), "{text}");
            assert_eq!(refusal(&TensorRtOptions::default()), refused);
        }
        other => {
            // Once opened, a process keeps its TensorRT, so the wrong libraries below cannot be tried either.
            println!("SKIPPED: TensorRT is installed here, so its absence cannot be tested: {other:?}");
            return;
        }
    }

    // 2. A configured path that does not exist is refused as such, not searched past.
    let configured =
        TensorRtOptions { library: Some(PathBuf::from("/nonexistent/libnvinfer.so.10")), ..Default::default() };
    let text = refusal(&configured).to_string();
    assert!(text.contains("/nonexistent/libnvinfer.so.10 (configured)"), "{text}");

    // 3. $SKELACT_TENSORRT naming nothing is listed among the places looked at.
    std::env::set_var("SKELACT_TENSORRT", "/nonexistent/from-the-environment.so");
    if let TensorRtError::NotFound { looked, .. } = refusal(&TensorRtOptions::default()) {
        assert_eq!(looked[0], "/nonexistent/from-the-environment.so ($SKELACT_TENSORRT)");
    }

    // 4. $SKELACT_TENSORRT naming a file that is not a library: the loader's reason, with the path.
    let bogus = project.path().join("libnvinfer.so.10");
    std::fs::write(&bogus, "this is not a shared library\n").expect("write");
    std::env::set_var("SKELACT_TENSORRT", &bogus);
    match refusal(&TensorRtOptions::default()) {
        TensorRtError::BadLibrary { path, reason, .. } => {
            assert_eq!(path, bogus.display().to_string());
            assert!(!reason.is_empty());
        }
        other => panic!("a text file was not refused as a library: {other}"),
    }

    // 5. A real library without TensorRT's functions: the missing symbol is named.
    match libm() {
        Some(libm) => {
            std::env::set_var("SKELACT_TENSORRT", &libm);
            let refused = refusal(&TensorRtOptions::default());
            assert_eq!(
                refused,
                TensorRtError::MissingSymbol {
                    library: "TensorRT 10 (libnvinfer.so.10)".into(),
                    path: libm.display().to_string(),
                    symbol: "createInferRuntime_INTERNAL".into(),
                }
            );
            assert!(refused.to_string().contains("has no `createInferRuntime_INTERNAL`"), "{refused}");
        }
        None => println!("SKIPPED: no libm.so.6 in the usual places"),
    }
    std::env::remove_var("SKELACT_TENSORRT");
}
