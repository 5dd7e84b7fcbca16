// A small C ABI over TensorRT 10 (JetPack 6) for skelact's GPU backend.
//
// It deserializes an engine, binds one named f32 input and one named f32 output to device buffers, and runs
// enqueueV3 on its own CUDA stream with pinned host staging buffers. Everything that can fail returns a code or a
// null handle with a message; no C++ exception crosses into Rust.
//
// Built by board/build.rs only when TensorRT and CUDA headers and libraries are found.

#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

namespace {

// Codes returned by skelact_trt_run; board/src/backend/tensorrt/engine.rs documents them for users.
constexpr int32_t kOk = 0;
constexpr int32_t kCopyIn = 1;
constexpr int32_t kEnqueue = 2;
constexpr int32_t kCopyOut = 3;
constexpr int32_t kSync = 4;
constexpr int32_t kLength = 5;

void write_message(char* out, size_t cap, const std::string& message) {
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
        std::lock_guard<std::mutex> lock(mutex_);
        last_ = message != nullptr ? message : "";
        std::fprintf(stderr, "tensorrt: %s\n", last_.c_str());
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

std::string cuda_message(const char* what, cudaError_t error) {
    return std::string(what) + ": " + cudaGetErrorString(error);
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
const char* pick_tensor(nvinfer1::ICudaEngine* engine, nvinfer1::TensorIOMode mode, const char* wanted, std::string& error) {
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
        error = std::string("the engine has ") + std::to_string(matches) + " " + role + " tensors; name the one to use";
        return nullptr;
    }
    if (found == nullptr) {
        error = std::string("the engine has no ") + role + " tensor named " + (wanted != nullptr ? wanted : "(any)");
    }
    return found;
}

}  // namespace

struct SkelactTrt {
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

    ~SkelactTrt() {
        if (stream != nullptr) cudaStreamSynchronize(stream);
        delete context;
        delete engine;
        delete runtime;
        if (device_in != nullptr) cudaFree(device_in);
        if (device_out != nullptr) cudaFree(device_out);
        if (host_in != nullptr) cudaFreeHost(host_in);
        if (host_out != nullptr) cudaFreeHost(host_out);
        if (stream != nullptr) cudaStreamDestroy(stream);
    }
};

extern "C" {

int32_t skelact_trt_library_version(void) { return getInferLibVersion(); }

int32_t skelact_trt_device_info(int32_t device, int32_t* major, int32_t* minor, char* name, size_t name_cap) {
    cudaDeviceProp properties;
    cudaError_t error = cudaGetDeviceProperties(&properties, device);
    if (error != cudaSuccess) {
        write_message(name, name_cap, cuda_message("cudaGetDeviceProperties", error));
        return static_cast<int32_t>(error);
    }
    *major = properties.major;
    *minor = properties.minor;
    write_message(name, name_cap, properties.name);
    return 0;
}

SkelactTrt* skelact_trt_create(int32_t device, const uint8_t* plan, size_t plan_len, const char* input_name,
                               const char* output_name, char* error_out, size_t error_cap) {
    SkelactTrt* handle = new (std::nothrow) SkelactTrt();
    if (handle == nullptr) {
        write_message(error_out, error_cap, "out of memory");
        return nullptr;
    }
    std::string error;
    auto fail = [&](const std::string& message) -> SkelactTrt* {
        write_message(error_out, error_cap, message);
        delete handle;
        return nullptr;
    };
    cudaError_t cuda = cudaSetDevice(device);
    if (cuda != cudaSuccess) return fail(cuda_message("cudaSetDevice", cuda));
    handle->runtime = nvinfer1::createInferRuntime(logger());
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
    if ((cuda = cudaStreamCreateWithFlags(&handle->stream, cudaStreamNonBlocking)) != cudaSuccess)
        return fail(cuda_message("cudaStreamCreate", cuda));
    if ((cuda = cudaMallocHost(reinterpret_cast<void**>(&handle->host_in), handle->in_len * sizeof(float))) != cudaSuccess)
        return fail(cuda_message("cudaMallocHost(input)", cuda));
    if ((cuda = cudaMallocHost(reinterpret_cast<void**>(&handle->host_out), handle->out_len * sizeof(float))) != cudaSuccess)
        return fail(cuda_message("cudaMallocHost(output)", cuda));
    if ((cuda = cudaMalloc(&handle->device_in, handle->in_len * sizeof(float))) != cudaSuccess)
        return fail(cuda_message("cudaMalloc(input)", cuda));
    if ((cuda = cudaMalloc(&handle->device_out, handle->out_len * sizeof(float))) != cudaSuccess)
        return fail(cuda_message("cudaMalloc(output)", cuda));
    if (!handle->context->setTensorAddress(input, handle->device_in) ||
        !handle->context->setTensorAddress(output, handle->device_out)) {
        return fail("setTensorAddress failed: " + logger().last());
    }
    return handle;
}

size_t skelact_trt_input_len(const SkelactTrt* handle) { return handle->in_len; }

size_t skelact_trt_output_len(const SkelactTrt* handle) { return handle->out_len; }

int32_t skelact_trt_run(SkelactTrt* handle, const float* input, size_t input_len, float* output, size_t output_len) {
    if (input_len != handle->in_len || output_len != handle->out_len) return kLength;
    std::memcpy(handle->host_in, input, input_len * sizeof(float));
    if (cudaMemcpyAsync(handle->device_in, handle->host_in, input_len * sizeof(float), cudaMemcpyHostToDevice,
                        handle->stream) != cudaSuccess)
        return kCopyIn;
    if (!handle->context->enqueueV3(handle->stream)) return kEnqueue;
    if (cudaMemcpyAsync(handle->host_out, handle->device_out, output_len * sizeof(float), cudaMemcpyDeviceToHost,
                        handle->stream) != cudaSuccess)
        return kCopyOut;
    if (cudaStreamSynchronize(handle->stream) != cudaSuccess) return kSync;
    std::memcpy(output, handle->host_out, output_len * sizeof(float));
    return kOk;
}

void skelact_trt_destroy(SkelactTrt* handle) { delete handle; }

}  // extern "C"
