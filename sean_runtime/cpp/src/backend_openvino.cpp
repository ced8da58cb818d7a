// OpenVINO backend: the package's ONNX graphs compiled by OpenVINO, with the same properties as the
// Python backend (sean_runtime/backends/openvino.py), so that both give the same floats.
#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include <signal.h>

#include <openvino/openvino.hpp>

#include "backend.hpp"
#include "core.hpp"
#include "openvino_rewrites.hpp"

namespace sean::core {
namespace {

// The calling thread's signal stack (sigaltstack) as it was when this was made, put back when it is destroyed.
// OpenVINO's CPU plugin replaces the signal stack of the thread that makes it with one of its own, which it
// unmaps when it is destroyed, putting back the stack it found only if its own is still in place. Plugins
// destroyed in another order than they were made, or on another thread, left a thread on an unmapped stack,
// and the next signal handled there (a host such as Python runs its handlers on the signal stack) killed the
// process with SIGSEGV. With the thread's own stack put back at once, the plugin's is never in use, and
// destroying it harms nothing. As in Python (sean_runtime/backends/openvino.py, new_core).
class SignalStackKept {
 public:
  SignalStackKept() { kept_ = sigaltstack(nullptr, &before_) == 0; }
  ~SignalStackKept() {
    stack_t now{};
    if (kept_ && sigaltstack(nullptr, &now) == 0 && now.ss_sp != before_.ss_sp) {
      before_.ss_flags &= SS_DISABLE;  // "no stack", or a stack to use (not "in use now")
      sigaltstack(&before_, nullptr);
    }
  }
  SignalStackKept(const SignalStackKept&) = delete;
  SignalStackKept& operator=(const SignalStackKept&) = delete;

 private:
  stack_t before_{};
  bool kept_ = false;
};

class OpenVinoBackend final : public Backend {
 public:
  OpenVinoBackend(const Package& package, const Options& options) : package_(package) {
    precision_ = checked_precision_hint(options.precision);
    if (options.threads < 0) throw Error(Status::argument, "threads must be >= 0 (0: OpenVINO's default)");
    const SignalStackKept kept;  // the plugins are made below
    try {
      const std::vector<std::string> devices = core_.get_available_devices();
      if (std::find(devices.begin(), devices.end(), options.device) == devices.end()) {
        std::string list;
        for (const auto& d : devices) list += (list.empty() ? "" : ", ") + d;
        throw Error(Status::backend, "OpenVINO reports no " + options.device + " device (devices: " + list + ")");
      }
      one_image_ = precision_ != "f32";
      ov::AnyMap config{{"INFERENCE_PRECISION_HINT", precision_}, {"PERFORMANCE_HINT", "LATENCY"}};
      if (options.device == "CPU") {
        // Threads not pinned to cores, as in Python (sean_runtime/backends/openvino.py): where other processes
        // share the cores, a pinned thread waits for its busy core instead of moving; results are the same.
        config["ENABLE_CPU_PINNING"] = false;
        if (options.threads > 0) config["INFERENCE_NUM_THREADS"] = options.threads;
      }
      encoder_ = compile(package.encoder, options.device, config);
      generator_ = compile(package.generator, options.device, config);
      const std::string version = ov::get_openvino_version().buildNumber;
      const std::string executes = generator_.get_property("INFERENCE_PRECISION_HINT").as<std::string>();
      device_ = "OpenVINO " + version.substr(0, version.find('-')) + " " + options.device +
                " (" + core_.get_property(options.device, ov::device::full_name) + "), executes " + executes;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& exc) {
      throw Error(Status::backend, std::string("OpenVINO failed to start: ") + reason(exc.what()));
    }
  }

  std::string name() const override { return "openvino"; }
  std::string device() const override { return device_; }
  size_t max_batch() const override { return 0; }

  void encode(size_t batch, const float* image, const int32_t* labels, const float* extra, float* codes,
              float* area) const override {
    const size_t H = package_.height, W = package_.width, E = size_t(package_.extra_channels);
    const size_t K = size_t(package_.num_classes()), S = size_t(package_.style_dim);
    in_runs(batch, [&](size_t first, size_t n) {
      std::vector<std::pair<std::string, ov::Tensor>> inputs{
          {"image", tensor(ov::element::f32, {n, 3, H, W}, image + first * 3 * H * W)},
          {"labels", tensor(ov::element::i32, {n, H, W}, labels + first * H * W)}};
      if (package_.encoder.takes("extra"))
        inputs.emplace_back("extra", tensor(ov::element::f32, {n, E, H, W}, extra + first * E * H * W));
      run(Graph::encoder, inputs, {{"codes", codes + first * K * S, n * K * S}, {"area", area + first * K, n * K}});
    });
  }

  void generate(size_t batch, const int32_t* labels, const float* codes, const float* noise, const float* extra,
                float* image) const override {
    const size_t H = package_.height, W = package_.width, E = size_t(package_.extra_channels);
    const size_t K = size_t(package_.num_classes()), S = size_t(package_.style_dim), N = size_t(package_.noise_numel);
    in_runs(batch, [&](size_t first, size_t n) {
      std::vector<std::pair<std::string, ov::Tensor>> inputs{
          {"labels", tensor(ov::element::i32, {n, H, W}, labels + first * H * W)},
          {"codes", tensor(ov::element::f32, {n, K, S}, codes + first * K * S)},
          {"noise", tensor(ov::element::f32, {n, N}, noise + first * N)}};
      if (package_.generator.takes("extra"))
        inputs.emplace_back("extra", tensor(ov::element::f32, {n, E, H, W}, extra + first * E * H * W));
      run(Graph::generator, inputs, {{"image", image + first * 3 * H * W, n * 3 * H * W}});
    });
  }

 private:
  enum class Graph { encoder, generator };

  // Images [first, first + n) of a batch per call of run_images: the whole batch at once, or, with a
  // reduced-precision hint, one image at a time (the graphs are compiled for one image then, as in Python).
  template <typename RunImages>
  void in_runs(size_t batch, RunImages run_images) const {
    if (!one_image_) return run_images(0, batch);
    for (size_t i = 0; i < batch; ++i) run_images(i, 1);
  }
  struct Output {
    std::string name;
    float* data;
    size_t count;
  };

  ov::CompiledModel compile(const GraphSpec& graph, const std::string& device, const ov::AnyMap& config) {
    ov::CompiledModel compiled;
    try {
      const std::shared_ptr<ov::Model> model = core_.read_model(graph.file.string());
      check_declared_shapes(graph, *model);
      if (one_image_) {
        // With a reduced-precision hint the CPU plugin runs a static batch of one faster than the dynamic
        // axis, and a batch's images are then its single images exactly (fix_batch_axis in Python).
        std::map<std::string, ov::PartialShape> shapes;
        for (const auto& port : model->inputs()) {
          ov::PartialShape shape = port.get_partial_shape();
          shape[0] = 1;
          shapes[port.get_any_name()] = shape;
        }
        model->reshape(shapes);
      }
      sum_gathered_rows_as_bags(model);
      compiled = core_.compile_model(model, device, config);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& exc) {
      throw Error(Status::backend, "OpenVINO cannot load " + graph.file.filename().string() + ": " +
                                       reason(exc.what()) + "; re-export the package with `sean export`");
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

  // Every size in the manifest must be what the graph itself declares (the batch axis aside), so that no
  // buffer is sized by the manifest alone (a noise numel of 2^30 would be 4 GB per image).
  static void check_declared_shapes(const GraphSpec& graph, const ov::Model& model) {
    auto check = [&](const std::vector<ov::Output<const ov::Node>>& ports, const std::vector<TensorSpec>& specs) {
      for (const auto& port : ports)
        for (const TensorSpec& t : specs) {
          if (!port.get_names().count(t.name)) continue;
          const ov::PartialShape& shape = port.get_partial_shape();
          bool same = shape.rank().is_static() && shape.rank().get_length() == static_cast<int64_t>(t.shape.size());
          for (size_t d = 0; same && d < t.shape.size(); ++d)
            same = t.shape[d] < 0 || (shape[d].is_static() && shape[d].get_length() == t.shape[d]);
          if (!same)
            throw Error(Status::package, graph.file.filename().string() + " declares '" + t.name + "' as " +
                                             shape.to_string() + ", other than the manifest's sizes; the manifest "
                                             "does not belong to this graph: re-export the package with `sean export`");
        }
    };
    check(model.inputs(), graph.inputs);
    check(model.outputs(), graph.outputs);
  }

  // OpenVINO's message on one line: its "Exception from <source file>:<line>:" and "Check '...' failed at"
  // location lines dropped, the lines that say what is wrong kept (at most 400 characters).
  static std::string reason(const std::string& text) {
    std::string kept;
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = std::min(text.find('\n', start), text.size());
      std::string line = text.substr(start, end - start);
      start = end + 1;
      line.erase(0, line.find_first_not_of(" \t\r"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line.rfind("Exception from ", 0) == 0 || line.rfind("Check '", 0) == 0) continue;
      kept += (kept.empty() ? "" : " ") + line;
    }
    if (kept.empty()) kept = text.substr(0, text.find('\n'));
    return kept.size() <= 400 ? kept : kept.substr(0, 400) + "...";
  }

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
      throw Error(Status::backend, std::string("OpenVINO failed to run the ") + what + " graph: " + reason(exc.what()));
    }
  }

  const Package& package_;
  ov::Core core_;
  mutable ov::CompiledModel encoder_, generator_;  // create_infer_request is thread-safe but not const
  std::string precision_, device_;
  bool one_image_ = false;  // graphs compiled for one image (a reduced-precision hint)
  mutable std::mutex mutex_;
  mutable std::map<Graph, std::vector<ov::InferRequest>> idle_;
};

}  // namespace

const std::string& checked_precision_hint(const std::string& hint) {
  for (const char* known : {"f32", "bf16", "f16"})
    if (hint == known) return hint;
  throw Error(Status::argument, "unknown OpenVINO precision hint '" + hint + "'; choose f32, bf16 or f16");
}

std::unique_ptr<Backend> make_openvino_backend(const Package& package, const Options& options) {
  return std::make_unique<OpenVinoBackend>(package, options);
}

}  // namespace sean::core
