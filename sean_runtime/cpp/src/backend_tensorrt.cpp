// TensorRT backend: the package's raw plans (written by `sean build-engine`) after their sidecar checks
// (docs/package-format.md, "Engines"). Compiled only when CMake finds TensorRT and CUDA; UNTESTED on
// this project's machines, which have neither (see sean_runtime/cpp/README.md).
#include <string>

#include "backend.hpp"
#include "core.hpp"
#include "plan_rules.hpp"

#ifdef SEAN_HAVE_TENSORRT

#include <NvInfer.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

namespace sean::core {
namespace {

const char* kRebuild = "rebuild the engines on this machine with `sean build-engine PKG`";

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw Error(Status::backend, std::string("CUDA ") + what + " failed: " + cudaGetErrorString(status));
}

// major.minor.patch of the TensorRT library loaded at run time (sidecars carry tensorrt.__version__).
std::string library_version() {
  const int v = getInferLibVersion();  // major * 10000 + minor * 100 + patch
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

nlohmann::json read_sidecar(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  try {
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json data = parse_json(text);
    return data.is_object() ? data : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

class Logger final : public nvinfer1::ILogger {
  void log(Severity severity, const char* message) noexcept override {
    if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", message);
  }
};

class TensorRtBackend final : public Backend {
 public:
  TensorRtBackend(const Package& package, const Options& options) : package_(package), gpu_(options.gpu) {
    check(cudaSetDevice(gpu_), "cudaSetDevice");
    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_) throw Error(Status::backend, "TensorRT could not create a runtime");
    const GraphSpec* specs[2] = {&package.encoder, &package.generator};
    max_batch_ = SIZE_MAX;
    for (int g = 0; g < 2; ++g) {
      specs_[g] = specs[g];
      engines_[g] = deserialize(*specs[g]);
      for (const TensorSpec& t : specs[g]->inputs) {
        const nvinfer1::Dims max = engines_[g]->getProfileShape(t.name.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
        max_batch_ = std::min(max_batch_, static_cast<size_t>(std::max<int64_t>(max.d[0], 1)));
      }
    }
    cudaDeviceProp properties{};
    check(cudaGetDeviceProperties(&properties, gpu_), "cudaGetDeviceProperties");
    device_ = "TensorRT " + library_version() + " on " + properties.name + " (sm_" + std::to_string(properties.major) +
              std::to_string(properties.minor) + ")";
  }

  std::string name() const override { return "tensorrt"; }
  std::string device() const override { return device_; }
  size_t max_batch() const override { return max_batch_; }

  void encode(size_t batch, const float* image, const int32_t* labels, const float* extra, float* codes,
              float* area) const override {
    run(0, batch, {{"image", image}, {"labels", labels}, {"extra", extra}}, {{"codes", codes}, {"area", area}});
  }

  void generate(size_t batch, const int32_t* labels, const float* codes, const float* noise, const float* extra,
                float* image) const override {
    run(1, batch, {{"labels", labels}, {"codes", codes}, {"noise", noise}, {"extra", extra}}, {{"image", image}});
  }

 private:
  struct DeviceBuffer {
    void* ptr = nullptr;
    size_t bytes = 0;
    void* reserve(size_t n) {
      if (n > bytes) {
        if (ptr) cudaFree(ptr);
        ptr = nullptr;
        check(cudaMalloc(&ptr, n), "cudaMalloc");
        bytes = n;
      }
      return ptr;
    }
    ~DeviceBuffer() {
      if (ptr) cudaFree(ptr);
    }
  };

  // What one concurrent call needs: an execution context per graph, its own stream and buffers.
  struct Worker {
    std::unique_ptr<nvinfer1::IExecutionContext> context[2];
    cudaStream_t stream = nullptr;
    std::map<std::string, DeviceBuffer> buffers;
    ~Worker() {
      if (stream) cudaStreamDestroy(stream);
    }
  };

  std::unique_ptr<nvinfer1::ICudaEngine> deserialize(const GraphSpec& graph) const {
    std::ifstream in(graph.plan(), std::ios::binary);
    const std::vector<char> plan((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::unique_ptr<nvinfer1::ICudaEngine> engine(runtime_->deserializeCudaEngine(plan.data(), plan.size()));
    if (!engine)
      throw Error(Status::backend, "TensorRT could not deserialise " + graph.plan().string() + " (corrupt, or built elsewhere); " + kRebuild);
    std::vector<std::string> names, declared;
    for (int i = 0; i < engine->getNbIOTensors(); ++i) {
      const char* name = engine->getIOTensorName(i);
      names.push_back(name);
      const auto type = engine->getTensorDataType(name);
      if (type != nvinfer1::DataType::kFLOAT && type != nvinfer1::DataType::kINT32)
        throw Error(Status::backend, graph.plan().filename().string() + ": tensor '" + name + "' is not float32 / int32; " + kRebuild);
      // Every size of the manifest is bounded by what the engine declares (-1: its dynamic batch axis).
      const nvinfer1::Dims dims = engine->getTensorShape(name);
      for (const auto* list : {&graph.inputs, &graph.outputs})
        for (const TensorSpec& t : *list) {
          if (t.name != name) continue;
          bool same = dims.nbDims == static_cast<int32_t>(t.shape.size());
          for (size_t d = 0; same && d < t.shape.size(); ++d) same = t.shape[d] < 0 || dims.d[d] == t.shape[d];
          if (!same)
            throw Error(Status::package, graph.plan().filename().string() + ": tensor '" + name +
                                             "' has another shape in the engine than in the manifest; " + kRebuild);
        }
    }
    for (const auto* list : {&graph.inputs, &graph.outputs})
      for (const TensorSpec& t : *list) declared.push_back(t.name);
    std::sort(names.begin(), names.end());
    std::sort(declared.begin(), declared.end());
    if (names != declared)
      throw Error(Status::backend, graph.plan().filename().string() + " has other tensors than the manifest; " + kRebuild);
    return engine;
  }

  std::unique_ptr<Worker> acquire() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<Worker> worker = std::move(idle_.back());
        idle_.pop_back();
        return worker;
      }
    }
    auto worker = std::make_unique<Worker>();
    check(cudaStreamCreateWithFlags(&worker->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    for (int g = 0; g < 2; ++g) {
      worker->context[g].reset(engines_[g]->createExecutionContext());
      if (!worker->context[g]) throw Error(Status::backend, "TensorRT could not create an execution context (out of GPU memory?)");
    }
    return worker;
  }

  void run(int graph, size_t batch, const std::vector<std::pair<std::string, const void*>>& inputs,
           const std::vector<std::pair<std::string, void*>>& outputs) const {
    check(cudaSetDevice(gpu_), "cudaSetDevice");
    std::unique_ptr<Worker> worker = acquire();
    nvinfer1::IExecutionContext& context = *worker->context[graph];
    auto shape_of = [&](const std::string& name, nvinfer1::Dims& dims) {
      for (const auto* list : {&specs_[graph]->inputs, &specs_[graph]->outputs})
        for (const TensorSpec& t : *list)
          if (t.name == name) {
            dims.nbDims = static_cast<int32_t>(t.shape.size());
            size_t count = 1;
            for (size_t i = 0; i < t.shape.size(); ++i) {
              dims.d[i] = t.shape[i] < 0 ? static_cast<int64_t>(batch) : t.shape[i];
              count *= static_cast<size_t>(dims.d[i]);
            }
            return count * 4;  // float32 and int32 alike
          }
      return size_t{0};
    };
    for (const auto& [name, host] : inputs) {
      if (!specs_[graph]->takes(name)) continue;
      nvinfer1::Dims dims{};
      const size_t bytes = shape_of(name, dims);
      void* device = worker->buffers[name].reserve(bytes);
      check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, worker->stream), "cudaMemcpyAsync");
      if (!context.setInputShape(name.c_str(), dims) || !context.setTensorAddress(name.c_str(), device))
        throw Error(Status::backend, "TensorRT refused input '" + name + "' of batch " + std::to_string(batch));
    }
    std::vector<std::pair<void*, size_t>> device_outputs;
    for (const auto& [name, host] : outputs) {
      nvinfer1::Dims dims{};
      const size_t bytes = shape_of(name, dims);
      void* device = worker->buffers[name].reserve(bytes);
      if (!context.setTensorAddress(name.c_str(), device))
        throw Error(Status::backend, "TensorRT refused output '" + name + "'");
      device_outputs.emplace_back(device, bytes);
    }
    if (!context.enqueueV3(worker->stream))
      throw Error(Status::backend, std::string("TensorRT failed to run the ") + (graph ? "generator" : "encoder") + " graph");
    for (size_t i = 0; i < outputs.size(); ++i)
      check(cudaMemcpyAsync(outputs[i].second, device_outputs[i].first, device_outputs[i].second, cudaMemcpyDeviceToHost,
                            worker->stream),
            "cudaMemcpyAsync");
    check(cudaStreamSynchronize(worker->stream), "cudaStreamSynchronize");
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(worker));
  }

  const Package& package_;
  int gpu_;
  Logger logger_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engines_[2];
  const GraphSpec* specs_[2] = {nullptr, nullptr};
  size_t max_batch_ = 0;
  std::string device_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Worker>> idle_;
};

}  // namespace

bool tensorrt_built() { return true; }

std::string tensorrt_problem(const Package& package, int gpu) {
  for (const GraphSpec* graph : {&package.encoder, &package.generator})
    if (std::error_code error; !std::filesystem::is_regular_file(graph->plan(), error))
      return "the package has no TensorRT engines (" + graph->plan().filename().string() + "); build them with `sean build-engine PKG`";
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return "the CUDA driver reports no GPU";
  if (gpu < 0 || gpu >= count) return "there is no GPU " + std::to_string(gpu) + " (" + std::to_string(count) + " found)";
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, gpu) != cudaSuccess) return "cannot query GPU " + std::to_string(gpu);
  const std::string installed = library_version();
  for (const GraphSpec* graph : {&package.encoder, &package.generator}) {
    const std::string plan = graph->plan().filename().string();
    const nlohmann::json sidecar = read_sidecar(graph->plan_sidecar());
    if (sidecar.is_null())
      return graph->plan_sidecar().filename().string() + " is missing or unreadable, so " + plan + " cannot be checked; " + kRebuild;
    if (sidecar.value("onnx_sha256", std::string()) != package.files.at(graph->file.filename().string()))
      return plan + " was built from another " + graph->file.filename().string() + " than this package's (stale); " + kRebuild;
    const std::string built_with = sidecar.value("tensorrt_version", std::string("?"));
    if (built_with.rfind(installed, 0) != 0 || (built_with.size() > installed.size() && built_with[installed.size()] != '.'))
      return plan + " was built with TensorRT " + built_with + ", this machine has " + installed + "; " + kRebuild;
    const std::string gpu_problem = plan_gpu_problem(sidecar, properties.major, properties.minor, properties.name);
    if (!gpu_problem.empty()) return plan + " " + gpu_problem + "; " + kRebuild;
    if (sidecar.contains("plan_sha256") && sidecar["plan_sha256"].is_string() &&
        sidecar["plan_sha256"].get<std::string>() != sha256_file(graph->plan()))
      return plan + " does not match the sha256 in " + graph->plan_sidecar().filename().string() + " (damaged); " + kRebuild;
  }
  return "";
}

std::unique_ptr<Backend> make_tensorrt_backend(const Package& package, const Options& options) {
  const std::string problem = tensorrt_problem(package, options.gpu);
  if (!problem.empty()) throw Error(Status::backend, problem);
  return std::make_unique<TensorRtBackend>(package, options);
}

}  // namespace sean::core

#else  // built without TensorRT

namespace sean::core {

bool tensorrt_built() { return false; }

std::string tensorrt_problem(const Package&, int) {
  return "this build of the C++ runtime has no TensorRT backend (CMake found no TensorRT and CUDA)";
}

std::unique_ptr<Backend> make_tensorrt_backend(const Package& package, const Options&) {
  throw Error(Status::backend, tensorrt_problem(package, 0) + "; rebuild with TensorRT or use the openvino backend");
}

}  // namespace sean::core

#endif
