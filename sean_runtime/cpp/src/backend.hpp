// An inference backend runs the package's two graphs on host arrays (float32 / int32, the manifest's I/O):
//   encode(image [B,3,H,W], labels [B,H,W], extra [B,E,H,W] | null) -> codes [B,K,S], area [B,K]
//   generate(labels, codes, noise [B,N], extra | null) -> image [B,3,H,W] in [-1, 1]
// Implementations are safe to call from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "package.hpp"

namespace sean::core {

struct Options;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::string device() const = 0;
  virtual size_t max_batch() const = 0;  // 0: no limit
  virtual void encode(size_t batch, const float* image, const int32_t* labels, const float* extra, float* codes,
                      float* area) const = 0;
  virtual void generate(size_t batch, const int32_t* labels, const float* codes, const float* noise,
                        const float* extra, float* image) const = 0;
};

// OpenVINO's INFERENCE_PRECISION_HINT values, as in Python (sean_runtime.backends.PRECISION_HINTS): the hint
// itself, or Error(argument) naming the choices.
const std::string& checked_precision_hint(const std::string& hint);

std::unique_ptr<Backend> make_openvino_backend(const Package& package, const Options& options);

// TensorRT, when this build has it (SEAN_HAVE_TENSORRT): why its plans cannot serve the package here
// (empty: they can), and the backend itself.
bool tensorrt_built();
std::string tensorrt_problem(const Package& package, int gpu);
std::unique_ptr<Backend> make_tensorrt_backend(const Package& package, const Options& options);

}  // namespace sean::core
