//! The GPU backend: TensorRT 10 engines (JetPack 6) through a small C++ shim over `libnvinfer`.
//!
//! A serialized TensorRT engine only runs on the TensorRT version and the GPU architecture it was built for, so
//! the bundle records both beside each engine, and the runtime's one compatibility rule
//! (`skelact_runtime::bundle::check_tensorrt`, through `Bundle::tensorrt_engine`) picks the engine that fits this
//! device's [`DeviceInfo`] before anything is deserialized, naming what the engine wants and what the device has.
//!
//! [`TensorRtEngine`] compiles everywhere. The build script compiles the shim only with the `tensorrt` feature and
//! where TensorRT and CUDA are found; elsewhere [`TensorRtEngine::load`] refuses, saying what the build looked for
//! ([`build_status`]).

mod engine;
pub use engine::{TensorRtEngine, TensorRtOptions};
use skelact_runtime::bundle::{ComputeCapability, TensorRtVersion};

/// Decodes `getInferLibVersion()`: `major * 10000 + minor * 100 + patch` since TensorRT 10,
/// `major * 1000 + minor * 100 + patch` before. The library reports no build number, so `build` is 0; the
/// compatibility rule (`skelact_runtime::bundle::check_tensorrt`) does not compare it.
pub fn version_from_library_code(code: i32) -> TensorRtVersion {
    let code = u32::try_from(code).unwrap_or(0);
    let part = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (major, minor, patch) = if code >= 10_000 {
        (code / 10_000, code / 100 % 100, code % 100)
    } else {
        (code / 1000, code / 100 % 10, code % 100)
    };
    TensorRtVersion { major: part(major), minor: part(minor), patch: part(patch), build: 0 }
}

/// What this device has, as the shim reports it: what a bundle's engine must have been built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub tensorrt: TensorRtVersion,
    pub compute_capability: ComputeCapability,
    pub gpu_name: String,
}

/// Why a TensorRT engine cannot be loaded or run. (Whether a bundle's engine suits this device is the runtime's
/// rule, `skelact_runtime::bundle::check_tensorrt`, applied before loading.)
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TensorRtError {
    /// This binary was built without TensorRT (feature off, or headers/libraries not found).
    #[error("TensorRT not found at build time: {searched}. Rebuild on the device with `--features tensorrt` (set TENSORRT_ROOT if TensorRT is not under /usr)")]
    NotBuilt { searched: String },
    /// No usable CUDA device.
    #[error("no usable CUDA device: {0}")]
    Device(String),
    /// TensorRT refused the engine, or its tensors do not fit skelact (names, types, dynamic shapes).
    #[error("cannot load the TensorRT engine: {0}")]
    Load(String),
}

/// `Ok` with where TensorRT was found if the shim is compiled in, `Err` saying what the build searched otherwise.
pub fn build_status() -> Result<&'static str, TensorRtError> {
    let searched = env!("SKELACT_TENSORRT_SEARCHED");
    if cfg!(skelact_tensorrt) {
        Ok(searched)
    } else {
        Err(TensorRtError::NotBuilt { searched: searched.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_codes_decode_for_both_schemes() {
        let v = |major, minor, patch| TensorRtVersion { major, minor, patch, build: 0 };
        assert_eq!(version_from_library_code(100300), v(10, 3, 0));
        assert_eq!(version_from_library_code(8601), v(8, 6, 1));
        assert_eq!(version_from_library_code(100_704), v(10, 7, 4));
        assert_eq!(version_from_library_code(-1), v(0, 0, 0));
    }

    #[test]
    fn build_status_matches_the_build() {
        let status = build_status();
        assert_eq!(status.is_ok(), cfg!(skelact_tensorrt));
        match status {
            Ok(found) => assert!(found.contains("NvInfer.h"), "{found}"),
            Err(TensorRtError::NotBuilt { searched }) => assert!(!searched.is_empty()),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn without_tensorrt_loading_refuses_saying_where_the_build_looked() {
        if cfg!(skelact_tensorrt) {
            println!("SKIPPED: this build has TensorRT; the refusal is for builds without it");
            return;
        }
        let refused = TensorRtEngine::load(b"plan", &TensorRtOptions::default()).unwrap_err();
        assert!(matches!(refused, TensorRtError::NotBuilt { .. }), "{refused}");
        assert!(refused.to_string().starts_with("TensorRT not found at build time"), "{refused}");
        assert_eq!(TensorRtEngine::device_info(0).unwrap_err(), refused);
    }
}
