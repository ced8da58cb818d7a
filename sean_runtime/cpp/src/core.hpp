// The runtime inside the shared library (namespace sean::core): the C API (c_api.cpp) wraps it, and
// nothing of it crosses the library's boundary. Applications use the C API (include/sean/sean.h) or
// its header-only C++ wrapper (include/sean/sean.hpp).
//
// The same package, inputs and seed give the same image as the Python runtime (sean_runtime). Arrays
// are row-major at the package resolution H x W: images uint8 RGB [B, H, W, 3], label maps int32 class
// ids [B, H, W], extra mask channels float32 [B, E, H, W]. Every error is a core::Error with a status
// and a one-line message that says what to do. One Model serves concurrent calls from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sean::core {

// The values match sean_status in sean.h.
enum class Status : int { ok = 0, argument = 1, package = 2, input = 3, backend = 4, internal = 5 };

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

class Styles;

// What to use where an edit needs a class that the reference image lacks (as Python's `fallback`).
struct Fallback {
  enum class Kind { own, error, styles };
  Kind kind = Kind::own;            // own: keep the edited image's code; error: throw naming the class
  std::shared_ptr<const Styles> from;  // Kind::styles: take the code from these (batch 1 or B)

  static Fallback own() { return {}; }
  static Fallback error() { return {Kind::error, nullptr}; }
  static Fallback styles(const Styles& fallback);
};

// Per-class style codes [B, K, S] and presence flags [B, K] (a class with no pixels on the encoder's
// grid has an all-zero code and is absent). Edits return new Styles; a Styles never changes.
class Styles {
 public:
  Styles(std::vector<float> codes, std::vector<uint8_t> present, std::vector<std::string> class_names,
         int style_dim);

  size_t batch() const { return present_.size() / class_names_.size(); }
  int num_classes() const { return static_cast<int>(class_names_.size()); }
  int style_dim() const { return style_dim_; }
  const std::vector<float>& codes() const { return codes_; }
  const std::vector<uint8_t>& present() const { return present_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  int class_id(const std::string& name) const;  // throws naming the known classes

  Styles image(size_t index) const;  // image `index` as a batch of 1
  static Styles concat(const std::vector<Styles>& items);

  // The codes of `classes` from `other` (batch 1: for every image; batch B: image by image).
  Styles swap(const std::vector<std::string>& classes, const Styles& other, const Fallback& fallback = {}) const;
  // (1 - alpha) own + alpha other for `classes` (empty: all); only classes an image has change.
  Styles interpolate(const Styles& other, float alpha, const std::vector<std::string>& classes = {},
                     const Fallback& fallback = {}) const;
  Styles interpolate(const Styles& other, const std::vector<float>& alpha_per_image,
                     const std::vector<std::string>& classes = {}, const Fallback& fallback = {}) const;
  // Absent classes take the fallback's code where it has one (e.g. mean styles).
  Styles fill_missing(const Styles& fallback, const std::vector<std::string>& classes = {}) const;
  // Per-class mean over the images where the class is present -> batch 1.
  Styles mean() const;

 private:
  std::vector<int> ids(const std::vector<std::string>& classes) const;
  Styles broadcast(const Styles& other, const char* action) const;
  void check_compatible(const Styles& other, const char* action) const;
  void reference(const Styles& other, const std::vector<int>& ids, const Fallback& fallback, const char* action,
                 std::vector<float>& codes, std::vector<uint8_t>& present) const;

  std::vector<float> codes_;
  std::vector<uint8_t> present_;
  std::vector<std::string> class_names_;
  int style_dim_;
};

struct Options {
  std::string backend = "auto";    // "auto" (TensorRT plans if usable, else OpenVINO), "openvino", "tensorrt"
  std::string device = "CPU";      // OpenVINO device: "CPU", "GPU" (Intel GPUs), ...
  std::string precision = "f32";   // OpenVINO INFERENCE_PRECISION_HINT: "f32", "bf16", "f16"
  int threads = 0;                 // OpenVINO CPU threads (0: OpenVINO's default, all cores)
  int gpu = 0;                     // CUDA device of the TensorRT backend
  bool verify = true;              // check every package file against the manifest's sha256
};

struct ModelInfo {
  int height, width, num_classes, style_dim, extra_channels, format_version;
  size_t max_batch;  // largest batch one backend call takes (0: no limit); bigger calls are split
  std::string backend, device, package, domain, precision;
  std::vector<std::string> notes;  // backends passed over, and why
};

class Model {
 public:
  static Model open(const std::string& package_dir, const Options& options = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelInfo& info() const;
  const std::vector<std::string>& class_names() const;
  std::string describe() const;  // one line: backend, device, package

  // Files -> arrays at the package resolution: label maps (class-id PNGs of 8 or 16 bits, or colour
  // masks through the manifest's palette) by pixel-centre nearest sampling, images (PNG, JPEG) by
  // bicubic (area when shrinking more than 2x).
  std::vector<int32_t> read_labels(const std::string& path) const;
  std::vector<uint8_t> read_image(const std::string& path) const;

  // images [B, H, W, 3] with their label maps [B, H, W] -> Styles [B, K, S].
  Styles encode(const std::vector<uint8_t>& images, const std::vector<int32_t>& labels,
                const std::vector<float>& extra = {}) const;
  Styles encode_files(const std::string& image, const std::string& label) const;

  // Pointer forms for the C API: arrays of `batch` items at the package resolution. synthesize: label
  // maps [B, H, W] + styles (batch 1 for all, or B) -> uint8 RGB [B, H, W, 3]; image i uses noise seed
  // `seed + i`; noise=false renders the noise-free image.
  Styles encode(size_t batch, const uint8_t* images, const int32_t* labels, const float* extra) const;
  void synthesize(size_t batch, const int32_t* labels, const Styles& styles, uint64_t seed, bool noise,
                  const float* extra, uint8_t* out) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Resizing as the model's inputs are resized (exposed for callers that prepare arrays themselves).
std::vector<int32_t> resize_labels(const std::vector<int32_t>& ids, int height, int width, int out_height,
                                            int out_width);
std::vector<uint8_t> resize_image(const std::vector<uint8_t>& rgb, int height, int width, int out_height,
                                           int out_width);
// uint8 RGB [H, W, 3] -> PNG file, written atomically (a temporary file renamed into place).
void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int height, int width);

}  // namespace sean::core
