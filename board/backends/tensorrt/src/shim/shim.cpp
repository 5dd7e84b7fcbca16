// A small C ABI over TensorRT 10 (JetPack 6) for skelact's GPU backend.
//
// It deserializes an engine, binds one named f32 input and one named f32 output to device buffers, and runs
// enqueueV3 on its own CUDA stream with pinned host staging buffers. Everything that can fail returns a code or a
// null handle with a message; no C++ exception crosses into Rust.
//
// It is compiled everywhere against TensorRT's public headers (see build.rs) and links neither TensorRT nor CUDA:
// every call into them goes through the SkelactTrtApi table that the Rust side fills from the libraries it opened
// at run time (skelact_trt.h says why that is enough).

#include <NvInferRuntime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "skelact_trt.h"

namespace {

// Codes returned by skelact_trt_run; src/engine.rs documents them for users.
constexpr int32_t kOk = 0;
constexpr int32_t kCopyIn = 1;
constexpr int32_t kEnqueue = 2;
constexpr int32_t kCopyOut = 3;
constexpr int32_t kSync = 4;
constexpr int32_t kLength = 5;

// The CUDA runtime's documented enum values the shim passes (cuda_runtime_api.h / driver_types.h).
constexpr int kCudaSuccess = 0;
constexpr int kMemcpyHostToDevice = 1;
constexpr int kMemcpyDeviceToHost = 2;
constexpr unsigned int kStreamNonBlocking = 0x01;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;

void write_message(char* out, size_t cap, const std::string& message) noexcept {
    if (out == nullptr || cap == 0) {
        return;
    }
    size_t n = message.size() < cap - 1 ? message.size() : cap - 1;
    std::memcpy(out, message.data(), n);
    out[n] = '\0';
}

// Keeps the last error TensorRT reported, so that a failed deserialization can say why.
class Logger final : public nvinfer1::ILogger {
  public:
    void log(Severity severity, const char* message) noexcept override {
        if (severity > Severity::kWARNING) {
            return;
        }
        try {
            std::lock_guard<std::mutex> lock(mutex_);
            last_ = message != nullptr ? message : "";
            std::fprintf(stderr, "tensorrt: %s\n", last_.c_str());
        } catch (...) {
            // A message lost for want of memory must not unwind into TensorRT.
        }
    }
    std::string last() {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_;
    }

  private:
    std::mutex mutex_;
    std::string last_;
};

Logger& logger() {
    static Logger instance;
    return instance;
}

std::string cuda_message(const SkelactTrtApi* api, const char* what, int error) {
    const char* text = api->cuda_get_error_string(error);
    return std::string(what) + ": " + (text != nullptr ? text : "unknown CUDA error") + " (" +
           std::to_string(error) + ")";
}

// Number of elements of a fully fixed shape, or -1 if some dimension is dynamic.
int64_t element_count(const nvinfer1::Dims& dims) {
    int64_t count = 1;
    for (int32_t i = 0; i < dims.nbDims; ++i) {
        if (dims.d[i] < 0) {
            return -1;
        }
        count *= dims.d[i];
    }
    return count;
}

// The only tensor of the given mode, or the named one.
const char* pick_tensor(nvinfer1::ICudaEngine* engine, nvinfer1::TensorIOMode mode, const char* wanted,
                        std::string& error) {
    const char* found = nullptr;
    int32_t matches = 0;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        const char* name = engine->getIOTensorName(i);
        if (engine->getTensorIOMode(name) != mode) {
            continue;
        }
        ++matches;
        if (wanted == nullptr || std::strcmp(name, wanted) == 0) {
            found = name;
        }
    }
    const char* role = mode == nvinfer1::TensorIOMode::kINPUT ? "input" : "output";
    if (wanted == nullptr && matches != 1) {
        error = std::string("the engine has ") + std::to_string(matches) + " " + role +
                " tensors; name the one to use";
        return nullptr;
    }
    if (found == nullptr) {
        error = std::string("the engine has no ") + role + " tensor named " + (wanted != nullptr ? wanted : "(any)");
    }
    return found;
}

// What TensorRT's inline createInferRuntime() does (NvInferRuntime.h), through the resolved entry point: the
// version passed is that of the headers compiled here, which the library checks against its own.
nvinfer1::IRuntime* create_runtime(const SkelactTrtApi* api) {
    return static_cast<nvinfer1::IRuntime*>(api->create_infer_runtime(&logger(), static_cast<int32_t>(NV_TENSORRT_VERSION)));
}

}  // namespace

struct SkelactTrt {
    const SkelactTrtApi* api = nullptr;
    nvinfer1::IRuntime* runtime = nullptr;
    nvinfer1::ICudaEngine* engine = nullptr;
    nvinfer1::IExecutionContext* context = nullptr;
    cudaStream_t stream = nullptr;
    float* host_in = nullptr;
    float* host_out = nullptr;
    void* device_in = nullptr;
    void* device_out = nullptr;
    size_t in_len = 0;
    size_t out_len = 0;

    explicit SkelactTrt(const SkelactTrtApi* table) : api(table) {}
    SkelactTrt(const SkelactTrt&) = delete;
    SkelactTrt& operator=(const SkelactTrt&) = delete;

    // TensorRT objects go before the memory and stream they use, in the reverse order of their creation.
    ~SkelactTrt() {
        if (stream != nullptr) api->cuda_stream_synchronize(stream);
        delete context;
        delete engine;
        delete runtime;
        if (device_in != nullptr) api->cuda_free(device_in);
        if (device_out != nullptr) api->cuda_free(device_out);
        if (host_in != nullptr) api->cuda_free_host(host_in);
        if (host_out != nullptr) api->cuda_free_host(host_out);
        if (stream != nullptr) api->cuda_stream_destroy(stream);
    }
};

namespace {

SkelactTrt* create(const SkelactTrtApi* api, int32_t device, const uint8_t* plan, size_t plan_len,
                   const char* input_name, const char* output_name, std::string& error) {
    SkelactTrt* handle = new SkelactTrt(api);
    auto fail = [&](const std::string& message) -> SkelactTrt* {
        error = message;
        delete handle;
        return nullptr;
    };
    int cuda = api->cuda_set_device(device);
    if (cuda != kCudaSuccess) return fail(cuda_message(api, "cudaSetDevice", cuda));
    handle->runtime = create_runtime(api);
    if (handle->runtime == nullptr) return fail("createInferRuntime failed: " + logger().last());
    handle->engine = handle->runtime->deserializeCudaEngine(plan, plan_len);
    if (handle->engine == nullptr) return fail("cannot deserialize the engine: " + logger().last());

    const char* input = pick_tensor(handle->engine, nvinfer1::TensorIOMode::kINPUT, input_name, error);
    if (input == nullptr) return fail(error);
    const char* output = pick_tensor(handle->engine, nvinfer1::TensorIOMode::kOUTPUT, output_name, error);
    if (output == nullptr) return fail(error);
    if (handle->engine->getTensorDataType(input) != nvinfer1::DataType::kFLOAT ||
        handle->engine->getTensorDataType(output) != nvinfer1::DataType::kFLOAT) {
        return fail("the engine's input and output must be float32 (build it with float I/O)");
    }
    int64_t in_count = element_count(handle->engine->getTensorShape(input));
    int64_t out_count = element_count(handle->engine->getTensorShape(output));
    if (in_count <= 0 || out_count <= 0) {
        return fail("the engine has dynamic shapes; build it for the bundle's fixed window shape");
    }
    handle->in_len = static_cast<size_t>(in_count);
    handle->out_len = static_cast<size_t>(out_count);

    handle->context = handle->engine->createExecutionContext();
    if (handle->context == nullptr) return fail("createExecutionContext failed: " + logger().last());
    if ((cuda = api->cuda_stream_create_with_flags(&handle->stream, kStreamNonBlocking)) != kCudaSuccess)
        return fail(cuda_message(api, "cudaStreamCreateWithFlags", cuda));
    void* pointer = nullptr;
    if ((cuda = api->cuda_malloc_host(&pointer, handle->in_len * sizeof(float))) != kCudaSuccess)
        return fail(cuda_message(api, "cudaMallocHost(input)", cuda));
    handle->host_in = static_cast<float*>(pointer);
    if ((cuda = api->cuda_malloc_host(&pointer, handle->out_len * sizeof(float))) != kCudaSuccess)
        return fail(cuda_message(api, "cudaMallocHost(output)", cuda));
    handle->host_out = static_cast<float*>(pointer);
    if ((cuda = api->cuda_malloc(&handle->device_in, handle->in_len * sizeof(float))) != kCudaSuccess)
        return fail(cuda_message(api, "cudaMalloc(input)", cuda));
    if ((cuda = api->cuda_malloc(&handle->device_out, handle->out_len * sizeof(float))) != kCudaSuccess)
        return fail(cuda_message(api, "cudaMalloc(output)", cuda));
    if (!handle->context->setTensorAddress(input, handle->device_in) ||
        !handle->context->setTensorAddress(output, handle->device_out)) {
        return fail("setTensorAddress failed: " + logger().last());
    }
    return handle;
}

}  // namespace

extern "C" {

uint32_t skelact_trt_abi_version(void) { return SKELACT_TRT_ABI; }

size_t skelact_trt_api_size(void) { return sizeof(SkelactTrtApi); }

int32_t skelact_trt_header_version(void) { return static_cast<int32_t>(NV_TENSORRT_VERSION); }

int32_t skelact_trt_device_info(const SkelactTrtApi* api, int32_t device, int32_t* major, int32_t* minor, char* name,
                                size_t name_cap) {
    try {
        int count = 0;
        int error = api->cuda_get_device_count(&count);
        if (error != kCudaSuccess) {
            write_message(name, name_cap, cuda_message(api, "cudaGetDeviceCount", error));
            return error;
        }
        if (device < 0 || device >= count) {
            write_message(name, name_cap,
                          "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                              " found)");
            return -1;
        }
        if ((error = api->cuda_device_get_attribute(major, kAttrComputeCapabilityMajor, device)) != kCudaSuccess ||
            (error = api->cuda_device_get_attribute(minor, kAttrComputeCapabilityMinor, device)) != kCudaSuccess) {
            write_message(name, name_cap, cuda_message(api, "cudaDeviceGetAttribute", error));
            return error;
        }
        // The driver's name when it can be had; the runtime has already initialised the driver, so cuInit is
        // a formality, but the driver API requires it.
        char driver_name[256] = {0};
        int handle = 0;
        bool named = api->cu_init != nullptr && api->cu_device_get != nullptr && api->cu_device_get_name != nullptr &&
                     api->cu_init(0) == 0 && api->cu_device_get(&handle, device) == 0 &&
                     api->cu_device_get_name(driver_name, static_cast<int>(sizeof(driver_name)), handle) == 0;
        write_message(name, name_cap, named ? std::string(driver_name) : "CUDA device " + std::to_string(device));
        return 0;
    } catch (...) {
        write_message(name, name_cap, "out of memory");
        return -1;
    }
}

SkelactTrt* skelact_trt_create(const SkelactTrtApi* api, int32_t device, const uint8_t* plan, size_t plan_len,
                               const char* input_name, const char* output_name, char* error_out, size_t error_cap) {
    try {
        std::string error;
        SkelactTrt* handle = create(api, device, plan, plan_len, input_name, output_name, error);
        if (handle == nullptr) write_message(error_out, error_cap, error);
        return handle;
    } catch (...) {
        write_message(error_out, error_cap, "out of memory");
        return nullptr;
    }
}

size_t skelact_trt_input_len(const SkelactTrt* handle) { return handle->in_len; }

size_t skelact_trt_output_len(const SkelactTrt* handle) { return handle->out_len; }

int32_t skelact_trt_run(SkelactTrt* handle, const float* input, size_t input_len, float* output, size_t output_len) {
    const SkelactTrtApi* api = handle->api;
    if (input_len != handle->in_len || output_len != handle->out_len) return kLength;
    std::memcpy(handle->host_in, input, input_len * sizeof(float));
    if (api->cuda_memcpy_async(handle->device_in, handle->host_in, input_len * sizeof(float), kMemcpyHostToDevice,
                               handle->stream) != kCudaSuccess)
        return kCopyIn;
    if (!handle->context->enqueueV3(handle->stream)) return kEnqueue;
    if (api->cuda_memcpy_async(handle->host_out, handle->device_out, output_len * sizeof(float), kMemcpyDeviceToHost,
                               handle->stream) != kCudaSuccess)
        return kCopyOut;
    if (api->cuda_stream_synchronize(handle->stream) != kCudaSuccess) return kSync;
    std::memcpy(output, handle->host_out, output_len * sizeof(float));
    return kOk;
}

void skelact_trt_destroy(SkelactTrt* handle) { delete handle; }

}  // extern "C"
