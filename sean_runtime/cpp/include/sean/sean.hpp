// SEAN runtime for C++: open an exported package, encode per-region styles, edit them, synthesize.
//
//   sean::Model model = sean::Model::open("packages/shapes");
//   sean::Styles styles = model.encode_files("a.png", "a_label.png");
//   std::vector<uint8_t> rgb = model.synthesize(model.read_labels("b_label.png"), styles, /*seed=*/0);
//
// Header-only over the C API (sean.h), as ONNX Runtime's C++ API over its C API: every class here is
// compiled into the application, and only C handles, pointers and numbers cross the shared library, so
// one libsean serves programs built with any C++ compiler or standard library. The same package, inputs
// and seed give the same image as the Python runtime (sean_runtime). Arrays are row-major at the
// package resolution H x W: images uint8 RGB [B, H, W, 3], label maps int32 class ids [B, H, W], extra
// mask channels float32 [B, E, H, W]. Every error is a sean::Error with a status and a one-line message
// that says what to do. One Model serves concurrent calls from several threads; destroy it only when
// none is running. Styles do not refer to the Model that encoded them and may outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sean/sean.h"

namespace sean {

// The values of sean_status.
enum class Status : int { ok = 0, argument = 1, package = 2, input = 3, backend = 4, internal = 5 };

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

namespace detail {

inline void check(sean_status status) {
  if (status != SEAN_OK) throw Error(static_cast<Status>(status), sean_last_error());
}

struct StylesFree {
  void operator()(sean_styles* styles) const { sean_styles_free(styles); }
};
struct ModelClose {
  void operator()(sean_model* model) const { sean_model_close(model); }
};

// Names as the C API takes them: pointers into `names`, which must outlive the call.
inline std::vector<const char*> c_names(const std::vector<std::string>& names) {
  std::vector<const char*> pointers;
  for (const std::string& name : names) pointers.push_back(name.c_str());
  return pointers;
}

}  // namespace detail

class Styles;

// What to use where an edit needs a class that the reference image lacks (as Python's `fallback`).
struct Fallback {
  enum class Kind { own = SEAN_FALLBACK_OWN, error = SEAN_FALLBACK_ERROR, styles = SEAN_FALLBACK_STYLES };
  Kind kind = Kind::own;                // own: keep the edited image's code; error: throw naming the class
  std::shared_ptr<const Styles> from;  // Kind::styles: take the code from these (batch 1 or B)

  static Fallback own() { return {}; }
  static Fallback error() { return {Kind::error, nullptr}; }
  static Fallback styles(const Styles& fallback);
};

// Per-class style codes [B, K, S] and presence flags [B, K] (a class with no pixels on the encoder's
// grid has an all-zero code and is absent). Edits return new Styles; a Styles never changes, so copies
// share one handle.
class Styles {
 public:
  explicit Styles(sean_styles* handle) : handle_(handle, detail::StylesFree()) {
    if (!handle) throw Error(Status::argument, "sean::Styles needs a handle");
    detail::check(sean_styles_shape(handle, &num_classes_, &style_dim_));
  }

  size_t batch() const { return sean_styles_batch(handle_.get()); }
  int num_classes() const { return num_classes_; }
  int style_dim() const { return style_dim_; }
  std::vector<float> codes() const {
    std::vector<float> codes(batch() * size_t(num_classes_) * size_t(style_dim_));
    detail::check(sean_styles_copy(handle_.get(), codes.data(), nullptr));
    return codes;
  }
  std::vector<uint8_t> present() const {
    std::vector<uint8_t> present(batch() * size_t(num_classes_));
    detail::check(sean_styles_copy(handle_.get(), nullptr, present.data()));
    return present;
  }
  std::vector<std::string> class_names() const {
    std::vector<std::string> names;
    for (int k = 0; k < num_classes_; ++k) names.emplace_back(sean_styles_class_name(handle_.get(), k));
    return names;
  }
  const sean_styles* handle() const { return handle_.get(); }

  Styles image(size_t index) const {  // image `index` as a batch of 1
    sean_styles* out = nullptr;
    detail::check(sean_styles_select(handle_.get(), index, &out));
    return Styles(out);
  }
  static Styles concat(const std::vector<Styles>& items) {
    std::vector<const sean_styles*> handles;
    for (const Styles& item : items) handles.push_back(item.handle());
    sean_styles* out = nullptr;
    detail::check(sean_styles_concat(handles.data(), handles.size(), &out));
    return Styles(out);
  }

  // The codes of `classes` from `other` (batch 1: for every image; batch B: image by image).
  Styles swap(const std::vector<std::string>& classes, const Styles& other, const Fallback& fallback = {}) const {
    const std::vector<const char*> names = detail::c_names(classes);
    sean_styles* out = nullptr;
    detail::check(sean_styles_swap(handle_.get(), names.data(), names.size(), other.handle(), int(fallback.kind),
                                   fallback_handle(fallback), &out));
    return Styles(out);
  }
  // (1 - alpha) own + alpha other for `classes` (empty: all); only classes an image has change.
  Styles interpolate(const Styles& other, float alpha, const std::vector<std::string>& classes = {},
                     const Fallback& fallback = {}) const {
    const std::vector<const char*> names = detail::c_names(classes);
    sean_styles* out = nullptr;
    detail::check(sean_styles_interpolate(handle_.get(), other.handle(), alpha, names.data(), names.size(),
                                          int(fallback.kind), fallback_handle(fallback), &out));
    return Styles(out);
  }
  Styles interpolate(const Styles& other, const std::vector<float>& alpha_per_image,
                     const std::vector<std::string>& classes = {}, const Fallback& fallback = {}) const {
    const std::vector<const char*> names = detail::c_names(classes);
    sean_styles* out = nullptr;
    detail::check(sean_styles_interpolate_each(handle_.get(), other.handle(), alpha_per_image.data(),
                                               alpha_per_image.size(), names.data(), names.size(),
                                               int(fallback.kind), fallback_handle(fallback), &out));
    return Styles(out);
  }
  // Absent classes take the fallback's code where it has one (e.g. mean styles).
  Styles fill_missing(const Styles& fallback, const std::vector<std::string>& classes = {}) const {
    const std::vector<const char*> names = detail::c_names(classes);
    sean_styles* out = nullptr;
    detail::check(sean_styles_fill_missing(handle_.get(), fallback.handle(), names.data(), names.size(), &out));
    return Styles(out);
  }
  // Per-class mean over the images where the class is present -> batch 1.
  Styles mean() const {
    sean_styles* out = nullptr;
    detail::check(sean_styles_mean(handle_.get(), &out));
    return Styles(out);
  }

 private:
  static const sean_styles* fallback_handle(const Fallback& fallback) {
    return fallback.from ? fallback.from->handle() : nullptr;
  }

  std::shared_ptr<sean_styles> handle_;
  int num_classes_ = 0, style_dim_ = 0;
};

inline Fallback Fallback::styles(const Styles& fallback) {
  return {Kind::styles, std::make_shared<const Styles>(fallback)};
}

struct Options {
  std::string backend = "auto";   // "auto" (TensorRT plans if usable here, else OpenVINO), "openvino", "tensorrt"
  std::string device = "CPU";     // OpenVINO device: "CPU", "GPU" (Intel GPUs), ...
  std::string precision = "f32";  // OpenVINO INFERENCE_PRECISION_HINT: "f32", "bf16", "f16" (these two: auto = OpenVINO)
  int threads = 0;                // OpenVINO CPU threads (0: OpenVINO's default, all cores)
  int gpu = 0;                    // CUDA device of the TensorRT backend
  bool verify = true;             // check every package file against the manifest's sha256
};

struct ModelInfo {
  int height = 0, width = 0, num_classes = 0, style_dim = 0, extra_channels = 0, format_version = 0;
  size_t max_batch = 0;  // largest batch one backend call takes (0: no limit); bigger calls are split
  std::string backend, device, description;
  std::vector<std::string> notes;  // backends passed over, and why
};

class Model {
 public:
  static Model open(const std::string& package_dir, const Options& options = {}) {
    sean_options o;
    sean_options_init(&o);
    o.backend = options.backend.c_str();
    o.device = options.device.c_str();
    o.precision = options.precision.c_str();
    o.threads = options.threads;
    o.gpu = options.gpu;
    o.verify = options.verify ? 1 : 0;
    sean_model* model = nullptr;
    detail::check(sean_model_open(package_dir.c_str(), &o, &model));
    return Model(model);
  }

  const ModelInfo& info() const { return info_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  std::string describe() const { return info_.description; }  // one line: backend, device, package
  const sean_model* handle() const { return handle_.get(); }

  // Files -> arrays at the package resolution: label maps (class-id PNGs of 8 or 16 bits, or colour
  // masks through the manifest's palette) by pixel-centre nearest sampling, images (PNG, JPEG) by
  // bicubic (area when shrinking more than 2x).
  std::vector<int32_t> read_labels(const std::string& path) const {
    std::vector<int32_t> labels(pixels());
    detail::check(sean_read_labels(handle_.get(), path.c_str(), labels.data()));
    return labels;
  }
  std::vector<uint8_t> read_image(const std::string& path) const {
    std::vector<uint8_t> rgb(pixels() * 3);
    detail::check(sean_read_image(handle_.get(), path.c_str(), rgb.data()));
    return rgb;
  }

  // images [B, H, W, 3] with their label maps [B, H, W] -> Styles [B, K, S].
  Styles encode(const std::vector<uint8_t>& images, const std::vector<int32_t>& labels,
                const std::vector<float>& extra = {}) const {
    const size_t batch = batch_of(labels, "encode");
    if (images.size() != batch * pixels() * 3)
      throw Error(Status::input, "encode takes images [B, H, W, 3] for the " + std::to_string(batch) +
                                     " label map(s); got " + std::to_string(images.size()) + " values");
    check_extra(extra, batch);
    sean_styles* out = nullptr;
    detail::check(sean_encode(handle_.get(), batch, info_.height, info_.width, images.data(), labels.data(),
                              extra.empty() ? nullptr : extra.data(), &out));
    return Styles(out);
  }
  Styles encode_files(const std::string& image, const std::string& label) const {
    sean_styles* out = nullptr;
    detail::check(sean_encode_files(handle_.get(), image.c_str(), label.c_str(), &out));
    return Styles(out);
  }

  // label maps [B, H, W] + styles (batch 1 for all, or B) -> uint8 RGB [B, H, W, 3]; image i uses
  // noise seed `seed + i`; noise=false renders the noise-free image.
  std::vector<uint8_t> synthesize(const std::vector<int32_t>& labels, const Styles& styles, uint64_t seed = 0,
                                  bool noise = true, const std::vector<float>& extra = {}) const {
    const size_t batch = batch_of(labels, "synthesize");
    check_extra(extra, batch);
    std::vector<uint8_t> out(batch * pixels() * 3);
    detail::check(sean_synthesize(handle_.get(), batch, info_.height, info_.width, labels.data(), styles.handle(), seed,
                                  noise ? 1 : 0, extra.empty() ? nullptr : extra.data(), out.data()));
    return out;
  }

 private:
  explicit Model(sean_model* model) : handle_(model, detail::ModelClose()) {
    sean_model_info i{};
    i.struct_size = sizeof i;
    detail::check(sean_model_info_get(model, &i));
    info_ = {i.height, i.width, i.num_classes, i.style_dim, i.extra_channels, i.format_version, i.max_batch,
             i.backend, i.device, i.description, {}};
    for (size_t n = 0; n < i.note_count; ++n) info_.notes.emplace_back(sean_model_note(model, n));
    for (int k = 0; k < i.num_classes; ++k) class_names_.emplace_back(sean_model_class_name(model, k));
  }

  size_t pixels() const { return size_t(info_.height) * size_t(info_.width); }

  size_t batch_of(const std::vector<int32_t>& labels, const char* call) const {
    const size_t batch = labels.size() / pixels();
    if (batch == 0 || labels.size() != batch * pixels())
      throw Error(Status::input, std::string(call) + " takes label maps [B, " + std::to_string(info_.height) + "x" +
                                     std::to_string(info_.width) + "] at the package resolution; got " +
                                     std::to_string(labels.size()) + " values (resize with sean::resize_labels)");
    return batch;
  }

  void check_extra(const std::vector<float>& extra, size_t batch) const {
    const size_t expected = info_.extra_channels ? batch * size_t(info_.extra_channels) * pixels() : 0;
    if (extra.size() != expected)
      throw Error(Status::input, "this package takes " + std::to_string(info_.extra_channels) +
                                     " extra mask channel(s) [B, E, H, W]; got " + std::to_string(extra.size()) +
                                     " values");
  }

  std::unique_ptr<sean_model, detail::ModelClose> handle_;
  ModelInfo info_;
  std::vector<std::string> class_names_;
};

// Resizing as the model's inputs are resized (exposed for callers that prepare arrays themselves).
inline std::vector<int32_t> resize_labels(const std::vector<int32_t>& ids, int height, int width, int out_height,
                                          int out_width) {
  if (height < 1 || width < 1 || ids.size() != size_t(height) * size_t(width))
    throw Error(Status::argument, "resize_labels: ids must hold height x width values and all sizes be >= 1");
  std::vector<int32_t> out(size_t(out_height > 0 ? out_height : 0) * size_t(out_width > 0 ? out_width : 0));
  detail::check(sean_resize_labels(ids.data(), height, width, out.data(), out_height, out_width));
  return out;
}
inline std::vector<uint8_t> resize_image(const std::vector<uint8_t>& rgb, int height, int width, int out_height,
                                         int out_width) {
  if (height < 1 || width < 1 || rgb.size() != size_t(height) * size_t(width) * 3)
    throw Error(Status::argument, "resize_image: rgb must hold height x width x 3 values and all sizes be >= 1");
  std::vector<uint8_t> out(size_t(out_height > 0 ? out_height : 0) * size_t(out_width > 0 ? out_width : 0) * 3);
  detail::check(sean_resize_image(rgb.data(), height, width, out.data(), out_height, out_width));
  return out;
}
// uint8 RGB [H, W, 3] -> PNG file, written atomically (a temporary file renamed into place).
inline void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int height, int width) {
  if (height < 1 || width < 1 || rgb.size() != size_t(height) * size_t(width) * 3)
    throw Error(Status::argument, "write_png: rgb must hold height x width x 3 values");
  detail::check(sean_write_png(path.c_str(), rgb.data(), height, width));
}

}  // namespace sean
