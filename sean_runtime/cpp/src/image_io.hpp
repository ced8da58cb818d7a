// Image and label files: PNG (libpng) and JPEG (libjpeg, when found at build time), read with the
// conventions of the Python runtime's OpenCV reader, and PNG written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sean {

// A label file as stored: class ids (grey PNG, 8 or 16 bits) or an 8-bit RGB colour mask.
struct LabelFile {
  int height = 0, width = 0;
  bool colour = false;
  std::vector<int32_t> ids;   // colour == false: [H, W]
  std::vector<uint8_t> rgb;   // colour == true: [H, W, 3]
};

struct RgbImage {
  int height = 0, width = 0;
  std::vector<uint8_t> rgb;  // [H, W, 3]
};

LabelFile read_label_file(const std::string& path);
RgbImage read_rgb_file(const std::string& path);
void write_png_file(const std::string& path, const uint8_t* rgb, int height, int width);

}  // namespace sean
