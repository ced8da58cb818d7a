// sean::Model: the C++ twin of sean_runtime.Synthesizer (same inputs, same checks, same images).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "backend.hpp"
#include "image_io.hpp"
#include "noise.hpp"
#include "package.hpp"
#include "resize.hpp"
#include "core.hpp"

namespace sean::core {

struct Model::Impl {
  Package package;
  std::unique_ptr<Backend> backend;
  ModelInfo info;
  std::map<uint32_t, int32_t> palette;  // 0xRRGGBB -> class id (the lower id where colours repeat)

  size_t pixels() const { return static_cast<size_t>(package.height) * package.width; }

  // What a colour mask (RGB [count, 3]) that the palette refuses seems to be, for its message: class ids in
  // all three channels (only where every value is a class id), or the palette's colours in BGR order; ""
  // otherwise. The rule and the text of Python's Domain.colour_mask_hint (GREY_IDS_HINT, BGR_HINT in
  // sean_core/domains/base.py); tests/test_cpp_hostile_inputs.py holds the messages equal.
  std::string colour_mask_hint(const uint8_t* rgb, size_t count) const {
    bool grey = count > 0;
    uint8_t highest = 0;
    for (size_t i = 0; grey && i < count; ++i) {
      const uint8_t* c = &rgb[i * 3];
      grey = c[0] == c[1] && c[1] == c[2];
      highest = std::max(highest, c[0]);
    }
    if (grey) {
      return highest < package.num_classes()
                 ? "; it looks like class ids saved as RGB (its three channels are equal): read it as one channel "
                   "(cv2.IMREAD_GRAYSCALE, or [..., 0]) and pass that, or save it as a single-channel PNG"
                 : "";
    }
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* c = &rgb[i * 3];
      if (!palette.count((uint32_t(c[2]) << 16) | (uint32_t(c[1]) << 8) | c[0])) return "";
    }
    return "; it looks like BGR (OpenCV's channel order: every colour is the palette's with its channels "
           "reversed): convert it to RGB with [..., ::-1]";
  }

  // `batch` label maps of `per_map` ids each (the package's H x W, or a file's own size before resizing).
  void check_ids(const int32_t* ids, size_t batch, size_t per_map) const {
    const int32_t K = package.num_classes();
    for (size_t b = 0; b < batch; ++b) {
      std::set<int32_t> bad;
      for (size_t i = 0; i < per_map && bad.size() < 10; ++i) {
        const int32_t v = ids[b * per_map + i];
        if (v < 0 || v >= K) bad.insert(v);
      }
      if (!bad.empty()) {
        std::string values;
        for (int32_t v : bad) values += (values.empty() ? "" : ", ") + std::to_string(v);
        throw Error(Status::input, "label map #" + std::to_string(b) + ": values [" + values + "] are outside the " +
                                       std::to_string(K) + " classes of domain '" + package.domain + "' (valid ids 0.." +
                                       std::to_string(K - 1) + ")");
      }
    }
  }

  void check_styles(const Styles& styles, size_t batch) const {
    if (styles.class_names() != package.class_names || styles.style_dim() != package.style_dim)
      throw Error(Status::input, "these styles have " + std::to_string(styles.num_classes()) + " classes x " +
                                     std::to_string(styles.style_dim()) + " values but the package has " +
                                     std::to_string(package.num_classes()) + " x " + std::to_string(package.style_dim) +
                                     " (or other class names); encode them with this package");
    if (styles.batch() != batch && styles.batch() != 1)
      throw Error(Status::input, "styles of " + std::to_string(styles.batch()) + " images for " + std::to_string(batch) +
                                     " label map(s): pass styles of 1 image (used for all) or one per label map");
  }

  // Chunks of at most max_batch images (0: one chunk), as sean_runtime.backends.batch_slices.
  template <typename Run>
  void per_chunk(size_t batch, Run run) const {
    const size_t step = backend->max_batch() ? backend->max_batch() : batch;
    for (size_t start = 0; start < batch; start += step) run(start, std::min(step, batch - start));
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::open(const std::string& package_dir, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->package = load_package(package_dir, options.verify);
  const Package& p = impl->package;
  std::vector<std::string> notes;
  // bf16 / f16 are OpenVINO's precision hints: with "auto" they choose OpenVINO, as in Python.
  const bool reduced_precision = checked_precision_hint(options.precision) != "f32";
  if (reduced_precision && options.backend == "tensorrt")
    throw Error(Status::argument, "precision " + options.precision + " is an OpenVINO precision hint: choose backend "
                                  "'openvino' (or 'auto') with it; tensorrt runs the package's own " + p.precision);
  if (options.backend == "openvino") {
    impl->backend = make_openvino_backend(p, options);
  } else if (options.backend == "auto" && reduced_precision) {
    notes.push_back("OpenVINO chosen: precision " + options.precision + " is an OpenVINO precision hint");
    impl->backend = make_openvino_backend(p, options);
  } else if (options.backend == "tensorrt") {
    impl->backend = make_tensorrt_backend(p, options);
  } else if (options.backend == "auto") {
    // The rule of both runtimes: TensorRT plans when usable here, else the runtime's CPU backend
    // (Python: ONNX Runtime; here OpenVINO, as ONNX Runtime ships no C/C++ headers we can build against).
    const std::string problem = tensorrt_problem(p, options.gpu);
    if (problem.empty()) {
      impl->backend = make_tensorrt_backend(p, options);
    } else {
      notes.push_back("TensorRT not used: " + problem);
      impl->backend = make_openvino_backend(p, options);
    }
  } else if (options.backend == "onnxruntime") {
    throw Error(Status::argument, "the C++ runtime has no ONNX Runtime backend; use auto (TensorRT plans when usable, "
                                  "else OpenVINO) or openvino, whose images are within one level of ONNX Runtime's");
  } else {
    throw Error(Status::argument, "unknown backend '" + options.backend + "'; choose one of auto, openvino, tensorrt");
  }
  impl->info = {p.height,       p.width, p.num_classes(), p.style_dim, p.extra_channels, p.format_version,
                impl->backend->max_batch(), impl->backend->name(), impl->backend->device(), p.root.string(),
                p.domain,       p.precision, notes};
  for (size_t k = p.palette.size(); k-- > 0;)  // descending, so the lower id wins a shared colour
    impl->palette[(uint32_t(p.palette[k][0]) << 16) | (uint32_t(p.palette[k][1]) << 8) | p.palette[k][2]] =
        static_cast<int32_t>(k);
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const { return impl_->info; }
const std::vector<std::string>& Model::class_names() const { return impl_->package.class_names; }

std::string Model::describe() const {
  const ModelInfo& i = impl_->info;
  return i.backend + " (" + i.device + "); package " + i.package + " [" + (i.domain.empty() ? "no domain" : i.domain) +
         ", " + std::to_string(i.width) + "x" + std::to_string(i.height) + ", " + std::to_string(i.num_classes) +
         " classes, " + i.precision + "]";
}

std::vector<int32_t> Model::read_labels(const std::string& path) const {
  const Package& p = impl_->package;
  LabelFile file = read_label_file(path);
  const size_t count = static_cast<size_t>(file.height) * file.width;
  std::vector<int32_t> ids = std::move(file.ids);
  // An indexed-colour PNG whose indices may be the class ids: the message of the Python runtime
  // (Domain.labels_from_bytes), which reads it by its palette's colours too.
  auto indexed_error = [&](const std::string& which) {
    return Error(Status::input, path + " is an indexed-colour (palette) PNG, which is read by its palette's colours, "
                                       "not by its indices, and " + which + "; if its indices are the class ids, "
                                       "save them as a single-channel PNG (e.g. with Pillow: "
                                       "Image.fromarray(numpy.asarray(Image.open(src))).save(dst))");
  };
  if (file.colour) {
    if (impl_->palette.empty() && file.indexed)
      throw indexed_error("there is no palette of domain '" + p.domain + "' to read them with");
    if (impl_->palette.empty())
      throw Error(Status::input, path + ": a colour mask needs the palette of domain '" + p.domain +
                                     "', which this package does not carry; pass a single-channel class-id PNG instead");
    ids.resize(count);
    std::set<uint32_t> unknown;
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* c = &file.rgb[i * 3];
      const uint32_t key = (uint32_t(c[0]) << 16) | (uint32_t(c[1]) << 8) | c[2];
      const auto it = impl_->palette.find(key);
      if (it == impl_->palette.end()) {
        unknown.insert(key);  // the five lowest, as Python names them (Domain.unknown_colours)
        if (unknown.size() > 5) unknown.erase(std::prev(unknown.end()));
        continue;
      }
      ids[i] = it->second;
    }
    std::string colours;
    for (uint32_t k : unknown)
      colours += (colours.empty() ? "(" : ", (") + std::to_string(k >> 16) + ", " + std::to_string((k >> 8) & 255) +
                 ", " + std::to_string(k & 255) + ")";
    if (!unknown.empty() && file.indexed)
      throw indexed_error("its colours [" + colours + "] are not in the palette of domain '" + p.domain + "'");
    if (!unknown.empty()) {
      throw Error(Status::input, path + ": colours [" + colours + "] are not in the palette of domain '" + p.domain +
                                     "'; draw masks with the domain's palette (or pass an id map)" +
                                     impl_->colour_mask_hint(file.rgb.data(), count));
    }
  }
  try {
    impl_->check_ids(ids.data(), 1, count);  // over the file's own pixels
  } catch (const Error& error) {
    std::string message = error.what();
    throw Error(Status::input, path + message.substr(message.find(':')));  // the file instead of "label map #0"
  }
  if (file.height == p.height && file.width == p.width) return ids;
  return resize_label_map(ids.data(), file.height, file.width, p.height, p.width);
}

std::vector<uint8_t> Model::read_image(const std::string& path) const {
  const RgbImage image = read_rgb_file(path);
  return resize_rgb(image.rgb.data(), image.height, image.width, impl_->package.height, impl_->package.width);
}

Styles Model::encode_files(const std::string& image, const std::string& label) const {
  // Before resizing, the label map must have its image's aspect ratio. The C++ runtime does not know the
  // domain, so it takes the rule check_pairs (sean_runtime/inputs.py) applies to domains that store labels
  // at another scale, such as CelebAMask-HQ: equal sizes always pass.
  const RgbImage rgb = read_rgb_file(image);
  const LabelFile probe = read_label_file(label);
  if (int64_t(rgb.height) * probe.width != int64_t(rgb.width) * probe.height) {
    // A photo turned by its EXIF orientation: both sizes, as check_pairs says them (the file stores width x height).
    std::string size = std::to_string(rgb.width) + "x" + std::to_string(rgb.height);
    std::string fix = "resize one to match (labels with nearest neighbour)";
    if (rgb.turned) {
      size += " after its EXIF orientation (stored " + std::to_string(rgb.height) + "x" + std::to_string(rgb.width) + ")";
      if (int64_t(rgb.width) * probe.width == int64_t(rgb.height) * probe.height)
        fix = "turn the label map as the orientation turns the image, or remove the image's Orientation tag";
    }
    throw Error(Status::input, "image " + image + " is " + size + " but its label map " + label + " is " +
                                   std::to_string(probe.width) + "x" + std::to_string(probe.height) +
                                   " (width x height): a label map must have the same aspect ratio as its image; " + fix);
  }
  const Package& p = impl_->package;
  return encode(resize_rgb(rgb.rgb.data(), rgb.height, rgb.width, p.height, p.width), read_labels(label));
}

Styles Model::encode(const std::vector<uint8_t>& images, const std::vector<int32_t>& labels,
                     const std::vector<float>& extra) const {
  const size_t pixels = impl_->pixels();
  const size_t batch = labels.size() / pixels;
  const std::string size = std::to_string(impl_->package.height) + "x" + std::to_string(impl_->package.width);
  if (batch == 0 || labels.size() != batch * pixels || images.size() != batch * pixels * 3)
    throw Error(Status::input, "encode takes label maps [B, " + size + "] and images [B, " + size +
                                   ", 3] of the same B >= 1 at the package resolution; got " +
                                   std::to_string(labels.size()) + " label and " + std::to_string(images.size()) +
                                   " image values (resize with sean::resize_labels / resize_image)");
  const size_t channels = impl_->package.encoder.takes("extra") ? impl_->package.extra_channels : 0;
  if (channels && extra.size() != batch * channels * pixels)
    throw Error(Status::input, "this package's encoder takes " + std::to_string(channels) +
                                   " extra mask channel(s) [B, E, H, W]; got " + std::to_string(extra.size()) + " values");
  return encode(batch, images.data(), labels.data(), channels ? extra.data() : nullptr);
}

Styles Model::encode(size_t batch, const uint8_t* images, const int32_t* labels, const float* extra) const {
  const Package& p = impl_->package;
  if (batch == 0 || !images || !labels) throw Error(Status::argument, "encode needs a batch >= 1, images and label maps");
  if (p.encoder.takes("extra") && !extra)
    throw Error(Status::input, "this package takes " + std::to_string(p.extra_channels) +
                                   " extra mask channel(s) (e.g. instance edges) [B, E, H, W] float32; pass zeros for none");
  if (!p.encoder.takes("extra") && extra)  // as synthesize: a buffer that would be ignored is a caller's mistake
    throw Error(Status::input, "this package's encoder takes no extra mask channels; pass none");
  impl_->check_ids(labels, batch, impl_->pixels());
  const size_t pixels = impl_->pixels(), K = p.num_classes(), S = p.style_dim, E = p.extra_channels;
  // uint8 [B, H, W, 3] -> float32 [B, 3, H, W] in [-1, 1], computed as numpy does: x / 127.5 - 1.
  std::vector<float> image(batch * 3 * pixels);
  for (size_t b = 0; b < batch; ++b)
    for (size_t i = 0; i < pixels; ++i)
      for (size_t c = 0; c < 3; ++c)
        image[(b * 3 + c) * pixels + i] = static_cast<float>(images[(b * pixels + i) * 3 + c]) / 127.5f - 1.0f;
  std::vector<float> codes(batch * K * S), area(batch * K);
  impl_->per_chunk(batch, [&](size_t start, size_t n) {
    impl_->backend->encode(n, &image[start * 3 * pixels], labels + start * pixels,
                           p.encoder.takes("extra") ? extra + start * E * pixels : nullptr, &codes[start * K * S],
                           &area[start * K]);
  });
  std::vector<uint8_t> present(batch * K);
  for (size_t i = 0; i < present.size(); ++i) present[i] = area[i] > 0;
  return Styles(std::move(codes), std::move(present), p.class_names, p.style_dim);
}

void Model::synthesize(size_t batch, const int32_t* labels, const Styles& styles, uint64_t seed, bool noise,
                       const float* extra, uint8_t* out) const {
  const Package& p = impl_->package;
  if (batch == 0 || !labels || !out) throw Error(Status::argument, "synthesize needs a batch >= 1, label maps and an output buffer");
  if (p.extra_channels && !extra)
    throw Error(Status::input, "this package takes " + std::to_string(p.extra_channels) +
                                   " extra mask channel(s) (e.g. instance edges) [B, E, H, W] float32; pass zeros for none");
  if (!p.extra_channels && extra)
    throw Error(Status::input, "this package takes no extra mask channels; pass none");
  if (noise && p.format_version < 2)
    throw Error(Status::input, "this package has format " + std::to_string(p.format_version) +
                                   ", whose noise only numpy can draw; re-export it with `sean export` (format 2) or "
                                   "render without noise");
  if (noise && seed > UINT64_MAX - (batch - 1))
    throw Error(Status::input, "seed + image index must stay below 2^64");
  impl_->check_styles(styles, batch);
  impl_->check_ids(labels, batch, impl_->pixels());
  const size_t pixels = impl_->pixels(), K = p.num_classes(), S = p.style_dim, E = p.extra_channels;
  const size_t N = static_cast<size_t>(p.noise_numel);
  std::vector<float> codes(batch * K * S);
  for (size_t b = 0; b < batch; ++b)
    std::copy_n(&styles.codes()[(styles.batch() == 1 ? 0 : b) * K * S], K * S, &codes[b * K * S]);
  impl_->per_chunk(batch, [&](size_t start, size_t n) {
    std::vector<float> z(n * N, 0.0f), image(n * 3 * pixels);
    if (noise)
      for (size_t i = 0; i < n; ++i) philox_normals(seed + start + i, &z[i * N], N);  // image i: seed + i
    impl_->backend->generate(n, labels + start * pixels, &codes[start * K * S], z.data(),
                             E ? extra + start * E * pixels : nullptr, image.data());
    // [n, 3, H, W] in [-1, 1] -> uint8 [n, H, W, 3]: clip((x + 1) * 127.5) rounded half to even, as numpy.
    for (size_t b = 0; b < n; ++b)
      for (size_t c = 0; c < 3; ++c)
        for (size_t i = 0; i < pixels; ++i) {
          const float v = (image[(b * 3 + c) * pixels + i] + 1.0f) * 127.5f;
          const float clipped = std::isnan(v) ? 0.0f : std::min(std::max(v, 0.0f), 255.0f);
          out[((start + b) * pixels + i) * 3 + c] = static_cast<uint8_t>(std::nearbyint(clipped));
        }
  });
}

std::vector<int32_t> resize_labels(const std::vector<int32_t>& ids, int height, int width, int out_height, int out_width) {
  if (height < 1 || width < 1 || out_height < 1 || out_width < 1 || ids.size() != size_t(height) * width)
    throw Error(Status::argument, "resize_labels: ids must hold height x width values and all sizes be >= 1");
  return resize_label_map(ids.data(), height, width, out_height, out_width);
}

std::vector<uint8_t> resize_image(const std::vector<uint8_t>& rgb, int height, int width, int out_height, int out_width) {
  if (height < 1 || width < 1 || out_height < 1 || out_width < 1 || rgb.size() != size_t(height) * width * 3)
    throw Error(Status::argument, "resize_image: rgb must hold height x width x 3 values and all sizes be >= 1");
  return resize_rgb(rgb.data(), height, width, out_height, out_width);
}

void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int height, int width) {
  if (height < 1 || width < 1 || rgb.size() != size_t(height) * width * 3)
    throw Error(Status::argument, "write_png: rgb must hold height x width x 3 values");
  write_png_file(path, rgb.data(), height, width);
}

}  // namespace sean::core
