// Resizing inputs to the package resolution, as the Python runtime does.
//   Label maps: pixel-centre nearest sampling, (x + 0.5) * in / out accumulated in float64 on each
//   axis (PIL NEAREST, OpenCV 5 INTER_NEAREST_EXACT); ids are never blended.
//   Images: OpenCV's bicubic (a = -0.75, half-pixel centres, replicated border, 11-bit fixed-point
//   weights), or pixel-area averaging when shrinking more than 2x on an axis (OpenCV INTER_AREA).
#pragma once

#include <cstdint>
#include <vector>

namespace sean::core {

// Source index of every output index on an axis of `in` -> `out` samples: pixel-centre nearest sampling
// as the Python runtime computes it (sean_core.imageio.nearest_indices, PIL's NEAREST): the centre
// starts at 0.5 * in / out and advances by one float64 addition of in / out per pixel, truncated. The
// same float64 additions give the same indices, exact ties included.
std::vector<int> nearest_indices(int in, int out);

std::vector<int32_t> resize_label_map(const int32_t* ids, int height, int width, int out_height, int out_width);
std::vector<uint8_t> resize_rgb(const uint8_t* rgb, int height, int width, int out_height, int out_width);

}  // namespace sean::core
