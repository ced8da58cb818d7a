#include "image_io.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include <unistd.h>

#include "codecs.h"
#include "sean/sean.hpp"

namespace sean {
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) throw Error(Status::input, path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw Error(Status::input, path + ": cannot be read");
  if (bytes.empty()) throw Error(Status::input, path + ": the file is empty");
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

[[noreturn]] void unreadable(const std::string& path, const char* reason) {
  throw Error(Status::input, path + ": not a readable image (" + reason + ")");
}

}  // namespace

LabelFile read_label_file(const std::string& path) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  if (is_jpeg(bytes))
    throw Error(Status::input, path + ": a JPEG label map; JPEG blurs class ids, store label maps as PNG");
  Raster raster;
  char message[256] = "";
  if (sean_png_decode(bytes.data(), bytes.size(), SEAN_DECODE_LABELS, &raster, message, sizeof message) != 0)
    unreadable(path, message);
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

RgbImage read_rgb_file(const std::string& path) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  Raster raster;
  char message[256] = "";
  const int status = is_jpeg(bytes)
                         ? sean_jpeg_decode(bytes.data(), bytes.size(), &raster, message, sizeof message)
                         : sean_png_decode(bytes.data(), bytes.size(), SEAN_DECODE_RGB8, &raster, message, sizeof message);
  if (status != 0) unreadable(path, message);
  const auto* rgb = static_cast<const uint8_t*>(raster.pixels);
  return {raster.height, raster.width,
          std::vector<uint8_t>(rgb, rgb + static_cast<size_t>(raster.height) * raster.width * 3)};
}

void write_png_file(const std::string& path, const uint8_t* rgb, int height, int width) {
  unsigned char* png = nullptr;
  size_t size = 0;
  char message[256] = "";
  if (sean_png_encode(rgb, width, height, &png, &size, message, sizeof message) != 0)
    throw Error(Status::input, "could not encode " + path + " as PNG (" + message + ")");
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
      throw Error(Status::input, "cannot write " + path + " (does its folder exist and is it writable?)");
    }
  }
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) {
    fs::remove(temporary, error);
    throw Error(Status::input, "cannot write " + path + ": " + error.message());
  }
}

}  // namespace sean
