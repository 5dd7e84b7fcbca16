//! [`TensorRtEngine`]: the shim's handle behind the [`Engine`] trait.
//!
//! # `run` failure codes ([`EngineError::Backend`])
//! 1: copying the input to the GPU failed; 2: `enqueueV3` refused; 3: copying the output back failed;
//! 4: the CUDA stream failed while running (the error may come from any step); 5: the shim's lengths disagree
//! with ours (a bug). TensorRT's own messages go to stderr as `tensorrt: ...`.

use std::path::PathBuf;

use skelact_runtime::engine::{check_lengths, Engine, EngineError};

use super::{DeviceInfo, TensorRtError};

/// How to bind an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TensorRtOptions {
    /// The `libnvinfer.so.10` to use; `None` searches (see [`crate::library`]).
    pub library: Option<PathBuf>,
    /// CUDA device index (0 on a Jetson).
    pub device: i32,
    /// Name of the input tensor; `None` takes the engine's only input.
    pub input_name: Option<String>,
    /// Name of the output tensor; `None` takes the engine's only output.
    pub output_name: Option<String>,
}

/// A deserialized TensorRT engine with its execution context, CUDA stream, and pinned and device buffers.
#[derive(Debug)]
pub struct TensorRtEngine {
    #[cfg(skelact_tensorrt)]
    handle: std::ptr::NonNull<crate::ffi::SkelactTrt>,
    #[cfg(not(skelact_tensorrt))]
    never: std::convert::Infallible,
    input_len: usize,
    output_len: usize,
}

// The shim's handle is used from one thread at a time (`&mut self`); TensorRT contexts may move between threads.
#[cfg(skelact_tensorrt)]
unsafe impl Send for TensorRtEngine {}

impl TensorRtEngine {
    /// The TensorRT release and GPU of this device: opens TensorRT and CUDA (once per process) and asks them.
    pub fn device_info(options: &TensorRtOptions) -> Result<DeviceInfo, TensorRtError> {
        shim::ready()?;
        let loaded = crate::library::load(options.library.as_deref())?;
        shim::device_info(loaded, options.device)
    }

    /// Deserializes and binds `plan`. The caller has checked that it was built for this device's TensorRT and GPU
    /// (`skelact_runtime::bundle::Bundle::tensorrt_engine`), as TensorRT's own refusal is far less clear.
    pub fn load(plan: &[u8], options: &TensorRtOptions) -> Result<Self, TensorRtError> {
        shim::ready()?;
        let loaded = crate::library::load(options.library.as_deref())?;
        shim::load(loaded, plan, options)
    }
}

#[cfg(skelact_tensorrt)]
mod shim {
    use std::ffi::CString;

    use super::{TensorRtEngine, TensorRtOptions};
    use crate::ffi;
    use crate::library::Loaded;
    use crate::{DeviceInfo, TensorRtError};

    /// The shim is compiled in; it must also read the function table as `ffi::Api` lays it out (a mismatch is a
    /// build bug, refused before any call through the table).
    pub(super) fn ready() -> Result<(), TensorRtError> {
        // SAFETY: both return constants.
        let (abi, size) = unsafe { (ffi::skelact_trt_abi_version(), ffi::skelact_trt_api_size()) };
        if abi != ffi::ABI || size != std::mem::size_of::<ffi::Api>() {
            return Err(TensorRtError::Load(format!(
                "the compiled shim speaks ABI {abi} with a {size}-byte table, this crate ABI {} with {} bytes \
                 (rebuild: src/shim/skelact_trt.h and src/ffi.rs disagree)",
                ffi::ABI,
                std::mem::size_of::<ffi::Api>()
            )));
        }
        Ok(())
    }

    pub(super) fn device_info(loaded: &Loaded, device: i32) -> Result<DeviceInfo, TensorRtError> {
        let mut name = [0u8; 256];
        let (mut major, mut minor) = (0i32, 0i32);
        // SAFETY: the table is resolved and 'static; the pointers are valid for the call and `name` holds
        // `name.len()` bytes.
        let code = unsafe {
            ffi::skelact_trt_device_info(
                &loaded.api,
                device,
                &mut major,
                &mut minor,
                name.as_mut_ptr().cast(),
                name.len(),
            )
        };
        if code != 0 {
            return Err(TensorRtError::Device(ffi::message(&name)));
        }
        Ok(DeviceInfo {
            tensorrt: loaded.version,
            compute_capability: skelact_runtime::bundle::ComputeCapability {
                major: u8::try_from(major).unwrap_or(0),
                minor: u8::try_from(minor).unwrap_or(0),
            },
            gpu_name: ffi::message(&name),
        })
    }

    pub(super) fn load(
        loaded: &'static Loaded,
        plan: &[u8],
        options: &TensorRtOptions,
    ) -> Result<TensorRtEngine, TensorRtError> {
        let device = device_info(loaded, options.device)?;
        let name = |name: &Option<String>| {
            name.as_deref()
                .map(CString::new)
                .transpose()
                .map_err(|_| TensorRtError::Load("a tensor name contains a NUL byte".into()))
        };
        let (input_name, output_name) = (name(&options.input_name)?, name(&options.output_name)?);
        let mut error = [0u8; 1024];
        // SAFETY: the table is 'static, as the shim requires of a handle's table; every other pointer is valid
        // for the call, and the shim copies what it keeps from `plan`.
        let raw = unsafe {
            ffi::skelact_trt_create(
                &loaded.api,
                options.device,
                plan.as_ptr(),
                plan.len(),
                input_name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
                output_name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        let handle = std::ptr::NonNull::new(raw).ok_or_else(|| TensorRtError::Load(ffi::message(&error)))?;
        // SAFETY: `handle` is a live engine from the shim.
        let (input_len, output_len) =
            unsafe { (ffi::skelact_trt_input_len(handle.as_ptr()), ffi::skelact_trt_output_len(handle.as_ptr())) };
        tracing::info!(backend = "tensorrt", gpu = %device.gpu_name, tensorrt = %device.tensorrt, input_len, output_len, "engine loaded");
        Ok(TensorRtEngine { handle, input_len, output_len })
    }

    pub(super) fn run(engine: &mut TensorRtEngine, input: &[f32], output: &mut [f32]) -> i32 {
        // SAFETY: the caller checked the lengths against the shim's, and the slices outlive the synchronous call.
        unsafe {
            ffi::skelact_trt_run(engine.handle.as_ptr(), input.as_ptr(), input.len(), output.as_mut_ptr(), output.len())
        }
    }

    impl Drop for TensorRtEngine {
        fn drop(&mut self) {
            // SAFETY: the handle came from `skelact_trt_create` and is destroyed once.
            unsafe { ffi::skelact_trt_destroy(self.handle.as_ptr()) }
        }
    }
}

/// Without the shim [`ready`](shim::ready) refuses, so nothing is ever loaded and the rest is never reached.
#[cfg(not(skelact_tensorrt))]
mod shim {
    use super::{TensorRtEngine, TensorRtOptions};
    use crate::library::Loaded;
    use crate::{DeviceInfo, TensorRtError};

    /// The refusal of a build without the shim, saying where the build looked for TensorRT's headers.
    fn not_built() -> TensorRtError {
        crate::build_status().err().unwrap_or(TensorRtError::NotBuilt { searched: String::new() })
    }

    pub(super) fn ready() -> Result<(), TensorRtError> {
        Err(not_built())
    }

    pub(super) fn device_info(_: &Loaded, _: i32) -> Result<DeviceInfo, TensorRtError> {
        Err(not_built())
    }

    pub(super) fn load(_: &Loaded, _: &[u8], _: &TensorRtOptions) -> Result<TensorRtEngine, TensorRtError> {
        Err(not_built())
    }

    pub(super) fn run(engine: &mut TensorRtEngine, _: &[f32], _: &mut [f32]) -> i32 {
        match engine.never {}
    }
}

impl Engine for TensorRtEngine {
    fn input_len(&self) -> usize {
        self.input_len
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), EngineError> {
        check_lengths(self, input, output)?;
        let code = shim::run(self, input, output);
        if code != 0 {
            tracing::error!(backend = "tensorrt", code, "inference failed");
            return Err(EngineError::Backend { code });
        }
        Ok(())
    }
}
