// OpenVINO backend: the package's ONNX graphs compiled by OpenVINO, with the same properties as the
// Python backend (sean_runtime/backends/openvino.py), so that both give the same floats.
#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include <openvino/openvino.hpp>

#include "backend.hpp"
#include "sean/sean.hpp"

namespace sean {
namespace {

class OpenVinoBackend final : public Backend {
 public:
  OpenVinoBackend(const Package& package, const Options& options) : package_(package) {
    for (const char* hint : {"f32", "bf16", "f16"})
      if (options.precision == hint) precision_ = hint;
    if (precision_.empty())
      throw Error(Status::argument, "unknown OpenVINO precision hint '" + options.precision + "'; choose f32, bf16 or f16");
    if (options.threads < 0) throw Error(Status::argument, "threads must be >= 0 (0: OpenVINO's default)");
    try {
      const std::vector<std::string> devices = core_.get_available_devices();
      if (std::find(devices.begin(), devices.end(), options.device) == devices.end()) {
        std::string list;
        for (const auto& d : devices) list += (list.empty() ? "" : ", ") + d;
        throw Error(Status::backend, "OpenVINO reports no " + options.device + " device (devices: " + list + ")");
      }
      ov::AnyMap config{{"INFERENCE_PRECISION_HINT", precision_}, {"PERFORMANCE_HINT", "LATENCY"}};
      if (options.threads > 0 && options.device == "CPU") config["INFERENCE_NUM_THREADS"] = options.threads;
      encoder_ = compile(package.encoder, options.device, config);
      generator_ = compile(package.generator, options.device, config);
      const std::string version = ov::get_openvino_version().buildNumber;
      const std::string executes = generator_.get_property("INFERENCE_PRECISION_HINT").as<std::string>();
      device_ = "OpenVINO " + version.substr(0, version.find('-')) + " " + options.device +
                " (" + core_.get_property(options.device, ov::device::full_name) + "), executes " + executes;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& exc) {
      throw Error(Status::backend, std::string("OpenVINO failed to start: ") + exc.what());
    }
  }

  std::string name() const override { return "openvino"; }
  std::string device() const override { return device_; }
  size_t max_batch() const override { return 0; }

  void encode(size_t batch, const float* image, const int32_t* labels, const float* extra, float* codes,
              float* area) const override {
    const size_t H = package_.height, W = package_.width;
    std::vector<std::pair<std::string, ov::Tensor>> inputs{
        {"image", tensor(ov::element::f32, {batch, 3, H, W}, image)},
        {"labels", tensor(ov::element::i32, {batch, H, W}, labels)}};
    if (package_.encoder.takes("extra"))
      inputs.emplace_back("extra", tensor(ov::element::f32, {batch, size_t(package_.extra_channels), H, W}, extra));
    const size_t K = package_.num_classes();
    run(Graph::encoder, inputs, {{"codes", codes, batch * K * package_.style_dim}, {"area", area, batch * K}});
  }

  void generate(size_t batch, const int32_t* labels, const float* codes, const float* noise, const float* extra,
                float* image) const override {
    const size_t H = package_.height, W = package_.width;
    std::vector<std::pair<std::string, ov::Tensor>> inputs{
        {"labels", tensor(ov::element::i32, {batch, H, W}, labels)},
        {"codes", tensor(ov::element::f32, {batch, size_t(package_.num_classes()), size_t(package_.style_dim)}, codes)},
        {"noise", tensor(ov::element::f32, {batch, size_t(package_.noise_numel)}, noise)}};
    if (package_.generator.takes("extra"))
      inputs.emplace_back("extra", tensor(ov::element::f32, {batch, size_t(package_.extra_channels), H, W}, extra));
    run(Graph::generator, inputs, {{"image", image, batch * 3 * H * W}});
  }

 private:
  enum class Graph { encoder, generator };
  struct Output {
    std::string name;
    float* data;
    size_t count;
  };

  ov::CompiledModel compile(const GraphSpec& graph, const std::string& device, const ov::AnyMap& config) {
    ov::CompiledModel compiled;
    try {
      compiled = core_.compile_model(core_.read_model(graph.file.string()), device, config);
    } catch (const std::exception& exc) {
      throw Error(Status::backend, "OpenVINO cannot load " + graph.file.filename().string() + ": " +
                                       first_line(exc.what()) + "; re-export the package with `sean export`");
    }
    std::vector<std::string> names_in, names_out, want_in, want_out;
    for (const auto& port : compiled.inputs()) names_in.push_back(port.get_any_name());
    for (const auto& port : compiled.outputs()) names_out.push_back(port.get_any_name());
    for (const auto& t : graph.inputs) want_in.push_back(t.name);
    for (const auto& t : graph.outputs) want_out.push_back(t.name);
    for (auto* list : {&names_in, &names_out, &want_in, &want_out}) std::sort(list->begin(), list->end());
    if (names_in != want_in || names_out != want_out)
      throw Error(Status::package, graph.file.string() + " has other inputs / outputs than the manifest declares; re-export the package");
    return compiled;
  }

  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  // Inputs are wrapped, not copied: OpenVINO only reads them.
  static ov::Tensor tensor(ov::element::Type type, ov::Shape shape, const void* data) {
    return ov::Tensor(type, shape, const_cast<void*>(data));
  }

  // One infer request per concurrent call: idle requests are kept for reuse, new ones made on demand.
  ov::InferRequest acquire(Graph graph) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& idle = idle_[graph];
      if (!idle.empty()) {
        ov::InferRequest request = std::move(idle.back());
        idle.pop_back();
        return request;
      }
    }
    return (graph == Graph::encoder ? encoder_ : generator_).create_infer_request();
  }

  void release(Graph graph, ov::InferRequest request) const {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_[graph].push_back(std::move(request));
  }

  void run(Graph graph, const std::vector<std::pair<std::string, ov::Tensor>>& inputs,
           const std::vector<Output>& outputs) const {
    const char* what = graph == Graph::encoder ? "encoder" : "generator";
    try {
      ov::InferRequest request = acquire(graph);
      for (const auto& [name, value] : inputs) request.set_tensor(name, value);
      request.infer();
      for (const Output& output : outputs) {
        const ov::Tensor result = request.get_tensor(output.name);
        if (result.get_element_type() != ov::element::f32 || result.get_size() != output.count)
          throw Error(Status::backend, std::string("the ") + what + " output '" + output.name + "' has " +
                                           std::to_string(result.get_size()) + " values, expected " +
                                           std::to_string(output.count) + "; re-export the package");
        std::copy_n(result.data<const float>(), output.count, output.data);
      }
      release(graph, std::move(request));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& exc) {
      throw Error(Status::backend, std::string("OpenVINO failed to run the ") + what + " graph: " + first_line(exc.what()));
    }
  }

  const Package& package_;
  ov::Core core_;
  mutable ov::CompiledModel encoder_, generator_;  // create_infer_request is thread-safe but not const
  std::string precision_, device_;
  mutable std::mutex mutex_;
  mutable std::map<Graph, std::vector<ov::InferRequest>> idle_;
};

}  // namespace

std::unique_ptr<Backend> make_openvino_backend(const Package& package, const Options& options) {
  return std::make_unique<OpenVinoBackend>(package, options);
}

}  // namespace sean
