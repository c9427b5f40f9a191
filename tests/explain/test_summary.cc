// The numbers under every picture (explain/summary.h): positive/negative/net/gap on a hand-made
// attribution, and the lung-field mask's shape.
#include <gtest/gtest.h>

#include <cmath>

#include "explain/summary.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;

// The mask at 28x28: left-right mirror symmetric (the ellipses are), the two fields do not
// touch the midline column, the centres of the fields are in and the corners out, and it covers
// about a third of the image (pi * 0.18 * 0.34 * 2 = 0.385 of the square, less the clipped edges).
TEST(Summary, LungMaskShape) {
  const int64_t H = 28, W = 28;
  const Tensor m = lung_mask(H, W);
  const uint8_t* p = m.data<uint8_t>();
  int64_t inside = 0;
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      EXPECT_EQ(p[i * W + j], p[i * W + (W - 1 - j)]) << i << "," << j;
      inside += p[i * W + j];
    }
  EXPECT_EQ(p[14 * W + 8], 1);   // the image's left lung field
  EXPECT_EQ(p[14 * W + 19], 1);  // the right one
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[14 * W + 13], 0);  // the mediastinum between them
  EXPECT_EQ(p[14 * W + 14], 0);
  const double area = static_cast<double>(inside) / (H * W);
  EXPECT_NEAR(area, M_PI * 0.18 * 0.34 * 2, 0.03);
  expect_error([] { lung_mask(0, 4); }, {"positive"});
}

TEST(Summary, NumbersOfAHandMadeAttribution) {
  const int64_t N = 1, K = 2, H = 4, W = 4;
  Attribution a;
  a.values = Tensor::zeros({N, K, 1, H, W}, DType::Float64);
  double* v = a.values.data<double>();
  v[0] = 3.0, v[5] = -1.0, v[6] = 0.5;  // output 0: pixel 0 is a corner (outside), 5 and 6 inside
  v[16 + 10] = -2.0;                    // output 1: one negative pixel, inside
  a.outputs = Tensor::from_vector({4.0, -1.0}, {N, K}, DType::Float64);
  a.expected = Tensor::from_vector({1.0, 0.5}, {K}, DType::Float64);
  a.gaps = completeness_gaps(a.values, a.outputs, a.expected);
  const auto s = summarise(a, a.values);
  ASSERT_EQ(s.size(), 1u);
  ASSERT_EQ(s[0].size(), 2u);
  EXPECT_DOUBLE_EQ(s[0][0].positive, 3.5);
  EXPECT_DOUBLE_EQ(s[0][0].negative, -1.0);
  EXPECT_DOUBLE_EQ(s[0][0].net, 2.5);
  EXPECT_DOUBLE_EQ(s[0][0].gap, 4.0 - 1.0 - 2.5);
  EXPECT_DOUBLE_EQ(s[0][0].expected, 1.0);
  const Tensor mask = lung_mask(H, W);
  ASSERT_EQ(mask.data<uint8_t>()[0], 0);
  ASSERT_EQ(mask.data<uint8_t>()[5], 1);
  ASSERT_EQ(mask.data<uint8_t>()[6], 1);
  EXPECT_DOUBLE_EQ(s[0][0].lung_share, 1.5 / 4.5);  // |-1| + |0.5| of 4.5 in the fields
  EXPECT_DOUBLE_EQ(s[0][1].positive, 0.0);
  EXPECT_DOUBLE_EQ(s[0][1].net, -2.0);
  EXPECT_DOUBLE_EQ(s[0][1].gap, -1.0 - 0.5 + 2.0);
  EXPECT_TRUE(std::isnan(summarise(Attribution{"x", "input", a.values, Tensor(), a.outputs, Tensor(), Tensor(), {}},
                                   Tensor::zeros({N, K, 1, H, W}, DType::Float64))[0][0]
                             .lung_share));
  const auto j = to_json(s[0][0]);
  EXPECT_DOUBLE_EQ(j["net"].get<double>(), 2.5);
  expect_error([&] { summarise(a, Tensor::zeros({N, K, 2, H, W}, DType::Float64)); }, {"(N, K, 1, H, W)"});
}

}  // namespace
}  // namespace lb::explain
