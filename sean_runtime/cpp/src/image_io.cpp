#include "image_io.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include <unistd.h>

#include "codecs.h"
#include "paths.hpp"
#include "core.hpp"

namespace sean::core {
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> read_bytes(const std::string& path) {
  const fs::file_type type = file_type_of(path, Status::input);
  if (type == fs::file_type::directory) throw Error(Status::input, shown_path(path) + " is a folder, not an image file");
  if (type != fs::file_type::regular) throw Error(Status::input, shown_path(path) + ": no such file");
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw Error(Status::input, shown_path(path) + ": cannot be read");
  return bytes;
}

bool is_jpeg(const std::vector<unsigned char>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

struct Raster : sean_raster {
  Raster() : sean_raster{} {}
  ~Raster() { std::free(pixels); }
  Raster(const Raster&) = delete;
  Raster& operator=(const Raster&) = delete;
};

[[noreturn]] void unreadable(const std::string& source, const char* reason) {
  throw Error(Status::input, shown_path(source) + ": not a readable image (" + reason + ")");
}

// Decodes with one of the codecs under the pixel cap, with the Python runtime's messages.
template <typename Decode>
void decode(const std::vector<unsigned char>& bytes, const std::string& source, Raster& raster, Decode run) {
  if (bytes.empty()) throw Error(Status::input, shown_path(source) + ": the file is empty");
  const uint64_t limit = max_image_pixels();
  char message[256] = "";
  const int status = run(limit, message, sizeof message);
  if (status == SEAN_DECODE_TOO_LARGE)
    throw Error(Status::input, shown_path(source) + " is " + std::to_string(raster.width) + "x" +
                                   std::to_string(raster.height) + " pixels, more than the limit of " +
                                   std::to_string(limit) + " (" + kMaxImagePixelsEnv + "); resize it, or raise " +
                                   kMaxImagePixelsEnv);
  if (status != 0) unreadable(source, message);
}

}  // namespace

uint64_t max_image_pixels() {
  const char* value = std::getenv(kMaxImagePixelsEnv);
  std::string text = value ? value : "";
  text.erase(0, text.find_first_not_of(" \t\n"));
  text.erase(text.find_last_not_of(" \t\n") + 1);
  if (text.empty()) return kDefaultMaxImagePixels;
  uint64_t pixels = 0;
  bool ok = text.size() <= 19;  // below 2^63: no overflow
  for (const char c : text) ok = ok && c >= '0' && c <= '9', pixels = pixels * 10 + uint64_t(c - '0');
  if (!ok || pixels < 1)
    throw Error(Status::input, std::string(kMaxImagePixelsEnv) + "='" + shown_path(text) +
                                   "' is not a positive whole number of pixels");
  return pixels;
}

LabelFile label_file_from_bytes(const std::vector<unsigned char>& bytes, const std::string& source) {
  if (is_jpeg(bytes))
    throw Error(Status::input, shown_path(source) + ": a JPEG label map; JPEG blurs class ids, store label maps as PNG");
  Raster raster;
  decode(bytes, source, raster, [&](uint64_t limit, char* message, size_t size) {
    return sean_png_decode(bytes.data(), bytes.size(), SEAN_DECODE_LABELS, limit, &raster, message, size);
  });
  LabelFile file;
  file.height = raster.height;
  file.width = raster.width;
  const size_t count = static_cast<size_t>(raster.height) * raster.width;
  if (raster.channels == 3) {
    file.colour = true;
    const auto* rgb = static_cast<const uint8_t*>(raster.pixels);
    file.rgb.assign(rgb, rgb + count * 3);
  } else if (raster.depth == 16) {
    const auto* ids = static_cast<const uint16_t*>(raster.pixels);
    file.ids.assign(ids, ids + count);
  } else {
    const auto* ids = static_cast<const uint8_t*>(raster.pixels);
    file.ids.assign(ids, ids + count);
  }
  return file;
}

RgbImage rgb_from_bytes(const std::vector<unsigned char>& bytes, const std::string& source) {
  Raster raster;
  decode(bytes, source, raster, [&](uint64_t limit, char* message, size_t size) {
    return is_jpeg(bytes) ? sean_jpeg_decode(bytes.data(), bytes.size(), limit, &raster, message, size)
                          : sean_png_decode(bytes.data(), bytes.size(), SEAN_DECODE_RGB8, limit, &raster, message, size);
  });
  const auto* rgb = static_cast<const uint8_t*>(raster.pixels);
  return {raster.height, raster.width,
          std::vector<uint8_t>(rgb, rgb + static_cast<size_t>(raster.height) * raster.width * 3)};
}

LabelFile read_label_file(const std::string& path) { return label_file_from_bytes(read_bytes(path), path); }

RgbImage read_rgb_file(const std::string& path) { return rgb_from_bytes(read_bytes(path), path); }

void write_png_file(const std::string& path, const uint8_t* rgb, int height, int width) {
  const fs::file_type type = file_type_of(path, Status::input);
  if (type == fs::file_type::directory)
    throw Error(Status::input, "cannot write " + shown_path(path) + ": it is a folder; give a .png file name");
  unsigned char* png = nullptr;
  size_t size = 0;
  char message[256] = "";
  if (sean_png_encode(rgb, width, height, &png, &size, message, sizeof message) != 0)
    throw Error(Status::input, "could not encode " + shown_path(path) + " as PNG (" + message + ")");
  std::unique_ptr<unsigned char, decltype(&std::free)> owned(png, std::free);
  // Written beside the target and renamed into place: a crash never leaves a half-written file.
  static std::atomic<unsigned> counter{0};
  const fs::path target(path);
  const fs::path temporary = target.parent_path() / ("." + target.filename().string() + ".tmp" +
                                                     std::to_string(getpid()) + "-" + std::to_string(counter++));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(png), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw Error(Status::input, "cannot write " + shown_path(path) + " (does its folder exist and is it writable?)");
    }
  }
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) {
    std::error_code ignored;  // the rename's reason is the one to report
    fs::remove(temporary, ignored);
    throw Error(Status::input, "cannot write " + shown_path(path) + ": " + error.message());
  }
}

}  // namespace sean::core
