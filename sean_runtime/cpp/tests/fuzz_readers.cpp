// Fuzz target of the readers that take untrusted bytes: label maps and images (PNG, JPEG) and package
// manifests. The first byte of an input picks the reader; every input must end in success or a
// sean::core::Error: any other exception aborts, and the sanitizers of the build catch invalid accesses.
//
// Built with libFuzzer when the compiler is Clang (-DSEAN_FUZZ_LIBFUZZER=ON); otherwise main() below is a
// bounded mutation loop over seed files, which tests/test_cpp_hostile_inputs.py runs under ASan + UBSan:
//   sean_fuzz SEED_DIR SECONDS [RANDOM_SEED]
// SEED_DIR holds *.png (label maps and images), *.jpg (images) and *.json (manifests). Each iteration
// takes a seed, applies 1-4 random mutations (bit flips, special bytes, cuts, copies, deletions, for
// PNG the chunk CRCs recomputed half of the time so that the decoder gets past them, for JSON values
// swapped for huge numbers or deep nesting) and feeds it to its reader.
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "image_io.hpp"
#include "package.hpp"
#include "core.hpp"

namespace {

enum Reader : uint8_t { kLabels = 0, kImage = 1, kManifest = 2, kReaders = 3 };

// 0: accepted, 1: refused with a sean::core::Error.
int feed(Reader reader, const std::vector<unsigned char>& bytes) {
  try {
    if (reader == kLabels) {
      sean::core::label_file_from_bytes(bytes, "fuzz.png");
    } else if (reader == kImage) {
      sean::core::rgb_from_bytes(bytes, "fuzz.img");
    } else {
      sean::core::package_from_manifest("/nonexistent/fuzz-package", std::string(bytes.begin(), bytes.end()));
    }
    return 0;
  } catch (const sean::core::Error&) {
    return 1;
  } catch (const std::exception& exc) {
    std::fprintf(stderr, "fuzz: reader %d threw a non-sean exception: %s\n", int(reader), exc.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  feed(static_cast<Reader>(data[0] % kReaders), std::vector<unsigned char>(data + 1, data + size));
  return 0;
}

#ifndef SEAN_LIBFUZZER

namespace {

struct Seed {
  Reader reader;
  std::vector<unsigned char> bytes;
};

bool is_png(const std::vector<unsigned char>& b) { return b.size() > 8 && b[0] == 0x89 && b[1] == 'P'; }

// Recomputes the CRC of every complete chunk, so that a mutation inside a chunk reaches the decoder.
void fix_png_crcs(std::vector<unsigned char>& b) {
  size_t at = 8;
  while (at + 12 <= b.size()) {
    const uint32_t length = uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
    if (length > b.size() - at - 12) return;
    const uint32_t crc = static_cast<uint32_t>(crc32(0, &b[at + 4], static_cast<uInt>(length + 4)));
    for (int i = 0; i < 4; ++i) b[at + 8 + length + i] = static_cast<unsigned char>(crc >> (24 - 8 * i));
    at += length + 12;
  }
}

void mutate(std::vector<unsigned char>& b, Reader reader, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  const int count = 1 + static_cast<int>(rng() % 4);
  for (int m = 0; m < count; ++m) {
    switch (rng() % (reader == kManifest ? 9 : 7)) {
      case 0:  // flip a bit
        if (!b.empty()) b[pick(b.size())] ^= static_cast<unsigned char>(1u << (rng() % 8));
        break;
      case 1: {  // a special byte
        static const unsigned char special[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x10};
        if (!b.empty()) b[pick(b.size())] = special[pick(sizeof special)];
        break;
      }
      case 2:  // cut the file short
        b.resize(pick(b.size() + 1));
        break;
      case 3: {  // copy a run of bytes elsewhere
        if (b.size() < 2) break;
        const size_t from = pick(b.size()), length = 1 + pick(std::min<size_t>(64, b.size() - from));
        const std::vector<unsigned char> run(b.begin() + from, b.begin() + from + length);
        b.insert(b.begin() + pick(b.size() + 1), run.begin(), run.end());
        break;
      }
      case 4: {  // delete a run
        if (b.empty()) break;
        const size_t from = pick(b.size());
        b.erase(b.begin() + from, b.begin() + from + 1 + pick(std::min<size_t>(32, b.size() - from)));
        break;
      }
      case 5:  // random bytes
        for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n && !b.empty(); ++i)
          b[pick(b.size())] = static_cast<unsigned char>(rng());
        break;
      case 6:  // a 32-bit field set to a large or odd value (PNG / JPEG sizes, chunk lengths)
        if (b.size() >= 4) {
          static const uint32_t values[] = {0, 1, 0xFFFF, 0x10000, 30000, 0x7FFFFFFF, 0xFFFFFFFF};
          const size_t at = pick(b.size() - 3);
          const uint32_t v = values[pick(7)];
          for (int i = 0; i < 4; ++i) b[at + i] = static_cast<unsigned char>(v >> (24 - 8 * i));
        }
        break;
      case 7: {  // a JSON value replaced: a huge number, a string, null, or nesting deeper than the limit
        static const std::string values[] = {"1e400", "-1", "9223372036854775808", "1073741824", "\"x\"", "null",
                                             "[]", "{}", std::string(100000, '[') + std::string(100000, ']')};
        const std::string text(b.begin(), b.end());
        const size_t colon = text.find(':', pick(text.size()));
        if (colon == std::string::npos) break;
        const size_t end = text.find_first_of(",}]", colon + 1);
        const std::string value = values[pick(9)];
        std::string edited = text.substr(0, colon + 1) + value + (end == std::string::npos ? "" : text.substr(end));
        b.assign(edited.begin(), edited.end());
        break;
      }
      case 8: {  // wrap a value in brackets
        const std::string text(b.begin(), b.end());
        const size_t colon = text.find(':', pick(text.size()));
        if (colon == std::string::npos) break;
        const size_t depth = 1 + pick(100);
        std::string edited = text.substr(0, colon + 1) + std::string(depth, '[') + text.substr(colon + 1);
        const size_t end = edited.find_first_of(",}", colon + 1 + depth);
        if (end != std::string::npos) edited.insert(end, std::string(depth, ']'));
        b.assign(edited.begin(), edited.end());
        break;
      }
    }
  }
  if (is_png(b) && rng() % 2) fix_png_crcs(b);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: sean_fuzz SEED_DIR SECONDS [RANDOM_SEED]\n");
    return 2;
  }
  // Small images only: a mutated header must not make one input take seconds (the cap itself is tested).
  if (!std::getenv("SEAN_MAX_IMAGE_PIXELS")) {
#ifdef _WIN32
    _putenv_s("SEAN_MAX_IMAGE_PIXELS", "1048576");
#else
    setenv("SEAN_MAX_IMAGE_PIXELS", "1048576", 1);
#endif
  }
  std::vector<Seed> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string ext = entry.path().extension().string();
    if (ext == ".png") seeds.push_back({kLabels, bytes}), seeds.push_back({kImage, bytes});
    else if (ext == ".jpg") seeds.push_back({kImage, bytes});
    else if (ext == ".json") seeds.push_back({kManifest, bytes});
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "sean_fuzz: no *.png, *.jpg or *.json seeds in %s\n", argv[1]);
    return 2;
  }
  std::mt19937_64 rng(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0);
  const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(std::atof(argv[2]));
  long inputs[kReaders] = {}, refused[kReaders] = {};
  for (const Seed& seed : seeds) refused[seed.reader] += feed(seed.reader, seed.bytes), ++inputs[seed.reader];
  const long seeds_refused = refused[0] + refused[1] + refused[2];
  while (std::chrono::steady_clock::now() < stop) {
    const Seed& seed = seeds[rng() % seeds.size()];
    std::vector<unsigned char> bytes = seed.bytes;
    mutate(bytes, seed.reader, rng);
    refused[seed.reader] += feed(seed.reader, bytes);
    ++inputs[seed.reader];
  }
  std::printf("fuzz: %ld label maps (%ld refused), %ld images (%ld refused), %ld manifests (%ld refused); "
              "%ld seed(s) refused\n",
              inputs[kLabels], refused[kLabels], inputs[kImage], refused[kImage], inputs[kManifest],
              refused[kManifest], seeds_refused);
  return 0;
}

#endif
