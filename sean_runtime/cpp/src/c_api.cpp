// The C API (include/sean/sean.h) over the C++ API: every call catches everything, so no C++ exception
// crosses into C, and leaves its message in a per-thread string.
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "sean/sean.h"
#include "core.hpp"

struct sean_model {
  sean::core::Model model;
  std::string description;  // Model::describe(), kept for sean_model_info.description
};

struct sean_styles {
  sean::core::Styles styles;
};

namespace {

thread_local std::string last_error;

sean_status fail(sean_status status, const std::string& message) {
  last_error = message;
  return status;
}

// Runs `body`, turning every exception into a status and a message.
template <typename Body>
sean_status guarded(Body body) {
  try {
    body();
    return SEAN_OK;
  } catch (const sean::core::Error& error) {
    return fail(static_cast<sean_status>(error.status()), error.what());
  } catch (const std::bad_alloc&) {
    return fail(SEAN_ERROR_INTERNAL, "out of memory");
  } catch (const std::exception& error) {
    return fail(SEAN_ERROR_INTERNAL, std::string("unexpected error: ") + error.what());
  } catch (...) {
    return fail(SEAN_ERROR_INTERNAL, "unexpected error of unknown type");
  }
}

#define SEAN_REQUIRE(pointer)                                                               \
  do {                                                                                      \
    if (!(pointer)) return fail(SEAN_ERROR_ARGUMENT, std::string(__func__) + ": " #pointer " is NULL"); \
  } while (0)

// An output handle: it must be given, and stays NULL unless the call succeeds.
#define SEAN_REQUIRE_OUT(pointer) \
  SEAN_REQUIRE(pointer);          \
  *(pointer) = nullptr

// Arrays of `batch` items must be at the package resolution: the C API cannot see their size otherwise.
sean_status check_arrays(const sean_model* model, size_t batch, int height, int width, const char* function) {
  if (batch == 0) return fail(SEAN_ERROR_ARGUMENT, std::string(function) + ": batch must be >= 1");
  const sean::core::ModelInfo& info = model->model.info();
  if (height != info.height || width != info.width)
    return fail(SEAN_ERROR_INPUT, std::string(function) + ": arrays are " + std::to_string(width) + "x" +
                                      std::to_string(height) + " (width x height) but this package takes " +
                                      std::to_string(info.width) + "x" + std::to_string(info.height) +
                                      "; resize them with sean_resize_labels / sean_resize_image");
  return SEAN_OK;
}

std::vector<std::string> class_list(const char* const* classes, size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    if (!classes[i]) throw sean::core::Error(sean::core::Status::argument, "class name " + std::to_string(i) + " is NULL");
    names.emplace_back(classes[i]);
  }
  return names;
}

sean::core::Fallback fallback_of(int kind, const sean_styles* styles) {
  switch (kind) {
    case SEAN_FALLBACK_OWN:
      return sean::core::Fallback::own();
    case SEAN_FALLBACK_ERROR:
      return sean::core::Fallback::error();
    case SEAN_FALLBACK_STYLES:
      if (!styles) throw sean::core::Error(sean::core::Status::argument, "SEAN_FALLBACK_STYLES needs fallback_styles");
      return sean::core::Fallback::styles(styles->styles);
  }
  throw sean::core::Error(sean::core::Status::argument, "unknown fallback " + std::to_string(kind) + "; pass a sean_fallback value");
}

sean_status give(sean::core::Styles styles, sean_styles** out) {
  *out = new sean_styles{std::move(styles)};
  return SEAN_OK;
}

bool valid_size(int height, int width) { return height >= 1 && width >= 1 && height <= (1 << 15) && width <= (1 << 15); }

}  // namespace

extern "C" {

uint32_t sean_api_version(void) { return SEAN_API_VERSION; }
const char* sean_version(void) { return SEAN_RELEASE; }
const char* sean_last_error(void) { return last_error.c_str(); }

void sean_options_init(sean_options* options) {
  if (options) *options = sean_options{sizeof(sean_options), "auto", "CPU", "f32", 0, 0, 1};
}

sean_status sean_model_open(const char* package_dir, const sean_options* options, sean_model** model) {
  SEAN_REQUIRE_OUT(model);
  SEAN_REQUIRE(package_dir);
  // API version 1 knows one size of sean_options; a later version will also take the sizes of earlier ones.
  if (options && options->struct_size != sizeof(sean_options)) {
    const std::string fix = options->struct_size > sizeof(sean_options)
                                ? "the options are of a newer API than this library's (" +
                                      std::to_string(SEAN_API_VERSION) + "); upgrade libsean"
                                : "fill the options with sean_options_init first";
    return fail(SEAN_ERROR_ARGUMENT, "sean_model_open: options.struct_size is " + std::to_string(options->struct_size) +
                                         ", not " + std::to_string(sizeof(sean_options)) + ": " + fix);
  }
  return guarded([&] {
    sean::core::Options o;
    if (options) {
      if (options->backend) o.backend = options->backend;
      if (options->device) o.device = options->device;
      if (options->precision) o.precision = options->precision;
      o.threads = options->threads;
      o.gpu = options->gpu;
      o.verify = options->verify != 0;
    }
    auto opened = std::make_unique<sean_model>(sean_model{sean::core::Model::open(package_dir, o), {}});
    opened->description = opened->model.describe();
    *model = opened.release();
  });
}

void sean_model_close(sean_model* model) { delete model; }

sean_status sean_model_info_get(const sean_model* model, sean_model_info* info) {
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(info);
  if (info->struct_size < sizeof(sean_model_info))
    return fail(SEAN_ERROR_ARGUMENT, "sean_model_info_get: set info.struct_size = sizeof(sean_model_info) first (it is " +
                                         std::to_string(info->struct_size) + ")");
  const sean::core::ModelInfo& i = model->model.info();
  const size_t caller_size = info->struct_size;
  // A caller of a newer API has fields this library does not know: they read as zero.
  std::memset(reinterpret_cast<char*>(info) + sizeof(sean_model_info), 0, caller_size - sizeof(sean_model_info));
  *info = {caller_size, i.height, i.width, i.num_classes, i.style_dim, i.extra_channels, i.format_version,
           i.max_batch, i.backend.c_str(), i.device.c_str(), model->description.c_str(), i.notes.size()};
  return SEAN_OK;
}

const char* sean_model_class_name(const sean_model* model, int class_id) {
  if (!model || class_id < 0 || class_id >= model->model.info().num_classes) return nullptr;
  return model->model.class_names()[static_cast<size_t>(class_id)].c_str();
}

const char* sean_model_note(const sean_model* model, size_t index) {
  if (!model || index >= model->model.info().notes.size()) return nullptr;
  return model->model.info().notes[index].c_str();
}

sean_status sean_read_labels(const sean_model* model, const char* path, int32_t* labels) {
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(path);
  SEAN_REQUIRE(labels);
  return guarded([&] {
    const std::vector<int32_t> ids = model->model.read_labels(path);
    std::memcpy(labels, ids.data(), ids.size() * sizeof(int32_t));
  });
}

sean_status sean_read_image(const sean_model* model, const char* path, uint8_t* rgb) {
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(path);
  SEAN_REQUIRE(rgb);
  return guarded([&] {
    const std::vector<uint8_t> image = model->model.read_image(path);
    std::memcpy(rgb, image.data(), image.size());
  });
}

sean_status sean_resize_labels(const int32_t* labels, int height, int width, int32_t* out, int out_height,
                               int out_width) {
  // Sizes first: the C++ API passes an empty output buffer (NULL) for a size of 0 or less.
  if (!valid_size(height, width) || !valid_size(out_height, out_width))
    return fail(SEAN_ERROR_ARGUMENT, "sean_resize_labels: sizes must be 1..32768");
  SEAN_REQUIRE(labels);
  SEAN_REQUIRE(out);
  return guarded([&] {
    const std::vector<int32_t> in(labels, labels + size_t(height) * width);
    const std::vector<int32_t> resized = sean::core::resize_labels(in, height, width, out_height, out_width);
    std::memcpy(out, resized.data(), resized.size() * sizeof(int32_t));
  });
}

sean_status sean_resize_image(const uint8_t* rgb, int height, int width, uint8_t* out, int out_height, int out_width) {
  if (!valid_size(height, width) || !valid_size(out_height, out_width))  // first, as sean_resize_labels
    return fail(SEAN_ERROR_ARGUMENT, "sean_resize_image: sizes must be 1..32768");
  SEAN_REQUIRE(rgb);
  SEAN_REQUIRE(out);
  return guarded([&] {
    const std::vector<uint8_t> in(rgb, rgb + size_t(height) * width * 3);
    const std::vector<uint8_t> resized = sean::core::resize_image(in, height, width, out_height, out_width);
    std::memcpy(out, resized.data(), resized.size());
  });
}

sean_status sean_write_png(const char* path, const uint8_t* rgb, int height, int width) {
  SEAN_REQUIRE(path);
  SEAN_REQUIRE(rgb);
  if (!valid_size(height, width)) return fail(SEAN_ERROR_ARGUMENT, "sean_write_png: sizes must be 1..32768");
  return guarded([&] { sean::core::write_png(path, std::vector<uint8_t>(rgb, rgb + size_t(height) * width * 3), height, width); });
}

sean_status sean_encode(const sean_model* model, size_t batch, int height, int width, const uint8_t* images,
                        const int32_t* labels, const float* extra, sean_styles** styles) {
  SEAN_REQUIRE_OUT(styles);
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(images);
  SEAN_REQUIRE(labels);
  if (const sean_status status = check_arrays(model, batch, height, width, "sean_encode")) return status;
  return guarded([&] { give(model->model.encode(batch, images, labels, extra), styles); });
}

sean_status sean_encode_files(const sean_model* model, const char* image_path, const char* label_path,
                              sean_styles** styles) {
  SEAN_REQUIRE_OUT(styles);
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(image_path);
  SEAN_REQUIRE(label_path);
  return guarded([&] { give(model->model.encode_files(image_path, label_path), styles); });
}

sean_status sean_styles_create(const sean_model* model, size_t batch, const float* codes, const uint8_t* present,
                               sean_styles** styles) {
  SEAN_REQUIRE_OUT(styles);
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(codes);
  SEAN_REQUIRE(present);
  if (batch == 0) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_create: batch must be >= 1");
  return guarded([&] {
    const sean::core::ModelInfo& info = model->model.info();
    const size_t k = size_t(info.num_classes), s = size_t(info.style_dim);
    if (batch > SIZE_MAX / (k * s))  // batch * k * s would wrap around to a small buffer
      throw sean::core::Error(sean::core::Status::argument, "sean_styles_create: batch " + std::to_string(batch) +
                                                                " is too large for codes of " + std::to_string(k * s) +
                                                                " values per image");
    give(sean::core::Styles(std::vector<float>(codes, codes + batch * k * s), std::vector<uint8_t>(present, present + batch * k),
                      model->model.class_names(), info.style_dim),
         styles);
  });
}

void sean_styles_free(sean_styles* styles) { delete styles; }

size_t sean_styles_batch(const sean_styles* styles) { return styles ? styles->styles.batch() : 0; }

sean_status sean_styles_shape(const sean_styles* styles, int* num_classes, int* style_dim) {
  SEAN_REQUIRE(styles);
  if (num_classes) *num_classes = styles->styles.num_classes();
  if (style_dim) *style_dim = styles->styles.style_dim();
  return SEAN_OK;
}

const char* sean_styles_class_name(const sean_styles* styles, int class_id) {
  if (!styles || class_id < 0 || class_id >= styles->styles.num_classes()) return nullptr;
  return styles->styles.class_names()[static_cast<size_t>(class_id)].c_str();
}

sean_status sean_styles_copy(const sean_styles* styles, float* codes, uint8_t* present) {
  SEAN_REQUIRE(styles);
  if (codes) std::memcpy(codes, styles->styles.codes().data(), styles->styles.codes().size() * sizeof(float));
  if (present) std::memcpy(present, styles->styles.present().data(), styles->styles.present().size());
  return SEAN_OK;
}

sean_status sean_styles_select(const sean_styles* styles, size_t index, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  return guarded([&] { give(styles->styles.image(index), out); });
}

sean_status sean_styles_concat(const sean_styles* const* items, size_t count, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  // An empty list may be NULL (an empty std::vector's data()): it is named as empty, not as a NULL pointer.
  if (count && !items) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_concat: items is NULL");
  return guarded([&] {
    std::vector<sean::core::Styles> list;
    for (size_t i = 0; i < count; ++i) {
      if (!items[i]) throw sean::core::Error(sean::core::Status::argument, "sean_styles_concat: item " + std::to_string(i) + " is NULL");
      list.push_back(items[i]->styles);
    }
    give(sean::core::Styles::concat(list), out);
  });
}

sean_status sean_styles_swap(const sean_styles* styles, const char* const* classes, size_t class_count,
                             const sean_styles* other, int fallback, const sean_styles* fallback_styles,
                             sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  SEAN_REQUIRE(other);
  if (class_count == 0) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_swap: no class given to swap");  // classes may be NULL
  SEAN_REQUIRE(classes);
  return guarded([&] {
    give(styles->styles.swap(class_list(classes, class_count), other->styles, fallback_of(fallback, fallback_styles)), out);
  });
}

sean_status sean_styles_interpolate(const sean_styles* styles, const sean_styles* other, float alpha,
                                    const char* const* classes, size_t class_count, int fallback,
                                    const sean_styles* fallback_styles, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  SEAN_REQUIRE(other);
  if (class_count && !classes) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_interpolate: classes is NULL");
  return guarded([&] {
    give(styles->styles.interpolate(other->styles, alpha, class_count ? class_list(classes, class_count)
                                                                      : std::vector<std::string>{},
                                    fallback_of(fallback, fallback_styles)),
         out);
  });
}

sean_status sean_styles_interpolate_each(const sean_styles* styles, const sean_styles* other, const float* alphas,
                                         size_t alpha_count, const char* const* classes, size_t class_count,
                                         int fallback, const sean_styles* fallback_styles, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  SEAN_REQUIRE(other);
  // No weights may be NULL (an empty std::vector's data()): the count is named as wrong, not the pointer.
  if (alpha_count && !alphas) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_interpolate_each: alphas is NULL");
  if (class_count && !classes) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_interpolate_each: classes is NULL");
  return guarded([&] {
    give(styles->styles.interpolate(other->styles, alpha_count ? std::vector<float>(alphas, alphas + alpha_count)
                                                                : std::vector<float>{},
                                    class_count ? class_list(classes, class_count) : std::vector<std::string>{},
                                    fallback_of(fallback, fallback_styles)),
         out);
  });
}

sean_status sean_styles_fill_missing(const sean_styles* styles, const sean_styles* fallback, const char* const* classes,
                                     size_t class_count, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  SEAN_REQUIRE(fallback);
  if (class_count && !classes) return fail(SEAN_ERROR_ARGUMENT, "sean_styles_fill_missing: classes is NULL");
  return guarded([&] {
    give(styles->styles.fill_missing(fallback->styles,
                                     class_count ? class_list(classes, class_count) : std::vector<std::string>{}),
         out);
  });
}

sean_status sean_styles_mean(const sean_styles* styles, sean_styles** out) {
  SEAN_REQUIRE_OUT(out);
  SEAN_REQUIRE(styles);
  return guarded([&] { give(styles->styles.mean(), out); });
}

sean_status sean_synthesize(const sean_model* model, size_t batch, int height, int width, const int32_t* labels,
                            const sean_styles* styles, uint64_t seed, int noise, const float* extra, uint8_t* images) {
  SEAN_REQUIRE(model);
  SEAN_REQUIRE(labels);
  SEAN_REQUIRE(styles);
  SEAN_REQUIRE(images);
  if (const sean_status status = check_arrays(model, batch, height, width, "sean_synthesize")) return status;
  return guarded([&] { model->model.synthesize(batch, labels, styles->styles, seed, noise != 0, extra, images); });
}

}  // extern "C"
