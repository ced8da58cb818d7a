// The C API on a real package: every bad input returns an error status with a one-line message (run
// under AddressSanitizer + UBSan by tests/test_cpp_runtime.py), and one model serves many threads.
// Needs SEAN_TEST_PACKAGE (a format-2 package) and SEAN_TEST_DATA (label.png, style.png written by the
// pytest); skipped without them.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "sean/sean.h"

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

struct ModelCloser {
  void operator()(sean_model* m) const { sean_model_close(m); }
};
struct StylesFreer {
  void operator()(sean_styles* s) const { sean_styles_free(s); }
};
using ModelPtr = std::unique_ptr<sean_model, ModelCloser>;
using StylesPtr = std::unique_ptr<sean_styles, StylesFreer>;

// The status of a call that must fail, with a message that is one non-empty line.
#define EXPECT_FAILS(call, status, fragment)                                                     \
  do {                                                                                           \
    EXPECT_EQ((call), (status)) << #call;                                                        \
    const std::string message = sean_last_error();                                               \
    EXPECT_FALSE(message.empty()) << #call;                                                      \
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;                                 \
    EXPECT_NE(message.find(fragment), std::string::npos) << #call << " said: " << message;       \
  } while (0)

class CApi : public ::testing::Test {
 protected:
  // One model for the whole suite: compiling the graphs is most of a test's time.
  static void SetUpTestSuite() {
    if (env("SEAN_TEST_PACKAGE").empty() || env("SEAN_TEST_DATA").empty()) return;
    sean_options options;
    sean_options_init(&options);
    options.backend = "openvino";
    options.threads = 1;
    sean_model* model = nullptr;
    if (sean_model_open(env("SEAN_TEST_PACKAGE").c_str(), &options, &model) != SEAN_OK)
      std::fprintf(stderr, "cannot open the test package: %s\n", sean_last_error());
    shared_model = model;
  }
  static void TearDownTestSuite() {
    sean_model_close(shared_model);
    shared_model = nullptr;
  }

  void SetUp() override {
    package_ = env("SEAN_TEST_PACKAGE");
    data_ = env("SEAN_TEST_DATA");
    if (package_.empty() || data_.empty()) GTEST_SKIP() << "set SEAN_TEST_PACKAGE and SEAN_TEST_DATA";
    ASSERT_NE(shared_model, nullptr);
    model_ = shared_model;
    info_.struct_size = sizeof info_;
    ASSERT_EQ(sean_model_info_get(model_, &info_), SEAN_OK);
    pixels_ = size_t(info_.height) * info_.width;
    labels_.resize(pixels_);
    image_.resize(pixels_ * 3);
    ASSERT_EQ(sean_read_labels(model_, (data_ + "/label.png").c_str(), labels_.data()), SEAN_OK) << sean_last_error();
    ASSERT_EQ(sean_read_image(model_, (data_ + "/style.png").c_str(), image_.data()), SEAN_OK) << sean_last_error();
    sean_styles* styles = nullptr;
    ASSERT_EQ(sean_encode(model_, 1, info_.height, info_.width, image_.data(), labels_.data(), nullptr, &styles), SEAN_OK)
        << sean_last_error();
    styles_.reset(styles);
  }

  // A copy of the package to break; the original stays intact for the other tests.
  fs::path copy_package(const std::string& name) {
    const fs::path target = fs::path(::testing::TempDir()) / ("sean-c-api-" + name);
    fs::remove_all(target);
    fs::copy(package_, target, fs::copy_options::recursive);
    return target;
  }

  sean_status open(const fs::path& path, int verify = 1) {
    sean_model* model = nullptr;
    sean_options options;
    sean_options_init(&options);
    options.backend = "openvino";
    options.verify = verify;
    const sean_status status = sean_model_open(path.string().c_str(), &options, &model);
    sean_model_close(model);
    return status;
  }

  fs::path write_file(const std::string& name, const std::string& bytes) {
    const fs::path path = fs::path(::testing::TempDir()) / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::vector<uint8_t> synthesize(const std::vector<int32_t>& labels, const sean_styles* styles, uint64_t seed) {
    std::vector<uint8_t> out(labels.size() * 3);
    const size_t batch = labels.size() / pixels_;
    EXPECT_EQ(sean_synthesize(model_, batch, info_.height, info_.width, labels.data(), styles, seed, 1, nullptr,
                              out.data()),
              SEAN_OK)
        << sean_last_error();
    return out;
  }

  static sean_model* shared_model;
  std::string package_, data_;
  sean_model* model_ = nullptr;
  sean_model_info info_{};
  size_t pixels_ = 0;
  std::vector<int32_t> labels_;
  std::vector<uint8_t> image_;
  StylesPtr styles_;
};

sean_model* CApi::shared_model = nullptr;

TEST_F(CApi, NullPointersAndEmptyBatchesAreArgumentErrors) {
  sean_model* model = nullptr;
  sean_styles* out = nullptr;
  uint8_t rgb[3];
  EXPECT_FAILS(sean_model_open(nullptr, nullptr, &model), SEAN_ERROR_ARGUMENT, "package_dir is NULL");
  EXPECT_FAILS(sean_model_open(package_.c_str(), nullptr, nullptr), SEAN_ERROR_ARGUMENT, "model is NULL");
  EXPECT_FAILS(sean_model_info_get(nullptr, &info_), SEAN_ERROR_ARGUMENT, "model is NULL");
  EXPECT_FAILS(sean_read_labels(model_, nullptr, labels_.data()), SEAN_ERROR_ARGUMENT, "path is NULL");
  EXPECT_FAILS(sean_encode(model_, 1, info_.height, info_.width, nullptr, labels_.data(), nullptr, &out),
               SEAN_ERROR_ARGUMENT, "images is NULL");
  EXPECT_FAILS(sean_encode(model_, 0, info_.height, info_.width, image_.data(), labels_.data(), nullptr, &out),
               SEAN_ERROR_ARGUMENT, "batch must be >= 1");
  EXPECT_FAILS(sean_synthesize(model_, 1, info_.height, info_.width, labels_.data(), nullptr, 0, 1, nullptr, rgb),
               SEAN_ERROR_ARGUMENT, "styles is NULL");
  EXPECT_FAILS(sean_styles_swap(styles_.get(), nullptr, 1, styles_.get(), SEAN_FALLBACK_OWN, nullptr, &out),
               SEAN_ERROR_ARGUMENT, "classes is NULL");
  const char* none[] = {nullptr};
  EXPECT_FAILS(sean_styles_swap(styles_.get(), none, 1, styles_.get(), SEAN_FALLBACK_OWN, nullptr, &out),
               SEAN_ERROR_ARGUMENT, "class name 0 is NULL");
  EXPECT_FAILS(sean_styles_select(styles_.get(), 5, &out), SEAN_ERROR_ARGUMENT, "pick an index in 0..0");
  const char* blob[] = {"blob"};
  EXPECT_FAILS(sean_styles_swap(styles_.get(), blob, 1, styles_.get(), SEAN_FALLBACK_STYLES, nullptr, &out),
               SEAN_ERROR_ARGUMENT, "needs fallback_styles");
  EXPECT_FAILS(sean_resize_labels(labels_.data(), 0, 4, labels_.data(), 4, 4), SEAN_ERROR_ARGUMENT, "sizes");
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(sean_model_class_name(model_, info_.num_classes), nullptr);
  sean_model_close(nullptr);
  sean_styles_free(nullptr);
}

// What sean.hpp passes for an empty std::vector (its data() may be NULL) is named for what it is.
TEST_F(CApi, EmptyListsAndBadSizesAreNamedNotTakenForNullPointers) {
  sean_styles* out = nullptr;
  EXPECT_FAILS(sean_styles_swap(styles_.get(), nullptr, 0, styles_.get(), SEAN_FALLBACK_OWN, nullptr, &out),
               SEAN_ERROR_ARGUMENT, "no class given to swap");
  EXPECT_FAILS(sean_styles_concat(nullptr, 0, &out), SEAN_ERROR_INPUT, "cannot concatenate an empty list of styles");
  EXPECT_FAILS(sean_styles_concat(nullptr, 1, &out), SEAN_ERROR_ARGUMENT, "items is NULL");
  // sean::Styles::interpolate with an empty std::vector of weights; the words of Python's Styles._alpha.
  EXPECT_FAILS(sean_styles_interpolate_each(styles_.get(), styles_.get(), nullptr, 0, nullptr, 0, SEAN_FALLBACK_OWN,
                                            nullptr, &out),
               SEAN_ERROR_INPUT, "alpha must be a number in [-1, 2] or a list of 1 (one per image), got 0 weights");
  EXPECT_FAILS(sean_styles_interpolate_each(styles_.get(), styles_.get(), nullptr, 1, nullptr, 0, SEAN_FALLBACK_OWN,
                                            nullptr, &out),
               SEAN_ERROR_ARGUMENT, "alphas is NULL");
  EXPECT_FAILS(sean_resize_labels(labels_.data(), info_.height, info_.width, nullptr, -1, 4), SEAN_ERROR_ARGUMENT,
               "sizes must be 1..32768");
  EXPECT_FAILS(sean_resize_image(image_.data(), info_.height, info_.width, nullptr, 4, 0), SEAN_ERROR_ARGUMENT,
               "sizes must be 1..32768");
  EXPECT_EQ(out, nullptr);
}

// The ABI's versioning: the library's API version, and structs whose struct_size the library checks.
TEST_F(CApi, VersionsAndStructSizesAreChecked) {
  EXPECT_EQ(sean_api_version(), uint32_t(SEAN_API_VERSION));
  EXPECT_STREQ(sean_version(), "0.1.0");
  sean_options options;
  sean_options_init(&options);
  EXPECT_EQ(options.struct_size, sizeof(sean_options));
  sean_model* model = nullptr;
  options.struct_size = 0;
  EXPECT_FAILS(sean_model_open(package_.c_str(), &options, &model), SEAN_ERROR_ARGUMENT, "sean_options_init first");
  options.struct_size = sizeof(sean_options) + 8;
  EXPECT_FAILS(sean_model_open(package_.c_str(), &options, &model), SEAN_ERROR_ARGUMENT, "of a newer API");
  EXPECT_EQ(model, nullptr);
  sean_model_info info{};
  EXPECT_FAILS(sean_model_info_get(model_, &info), SEAN_ERROR_ARGUMENT, "set info.struct_size");
  // A caller of a newer API: the fields this library does not know read as zero.
  struct {
    sean_model_info known;
    uint64_t newer[2];
  } bigger;
  std::memset(&bigger, 0xAB, sizeof bigger);
  bigger.known.struct_size = sizeof bigger;
  ASSERT_EQ(sean_model_info_get(model_, &bigger.known), SEAN_OK) << sean_last_error();
  EXPECT_EQ(bigger.known.struct_size, sizeof bigger);
  EXPECT_EQ(bigger.known.height, info_.height);
  EXPECT_EQ(bigger.newer[0], 0u);
  EXPECT_EQ(bigger.newer[1], 0u);
  EXPECT_NE(std::string(info_.description).find("openvino"), std::string::npos) << info_.description;
  EXPECT_EQ(sean_model_note(model_, info_.note_count), nullptr);
}

TEST_F(CApi, BadPackagesArePackageErrors) {
  EXPECT_FAILS(open("/nonexistent/sean-package"), SEAN_ERROR_PACKAGE, "does not exist");
  EXPECT_FAILS(open(""), SEAN_ERROR_PACKAGE, "the package folder is an empty path");
  const fs::path empty = fs::path(::testing::TempDir()) / "sean-empty-folder";
  fs::create_directories(empty);
  EXPECT_FAILS(open(empty), SEAN_ERROR_PACKAGE, "manifest.json is missing");

  const fs::path broken = copy_package("broken-json");
  std::ofstream(broken / "manifest.json") << "{ not json";
  EXPECT_FAILS(open(broken), SEAN_ERROR_PACKAGE, "not valid JSON");

  const fs::path tampered = copy_package("tampered");
  {
    std::fstream file(tampered / "generator.onnx", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(1000);
    file.put('\x7f');
  }
  EXPECT_FAILS(open(tampered), SEAN_ERROR_PACKAGE, "generator.onnx has sha256");
  EXPECT_FAILS(open(tampered), SEAN_ERROR_PACKAGE, "copy the whole folder again");

  const fs::path missing = copy_package("missing");
  fs::remove(missing / "encoder.onnx");
  EXPECT_FAILS(open(missing), SEAN_ERROR_PACKAGE, "encoder.onnx is missing");
  EXPECT_FAILS(open(missing, /*verify=*/0), SEAN_ERROR_PACKAGE, "missing: encoder.onnx");

  auto edit_manifest = [&](const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    const fs::path root = copy_package(name);
    nlohmann::json manifest = nlohmann::json::parse(std::ifstream(root / "manifest.json"));
    edit(manifest);
    std::ofstream(root / "manifest.json", std::ios::trunc) << manifest.dump(2);
    return root;
  };
  EXPECT_FAILS(open(edit_manifest("newer", [](auto& m) { m["format_version"] = 3; })), SEAN_ERROR_PACKAGE,
               "newer than this runtime reads (2)");
  EXPECT_FAILS(open(edit_manifest("escape", [](auto& m) { m["graphs"]["encoder"]["file"] = "../encoder.onnx"; })),
               SEAN_ERROR_PACKAGE, "plain names inside the folder");
  EXPECT_FAILS(open(edit_manifest("classes", [](auto& m) { m["num_classes"] = 9; })), SEAN_ERROR_PACKAGE,
               "8 class_names but num_classes 9");
  EXPECT_FAILS(open(edit_manifest("noise", [](auto& m) { m["noise"]["input"] = "z"; })), SEAN_ERROR_PACKAGE,
               "malformed \"noise\" entry");
  EXPECT_FAILS(open(edit_manifest("shape", [](auto& m) { m["graphs"]["generator"]["inputs"][2]["shape"][1] = 5; })),
               SEAN_ERROR_PACKAGE, "tensor 'noise' is float32 [batch, 5] but the package's facts give float32 [batch, 16392]");
  EXPECT_FAILS(open(edit_manifest("palette", [](auto& m) { m["palette"][0] = {1, 2}; })), SEAN_ERROR_PACKAGE,
               "one [r, g, b] (0..255) per class");

  sean_model* model = nullptr;
  sean_options options;
  sean_options_init(&options);
  options.backend = "onnxruntime";
  EXPECT_FAILS(sean_model_open(package_.c_str(), &options, &model), SEAN_ERROR_ARGUMENT, "has no ONNX Runtime backend");
  options.backend = "cuda";
  EXPECT_FAILS(sean_model_open(package_.c_str(), &options, &model), SEAN_ERROR_ARGUMENT, "unknown backend 'cuda'");
  options.backend = "openvino";
  options.device = "NPU-that-is-not-there";
  EXPECT_FAILS(sean_model_open(package_.c_str(), &options, &model), SEAN_ERROR_BACKEND, "reports no NPU-that-is-not-there");
  EXPECT_EQ(model, nullptr);
}

TEST_F(CApi, FormatOnePackagesRenderOnlyWithoutNoise) {
  const fs::path old = copy_package("format-1");
  nlohmann::json manifest = nlohmann::json::parse(std::ifstream(old / "manifest.json"));
  manifest["format_version"] = 1;
  std::ofstream(old / "manifest.json", std::ios::trunc) << manifest.dump(2);
  sean_model* raw = nullptr;
  ASSERT_EQ(sean_model_open(old.string().c_str(), nullptr, &raw), SEAN_OK) << sean_last_error();
  ModelPtr model(raw);
  std::vector<uint8_t> out(pixels_ * 3);
  EXPECT_FAILS(sean_synthesize(raw, 1, info_.height, info_.width, labels_.data(), styles_.get(), 0, 1, nullptr, out.data()),
               SEAN_ERROR_INPUT, "re-export it with `sean export` (format 2)");
  EXPECT_EQ(sean_synthesize(raw, 1, info_.height, info_.width, labels_.data(), styles_.get(), 0, 0, nullptr, out.data()),
            SEAN_OK)
      << sean_last_error();
}

TEST_F(CApi, BadArraysAreInputErrors) {
  sean_styles* out = nullptr;
  std::vector<uint8_t> rgb(pixels_ * 3 * 3);
  EXPECT_FAILS(sean_encode(model_, 1, info_.height + 1, info_.width, image_.data(), labels_.data(), nullptr, &out),
               SEAN_ERROR_INPUT, "but this package takes 64x64");
  std::vector<int32_t> bad = labels_;
  bad[17] = info_.num_classes;
  bad[18] = -3;
  EXPECT_FAILS(sean_encode(model_, 1, info_.height, info_.width, image_.data(), bad.data(), nullptr, &out),
               SEAN_ERROR_INPUT, "values [-3, 8] are outside the 8 classes");
  EXPECT_FAILS(sean_synthesize(model_, 1, info_.height, info_.width, bad.data(), styles_.get(), 0, 1, nullptr, rgb.data()),
               SEAN_ERROR_INPUT, "valid ids 0..7");
  const float extra[1] = {0};
  EXPECT_FAILS(sean_synthesize(model_, 1, info_.height, info_.width, labels_.data(), styles_.get(), 0, 1, extra, rgb.data()),
               SEAN_ERROR_INPUT, "takes no extra mask channels");
  // encode refuses it too (it ignored the buffer)
  EXPECT_FAILS(sean_encode(model_, 1, info_.height, info_.width, image_.data(), labels_.data(), extra, &out),
               SEAN_ERROR_INPUT, "encoder takes no extra mask channels");
  EXPECT_FAILS(sean_synthesize(model_, 2, info_.height, info_.width, std::vector<int32_t>(2 * pixels_).data(),
                               styles_.get(), UINT64_MAX, 1, nullptr, rgb.data()),
               SEAN_ERROR_INPUT, "below 2^64");
  // Styles of 2 images for 3 label maps.
  const sean_styles* pair[] = {styles_.get(), styles_.get()};
  ASSERT_EQ(sean_styles_concat(pair, 2, &out), SEAN_OK);
  StylesPtr two(out);
  EXPECT_FAILS(sean_synthesize(model_, 3, info_.height, info_.width, std::vector<int32_t>(3 * pixels_).data(),
                               two.get(), 0, 1, nullptr, rgb.data()),
               SEAN_ERROR_INPUT, "styles of 2 images for 3 label map(s)");
  std::vector<float> codes(size_t(info_.num_classes) * info_.style_dim, NAN);
  std::vector<uint8_t> present(info_.num_classes, 1);
  EXPECT_FAILS(sean_styles_create(model_, 1, codes.data(), present.data(), &out), SEAN_ERROR_INPUT, "NaN");
}

TEST_F(CApi, BadFilesAreInputErrors) {
  const std::string png_signature = "\x89PNG\r\n\x1a\n";
  std::ifstream in(data_ + "/label.png", std::ios::binary);
  const std::string label((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  struct Case {
    std::string name, bytes, fragment;
  } cases[] = {
      {"empty.png", "", "the file is empty"},
      {"text.png", "this is not an image", "not a PNG file"},
      {"garbage.png", png_signature + std::string(200, '\x42'), "not a readable image"},
      {"truncated.png", label.substr(0, label.size() / 2), "not a readable image"},
      {"flipped.png", [&] { std::string b = label; b[label.size() / 2] ^= 0x55; return b; }(), "not a readable image"},
  };
  for (const Case& c : cases) {
    const fs::path path = write_file(c.name, c.bytes);
    EXPECT_FAILS(sean_read_labels(model_, path.c_str(), labels_.data()), SEAN_ERROR_INPUT, c.fragment);
    EXPECT_FAILS(sean_read_image(model_, path.c_str(), image_.data()), SEAN_ERROR_INPUT, c.fragment);
  }
  EXPECT_FAILS(sean_read_labels(model_, "/nonexistent/label.png", labels_.data()), SEAN_ERROR_INPUT, "no such file");
  EXPECT_FAILS(sean_read_labels(model_, (data_ + "/unknown_ids.png").c_str(), labels_.data()), SEAN_ERROR_INPUT,
               "are outside the 8 classes");
  EXPECT_FAILS(sean_read_labels(model_, (data_ + "/unknown_colours.png").c_str(), labels_.data()),
               SEAN_ERROR_INPUT, "are not in the palette of domain 'shapes'");
  EXPECT_FAILS(sean_read_labels(model_, (data_ + "/style.jpg").c_str(), labels_.data()), SEAN_ERROR_INPUT,
               "lossy compression changes ids at region borders; save label maps as PNG");
  EXPECT_FAILS(sean_write_png("/nonexistent/folder/out.png", image_.data(), info_.height, info_.width), SEAN_ERROR_INPUT,
               "cannot write");
}

// A label map with fewer pixels than the package: its ids are checked over its own 8x8 pixels before the
// resize (under ASan, a check over the package's H x W is a heap over-read).
TEST_F(CApi, SmallLabelMapsAreCheckedOverTheirOwnPixels) {
  std::vector<int32_t> ids(pixels_, -1);
  ASSERT_EQ(sean_read_labels(model_, (data_ + "/small_label.png").c_str(), ids.data()), SEAN_OK) << sean_last_error();
  for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < info_.num_classes) << id;
}

TEST_F(CApi, BadEditsAreInputErrors) {
  sean_styles* out = nullptr;
  const char* unknown[] = {"hair"};
  EXPECT_FAILS(sean_styles_swap(styles_.get(), unknown, 1, styles_.get(), SEAN_FALLBACK_OWN, nullptr, &out),
               SEAN_ERROR_INPUT, "unknown class 'hair'; the classes are: background, ground");
  // A batch whose codes would overflow size_t wrapped around to a one-image style.
  const std::vector<float> one_code(1);
  const std::vector<uint8_t> one_flag(1);
  EXPECT_FAILS(sean_styles_create(model_, SIZE_MAX / 2 + 1, one_code.data(), one_flag.data(), &out),
               SEAN_ERROR_ARGUMENT, "is too large for codes of");
  for (const float alpha : {NAN, 5.0f, -1.5f, INFINITY})  // Python's range: a weight of 5 was taken
    EXPECT_FAILS(sean_styles_interpolate(styles_.get(), styles_.get(), alpha, nullptr, 0, SEAN_FALLBACK_OWN, nullptr,
                                         &out),
                 SEAN_ERROR_INPUT, "alpha must be a number in [-1, 2]");
  for (const float alpha : {-1.0f, 2.0f}) {  // the ends are in it
    ASSERT_EQ(sean_styles_interpolate(styles_.get(), styles_.get(), alpha, nullptr, 0, SEAN_FALLBACK_OWN, nullptr, &out),
              SEAN_OK);
    sean_styles_free(out);
  }
  // A reference without any class present: fallback "error" names the classes it lacks.
  std::vector<float> zeros(size_t(info_.num_classes) * info_.style_dim, 0.f);
  std::vector<uint8_t> absent(info_.num_classes, 0);
  ASSERT_EQ(sean_styles_create(model_, 1, zeros.data(), absent.data(), &out), SEAN_OK);
  StylesPtr empty(out);
  const char* blob[] = {"blob"};
  EXPECT_FAILS(sean_styles_swap(styles_.get(), blob, 1, empty.get(), SEAN_FALLBACK_ERROR, nullptr, &out),
               SEAN_ERROR_INPUT, "lacks class(es) ['blob'] for image(s) [0]");
  EXPECT_FAILS(sean_styles_swap(styles_.get(), blob, 1, empty.get(), 7, nullptr, &out), SEAN_ERROR_ARGUMENT,
               "unknown fallback 7");
}

// sean.h: styles do not refer to the model that encoded them, so they may outlive it.
TEST_F(CApi, StylesOutliveTheirModel) {
  sean_model* other = nullptr;
  sean_options options;
  sean_options_init(&options);
  options.backend = "openvino";
  options.threads = 1;
  ASSERT_EQ(sean_model_open(package_.c_str(), &options, &other), SEAN_OK) << sean_last_error();
  sean_styles* encoded = nullptr;
  const sean_status status =
      sean_encode(other, 1, info_.height, info_.width, image_.data(), labels_.data(), nullptr, &encoded);
  sean_model_close(other);
  ASSERT_EQ(status, SEAN_OK) << sean_last_error();
  StylesPtr kept(encoded);
  EXPECT_EQ(synthesize(labels_, kept.get(), 3), synthesize(labels_, styles_.get(), 3));
}

TEST_F(CApi, MessagesArePerThread) {
  sean_styles* out = nullptr;
  EXPECT_EQ(sean_styles_select(styles_.get(), 9, &out), SEAN_ERROR_ARGUMENT);
  std::string other;
  std::thread([&] {
    sean_model* model = nullptr;
    EXPECT_EQ(sean_model_open("/nonexistent/x", nullptr, &model), SEAN_ERROR_PACKAGE);
    other = sean_last_error();
  }).join();
  EXPECT_NE(other.find("does not exist"), std::string::npos);
  EXPECT_NE(std::string(sean_last_error()).find("image 9"), std::string::npos);
}

TEST_F(CApi, OneModelServesConcurrentCallsWithTheImagesOfSequentialCalls) {
  constexpr int kThreads = 4, kCalls = 3;
  std::vector<std::vector<uint8_t>> expected;
  for (int seed = 0; seed < kThreads * kCalls; ++seed) expected.push_back(synthesize(labels_, styles_.get(), seed));
  EXPECT_NE(expected[0], expected[1]);  // the seed matters
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int call = 0; call < kCalls; ++call) {
        const int seed = t * kCalls + call;
        sean_styles* styles = nullptr;  // encode concurrently too
        if (sean_encode(model_, 1, info_.height, info_.width, image_.data(), labels_.data(), nullptr, &styles) != SEAN_OK) {
          ++failures;
          continue;
        }
        StylesPtr owned(styles);
        std::vector<uint8_t> out(pixels_ * 3);
        if (sean_synthesize(model_, 1, info_.height, info_.width, labels_.data(), styles, seed, 1, nullptr,
                            out.data()) != SEAN_OK)
          ++failures;
        else if (out != expected[seed])
          ++mismatches;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
