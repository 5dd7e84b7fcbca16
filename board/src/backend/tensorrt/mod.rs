//! The GPU backend: TensorRT 10 engines (JetPack 6) through a small C++ shim over `libnvinfer`.
//!
//! A serialized TensorRT engine only runs on the TensorRT version and the GPU architecture it was built for, so
//! the bundle records both ([`EngineTarget`]) and [`check_compatible`] refuses a mismatch before deserializing,
//! naming what the engine wants and what the device has.
//!
//! The engine itself ([`TensorRtEngine`]) exists with the `tensorrt` feature. The build script compiles the shim
//! only where TensorRT and CUDA are found; elsewhere the feature still compiles and [`TensorRtEngine::load`] says
//! what the build looked for ([`build_status`]).

use std::fmt;

#[cfg(feature = "tensorrt")]
mod engine;
#[cfg(feature = "tensorrt")]
pub use engine::{TensorRtEngine, TensorRtOptions};

/// A TensorRT release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrtVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl TrtVersion {
    /// Decodes `getInferLibVersion()`: `major * 10000 + minor * 100 + patch` since TensorRT 10,
    /// `major * 1000 + minor * 100 + patch` before.
    pub fn from_library_code(code: i32) -> Self {
        let code = code.max(0) as u32;
        if code >= 10_000 {
            TrtVersion { major: code / 10_000, minor: code / 100 % 100, patch: code % 100 }
        } else {
            TrtVersion { major: code / 1000, minor: code / 100 % 10, patch: code % 100 }
        }
    }
}

impl fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A CUDA compute capability, e.g. 8.7 for Jetson Orin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputeCapability {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sm_{}{}", self.major, self.minor)
    }
}

/// What an engine was built for; the bundle carries it beside the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineTarget {
    pub tensorrt: TrtVersion,
    pub compute_capability: ComputeCapability,
}

/// What this device has, as the shim reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub tensorrt: TrtVersion,
    pub compute_capability: ComputeCapability,
    pub gpu_name: String,
}

/// Why a TensorRT engine cannot be loaded or run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TensorRtError {
    /// This binary was built without TensorRT (feature off, or headers/libraries not found).
    #[error("TensorRT not found at build time: {searched}. Rebuild on the device with `--features tensorrt` (set TENSORRT_ROOT if TensorRT is not under /usr)")]
    NotBuilt { searched: String },
    /// The engine was serialized by another TensorRT release.
    #[error("the engine was built with TensorRT {engine} but this device has TensorRT {device}; rebuild the engine on this device (`cargo xtask engine`)")]
    VersionMismatch { engine: TrtVersion, device: TrtVersion },
    /// The engine was built for another GPU architecture.
    #[error("the engine was built for GPU {engine} but this device's GPU ({gpu}) is {device}; rebuild the engine on this device (`cargo xtask engine`)")]
    GpuMismatch { engine: ComputeCapability, device: ComputeCapability, gpu: String },
    /// No usable CUDA device.
    #[error("no usable CUDA device: {0}")]
    Device(String),
    /// TensorRT refused the engine, or its tensors do not fit skelact (names, types, dynamic shapes).
    #[error("cannot load the TensorRT engine: {0}")]
    Load(String),
}

/// Refuses an engine built for another TensorRT release or GPU architecture. TensorRT engines are not portable
/// across either; the patch release counts too, as TensorRT only guarantees loading on the exact version.
pub fn check_compatible(built_for: &EngineTarget, device: &DeviceInfo) -> Result<(), TensorRtError> {
    if built_for.tensorrt != device.tensorrt {
        return Err(TensorRtError::VersionMismatch { engine: built_for.tensorrt, device: device.tensorrt });
    }
    if built_for.compute_capability != device.compute_capability {
        return Err(TensorRtError::GpuMismatch {
            engine: built_for.compute_capability,
            device: device.compute_capability,
            gpu: device.gpu_name.clone(),
        });
    }
    Ok(())
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

    const ORIN: ComputeCapability = ComputeCapability { major: 8, minor: 7 };
    const TRT_10_3: TrtVersion = TrtVersion { major: 10, minor: 3, patch: 0 };

    #[test]
    fn library_codes_decode_for_both_schemes() {
        assert_eq!(TrtVersion::from_library_code(100300), TRT_10_3);
        assert_eq!(TrtVersion::from_library_code(8601), TrtVersion { major: 8, minor: 6, patch: 1 });
        assert_eq!(TrtVersion::from_library_code(100_704).to_string(), "10.7.4");
    }

    #[test]
    fn mismatches_are_refused_naming_both_sides() {
        let device = DeviceInfo { tensorrt: TRT_10_3, compute_capability: ORIN, gpu_name: "Orin".into() };
        let built_for = EngineTarget { tensorrt: TRT_10_3, compute_capability: ORIN };
        assert_eq!(check_compatible(&built_for, &device), Ok(()));

        let other_release = EngineTarget { tensorrt: TrtVersion { major: 10, minor: 3, patch: 1 }, ..built_for };
        let message = check_compatible(&other_release, &device).unwrap_err().to_string();
        assert!(message.contains("TensorRT 10.3.1") && message.contains("TensorRT 10.3.0"), "{message}");

        let xavier_engine = EngineTarget { compute_capability: ComputeCapability { major: 7, minor: 2 }, ..built_for };
        let message = check_compatible(&xavier_engine, &device).unwrap_err().to_string();
        assert!(message.contains("sm_72") && message.contains("sm_87") && message.contains("Orin"), "{message}");
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
}
