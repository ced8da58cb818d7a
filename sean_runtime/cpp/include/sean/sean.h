/* SEAN runtime, C API: the library's only interface (the C++ API, sean.hpp, is a header-only wrapper of it).
 *
 * A stable C ABI, with ONNX Runtime's conventions: SEAN_API_VERSION is the version of this header and
 * sean_api_version() the library's; a program built against version N runs with a library of version
 * >= N. Versions only add functions and fields at the end of structs; the structs that cross the
 * boundary start with `struct_size` (sizeof as the caller knows the struct), so that a library reads
 * and writes only what the caller has. Handles (sean_model, sean_styles) are opaque; strings and
 * arrays are plain C.
 *
 * Every function that can fail returns a sean_status (do not ignore it: compilers warn); on failure
 * sean_last_error() gives a one-line message saying what is wrong and what to do (per thread, valid
 * until that thread's next failing call). No C++ exception crosses this interface. Arrays are
 * row-major at the package resolution H x W: images uint8 RGB [B, H, W, 3], label maps int32 class ids
 * [B, H, W], extra mask channels float32 [B, E, H, W] (only for packages with E > 0; otherwise pass
 * NULL). A sean_model may be used by several threads at once; a sean_styles is immutable, so it may
 * be shared too. Close a model only when no call on it is running or can start (sean_model_close does
 * not wait for them); styles do not refer to the model that made them and may outlive it.
 */
#ifndef SEAN_SEAN_H
#define SEAN_SEAN_H

#include <stddef.h>
#include <stdint.h>

/* The version of the API this header declares (1: sean-deploy 0.1). */
#define SEAN_API_VERSION 1

#if defined(_WIN32)
#if defined(SEAN_BUILDING_LIBRARY)
#define SEAN_C_API __declspec(dllexport)
#else
#define SEAN_C_API __declspec(dllimport)
#endif
#else
#define SEAN_C_API __attribute__((visibility("default")))
#endif

/* On functions whose status must be checked. */
#if defined(__GNUC__) || defined(__clang__)
#define SEAN_NODISCARD __attribute__((warn_unused_result))
#elif defined(_MSC_VER)
#define SEAN_NODISCARD _Check_return_
#else
#define SEAN_NODISCARD
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sean_status {
  SEAN_OK = 0,
  SEAN_ERROR_ARGUMENT = 1, /* a NULL pointer, a size, an option or a struct_size the call cannot take */
  SEAN_ERROR_PACKAGE = 2,  /* package folder missing, corrupt, tampered or of another format */
  SEAN_ERROR_INPUT = 3,    /* image / label map / styles the package cannot use */
  SEAN_ERROR_BACKEND = 4,  /* inference backend missing, unusable here, or failed */
  SEAN_ERROR_INTERNAL = 5  /* a bug: please report it with the message */
} sean_status;

typedef enum sean_fallback {
  SEAN_FALLBACK_OWN = 0,   /* a class the reference lacks keeps the edited image's code */
  SEAN_FALLBACK_ERROR = 1, /* ... is an error naming the class */
  SEAN_FALLBACK_STYLES = 2 /* ... takes the code from fallback_styles (e.g. sean_styles_mean) */
} sean_fallback;

typedef struct sean_model sean_model;
typedef struct sean_styles sean_styles;

/* Set by sean_options_init; then change the fields you need. */
typedef struct sean_options {
  size_t struct_size;    /* sizeof(sean_options), set by sean_options_init */
  const char* backend;   /* "auto" (default: TensorRT plans when usable here, else OpenVINO), "openvino", "tensorrt" */
  const char* device;    /* OpenVINO device, default "CPU" */
  const char* precision; /* OpenVINO precision hint "f32" (default), "bf16", "f16"; bf16 / f16: auto means OpenVINO */
  int threads;           /* CPU threads, 0: the backend's default (all cores) */
  int gpu;               /* CUDA device of the TensorRT backend */
  int verify;            /* nonzero (default): check every file against the manifest's sha256 */
} sean_options;

/* Filled by sean_model_info_get; set struct_size = sizeof(sean_model_info) first. */
typedef struct sean_model_info {
  size_t struct_size;
  int height, width, num_classes, style_dim, extra_channels, format_version;
  size_t max_batch;        /* 0: no limit (bigger batches are split anyway) */
  const char* backend;     /* "openvino" or "tensorrt"; the strings live as long as the model */
  const char* device;      /* e.g. "OpenVINO 2026.4.1 CPU (...), executes f32" */
  const char* description; /* one line: backend, device, package, domain, size, classes, precision */
  size_t note_count;       /* backends passed over, and why: sean_model_note(model, i) */
} sean_model_info;

/* The API version of the library loaded at run time (SEAN_API_VERSION of the header it was built with). */
SEAN_C_API uint32_t sean_api_version(void);
SEAN_C_API const char* sean_version(void); /* the release, e.g. "0.1.0" */
SEAN_C_API const char* sean_last_error(void);
SEAN_C_API void sean_options_init(sean_options* options);

SEAN_C_API SEAN_NODISCARD sean_status sean_model_open(const char* package_dir, const sean_options* options,
                                                      sean_model** model);
SEAN_C_API void sean_model_close(sean_model* model); /* NULL is ignored */
SEAN_C_API SEAN_NODISCARD sean_status sean_model_info_get(const sean_model* model, sean_model_info* info);
SEAN_C_API const char* sean_model_class_name(const sean_model* model, int class_id); /* NULL if out of range */
SEAN_C_API const char* sean_model_note(const sean_model* model, size_t index);      /* NULL if out of range */

/* Files -> arrays at the package resolution (labels: H*W int32; image: H*W*3 uint8). */
SEAN_C_API SEAN_NODISCARD sean_status sean_read_labels(const sean_model* model, const char* path, int32_t* labels);
SEAN_C_API SEAN_NODISCARD sean_status sean_read_image(const sean_model* model, const char* path, uint8_t* rgb);
SEAN_C_API SEAN_NODISCARD sean_status sean_resize_labels(const int32_t* labels, int height, int width, int32_t* out,
                                                         int out_height, int out_width);
SEAN_C_API SEAN_NODISCARD sean_status sean_resize_image(const uint8_t* rgb, int height, int width, uint8_t* out,
                                                        int out_height, int out_width);
SEAN_C_API SEAN_NODISCARD sean_status sean_write_png(const char* path, const uint8_t* rgb, int height, int width);

/* Style images and their label maps -> styles [batch, K, S]. height/width must be the package's. */
SEAN_C_API SEAN_NODISCARD sean_status sean_encode(const sean_model* model, size_t batch, int height, int width,
                                                  const uint8_t* images, const int32_t* labels, const float* extra,
                                                  sean_styles** styles);
/* One style image and its label map, as files of any size (the two must have one aspect ratio). */
SEAN_C_API SEAN_NODISCARD sean_status sean_encode_files(const sean_model* model, const char* image_path,
                                                        const char* label_path, sean_styles** styles);
/* Styles from stored codes [batch, K, S] and presence flags [batch, K] (0 / 1). */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_create(const sean_model* model, size_t batch, const float* codes,
                                                         const uint8_t* present, sean_styles** styles);
SEAN_C_API void sean_styles_free(sean_styles* styles); /* NULL is ignored */
SEAN_C_API size_t sean_styles_batch(const sean_styles* styles);
/* K and S of the styles (either pointer may be NULL). */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_shape(const sean_styles* styles, int* num_classes, int* style_dim);
SEAN_C_API const char* sean_styles_class_name(const sean_styles* styles, int class_id); /* NULL if out of range */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_copy(const sean_styles* styles, float* codes,
                                                       uint8_t* present); /* either may be NULL */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_select(const sean_styles* styles, size_t index, sean_styles** out);
/* items may be NULL where count is 0 (an input error: an empty list). */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_concat(const sean_styles* const* items, size_t count,
                                                         sean_styles** out);
/* fallback: a sean_fallback value (an int, so that any value a caller passes is defined behaviour). */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_swap(const sean_styles* styles, const char* const* classes,
                                                       size_t class_count, const sean_styles* other, int fallback,
                                                       const sean_styles* fallback_styles, sean_styles** out);
/* classes NULL / class_count 0: every class. */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_interpolate(const sean_styles* styles, const sean_styles* other,
                                                              float alpha, const char* const* classes,
                                                              size_t class_count, int fallback,
                                                              const sean_styles* fallback_styles, sean_styles** out);
/* One weight per image: alphas[batch] (alpha_count = the styles' batch). */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_interpolate_each(const sean_styles* styles,
                                                                   const sean_styles* other, const float* alphas,
                                                                   size_t alpha_count, const char* const* classes,
                                                                   size_t class_count, int fallback,
                                                                   const sean_styles* fallback_styles,
                                                                   sean_styles** out);
/* Absent classes (of `classes`; NULL / 0: all) take the fallback's code where it has one. */
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_fill_missing(const sean_styles* styles, const sean_styles* fallback,
                                                               const char* const* classes, size_t class_count,
                                                               sean_styles** out);
SEAN_C_API SEAN_NODISCARD sean_status sean_styles_mean(const sean_styles* styles, sean_styles** out);

/* Label maps [batch, H, W] + styles (batch 1 or `batch`) -> uint8 RGB [batch, H, W, 3] in `images`.
 * Image i uses noise seed seed + i; noise = 0 renders the noise-free image. */
SEAN_C_API SEAN_NODISCARD sean_status sean_synthesize(const sean_model* model, size_t batch, int height, int width,
                                                      const int32_t* labels, const sean_styles* styles, uint64_t seed,
                                                      int noise, const float* extra, uint8_t* images);

#ifdef __cplusplus
}
#endif

#endif /* SEAN_SEAN_H */
