#include "resize.hpp"

#include <algorithm>
#include <cmath>

namespace sean::core {
namespace {

constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS: weights are integers / 2048

// Per output sample: `taps` source indices and weights.
struct Axis {
  int taps = 0;
  std::vector<int> index;
  std::vector<double> weight;
};

int clamp_index(int i, int n) { return std::min(std::max(i, 0), n - 1); }

Axis cubic_axis(int in, int out) {
  const double scale = 1.0 / (static_cast<double>(out) / in);
  const float A = -0.75f;
  Axis axis{4, {}, {}};
  for (int dx = 0; dx < out; ++dx) {
    float fx = static_cast<float>((dx + 0.5) * scale - 0.5);
    const int sx = static_cast<int>(std::floor(fx));
    fx -= static_cast<float>(sx);
    float w[4];
    w[0] = ((A * (fx + 1) - 5 * A) * (fx + 1) + 8 * A) * (fx + 1) - 4 * A;
    w[1] = ((A + 2) * fx - (A + 3)) * fx * fx + 1;
    w[2] = ((A + 2) * (1 - fx) - (A + 3)) * (1 - fx) * (1 - fx) + 1;
    w[3] = 1.f - w[0] - w[1] - w[2];
    for (int k = 0; k < 4; ++k) {
      axis.index.push_back(clamp_index(sx - 1 + k, in));
      axis.weight.push_back(w[k]);
    }
  }
  return axis;
}

// OpenCV's INTER_AREA where an axis grows: two taps with "area" linear weights.
Axis linear_area_axis(int in, int out) {
  const double inv_scale = static_cast<double>(out) / in, scale = 1.0 / inv_scale;
  Axis axis{2, {}, {}};
  for (int dx = 0; dx < out; ++dx) {
    int sx = static_cast<int>(std::floor(dx * scale));
    float fx = static_cast<float>((dx + 1) - (sx + 1) * inv_scale);
    fx = fx <= 0 ? 0.f : fx - std::floor(fx);
    if (sx >= in - 1) fx = 0, sx = in - 1;
    axis.index.insert(axis.index.end(), {sx, clamp_index(sx + 1, in)});
    axis.weight.insert(axis.weight.end(), {1.0f - fx, fx});
  }
  return axis;
}

// Shrinking: each output sample averages the source interval [x s, (x + 1) s], s = in / out.
Axis area_axis(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const int taps = static_cast<int>(std::ceil(scale)) + 1;
  Axis axis{taps, {}, {}};
  for (int dx = 0; dx < out; ++dx) {
    const double begin = dx * scale, end = std::min((dx + 1) * scale, static_cast<double>(in));
    int first = static_cast<int>(std::floor(begin));
    for (int k = 0; k < taps; ++k) {
      const int sx = first + k;
      const double overlap = std::max(0.0, std::min(end, sx + 1.0) - std::max(begin, static_cast<double>(sx)));
      axis.index.push_back(clamp_index(sx, in));
      axis.weight.push_back(overlap / (end - begin));
    }
  }
  return axis;
}

uint8_t saturate(int64_t v) { return static_cast<uint8_t>(std::min<int64_t>(std::max<int64_t>(v, 0), 255)); }

// A horizontal then a vertical pass with per-axis weights of type T (the accumulator too); `finish`
// turns a vertical sum into a byte.
template <typename T, typename Finish>
std::vector<uint8_t> separable(const uint8_t* rgb, int height, int width, const Axis& ax, const std::vector<T>& wx,
                               const Axis& ay, const std::vector<T>& wy, int out_height, int out_width, Finish finish) {
  std::vector<T> rows(static_cast<size_t>(height) * out_width * 3);
  for (int y = 0; y < height; ++y)
    for (int dx = 0; dx < out_width; ++dx)
      for (int c = 0; c < 3; ++c) {
        T sum = 0;
        for (int k = 0; k < ax.taps; ++k)
          sum += rgb[(static_cast<size_t>(y) * width + ax.index[dx * ax.taps + k]) * 3 + c] * wx[dx * ax.taps + k];
        rows[(static_cast<size_t>(y) * out_width + dx) * 3 + c] = sum;
      }
  std::vector<uint8_t> out(static_cast<size_t>(out_height) * out_width * 3);
  for (int dy = 0; dy < out_height; ++dy)
    for (size_t x = 0; x < static_cast<size_t>(out_width) * 3; ++x) {
      T sum = 0;
      for (int k = 0; k < ay.taps; ++k)
        sum += rows[static_cast<size_t>(ay.index[dy * ay.taps + k]) * out_width * 3 + x] * wy[dy * ay.taps + k];
      out[static_cast<size_t>(dy) * out_width * 3 + x] = finish(sum);
    }
  return out;
}

// As OpenCV does for 8-bit images: 11-bit integer weights, horizontal sums kept as integers, vertical
// sums rounded once at 22 bits.
std::vector<uint8_t> resize_fixed(const uint8_t* rgb, int height, int width, const Axis& ax, const Axis& ay,
                                  int out_height, int out_width) {
  auto fixed = [](const Axis& axis) {
    std::vector<int64_t> w(axis.weight.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::lrint(static_cast<float>(axis.weight[i]) * (1 << kCoefBits));
    return w;
  };
  return separable<int64_t>(rgb, height, width, ax, fixed(ax), ay, fixed(ay), out_height, out_width, [](int64_t sum) {
    return saturate((sum + (int64_t{1} << (2 * kCoefBits - 1))) >> (2 * kCoefBits));
  });
}

std::vector<uint8_t> resize_area(const uint8_t* rgb, int height, int width, const Axis& ax, const Axis& ay,
                                 int out_height, int out_width) {
  return separable<double>(rgb, height, width, ax, ax.weight, ay, ay.weight, out_height, out_width,
                           [](double sum) { return saturate(static_cast<int64_t>(std::nearbyint(sum))); });
}

}  // namespace

std::vector<int> nearest_indices(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  std::vector<int> indices(out);
  double centre = 0.5 * scale;
  for (int x = 0; x < out; ++x, centre += scale) indices[x] = std::min(static_cast<int>(centre), in - 1);
  return indices;
}

std::vector<int32_t> resize_label_map(const int32_t* ids, int height, int width, int out_height, int out_width) {
  std::vector<int32_t> out(static_cast<size_t>(out_height) * out_width);
  const std::vector<int> columns = nearest_indices(width, out_width);
  const std::vector<int> rows = nearest_indices(height, out_height);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* row = ids + static_cast<size_t>(rows[y]) * width;
    for (int x = 0; x < out_width; ++x) out[static_cast<size_t>(y) * out_width + x] = row[columns[x]];
  }
  return out;
}

std::vector<uint8_t> resize_rgb(const uint8_t* rgb, int height, int width, int out_height, int out_width) {
  if (height == out_height && width == out_width) return {rgb, rgb + static_cast<size_t>(height) * width * 3};
  const bool shrink = height > 2 * out_height || width > 2 * out_width;  // the Python runtime's rule
  if (!shrink)
    return resize_fixed(rgb, height, width, cubic_axis(width, out_width), cubic_axis(height, out_height), out_height,
                        out_width);
  if (height >= out_height && width >= out_width)
    return resize_area(rgb, height, width, area_axis(width, out_width), area_axis(height, out_height), out_height,
                       out_width);
  return resize_fixed(rgb, height, width, linear_area_axis(width, out_width), linear_area_axis(height, out_height),
                      out_height, out_width);
}

}  // namespace sean::core
