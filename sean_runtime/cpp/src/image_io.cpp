#include "image_io.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "codecs.h"
#include "paths.hpp"
#include "core.hpp"

namespace sean::core {
namespace fs = std::filesystem;

namespace {

// The messages of the Python runtime's reader (sean_core.imageio.read_bytes, sean_core.files.path_problem).
std::vector<unsigned char> read_bytes(const std::string& path) {
  std::error_code error;
  const fs::file_type type = file_type_of(path, Status::input);
  if (type == fs::file_type::directory) throw Error(Status::input, shown_path(path) + " is a folder, not an image file");
  if (type == fs::file_type::not_found && fs::is_symlink(fs::symlink_status(path, error)))
    throw Error(Status::input, shown_path(path) + " is a symbolic link to " +
                                   fs::read_symlink(path, error).string() + ", which does not exist");
  if (type == fs::file_type::not_found) throw Error(Status::input, shown_path(path) + ": no such file");
  if (type != fs::file_type::regular)  // reading a pipe would block, a device never end
    throw Error(Status::input, shown_path(path) + " is not a regular file; give an image file");
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

// ---- EXIF orientation ------------------------------------------------------------------------
// A photo's Orientation tag (TIFF tag 0x0112 of IFD0, 1..8) says how to turn its stored pixels for
// display. The Python runtime's reader (OpenCV's imread) applies it to pictures and never to label maps;
// so does this one, from a JPEG's APP1 "Exif" segment or a PNG's eXIf chunk.

uint32_t read_u32(const unsigned char* p, bool big) {
  return big ? uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]
             : uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

uint16_t read_u16(const unsigned char* p, bool big) { return big ? uint16_t(p[0] << 8 | p[1]) : uint16_t(p[1] << 8 | p[0]); }

// The Orientation of a TIFF structure (an EXIF block), 1 when it has none or it is out of range.
int tiff_orientation(const unsigned char* tiff, size_t size) {
  if (size < 8) return 1;
  const bool big = tiff[0] == 'M' && tiff[1] == 'M';
  if (!big && !(tiff[0] == 'I' && tiff[1] == 'I')) return 1;
  if (read_u16(tiff + 2, big) != 42) return 1;
  const uint32_t ifd = read_u32(tiff + 4, big);
  if (ifd > size - 2) return 1;
  const uint32_t count = read_u16(tiff + ifd, big);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = size_t(ifd) + 2 + size_t(i) * 12;
    if (entry + 12 > size) return 1;
    if (read_u16(tiff + entry, big) == 0x0112 && read_u16(tiff + entry + 2, big) == 3) {  // SHORT
      const int value = read_u16(tiff + entry + 8, big);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

int jpeg_orientation(const std::vector<unsigned char>& bytes) {
  size_t at = 2;  // after SOI
  while (at + 4 <= bytes.size() && bytes[at] == 0xFF) {
    const unsigned char marker = bytes[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) break;  // the scan starts (or the image ends): no more headers
    const size_t length = size_t(bytes[at + 2]) << 8 | bytes[at + 3];
    if (length < 2 || at + 2 + length > bytes.size()) break;
    const unsigned char* segment = bytes.data() + at + 4;
    if (marker == 0xE1 && length >= 8 && std::memcmp(segment, "Exif\0\0", 6) == 0)
      return tiff_orientation(segment + 6, length - 8);
    at += 2 + length;
  }
  return 1;
}

int png_orientation(const std::vector<unsigned char>& bytes) {
  size_t at = 8;  // after the signature
  while (at + 12 <= bytes.size()) {
    const size_t length = read_u32(bytes.data() + at, true);
    if (length > bytes.size() - at - 12) break;
    const unsigned char* type = bytes.data() + at + 4;
    if (std::memcmp(type, "eXIf", 4) == 0) return tiff_orientation(type + 4, length);
    if (std::memcmp(type, "IEND", 4) == 0) break;
    at += 12 + length;
  }
  return 1;
}

// [H, W, 3] pixels turned as `orientation` says (5..8 swap height and width).
RgbImage oriented(RgbImage image, int orientation) {
  if (orientation <= 1) return image;
  const int h = image.height, w = image.width;
  const bool swap = orientation >= 5;
  RgbImage out{swap ? w : h, swap ? h : w, std::vector<uint8_t>(image.rgb.size()), swap && h != w};
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sy = y, sx = x;  // the stored pixel shown at (y, x)
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                      // mirrored left-right
        case 3: sy = h - 1 - y, sx = w - 1 - x; break;      // turned 180 degrees
        case 4: sy = h - 1 - y; break;                      // mirrored top-bottom
        case 5: sy = x, sx = y; break;                      // transposed
        case 6: sy = h - 1 - x, sx = y; break;              // turned 90 degrees clockwise for display
        case 7: sy = h - 1 - x, sx = w - 1 - y; break;      // transverse
        default: sy = x, sx = w - 1 - y; break;             // 8: turned 90 degrees counter-clockwise
      }
      const size_t from = (size_t(sy) * w + sx) * 3, to = (size_t(y) * out.width + x) * 3;
      std::copy_n(image.rgb.begin() + from, 3, out.rgb.begin() + to);
    }
  }
  return out;
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
  // The messages of the Python runtime (sean_core.imageio.ids_from_bytes) for the same files.
  if (is_jpeg(bytes))
    throw Error(Status::input, shown_path(source) + " is a JPEG file: lossy compression changes ids at region borders; "
                                                    "save label maps as PNG (or another lossless format)");
  Raster raster;
  decode(bytes, source, raster, [&](uint64_t limit, char* message, size_t size) {
    return sean_png_decode(bytes.data(), bytes.size(), SEAN_DECODE_LABELS, limit, &raster, message, size);
  });
  if (raster.channels == 3 && raster.depth == 16)
    throw Error(Status::input, shown_path(source) + " is a colour image of uint16 values; colour masks must be 8-bit "
                                                    "RGB (uint8) in the domain's palette (or save class ids as a "
                                                    "single-channel PNG)");
  LabelFile file;
  file.height = raster.height;
  file.width = raster.width;
  file.indexed = raster.palette != 0;
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
  RgbImage image{raster.height, raster.width,
                 std::vector<uint8_t>(rgb, rgb + static_cast<size_t>(raster.height) * raster.width * 3)};
  return oriented(std::move(image), is_jpeg(bytes) ? jpeg_orientation(bytes) : png_orientation(bytes));
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
  // Written beside the target, flushed to disk and renamed into place, then the folder flushed: neither a
  // crash of the process nor one of the machine leaves a half-written file under the target's name.
  static std::atomic<unsigned> counter{0};
  const fs::path target(path);
  const fs::path folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  // A name of 255 bytes is allowed; the temporary one beside it must fit too.
  const std::string stem = target.filename().string().substr(0, 200);
  const fs::path temporary =
      folder / ("." + stem + ".tmp" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  auto fail = [&](const std::string& what, int code) {
    ::unlink(temporary.c_str());
    const std::string reason = code == ENOENT ? "its folder does not exist" : std::strerror(code);
    throw Error(Status::input, "cannot write " + shown_path(path) + ": " + (what.empty() ? "" : what + ": ") + reason);
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int code = errno;
    throw Error(Status::input, "cannot write " + shown_path(path) + ": " +
                                   (code == ENOENT ? std::string("its folder does not exist") : std::strerror(code)));
  }
  size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, png + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int code = n < 0 ? errno : EIO;
      ::close(fd);
      fail("", code);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int code = errno;
    ::close(fd);
    fail("", code);
  }
  if (::close(fd) != 0) fail("", errno);
  if (::rename(temporary.c_str(), target.c_str()) != 0) fail("", errno);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {  // the rename itself on disk; a file system that cannot flush a folder has nothing to lose
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace sean::core
