#include "noise.hpp"

#include <cmath>

namespace sean::core {
namespace {

constexpr uint64_t kMultiplier0 = 0xD2E7470EE14C6C93ull, kMultiplier1 = 0xCA5A826395121157ull;
constexpr uint64_t kWeyl0 = 0x9E3779B97F4A7C15ull, kWeyl1 = 0xBB67AE8584CAA73Bull;  // key bumps per round

inline void mulhilo(uint64_t a, uint64_t b, uint64_t& hi, uint64_t& lo) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  hi = static_cast<uint64_t>(product >> 64);
  lo = static_cast<uint64_t>(product);
}

}  // namespace

std::array<uint64_t, 4> philox4x64_10(std::array<uint64_t, 4> c, std::array<uint64_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) key[0] += kWeyl0, key[1] += kWeyl1;
    uint64_t hi0, lo0, hi1, lo1;
    mulhilo(kMultiplier0, c[0], hi0, lo0);
    mulhilo(kMultiplier1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ key[0], lo1, hi0 ^ c[3] ^ key[1], lo0};
  }
  return c;
}

uint64_t noise_word(uint64_t seed, uint64_t index) {
  return philox4x64_10({index / 4, 0, 0, 0}, {seed, kNoiseTag})[index % 4];
}

void philox_normals(uint64_t seed, float* out, size_t numel) {
  const size_t words = (numel + 1) / 2;
  for (size_t block = 0; block * 4 < words; ++block) {
    const std::array<uint64_t, 4> w = philox4x64_10({block, 0, 0, 0}, {seed, kNoiseTag});
    for (size_t r = 0; r < 4 && block * 4 + r < words; ++r) {
      const size_t k = block * 4 + r;
      const double u1 = (static_cast<double>(w[r] >> 32) + 0.5) * 0x1p-32;         // (0, 1)
      const double u2 = static_cast<double>(w[r] & 0xFFFFFFFFull) * 0x1p-32;        // [0, 1)
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const double theta = kTwoPi * u2;
      out[2 * k] = static_cast<float>(radius * std::cos(theta));
      if (2 * k + 1 < numel) out[2 * k + 1] = static_cast<float>(radius * std::sin(theta));
    }
  }
}

}  // namespace sean::core
