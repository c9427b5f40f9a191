// test_bf16.cc: MathMode::Bf16 on the CPU (kernels/shapes.h): the rounding helper round_to_bf16
// (base/bf16.h) against hand-checked cases and an independent reference on random bit patterns;
// conv2d and linear in Bf16 mode equal the fp32 op on bf16-rounded operands, forward and every
// gradient, and differ from plain fp32 (so skipping the rounding fails); float64 ignores the mode;
// a few training steps in Bf16 mode lower the loss and leave fp32 master weights.
//
// The CUDA kernels are checked against this emulation in tests/kernels/test_ops_cuda.cc (its Bf16 rows).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "base/bf16.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using kernels::MathMode;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Sets the process-wide math mode for one scope and restores fp32 (the default) after it.
struct MathModeScope {
  explicit MathModeScope(MathMode m) { set_cuda_math_mode(m); }
  ~MathModeScope() { set_cuda_math_mode(MathMode::Fp32); }
};

// ---- round_to_bf16 ------------------------------------------------------------------------------

// bits of round_to_bf16(from_bits(in)), so that signed zeros and NaNs compare exactly.
uint32_t rb(uint32_t in) { return bits(round_to_bf16(from_bits(in))); }

TEST(Bf16Round, HandCheckedCases) {
  // Already bf16: unchanged (including both zeros, a negative value and the largest finite).
  for (float v : {0.0f, -0.0f, 1.0f, -2.75f, 0.5f, from_bits(0x7f7f0000u), from_bits(0x00010000u)})
    EXPECT_EQ(bits(round_to_bf16(v)), bits(v)) << v;
  // Near 1 the bf16 step is 2^-7. Exactly halfway: ties to the even neighbour.
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f), 1.0f);                             // tie, 1.0 is even
  EXPECT_EQ(round_to_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);               // tie, 1 + 2^-6 is even
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);        // above the tie: up
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f - 0x1p-23f), 1.0f);                  // below the tie: down
  EXPECT_EQ(round_to_bf16(-(1.0f + 0x1p-8f + 0x1p-20f)), -(1.0f + 0x1p-7f));  // symmetric in sign
  EXPECT_EQ(round_to_bf16(1.9999999f), 2.0f);                                 // carry into the exponent
  EXPECT_EQ(round_to_bf16(0.1f), 0.10009765625f);                             // torch.tensor(0.1).bfloat16()
  // The top of the range: max finite bf16 is 0x7f7f0000 (3.3895e38); from the midpoint to the
  // next power (2^128) it rounds to inf, as torch and __float2bfloat16_rn do.
  EXPECT_EQ(rb(0x7f7f7fffu), 0x7f7f0000u);
  EXPECT_EQ(rb(0x7f7f8000u), 0x7f800000u);  // tie; 0x7f7f is odd, so up, to inf
  EXPECT_EQ(rb(0x7f7fffffu), 0x7f800000u);  // FLT_MAX
  EXPECT_EQ(rb(0xff7fffffu), 0xff800000u);  // -FLT_MAX
  // inf stays inf; NaN stays NaN, also one whose payload sits only in the dropped bits (plain
  // truncation would turn 0x7f800001 into inf).
  EXPECT_EQ(rb(0x7f800000u), 0x7f800000u);
  EXPECT_EQ(rb(0xff800000u), 0xff800000u);
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffffffffu, 0x7fffffffu, 0xff800001u})
    EXPECT_TRUE(std::isnan(from_bits(rb(nan)))) << std::hex << nan;
  // Subnormals round in the same bit pattern: below half a bf16 step to 0, ties to even, a carry
  // out of the largest subnormal lands on FLT_MIN.
  EXPECT_EQ(rb(0x00000001u), 0x00000000u);
  EXPECT_EQ(rb(0x80000001u), 0x80000000u);  // -0
  EXPECT_EQ(rb(0x00008000u), 0x00000000u);  // tie, 0 is even
  EXPECT_EQ(rb(0x00008001u), 0x00010000u);
  EXPECT_EQ(rb(0x00018000u), 0x00020000u);  // tie, 0x0001 is odd: up
  EXPECT_EQ(rb(0x007fffffu), 0x00800000u);  // largest subnormal -> FLT_MIN
  EXPECT_TRUE(is_bf16(1.0f) && !is_bf16(1.0f + 0x1p-20f) && !is_bf16(std::nanf("")));
}

// An independent reference: the two bf16 neighbours of v (truncated, and one step away from zero),
// chosen by distance in double, ties to the even one; one step past the largest finite is 2^128
// for the distance and inf as the result.
uint32_t naive_bf16(uint32_t u) {
  const float v = from_bits(u);
  if (std::isnan(v)) return 0x7fc00000u;  // compared with isnan only
  if (std::isinf(v)) return u;
  const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;  // magnitude order: lo <= |v| < hi
  const double dv = std::fabs(static_cast<double>(v)), dlo = std::fabs(static_cast<double>(from_bits(lo)));
  const double dhi = (hi & 0x7fffffffu) == 0x7f800000u ? std::ldexp(1.0, 128) : std::fabs(double(from_bits(hi)));
  if (dv - dlo < dhi - dv) return lo;
  if (dv - dlo > dhi - dv) return hi;
  return ((lo >> 16) & 1u) ? hi : lo;
}

TEST(Bf16Round, MatchesNaiveReferenceOnRandomBits) {
  std::mt19937 gen(7);
  int checked = 0;
  for (int i = 0; i < 2000000; ++i) {
    // Every bit pattern: all exponents, subnormals, inf and NaN, both signs; every 4th draw sits
    // on or next to a tie.
    uint32_t u = gen();
    if (i % 4 == 0) u = (u & 0xffff0000u) | (0x8000u + (gen() % 3) - 1);
    const uint32_t want = naive_bf16(u), got = rb(u);
    if (std::isnan(from_bits(u))) {
      ASSERT_TRUE(std::isnan(from_bits(got))) << std::hex << u;
      continue;
    }
    ASSERT_EQ(got, want) << std::hex << "input 0x" << u;
    ++checked;
  }
  EXPECT_GT(checked, 1900000);
}

// ---- conv2d and linear ------------------------------------------------------------------------------

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return test::random_tensor(s, seed, DType::Float32, lo, hi);
}

// A float32 copy of t with every value rounded to bf16 (no history).
Tensor rounded(const Tensor& t) {
  Tensor r = t.detach().clone();
  round_to_bf16(r.data<float>(), r.numel());
  return r;
}

using Op = std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b)>;

// op in Bf16 mode against op in fp32 on bf16-rounded x, w and dy: output, dx, dw (products of bf16
// values are exact in fp32 and the GEMMs are the same calls, so 1e-6 is ample) and
// db (the bias gradient sums the unrounded dy in both). Then: the plain fp32 op differs by far
// more, so a skipped rounding fails.
void check_bf16_op(const Op& op, const Shape& xs, const Shape& ws, int64_t nb, uint64_t seed) {
  Tensor x = rnd(xs, seed).requires_grad_(), w = rnd(ws, seed + 1, -0.3, 0.3).requires_grad_();
  Tensor b = rnd({nb}, seed + 2).requires_grad_();
  Tensor y, dx, dw, db, dy;
  {
    MathModeScope bf16(MathMode::Bf16);
    y = op(x, w, b);
    dy = rnd(y.shape(), seed + 3);
    const auto g = autograd::grad({y}, {x, w, b}, {dy});
    dx = g[0], dw = g[1], db = g[2];
  }
  Tensor xr = rounded(x).requires_grad_(), wr = rounded(w).requires_grad_(), br = b.detach().clone().requires_grad_();
  Tensor yr = op(xr, wr, br);
  const auto gr = autograd::grad({yr}, {xr, wr}, {rounded(dy)});
  const auto gb = autograd::grad({op(xr, wr, br)}, {br}, {dy});
  LB_EXPECT_REL(y, yr, 1e-6);
  LB_EXPECT_REL(dx, gr[0], 1e-6);
  LB_EXPECT_REL(dw, gr[1], 1e-6);
  LB_EXPECT_REL(db, gb[0], 1e-6);
  // Plain fp32 on the unrounded tensors: bf16's 8-bit mantissa puts ~3e-3 between them.
  Tensor yf = op(x, w, b);
  const auto gf = autograd::grad({yf}, {x, w}, {dy});
  EXPECT_GT(test::rel_l2_error(y, yf), 3e-4);
  EXPECT_GT(test::rel_l2_error(dx, gf[0]), 3e-4);
  EXPECT_GT(test::rel_l2_error(dw, gf[1]), 3e-4);
}

struct ConvShape {
  int64_t N, C, H, W, K, R, stride, pad;
};

TEST(Bf16Cpu, Conv2dEqualsFp32OnRoundedOperands) {
  // The CPU backend's code paths: a 7x7 stem (C = 1), 3x3 with groups of images, stride 2, a 1x1
  // stride-1 input that is its own column matrix, a 1x1 map with dead taps, and a case above the
  // threading threshold.
  const ConvShape cases[] = {{2, 1, 28, 28, 8, 7, 2, 3}, {3, 8, 7, 7, 8, 3, 1, 1},  {2, 8, 7, 7, 16, 3, 2, 1},
                             {1, 16, 5, 7, 4, 1, 1, 0},  {3, 16, 5, 7, 4, 1, 1, 0}, {5, 16, 1, 1, 8, 3, 1, 1},
                             {8, 32, 7, 7, 32, 3, 1, 1}};
  uint64_t seed = 10;
  for (const ConvShape& c : cases) {
    SCOPED_TRACE("conv N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
                 std::to_string(c.W) + " K=" + std::to_string(c.K) + " R=" + std::to_string(c.R));
    check_bf16_op([&](const Tensor& x, const Tensor& w, const Tensor& b) { return conv2d(x, w, b, c.stride, c.pad); },
                  {c.N, c.C, c.H, c.W}, {c.K, c.C, c.R, c.R}, c.K, seed += 10);
  }
}

TEST(Bf16Cpu, LinearEqualsFp32OnRoundedOperands) {
  uint64_t seed = 100;
  for (auto [n, in, out] : std::vector<std::array<int64_t, 3>>{{3, 5, 7}, {16, 512, 2}, {33, 70, 20}}) {
    SCOPED_TRACE("linear " + std::to_string(n) + "x" + std::to_string(in) + "->" + std::to_string(out));
    check_bf16_op([](const Tensor& x, const Tensor& w, const Tensor& b) { return linear(x, w, b); }, {n, in}, {out, in},
                  out, seed += 10);
  }
}

// float64 is the exact oracle of the finite-difference tests: Bf16 leaves it alone.
TEST(Bf16Cpu, Float64IgnoresTheMode) {
  Tensor x = test::random_tensor({2, 3, 6, 6}, 1), w = test::random_tensor({4, 3, 3, 3}, 2);
  Tensor a = rnd({5, 9}, 3).to(DType::Float64), lw = test::random_tensor({4, 9}, 4);
  const Tensor y = conv2d(x, w, Tensor(), 1, 1), z = linear(a, lw, Tensor());
  MathModeScope bf16(MathMode::Bf16);
  EXPECT_EQ(test::rel_l2_error(conv2d(x, w, Tensor(), 1, 1), y), 0.0);
  EXPECT_EQ(test::rel_l2_error(linear(a, lw, Tensor()), z), 0.0);
}

// A small conv net trained a few SGD steps in Bf16 mode: the loss falls, and the parameters are
// fp32 master weights: float32 tensors whose values are, after the updates, mostly not bf16
// values (a bf16-stored weight could not take the small updates).
TEST(Bf16Cpu, TrainingKeepsFp32MasterWeights) {
  MathModeScope bf16(MathMode::Bf16);
  Tensor w1 = rnd({8, 1, 3, 3}, 40, -0.5, 0.5).requires_grad_(), b1 = rnd({8}, 41, -0.1, 0.1).requires_grad_();
  Tensor w2 = rnd({2, 8}, 42, -0.5, 0.5).requires_grad_(), b2 = rnd({2}, 43, -0.1, 0.1).requires_grad_();
  std::vector<Tensor> params{w1, b1, w2, b2};
  for (Tensor& p : params) round_to_bf16(p.data<float>(), p.numel());  // start from bf16 values
  Tensor x = rnd({16, 1, 8, 8}, 44);
  std::vector<double> labels;
  for (int i = 0; i < 16; ++i) labels.push_back(x.data<float>()[i * 64 + 27] > 0 ? 1 : 0);  // a learnable pixel rule
  const Tensor y = Tensor::from_vector(labels, {16}, DType::Int64);
  auto loss_of = [&] {
    Tensor h = relu(conv2d(x, w1, b1, 1, 1));
    return cross_entropy(linear(flatten(adaptive_avg_pool2d(h, 1, 1)), w2, b2), y);
  };
  const double first = loss_of().item();
  for (int step = 0; step < 20; ++step) {
    Tensor loss = loss_of();
    const auto g = autograd::grad({loss}, params, {});
    for (size_t i = 0; i < params.size(); ++i) {  // plain SGD, lr 0.1, in fp32 on the master weights
      float* p = params[i].data<float>();
      const float* d = g[i].data<float>();
      for (int64_t j = 0; j < params[i].numel(); ++j) p[j] -= 0.1f * d[j];
    }
  }
  EXPECT_LT(loss_of().item(), first);
  int64_t not_bf16 = 0, total = 0;
  for (const Tensor& p : params) {
    EXPECT_EQ(p.dtype(), DType::Float32);
    for (int64_t j = 0; j < p.numel(); ++j) not_bf16 += !is_bf16(p.data<float>()[j]);
    total += p.numel();
  }
  EXPECT_GT(not_bf16, total / 2) << "of " << total << " parameters";
}

}  // namespace
}  // namespace lb
