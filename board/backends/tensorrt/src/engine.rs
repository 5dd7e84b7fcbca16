//! [`TensorRtEngine`]: the shim's handle behind the [`Engine`] trait.
//!
//! # `run` failure codes ([`EngineError::Backend`])
//! 1: copying the input to the GPU failed; 2: `enqueueV3` refused; 3: copying the output back failed;
//! 4: the CUDA stream failed while running (the error may come from any step); 5: the shim's lengths disagree
//! with ours (a bug). TensorRT's own messages go to stderr as `tensorrt: ...`.

use skelact_runtime::engine::{check_lengths, Engine, EngineError};

use super::{DeviceInfo, TensorRtError};

/// How to bind an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TensorRtOptions {
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
    handle: std::ptr::NonNull<ffi::SkelactTrt>,
    #[cfg(not(skelact_tensorrt))]
    never: std::convert::Infallible,
    input_len: usize,
    output_len: usize,
}

#[cfg(skelact_tensorrt)]
mod ffi {
    use std::ffi::c_char;

    #[repr(C)]
    #[derive(Debug)]
    pub struct SkelactTrt {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn skelact_trt_library_version() -> i32;
        pub fn skelact_trt_device_info(
            device: i32,
            major: *mut i32,
            minor: *mut i32,
            name: *mut c_char,
            cap: usize,
        ) -> i32;
        pub fn skelact_trt_create(
            device: i32,
            plan: *const u8,
            plan_len: usize,
            input_name: *const c_char,
            output_name: *const c_char,
            error: *mut c_char,
            error_cap: usize,
        ) -> *mut SkelactTrt;
        pub fn skelact_trt_input_len(handle: *const SkelactTrt) -> usize;
        pub fn skelact_trt_output_len(handle: *const SkelactTrt) -> usize;
        pub fn skelact_trt_run(
            handle: *mut SkelactTrt,
            input: *const f32,
            input_len: usize,
            output: *mut f32,
            output_len: usize,
        ) -> i32;
        pub fn skelact_trt_destroy(handle: *mut SkelactTrt);
    }

    /// The text the shim wrote into `buffer`, up to its NUL.
    pub fn message(buffer: &[u8]) -> String {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

// The shim's handle is used from one thread at a time (`&mut self`); TensorRT contexts may move between threads.
#[cfg(skelact_tensorrt)]
unsafe impl Send for TensorRtEngine {}

impl TensorRtEngine {
    /// The TensorRT release and GPU of this device.
    #[cfg(skelact_tensorrt)]
    pub fn device_info(device: i32) -> Result<DeviceInfo, TensorRtError> {
        let mut name = [0u8; 256];
        let (mut major, mut minor) = (0i32, 0i32);
        // SAFETY: the pointers are valid for the duration of the call and `name` holds `name.len()` bytes.
        let code = unsafe {
            ffi::skelact_trt_device_info(device, &mut major, &mut minor, name.as_mut_ptr().cast(), name.len())
        };
        if code != 0 {
            return Err(TensorRtError::Device(ffi::message(&name)));
        }
        // SAFETY: a plain query of the linked library.
        let version = unsafe { ffi::skelact_trt_library_version() };
        Ok(DeviceInfo {
            tensorrt: super::version_from_library_code(version),
            compute_capability: skelact_runtime::bundle::ComputeCapability {
                major: u8::try_from(major).unwrap_or(0),
                minor: u8::try_from(minor).unwrap_or(0),
            },
            gpu_name: ffi::message(&name),
        })
    }

    /// Without TensorRT at build time there is no device to describe.
    #[cfg(not(skelact_tensorrt))]
    pub fn device_info(_device: i32) -> Result<DeviceInfo, TensorRtError> {
        Err(super::build_status().err().unwrap_or(TensorRtError::NotBuilt { searched: String::new() }))
    }

    /// Deserializes and binds `plan`. The caller has checked that it was built for this device's TensorRT and GPU
    /// (`skelact_runtime::bundle::Bundle::tensorrt_engine`), as TensorRT's own refusal is far less clear.
    #[cfg(skelact_tensorrt)]
    pub fn load(plan: &[u8], options: &TensorRtOptions) -> Result<Self, TensorRtError> {
        use std::ffi::CString;
        let device = Self::device_info(options.device)?;
        let name = |name: &Option<String>| {
            name.as_deref()
                .map(CString::new)
                .transpose()
                .map_err(|_| TensorRtError::Load("a tensor name contains a NUL byte".into()))
        };
        let (input_name, output_name) = (name(&options.input_name)?, name(&options.output_name)?);
        let mut error = [0u8; 1024];
        // SAFETY: every pointer is valid for the call; the shim copies what it keeps from `plan`.
        let raw = unsafe {
            ffi::skelact_trt_create(
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

    /// Without TensorRT at build time: refuses, saying where the build looked.
    #[cfg(not(skelact_tensorrt))]
    pub fn load(_plan: &[u8], _options: &TensorRtOptions) -> Result<Self, TensorRtError> {
        Err(super::build_status().err().unwrap_or(TensorRtError::NotBuilt { searched: String::new() }))
    }
}

#[cfg(skelact_tensorrt)]
impl Drop for TensorRtEngine {
    fn drop(&mut self) {
        // SAFETY: the handle came from `skelact_trt_create` and is destroyed once.
        unsafe { ffi::skelact_trt_destroy(self.handle.as_ptr()) }
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
        #[cfg(skelact_tensorrt)]
        {
            // SAFETY: the lengths were checked against the shim's, and the slices outlive the synchronous call.
            let code = unsafe {
                ffi::skelact_trt_run(
                    self.handle.as_ptr(),
                    input.as_ptr(),
                    input.len(),
                    output.as_mut_ptr(),
                    output.len(),
                )
            };
            if code != 0 {
                tracing::error!(backend = "tensorrt", code, "inference failed");
                return Err(EngineError::Backend { code });
            }
            Ok(())
        }
        #[cfg(not(skelact_tensorrt))]
        match self.never {}
    }
}
