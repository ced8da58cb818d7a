// Resizing inputs to the package resolution, as the Python runtime does.
//   Label maps: pixel-centre nearest sampling, src = floor((x + 0.5) * in / out) on each axis (PIL
//   NEAREST, OpenCV INTER_NEAREST_EXACT); ids are never blended.
//   Images: OpenCV's bicubic (a = -0.75, half-pixel centres, replicated border, 11-bit fixed-point
//   weights), or pixel-area averaging when shrinking more than 2x on an axis (OpenCV INTER_AREA).
#pragma once

#include <cstdint>
#include <vector>

namespace sean {

// Source index of output index `x` on an axis of `in` -> `out` samples.
inline int nearest_source(int x, int in, int out) {
  return static_cast<int>((static_cast<int64_t>(2 * x + 1) * in) / (2 * static_cast<int64_t>(out)));
}

std::vector<int32_t> resize_label_map(const int32_t* ids, int height, int width, int out_height, int out_width);
std::vector<uint8_t> resize_rgb(const uint8_t* rgb, int height, int width, int out_height, int out_width);

}  // namespace sean
