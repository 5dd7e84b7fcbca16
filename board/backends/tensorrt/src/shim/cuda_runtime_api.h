// The part of the CUDA runtime API that TensorRT's public headers name, written here because this project builds
// the shim where no CUDA toolkit is installed (CI, the desktop). NvInferRuntimeBase.h includes
// <cuda_runtime_api.h> only for the opaque stream and event handle types; the build script puts this folder first
// on the include path, so these declarations are the ones the shim sees everywhere, toolkit installed or not.
//
// The handles are pointers to the same incomplete struct types the toolkit uses (CUstream_st, CUevent_st), so
// they are the same C++ types as in code compiled against the real header. No CUDA function is declared here: the
// shim calls the CUDA runtime only through the function pointers in skelact_trt.h, which the Rust side resolves
// from libcudart.so.12 at run time.

#ifndef SKELACT_CUDA_RUNTIME_API_H
#define SKELACT_CUDA_RUNTIME_API_H

struct CUstream_st;
struct CUevent_st;

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

#endif
