// The shim's C ABI, shared with src/ffi.rs (which mirrors every declaration here; the tests compare sizes).
//
// Nothing of TensorRT or CUDA is linked: the Rust side opens libnvinfer.so.10 and libcudart.so.12 at run time,
// resolves the C functions below, and hands the shim this table. TensorRT's own API is C++ virtual interfaces
// reached from one exported C function (createInferRuntime_INTERNAL), so the table holds that and
// getInferLibVersion; the rest are CUDA runtime calls whose C signatures have been stable since CUDA 10. Enum
// arguments (cudaError_t, cudaMemcpyKind, cudaDeviceAttr) are passed as int, which is how the C ABI passes them.

#ifndef SKELACT_TRT_H
#define SKELACT_TRT_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_runtime_api.h"

#ifdef __cplusplus
extern "C" {
#endif

// Bumped whenever SkelactTrtApi or a function below changes; src/ffi.rs checks it.
#define SKELACT_TRT_ABI 1

typedef struct SkelactTrtApi {
    // libnvinfer.so.10
    void* (*create_infer_runtime)(void* logger, int32_t version);
    int32_t (*get_infer_lib_version)(void);
    // libcudart.so.12
    int (*cuda_get_device_count)(int* count);
    int (*cuda_set_device)(int device);
    int (*cuda_device_get_attribute)(int* value, int attribute, int device);
    const char* (*cuda_get_error_string)(int error);
    int (*cuda_malloc)(void** pointer, size_t size);
    int (*cuda_free)(void* pointer);
    int (*cuda_malloc_host)(void** pointer, size_t size);
    int (*cuda_free_host)(void* pointer);
    int (*cuda_memcpy_async)(void* destination, const void* source, size_t size, int kind, cudaStream_t stream);
    int (*cuda_stream_create_with_flags)(cudaStream_t* stream, unsigned int flags);
    int (*cuda_stream_synchronize)(cudaStream_t stream);
    int (*cuda_stream_destroy)(cudaStream_t stream);
    // libcuda.so.1, the driver, for the GPU's name only (the runtime API has no call for it short of the large,
    // version-dependent cudaDeviceProp struct). May be null; the name is then "CUDA device N".
    int (*cu_init)(unsigned int flags);
    int (*cu_device_get)(int* device, int ordinal);
    int (*cu_device_get_name)(char* name, int length, int device);
} SkelactTrtApi;

typedef struct SkelactTrt SkelactTrt;

// SKELACT_TRT_ABI, and the size of SkelactTrtApi as this compiler lays it out.
uint32_t skelact_trt_abi_version(void);
size_t skelact_trt_api_size(void);
// NV_TENSORRT_VERSION of the headers the shim was compiled against (major * 10000 + minor * 100 + patch).
int32_t skelact_trt_header_version(void);

// Compute capability and name of a CUDA device; non-zero with a message in `name` when there is none.
int32_t skelact_trt_device_info(const SkelactTrtApi* api, int32_t device, int32_t* major, int32_t* minor, char* name,
                                size_t name_cap);
// Deserializes `plan` and binds its input and output; null with a message in `error` on failure. `api` must
// outlive the handle.
SkelactTrt* skelact_trt_create(const SkelactTrtApi* api, int32_t device, const uint8_t* plan, size_t plan_len,
                               const char* input_name, const char* output_name, char* error, size_t error_cap);
size_t skelact_trt_input_len(const SkelactTrt* handle);
size_t skelact_trt_output_len(const SkelactTrt* handle);
// One window through the engine; the codes are documented in src/engine.rs.
int32_t skelact_trt_run(SkelactTrt* handle, const float* input, size_t input_len, float* output, size_t output_len);
void skelact_trt_destroy(SkelactTrt* handle);

#ifdef __cplusplus
}
#endif

#endif
