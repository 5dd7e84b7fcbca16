//! The shim's C ABI (`src/shim/skelact_trt.h`), mirrored declaration for declaration.
//!
//! [`Api`] is filled by `library.rs` from the libraries it opened; the shim calls TensorRT and CUDA only through
//! it. The tests compare [`ABI`] and `size_of::<Api>()` with what the compiled shim reports.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `SKELACT_TRT_ABI` of `skelact_trt.h`.
#[cfg_attr(not(skelact_tensorrt), allow(dead_code))]
pub const ABI: u32 = 1;

/// `SkelactTrtApi`: the C functions of `libnvinfer.so.10`, `libcudart.so.12` and (optional) `libcuda.so.1` the
/// shim calls. CUDA's enums (`cudaError_t`, `cudaMemcpyKind`, `cudaDeviceAttr`) travel as `c_int`; streams as
/// opaque pointers.
#[repr(C)]
#[derive(Debug)]
pub struct Api {
    pub create_infer_runtime: unsafe extern "C" fn(logger: *mut c_void, version: i32) -> *mut c_void,
    pub get_infer_lib_version: unsafe extern "C" fn() -> i32,
    pub cuda_get_device_count: unsafe extern "C" fn(count: *mut c_int) -> c_int,
    pub cuda_set_device: unsafe extern "C" fn(device: c_int) -> c_int,
    pub cuda_device_get_attribute: unsafe extern "C" fn(value: *mut c_int, attribute: c_int, device: c_int) -> c_int,
    pub cuda_get_error_string: unsafe extern "C" fn(error: c_int) -> *const c_char,
    pub cuda_malloc: unsafe extern "C" fn(pointer: *mut *mut c_void, size: usize) -> c_int,
    pub cuda_free: unsafe extern "C" fn(pointer: *mut c_void) -> c_int,
    pub cuda_malloc_host: unsafe extern "C" fn(pointer: *mut *mut c_void, size: usize) -> c_int,
    pub cuda_free_host: unsafe extern "C" fn(pointer: *mut c_void) -> c_int,
    pub cuda_memcpy_async: unsafe extern "C" fn(
        destination: *mut c_void,
        source: *const c_void,
        size: usize,
        kind: c_int,
        stream: *mut c_void,
    ) -> c_int,
    pub cuda_stream_create_with_flags: unsafe extern "C" fn(stream: *mut *mut c_void, flags: c_uint) -> c_int,
    pub cuda_stream_synchronize: unsafe extern "C" fn(stream: *mut c_void) -> c_int,
    pub cuda_stream_destroy: unsafe extern "C" fn(stream: *mut c_void) -> c_int,
    pub cu_init: Option<unsafe extern "C" fn(flags: c_uint) -> c_int>,
    pub cu_device_get: Option<unsafe extern "C" fn(device: *mut c_int, ordinal: c_int) -> c_int>,
    pub cu_device_get_name: Option<unsafe extern "C" fn(name: *mut c_char, length: c_int, device: c_int) -> c_int>,
}

/// `SkelactTrt`: the shim's engine handle, opaque here.
#[repr(C)]
#[derive(Debug)]
pub struct SkelactTrt {
    _private: [u8; 0],
}

#[cfg(skelact_tensorrt)]
extern "C" {
    pub fn skelact_trt_abi_version() -> u32;
    pub fn skelact_trt_api_size() -> usize;
    pub fn skelact_trt_header_version() -> i32;
    pub fn skelact_trt_device_info(
        api: *const Api,
        device: i32,
        major: *mut i32,
        minor: *mut i32,
        name: *mut c_char,
        cap: usize,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    pub fn skelact_trt_create(
        api: *const Api,
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
#[cfg_attr(not(skelact_tensorrt), allow(dead_code))]
pub fn message(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}
