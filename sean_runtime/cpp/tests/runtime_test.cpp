// Unit tests of the pieces that need no package: noise, resizing, style edits.
// The comparison with the Python runtime is tests/test_cpp_runtime.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include <openvino/op/constant.hpp>
#include <openvino/op/gather.hpp>
#include <openvino/op/parameter.hpp>
#include <openvino/op/reduce_sum.hpp>
#include <openvino/openvino.hpp>

#include "noise.hpp"
#include "openvino_rewrites.hpp"
#include "plan_rules.hpp"
#include "resize.hpp"
#include "core.hpp"

#ifdef SEAN_HAVE_RANDOM123
#include <Random123/philox.h>
#endif

namespace {

uint32_t bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

// Known answers of docs/package-format.md (also in tests/test_noise.py).
TEST(Noise, WordsAreTheKnownAnswers) {
  EXPECT_EQ(sean::core::noise_word(0, 0), 0x1C4F56BA4F5B4159ull);
  EXPECT_EQ(sean::core::noise_word(0, 1), 0x491DC329A10E5E2Aull);
  EXPECT_EQ(sean::core::noise_word(0, 3), 0x5327269986D99C17ull);
  EXPECT_EQ(sean::core::noise_word(0, 4), 0x37496C89AEFAEFE4ull);
  EXPECT_EQ(sean::core::noise_word(0, 1001), 0x77E146C13ED76576ull);
  EXPECT_EQ(sean::core::noise_word(1, 0), 0xC3083851EA663F9Full);
  const uint64_t above_2_32 = (1ull << 32) + 7;
  EXPECT_EQ(sean::core::noise_word(above_2_32, 0), 0x69530F3ECB6D866Bull);
  EXPECT_EQ(sean::core::noise_word(above_2_32, 1001), 0xB6A5FC86081879AAull);
  EXPECT_EQ(sean::core::noise_word(~0ull, 0), 0x535AB0F391DFD1F0ull);
}

TEST(Noise, NormalsAreTheKnownAnswersBitForBit) {
  std::vector<float> z(2004);
  sean::core::philox_normals(0, z.data(), z.size());
  EXPECT_EQ(bits(z[0]), 0xBF45B965u);
  EXPECT_EQ(bits(z[1]), 0x3FF9C2ADu);
  EXPECT_EQ(bits(z[2]), 0xBF8B867Cu);
  EXPECT_EQ(bits(z[3]), 0xBF92F3EEu);
  EXPECT_EQ(bits(z[2002]), 0x3D0F752Fu);
  EXPECT_EQ(bits(z[2003]), 0x3F9D9BDBu);
  sean::core::philox_normals((1ull << 32) + 7, z.data(), z.size());
  EXPECT_EQ(bits(z[0]), 0x3EBCE4DCu);
  EXPECT_EQ(bits(z[1]), 0xBFA3ED75u);
  EXPECT_EQ(bits(z[2002]), 0x3F4E38E5u);
  EXPECT_EQ(bits(z[2003]), 0x3E261802u);
}

TEST(Noise, OddLengthsArePrefixesOfLongerDraws) {
  std::vector<float> longer(101), shorter(7, 99.0f);
  sean::core::philox_normals(5, longer.data(), longer.size());
  sean::core::philox_normals(5, shorter.data(), shorter.size());
  for (size_t i = 0; i < shorter.size(); ++i) EXPECT_EQ(bits(shorter[i]), bits(longer[i]));
}

// SEAN_TEST_NOISE: float32 normals of image seed 123 written by numpy (sean_core.noise.philox_normals).
TEST(Noise, EqualsNumpyBitForBitOnALongDraw) {
  const char* path = std::getenv("SEAN_TEST_NOISE");
  if (!path) GTEST_SKIP() << "set SEAN_TEST_NOISE to a numpy draw of seed 123";
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> expected(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
  ASSERT_GT(expected.size(), 1000u);
  std::vector<float> ours(expected.size());
  sean::core::philox_normals(123, ours.data(), ours.size());
  size_t differ = 0;
  for (size_t i = 0; i < ours.size(); ++i) differ += bits(ours[i]) != bits(expected[i]);
  EXPECT_EQ(differ, 0u) << "of " << ours.size();
}

#ifdef SEAN_HAVE_RANDOM123
TEST(Noise, PhiloxEqualsRandom123) {
  std::mt19937_64 rng(1);
  r123::Philox4x64_R<10> reference;
  for (int trial = 0; trial < 1000; ++trial) {
    const std::array<uint64_t, 4> c{rng(), rng(), rng(), rng()};
    const std::array<uint64_t, 2> k{rng(), rng()};
    const auto ours = sean::core::philox4x64_10(c, k);
    const auto theirs = reference({{c[0], c[1], c[2], c[3]}}, {{k[0], k[1]}});
    for (int i = 0; i < 4; ++i) ASSERT_EQ(ours[i], theirs.v[i]) << "trial " << trial;
  }
}
#endif

TEST(Resize, LabelsUsePixelCentreNearestSampling) {
  // Away from exact ties every index is floor((x + 0.5) * in / out); at ties it is within one.
  for (int in : {1, 2, 3, 5, 7, 64, 100, 513})
    for (int out : {1, 2, 3, 4, 33, 64, 99, 256}) {
      const std::vector<int> indices = sean::core::nearest_indices(in, out);
      for (int x = 0; x < out; ++x) {
        const int64_t twice = static_cast<int64_t>(2 * x + 1) * in;  // 2 * (x + 0.5) * in
        const int exact = static_cast<int>(twice / (2 * out));
        if (twice % (2 * out) != 0) ASSERT_EQ(indices[x], exact) << in << " -> " << out << " at " << x;
        else ASSERT_LE(std::abs(indices[x] - exact), 1) << in << " -> " << out << " at " << x;
      }
    }
  // 2x3 ids -> 4x6: every id repeated into a 2x2 block, never blended.
  const std::vector<int32_t> ids{0, 1, 2, 3, 4, 5};
  const std::vector<int32_t> up = sean::core::resize_labels(ids, 2, 3, 4, 6);
  EXPECT_EQ(up, (std::vector<int32_t>{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 3, 3, 4, 4, 5, 5}));
}

TEST(Resize, ImagesKeepConstantsAndAverageAreas) {
  const std::vector<uint8_t> grey(5 * 7 * 3, 77);
  for (auto [h, w] : {std::pair{9, 13}, {4, 6}, {2, 3}}) {
    const std::vector<uint8_t> out = sean::core::resize_image(grey, 5, 7, h, w);
    ASSERT_EQ(out.size(), size_t(h) * w * 3);
    for (uint8_t v : out) ASSERT_EQ(v, 77);
  }
  // 8x8 -> 2x2 is a shrink by 4: each output pixel is the mean of a 4x4 block.
  std::vector<uint8_t> blocks(8 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) blocks[(y * 8 + x) * 3 + c] = static_cast<uint8_t>((y / 4) * 100 + (x / 4) * 20 + x % 4);
  const std::vector<uint8_t> small = sean::core::resize_image(blocks, 8, 8, 2, 2);
  EXPECT_EQ(small[0], 2);                // mean of 0, 1, 2, 3 = 1.5 -> 2 (half to even)
  EXPECT_EQ(small[(0 * 2 + 1) * 3], 22);  // 20 + 1.5 -> 22
  EXPECT_EQ(small[(1 * 2 + 0) * 3], 102);
}

sean::core::Styles styles(std::vector<float> codes, std::vector<uint8_t> present) {
  return sean::core::Styles(std::move(codes), std::move(present), {"a", "b", "c"}, 2);
}

TEST(Styles, SwapTakesTheReferenceCodeAndKeepsTheOwnWhereTheReferenceLacksTheClass) {
  const sean::core::Styles own = styles({1, 1, 2, 2, 3, 3}, {1, 1, 1});
  const sean::core::Styles other = styles({7, 7, 0, 0, 9, 9}, {1, 0, 1});
  const sean::core::Styles swapped = own.swap({"a", "b"}, other);
  EXPECT_EQ(swapped.codes(), (std::vector<float>{7, 7, 2, 2, 3, 3}));
  EXPECT_EQ(swapped.present(), (std::vector<uint8_t>{1, 1, 1}));
  EXPECT_THROW(
      {
        try {
          own.swap({"b"}, other, sean::core::Fallback::error());
        } catch (const sean::core::Error& e) {
          EXPECT_NE(std::string(e.what()).find("lacks class(es) ['b']"), std::string::npos) << e.what();
          throw;
        }
      },
      sean::core::Error);
  const sean::core::Styles fallback = styles({0, 0, 5, 5, 0, 0}, {0, 1, 0});
  EXPECT_EQ(own.swap({"b"}, other, sean::core::Fallback::styles(fallback)).codes(), (std::vector<float>{1, 1, 5, 5, 3, 3}));
}

TEST(Styles, InterpolateMovesOnlyClassesTheImageHas) {
  const sean::core::Styles own = styles({0, 0, 0, 0, 4, 4}, {1, 0, 1});
  const sean::core::Styles other = styles({2, 2, 8, 8, 8, 8}, {1, 1, 1});
  const sean::core::Styles half = own.interpolate(other, 0.5f);
  EXPECT_EQ(half.codes(), (std::vector<float>{1, 1, 0, 0, 6, 6}));
  EXPECT_EQ(half.present(), own.present());
  EXPECT_THROW(own.interpolate(other, NAN), sean::core::Error);
}

TEST(Styles, MeanAveragesWherePresentAndBroadcastingChecksBatches) {
  const sean::core::Styles two = sean::core::Styles::concat({styles({1, 1, 0, 0, 2, 2}, {1, 0, 1}), styles({3, 3, 0, 0, 0, 0}, {1, 0, 0})});
  const sean::core::Styles mean = two.mean();
  EXPECT_EQ(mean.codes(), (std::vector<float>{2, 2, 0, 0, 2, 2}));
  EXPECT_EQ(mean.present(), (std::vector<uint8_t>{1, 0, 1}));
  const sean::core::Styles three = sean::core::Styles::concat({two, two.image(0)});
  EXPECT_THROW(three.swap({"a"}, two), sean::core::Error);  // 2 references for 3 images
  EXPECT_THROW(sean::core::Styles({1, 2}, {1}, {"a"}, 3), sean::core::Error);  // 2 values for [1, 1, 3]
  EXPECT_THROW(two.class_id("nope"), sean::core::Error);
}

// The plan acceptance rule of sean_runtime/backends/plans.py (tests/test_plans.py holds the same cases).
TEST(PlanRules, ComputeCapabilityAlwaysAndTheGpuModelForADefaultBuild) {
  using sean::core::plan_gpu_problem;
  nlohmann::json sidecar = {{"gpu_name", "NVIDIA H100 80GB HBM3"}, {"compute_capability", "9.0"}};
  EXPECT_EQ(plan_gpu_problem(sidecar, 9, 0, "NVIDIA H100 80GB HBM3"), "");  // no field: a default build
  EXPECT_EQ(plan_gpu_problem(sidecar, 9, 0, "NVIDIA H200"),
            "was built for NVIDIA H100 80GB HBM3 without hardware compatibility, so TensorRT promises it only on "
            "that GPU model, and this GPU is NVIDIA H200 (sm_90)");
  sidecar["hardware_compatibility"] = "same_compute_capability";
  EXPECT_EQ(plan_gpu_problem(sidecar, 9, 0, "NVIDIA H200"), "");
  EXPECT_EQ(plan_gpu_problem(sidecar, 8, 9, "NVIDIA L4"),
            "was built for NVIDIA H100 80GB HBM3 (sm_90), but this GPU is NVIDIA L4 (sm_89): a TensorRT plan runs "
            "only on the compute capability it was built for");
  sidecar["compute_capability"] = "bogus";
  EXPECT_NE(plan_gpu_problem(sidecar, 9, 0, "NVIDIA H100 80GB HBM3").find("(unknown compute capability)"),
            std::string::npos);
}

TEST(PlanRules, CapabilitiesInEveryWrittenForm) {
  using sean::core::parse_capability;
  const std::array<int, 2> hopper{9, 0};
  EXPECT_EQ(parse_capability(nlohmann::json::array({9, 0})), hopper);
  EXPECT_EQ(parse_capability("9.0"), hopper);
  EXPECT_EQ(parse_capability("sm_90"), hopper);
  EXPECT_EQ(parse_capability("90"), hopper);
  EXPECT_EQ(parse_capability("sm_120"), (std::array<int, 2>{12, 0}));
  EXPECT_EQ(parse_capability(nullptr), (std::array<int, 2>{-1, -1}));
  EXPECT_EQ(parse_capability("x"), (std::array<int, 2>{-1, -1}));
}

// table [6, 4] = 10 r + c; rows [3, 2]: a Gather of the rows along axis 0, summed over `summed` (keep_dims as given).
std::shared_ptr<ov::Model> gathered_rows_sum(int64_t summed, bool keep_dims) {
  const auto table = std::make_shared<ov::op::v0::Parameter>(ov::element::f32, ov::Shape{6, 4});
  const auto rows = std::make_shared<ov::op::v0::Parameter>(ov::element::i64, ov::Shape{3, 2});
  const auto axis = ov::op::v0::Constant::create(ov::element::i64, ov::Shape{}, {0});
  const auto gather = std::make_shared<ov::op::v8::Gather>(table, rows, axis);
  const auto axes = ov::op::v0::Constant::create(ov::element::i64, ov::Shape{1}, {summed});
  const auto sum = std::make_shared<ov::op::v1::ReduceSum>(gather, axes, keep_dims);
  return std::make_shared<ov::Model>(ov::OutputVector{sum->output(0)}, ov::ParameterVector{table, rows});
}

TEST(OpenVinoRewrites, GatheredRowSumsBecomeBagsWithTheSameSums) {
  const auto model = gathered_rows_sum(1, false);
  EXPECT_EQ(sean::core::sum_gathered_rows_as_bags(model), 1);
  bool bag = false;
  for (const auto& node : model->get_ordered_ops()) {
    EXPECT_NE(std::string(node->get_type_name()), "ReduceSum");
    bag = bag || std::string(node->get_type_name()) == "EmbeddingBagPackedSum";
  }
  EXPECT_TRUE(bag);
  std::vector<float> table(24);
  for (int i = 0; i < 24; ++i) table[i] = float(10 * (i / 4) + i % 4);
  std::vector<int64_t> rows{0, 5, 2, 2, 4, 1};
  ov::Core core;
  ov::InferRequest request = core.compile_model(model, "CPU").create_infer_request();
  request.set_input_tensor(0, ov::Tensor(ov::element::f32, {6, 4}, table.data()));
  request.set_input_tensor(1, ov::Tensor(ov::element::i64, {3, 2}, rows.data()));
  request.infer();
  const ov::Tensor out = request.get_output_tensor();
  ASSERT_EQ(out.get_shape(), (ov::Shape{3, 4}));
  const std::vector<float> want{50, 52, 54, 56, 40, 42, 44, 46, 50, 52, 54, 56};  // rows 0+5, 2+2, 4+1
  EXPECT_EQ(std::vector<float>(out.data<float>(), out.data<float>() + 12), want);
}

TEST(OpenVinoRewrites, OtherSumsStay) {
  EXPECT_EQ(sean::core::sum_gathered_rows_as_bags(gathered_rows_sum(1, true)), 0);  // keeps the summed axis
  EXPECT_EQ(sean::core::sum_gathered_rows_as_bags(gathered_rows_sum(2, false)), 0);  // sums each row's values
  EXPECT_EQ(sean::core::sum_gathered_rows_as_bags(gathered_rows_sum(-2, false)), 1);  // axis 1, counted from the end
}

}  // namespace
