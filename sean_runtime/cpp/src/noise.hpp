// The generator's noise, package format 2 (docs/package-format.md, "Noise"): the C++ twin of
// sean_core/noise.py, equal to it bit for bit. Build without FP contraction (-ffp-contract=off):
// a fused multiply-add would round differently from numpy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace sean::core {

inline constexpr uint64_t kNoiseTag = 0x5345414E4E4F4953ull;  // key word 1: "SEANNOIS" in ASCII
inline constexpr double kTwoPi = 6.283185307179586;            // the float64 nearest to 2 pi

// Philox4x64-10 (Salmon et al., SC 2011) of one counter block under one key.
std::array<uint64_t, 4> philox4x64_10(std::array<uint64_t, 4> counter, std::array<uint64_t, 2> key);

// 64-bit word `index` of image seed `seed`'s stream: word 4j + r is output r of block j = counter (j, 0, 0, 0).
uint64_t noise_word(uint64_t seed, uint64_t index);

// numel standard normals of image seed `seed`: word k -> out[2k], out[2k + 1] by Box-Muller in float64.
void philox_normals(uint64_t seed, float* out, size_t numel);

}  // namespace sean::core
