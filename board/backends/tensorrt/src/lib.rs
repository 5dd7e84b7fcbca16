//! The GPU backend: TensorRT 10 engines (JetPack 6) through a small C++ shim over `libnvinfer`.
//!
//! A serialized TensorRT engine only runs on the TensorRT version and the GPU architecture it was built for, so
//! the bundle records both beside each engine, and the runtime's one compatibility rule
//! (`skelact_runtime::bundle::check_tensorrt`, through `Bundle::tensorrt_engine`) picks the engine that fits this
//! device's [`DeviceInfo`] before anything is deserialized, naming what the engine wants and what the device has.
//!
//! The shim (`src/shim/`) is compiled on every build against TensorRT 10's public headers (see `build.rs`; no
//! CUDA toolkit is needed) and links nothing of NVIDIA's: `libnvinfer.so.10` and `libcudart.so.12` are found and
//! opened at run time ([`library`]), so one binary runs with TensorRT where it is installed and refuses clearly
//! elsewhere, naming every place it looked. Only a build without the headers lacks the shim; then
//! [`build_status`] and every load say so.

mod engine;
mod ffi;
pub mod library;

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
    /// This binary was built where TensorRT's headers were not found, so it has no shim.
    #[error("this build has no TensorRT shim: {searched}. Rebuild with TensorRT 10's headers (../shared/sdk/tensorrt-10.3/include beside the project, or TENSORRT_INCLUDE=DIR)")]
    NotBuilt { searched: String },
    /// A library is in none of the places searched ([`library`] lists them).
    #[error("{library} not found; looked in: {}. {hint}", looked.join(", "))]
    NotFound { library: String, looked: Vec<String>, hint: String },
    /// The file exists but the system loader refused it (not a library, wrong architecture, a dependency missing).
    #[error("cannot open {path} as {library}: {reason}")]
    BadLibrary { library: String, path: String, reason: String },
    /// The file is a library, but lacks a function the shim needs.
    #[error("{path} has no `{symbol}`: it is not {library}")]
    MissingSymbol { library: String, path: String, symbol: String },
    /// The library is another TensorRT major release than the shim's headers.
    #[error("{path} is TensorRT {found}; this build speaks TensorRT {built}")]
    WrongVersion { path: String, found: String, built: u16 },
    /// A process opens one TensorRT library; a second, different one was asked for.
    #[error("TensorRT was already loaded from {first}; one process uses one library")]
    OtherLibrary { first: String },
    /// No usable CUDA device.
    #[error("no usable CUDA device: {0}")]
    Device(String),
    /// TensorRT refused the engine, or its tensors do not fit skelact (names, types, dynamic shapes).
    #[error("cannot load the TensorRT engine: {0}")]
    Load(String),
}

/// `Ok` saying which headers the shim was compiled against, or `Err` saying where the build looked for them.
/// (Whether TensorRT itself is installed is a question for run time: [`TensorRtEngine::device_info`].)
pub fn build_status() -> Result<&'static str, TensorRtError> {
    let searched = env!("SKELACT_TENSORRT_SEARCHED");
    if cfg!(skelact_tensorrt) {
        Ok(searched)
    } else {
        Err(TensorRtError::NotBuilt { searched: searched.to_string() })
    }
}

/// What the compiled shim says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShimInfo {
    /// The version of the shim's C ABI (`SKELACT_TRT_ABI`).
    pub abi: u32,
    /// The TensorRT release of the headers it was compiled against.
    pub headers: TensorRtVersion,
}

/// The compiled shim's own report, asked of it through its C ABI; `None` in a build without it.
pub fn shim_info() -> Option<ShimInfo> {
    #[cfg(skelact_tensorrt)]
    {
        // SAFETY: both functions take nothing and return constants.
        let (abi, headers) = unsafe { (ffi::skelact_trt_abi_version(), ffi::skelact_trt_header_version()) };
        Some(ShimInfo { abi, headers: version_from_library_code(headers) })
    }
    #[cfg(not(skelact_tensorrt))]
    None
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
        assert_eq!(shim_info().is_some(), cfg!(skelact_tensorrt));
        match status {
            Ok(found) => assert!(found.starts_with("compiled against NvInfer.h in "), "{found}"),
            Err(TensorRtError::NotBuilt { searched }) => {
                assert!(searched.starts_with("no NvInfer.h in "), "{searched}")
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }

    /// Where the project's headers are beside it (CI, and every checkout with ../shared), the shim must have been
    /// compiled against them, and its C functions must answer.
    #[test]
    fn the_shim_is_compiled_against_the_tensorrt_headers_beside_the_project() {
        let shared =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/sdk/tensorrt-10.3/include");
        if !shared.join("NvInfer.h").is_file() {
            println!("SKIPPED: no ../shared/sdk/tensorrt-10.3 beside the project ({})", shared.display());
            return;
        }
        let found = build_status().expect("the shim was compiled");
        assert!(found.contains("NvInfer.h") && found.contains("tensorrt-10.3/include"), "{found}");
        let shim = shim_info().expect("the shim answers");
        assert_eq!(shim.abi, ffi::ABI);
        assert_eq!(shim.headers, TensorRtVersion { major: 10, minor: 3, patch: 0, build: 0 });
    }

    /// The Rust mirror of `SkelactTrtApi` must have the C struct's layout, or every call would go astray.
    #[cfg(skelact_tensorrt)]
    #[test]
    fn the_function_table_has_the_same_size_on_both_sides() {
        // SAFETY: returns a constant.
        assert_eq!(unsafe { ffi::skelact_trt_api_size() }, std::mem::size_of::<ffi::Api>());
    }

    #[test]
    fn without_the_shim_loading_refuses_saying_where_the_build_looked() {
        if cfg!(skelact_tensorrt) {
            println!("SKIPPED: this build has the shim; the refusal is for builds without TensorRT's headers");
            return;
        }
        let refused = TensorRtEngine::load(b"plan", &TensorRtOptions::default()).unwrap_err();
        assert!(matches!(refused, TensorRtError::NotBuilt { .. }), "{refused}");
        assert!(refused.to_string().starts_with("this build has no TensorRT shim"), "{refused}");
        assert_eq!(TensorRtEngine::device_info(&TensorRtOptions::default()).unwrap_err(), refused);
    }
}
