// test_deep_rules_cuda.cc (label gpu): DeepLIFT's relu and max_pool2d rules (explain/deep_rules.h)
// on CUDA against the same rules on the CPU, on random passes.
//
// The CUDA kernels repeat the CPU loops operation for operation, every one explicitly rounded, and
// the max-pool rule adds its credits in the CPU's window order, so the results must be the same
// bits (tolerance 0). The inputs exercise every branch: reference elements equal to their image's
// (Δu = 0) or one float step away (0 < |Δu| < eps: relu's fallback [u_r > 0], the pool's 0),
// elements just past eps, negative pre-activations, ties inside pooling windows (quantised
// values) and overlapping windows whose argmax is shared. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "engine/ops/ops.h"
#include "explain/deep_rules.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {

class CudaDeepRules : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
};

Tensor cuda(const Tensor& t) { return t.to(Device::cuda()); }

// Same bits everywhere (float32, on the CPU).
::testing::AssertionResult same_bits(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << got.str() << " vs " << want.str();
  const float *a = got.data<float>(), *b = want.data<float>();
  for (int64_t i = 0; i < got.numel(); ++i)
    if (std::memcmp(a + i, b + i, sizeof(float)) != 0)
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << b[i] << " (of " << got.numel() << ")";
  return ::testing::AssertionSuccess();
}

// u (rows, ...) random in [-1, 1] (quantised to quarters: ties in the pooling windows), then each
// reference element is set, by its position, to its image's value (Δu = 0), to the next float
// above it (0 < |Δu| <= 6e-8: below both eps), 5e-7 below it (between the pool's and relu's eps),
// 1.5e-6 above it (past relu's eps), or left random.
Tensor make_pass_input(const Shape& s, const DeepPairing& pr, uint64_t seed, bool quantise) {
  Tensor u = test::random_tensor(s, seed, DType::Float32);
  float* p = u.data<float>();
  const int64_t per_row = u.numel() / s[0];
  if (quantise)
    for (int64_t e = 0; e < u.numel(); ++e) p[e] = std::round(p[e] * 4.0f) / 4.0f;
  for (int64_t r = pr.n; r < pr.rows(); ++r) {
    const float* x = p + pr.image_row(r) * per_row;
    float* ref = p + r * per_row;
    for (int64_t e = 0; e < per_row; ++e) {
      switch ((e * 7 + r) % 11) {
        case 0:
          ref[e] = x[e];
          break;
        case 1:
          ref[e] = std::nextafter(x[e], 2.f);
          break;
        case 2:
          ref[e] = x[e] - 5e-7f;
          break;
        case 3:
          ref[e] = x[e] + 1.5e-6f;
          break;
        default:
          break;
      }
    }
  }
  return u;
}

// How many reference elements have |Δu| < eps, 0 < |Δu| < eps (the fallbacks are exercised).
std::pair<int64_t, int64_t> count_small(const Tensor& u, const DeepPairing& pr, double eps) {
  const int64_t per_row = u.numel() / u.size(0);
  const float* p = u.data<float>();
  int64_t zero = 0, tiny = 0;
  for (int64_t r = pr.n; r < pr.rows(); ++r)
    for (int64_t e = 0; e < per_row; ++e) {
      const float du = p[pr.image_row(r) * per_row + e] - p[r * per_row + e];
      if (du == 0.f)
        ++zero;
      else if (std::fabs(du) < static_cast<float>(eps))
        ++tiny;
    }
  return {zero, tiny};
}

TEST_F(CudaDeepRules, ReluRuleMatchesTheCpuBitForBit) {
  uint64_t seed = 100;
  for (const DeepPairing pr : {DeepPairing{1, 1}, DeepPairing{2, 3}, DeepPairing{3, 20}}) {
    for (const Shape& tail : {Shape{5}, Shape{8, 7, 7}, Shape{3, 33, 31}}) {
      Shape s = tail;
      s.insert(s.begin(), pr.rows());
      SCOPED_TRACE("n " + std::to_string(pr.n) + " bc " + std::to_string(pr.bc) + " " + shape_str(s));
      const Tensor u = make_pass_input(s, pr, ++seed, false);
      const Tensor y = relu(u), g = test::random_tensor(s, ++seed, DType::Float32);
      const auto [zero, tiny] = count_small(u, pr, kDeepReluEps);
      EXPECT_GT(zero, 0);
      EXPECT_GT(tiny, 0);
      const Tensor want = deep_relu_rule(u, y, g, pr);
      const Tensor got = deep_relu_rule(cuda(u), cuda(y), cuda(g), pr);
      ASSERT_TRUE(got.device().is_cuda());
      EXPECT_TRUE(same_bits(got.to(Device::cpu()), want));
      // The image rows get 0.
      const int64_t per_row = u.numel() / u.size(0);
      for (int64_t e = 0; e < pr.n * per_row; ++e) ASSERT_EQ(want.data<float>()[e], 0.f) << e;
    }
  }
}

struct PoolCase {
  int64_t C, H, W, kernel, stride, padding;
};

TEST_F(CudaDeepRules, MaxPoolRuleMatchesTheCpuBitForBit) {
  uint64_t seed = 200;
  const PoolCase cases[] = {
      {3, 14, 14, 3, 2, 1},  // ResNet's stem pool: overlapping windows
      {2, 9, 7, 3, 2, 1},    // odd sizes
      {4, 8, 8, 2, 2, 0},    // no overlap
      {2, 7, 9, 3, 1, 1},    // stride 1: every position in up to 9 windows
      {1, 11, 10, 4, 3, 2},  // padding = kernel / 2
  };
  for (const DeepPairing pr : {DeepPairing{1, 2}, DeepPairing{2, 3}}) {
    for (const PoolCase& c : cases) {
      for (const bool quantise : {false, true}) {
        for (const bool overwrite : {false, true}) {
          SCOPED_TRACE("n " + std::to_string(pr.n) + " bc " + std::to_string(pr.bc) + " C " + std::to_string(c.C) +
                       " " + std::to_string(c.H) + "x" + std::to_string(c.W) + " k " + std::to_string(c.kernel) +
                       " s " + std::to_string(c.stride) + " p " + std::to_string(c.padding) +
                       (quantise ? " ties" : "") + (overwrite ? " overwrite" : " add"));
          const Tensor u = make_pass_input({pr.rows(), c.C, c.H, c.W}, pr, ++seed, quantise);
          const Tensor y = max_pool2d(u, c.kernel, c.stride, c.padding);
          const Tensor g = test::random_tensor(y.shape(), ++seed, DType::Float32);
          const auto [zero, tiny] = count_small(u, pr, kDeepPoolEps);
          EXPECT_GT(zero, 0);
          EXPECT_GT(tiny, 0);
          const MaxPool2dSettings st{c.kernel, c.stride, c.padding};
          const Tensor want = deep_maxpool_rule(u, y, g, st, pr, overwrite);
          const Tensor got = deep_maxpool_rule(cuda(u), cuda(y), cuda(g), st, pr, overwrite);
          ASSERT_TRUE(got.device().is_cuda());
          EXPECT_TRUE(same_bits(got.to(Device::cpu()), want));
        }
      }
    }
  }
}

// The rule refuses mismatched devices and non-float32 data on CUDA with one line.
TEST_F(CudaDeepRules, MixedDevicesAreRefused) {
  const DeepPairing pr{1, 1};
  const Tensor u = test::random_tensor({2, 3}, 1, DType::Float32), y = relu(u);
  test::expect_error([&] { deep_relu_rule(cuda(u), y, cuda(u), pr); }, {"deep", "one device"});
}

}  // namespace
}  // namespace lb::explain
