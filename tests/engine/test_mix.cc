// test_mix.cc: mixup and cutmix (engine/data/mix.h) against what the papers define:
//   - mixup: every pixel is lam * x_i + (1 - lam) * x_perm(i), checked in double precision;
//   - cutmix: every pixel is x_i or x_perm(i), the pasted ones form one rectangle shared by the
//     batch, and lam is exactly the kept fraction;
//   - perm is a permutation and y2 = y[perm]; the same generator seed gives the same batch;
//   - Beta draws have the mean and variance of Beta(a, b);
//   - bad specs are one error that shows the accepted forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/data/mix.h"
#include "tests/support/check.h"

namespace lb::data {
namespace {

using lb::test::error_of;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A batch of n distinct images (every pixel value tells the image it came from) and labels i % 2.
void batch(int64_t n, int64_t c, int64_t h, int64_t w, Tensor& x, Tensor& y) {
  Generator g(11);
  x = Tensor::rand({n, c, h, w}, g, -1.0, 1.0);
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i * c * h * w] = static_cast<float>(10 * i);  // unique per image
  std::vector<double> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<double>(i % 2);
  y = Tensor::from_vector(labels, {n}, DType::Int64);
}

void expect_permutation(const std::vector<int64_t>& perm, int64_t n) {
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(n);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
}

TEST(Mix, ParsesTheThreeFormsAndRefusesTheRest) {
  EXPECT_FALSE(parse_mix("none").enabled());
  EXPECT_FALSE(parse_mix("").enabled());
  const MixConfig m = parse_mix("mixup:0.2");
  EXPECT_EQ(m.kind, MixConfig::Kind::Mixup);
  EXPECT_DOUBLE_EQ(m.alpha, 0.2);
  EXPECT_EQ(parse_mix("cutmix:1").kind, MixConfig::Kind::Cutmix);
  for (const char* bad :
       {"mixup", "mixup:", "mixup:0", "mixup:-1", "mixup:x", "mixup:0.2x", "cutmix:1000", "blend:1"}) {
    const std::string msg = error_of([&] { parse_mix(bad); });
    EXPECT_TRUE(contains(msg, "--mix must be none, mixup:ALPHA or cutmix:ALPHA")) << bad << " gave: " << msg;
  }
}

TEST(Mix, MixupBlendsEveryPixelWithOnePartnerByLam) {
  Tensor x, y;
  batch(8, 2, 5, 6, x, y);
  const Tensor before = x.clone();
  Generator g(5);
  const Mixed m = mix_batch(x, y, parse_mix("mixup:0.4"), g);
  ASSERT_GT(m.lam, 0.0);
  ASSERT_LT(m.lam, 1.0);
  expect_permutation(m.perm, 8);
  EXPECT_NE(m.perm, std::vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7}));
  const int64_t img = 2 * 5 * 6;
  const float* s = before.data<float>();
  const float* d = x.data<float>();
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(m.y2.data<int64_t>()[i], y.data<int64_t>()[m.perm[i]]);
    for (int64_t k = 0; k < img; ++k) {
      const double want = m.lam * s[i * img + k] + (1.0 - m.lam) * s[m.perm[i] * img + k];
      ASSERT_NEAR(d[i * img + k], want, 1e-5 * (1.0 + std::fabs(want))) << "image " << i << " pixel " << k;
    }
  }
}

TEST(Mix, CutmixPastesOneRectangleAndLamIsTheKeptFraction) {
  const int64_t h = 12, w = 10;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Tensor x, y;
    batch(6, 1, h, w, x, y);
    const Tensor before = x.clone();
    Generator g(seed);
    const Mixed m = mix_batch(x, y, parse_mix("cutmix:1"), g);
    expect_permutation(m.perm, 6);
    const float* s = before.data<float>();
    const float* d = x.data<float>();
    // Which pixels came from the partner: the same set in every image whose partner is another.
    std::vector<int> pasted(h * w, -1);
    for (int64_t i = 0; i < 6; ++i) {
      if (m.perm[i] == i) continue;
      for (int64_t k = 0; k < h * w; ++k) {
        const bool own = d[i * h * w + k] == s[i * h * w + k];
        const bool partner = d[i * h * w + k] == s[m.perm[i] * h * w + k];
        ASSERT_TRUE(own || partner) << "seed " << seed << ": a pixel from neither image";
        const int from_partner = own ? 0 : 1;
        if (pasted[k] < 0) pasted[k] = from_partner;
        ASSERT_EQ(pasted[k], from_partner) << "seed " << seed << ": images were cut differently";
      }
    }
    // The pasted pixels form a rectangle, and lam is 1 - its area / (H W).
    int64_t n = 0, r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (int64_t k = 0; k < h * w; ++k)
      if (pasted[k] == 1) {
        ++n;
        r0 = std::min(r0, k / w), r1 = std::max(r1, k / w), c0 = std::min(c0, k % w), c1 = std::max(c1, k % w);
      }
    if (n > 0) EXPECT_EQ(n, (r1 - r0 + 1) * (c1 - c0 + 1)) << "seed " << seed;
    EXPECT_DOUBLE_EQ(m.lam, 1.0 - static_cast<double>(n) / (h * w)) << "seed " << seed;
  }
}

TEST(Mix, SameSeedSameBatchAndDisabledLeavesTheBatchAlone) {
  Tensor x1, x2, y;
  batch(8, 1, 4, 4, x1, y);
  batch(8, 1, 4, 4, x2, y);
  Generator g1(9), g2(9);
  const Mixed a = mix_batch(x1, y, parse_mix("mixup:0.2"), g1);
  const Mixed b = mix_batch(x2, y, parse_mix("mixup:0.2"), g2);
  EXPECT_EQ(a.lam, b.lam);
  EXPECT_EQ(a.perm, b.perm);
  EXPECT_EQ(0, std::memcmp(x1.raw_data(), x2.raw_data(), x1.nbytes()));

  Tensor x, y0;
  batch(4, 1, 4, 4, x, y0);
  const Tensor before = x.clone();
  Generator g(1);
  const Mixed off = mix_batch(x, y0, parse_mix("none"), g);
  EXPECT_EQ(off.lam, 1.0);
  EXPECT_EQ(off.perm, std::vector<int64_t>({0, 1, 2, 3}));
  EXPECT_EQ(0, std::memcmp(x.raw_data(), before.raw_data(), x.nbytes()));
  Tensor wrong = Tensor::zeros({4, 16});
  EXPECT_TRUE(contains(error_of([&] { mix_batch(wrong, y0, parse_mix("mixup:1"), g); }), "(B, C, H, W)"));
}

TEST(Mix, BetaDrawsHaveBetasMeanAndVariance) {
  for (const auto& [a, b] : std::vector<std::pair<double, double>>{{0.2, 0.2}, {1.0, 1.0}, {2.0, 5.0}}) {
    Generator g(42);
    const int n = 40000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double v = sample_beta(a, b, g);
      ASSERT_GE(v, 0.0);
      ASSERT_LE(v, 1.0);
      s += v;
      s2 += v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    const double want_mean = a / (a + b), want_var = a * b / ((a + b) * (a + b) * (a + b + 1));
    // Standard error of the mean is sqrt(var / n) < 0.0025; 4 of them.
    EXPECT_NEAR(mean, want_mean, 0.01) << "Beta(" << a << ", " << b << ")";
    EXPECT_NEAR(var, want_var, 0.08 * want_var) << "Beta(" << a << ", " << b << ")";
  }
}

}  // namespace
}  // namespace lb::data
