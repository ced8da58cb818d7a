// Image and label files: PNG (libpng) and JPEG (libjpeg, when found at build time), read with the
// conventions of the Python runtime's OpenCV reader, and PNG written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sean::core {

// A label file as stored: class ids (grey PNG, 8 or 16 bits) or an 8-bit RGB colour mask.
struct LabelFile {
  int height = 0, width = 0;
  bool colour = false;
  bool indexed = false;       // an indexed-colour (palette) PNG: colour, read by its palette's colours
  std::vector<int32_t> ids;   // colour == false: [H, W]
  std::vector<uint8_t> rgb;   // colour == true: [H, W, 3]
};

struct RgbImage {
  int height = 0, width = 0;
  std::vector<uint8_t> rgb;  // [H, W, 3]
  bool turned = false;       // its EXIF orientation swapped height and width: the file stores width x height
};

// The largest image (height x width) any reader decodes: $SEAN_MAX_IMAGE_PIXELS, else the default,
// as the Python runtime (sean_core/imageio.py); files are refused from their header, before decoding.
inline constexpr uint64_t kDefaultMaxImagePixels = uint64_t(1) << 25;  // 33.5 megapixels, e.g. 8192 x 4096
inline constexpr const char* kMaxImagePixelsEnv = "SEAN_MAX_IMAGE_PIXELS";
uint64_t max_image_pixels();

LabelFile read_label_file(const std::string& path);
RgbImage read_rgb_file(const std::string& path);
// The same from a file's bytes; `source` names it in messages (the fuzz target's entry points).
LabelFile label_file_from_bytes(const std::vector<unsigned char>& bytes, const std::string& source);
RgbImage rgb_from_bytes(const std::vector<unsigned char>& bytes, const std::string& source);
void write_png_file(const std::string& path, const uint8_t* rgb, int height, int width);

}  // namespace sean::core
