// test_conv2d_v2_index.cc (label cpu): the index math of the v2 implicit-GEMM conv kernels
// (lab/conv2d_v2_problems.cuh), run on the host without a GPU. conv2d_v2_problems.cuh compiles
// as host C++ under LB_CONV2D_EMULATE once this file supplies __device__, __forceinline__ and
// __umulhi. For every block of every direction, each of the 256 threads' load() runs into a
// recording sink in place of cp.async: every shared-memory slot of every A and B tile must be
// written exactly once (the padding columns never), from inside the source tensor; the tiles are
// then multiplied in double and the C tile written through the problem's store(), with the same
// grid, split-K slicing, weight transposition and dw reduction as lab/conv2d_v2.cu. The result must match the CPU
// convolution (engine/cpu/conv2d.h) at every ResNet18 layer shape (28x28 batch 2, 224x224 batch 1)
// and at odd shapes (partial tiles, strides 2-4, dead taps, tapless stride classes, both the
// one-tap-per-tile and the per-element paths). The thread -> C mappings of the fp32 micro-tile and
// the tf32 warp tiles are checked to cover each tile exactly once.
//
// What this cannot see: the cp.async pipeline (stage indices, wait counts, barriers), the float4 and
// wmma shared-memory reads, and the epilogue's shared-memory staging. Those run only on a GPU
// (tests/lab/test_conv2d_v2_cuda.cc and the kernel lab).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include "base/common.h"
#include "engine/cpu/conv2d.h"
#include "lab/cases.h"

// (tests/CMakeLists.txt builds this file with -Wno-unknown-pragmas: the headers' #pragma unroll.)
#define LB_CONV2D_EMULATE 1
#define __device__
#define __forceinline__ inline
inline uint32_t __umulhi(uint32_t a, uint32_t b) { return static_cast<uint32_t>((uint64_t(a) * b) >> 32); }
#include "lab/conv2d_v2_problems.cuh"
#undef __device__
#undef __forceinline__

namespace lb {
namespace {

using namespace kernels::conv_v2;
using kernels::Conv2dShape;

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Records one tile's copies: value (0 for zero-fill) and how often each slot was written; counts
// copies whose source lies outside its tensor.
struct RecSink {
  std::vector<float> A, B;
  std::vector<int> na, nb;
  std::vector<char> va, vb;  // the copy was valid (not a zero-fill)
  const float *abase, *bbase;
  size_t asize, bsize;
  int64_t out_of_range = 0;
  RecSink(int bn, const float* a, size_t an, const float* b, size_t bnum)
      : A(kBK * kLdA),
        B(kBK * (bn + 4)),
        na(A.size()),
        nb(B.size()),
        va(A.size()),
        vb(B.size()),
        abase(a),
        bbase(b),
        asize(an),
        bsize(bnum) {}
  void reset() {
    std::fill(A.begin(), A.end(), kNaN);
    std::fill(B.begin(), B.end(), kNaN);
    std::fill(na.begin(), na.end(), 0);
    std::fill(nb.begin(), nb.end(), 0);
    std::fill(va.begin(), va.end(), 0);
    std::fill(vb.begin(), vb.end(), 0);
  }
  static void put(std::vector<float>& t, std::vector<int>& n, std::vector<char>& vf, int slot, const float* src,
                  bool valid, const float* base, size_t size, int64_t& bad) {
    if (slot < 0 || slot >= static_cast<int>(t.size())) {
      ++bad;
      return;
    }
    if (src < base || src >= base + size) ++bad;  // also for zero-fill: the address must be mapped
    ++n[slot];
    vf[slot] = valid;
    t[slot] = valid && src >= base && src < base + size ? *src : 0.f;
  }
  void a(int slot, const float* src, bool valid) { put(A, na, va, slot, src, valid, abase, asize, out_of_range); }
  void b(int slot, const float* src, bool valid) { put(B, nb, vb, slot, src, valid, bbase, bsize, out_of_range); }
};

// Runs the kernel's grid on the host: every block (x, y, z), its k-tiles through the sink, the
// product in double, and the problem's store. Returns false (with a message) on a coverage error.
template <int BN, class Prob>
::testing::AssertionResult emulate(const Prob& prob, int zdim, int chunk, const float* abase, size_t asize,
                                   const float* bbase, size_t bsize) {
  const int gm = (prob.M + kBM - 1) / kBM, gn = (prob.Ncols + BN - 1) / BN;
  RecSink sink(BN, abase, asize, bbase, bsize);
  std::vector<typename Prob::template State<BN>> st(kThreads);
  std::vector<double> C(static_cast<size_t>(kBM) * BN);
  for (int z = 0; z < zdim; ++z)
    for (int by = 0; by < gn; ++by)
      for (int bx = 0; bx < gm; ++bx) {
        typename Prob::Table tab{};
        prob.stage(tab, z);
        int kbeg = 0, kend = 0;
        prob.slice(tab, z, chunk, kbeg, kend);
        const int m0 = bx * kBM, n0 = by * BN, ntiles = (kend - kbeg + kBK - 1) / kBK;
        for (int tid = 0; tid < kThreads; ++tid) prob.template init<BN>(st[tid], tab, m0, n0, tid);
        std::fill(C.begin(), C.end(), 0.0);
        for (int t = 0; t < ntiles; ++t) {
          sink.reset();
          for (int tid = 0; tid < kThreads; ++tid)
            prob.template load<BN>(st[tid], tab, kbeg + t * kBK, kend, tid, sink);
          if (sink.out_of_range)
            return ::testing::AssertionFailure() << sink.out_of_range << " copies from outside the source (block " << bx
                                                 << "," << by << "," << z << " tile " << t << ")";
          for (int kl = 0; kl < kBK; ++kl) {
            // Past the slice's end both operands must be zero-fills (0 * anything would do, but not
            // 0 * inf, and a copy there reads memory nobody asked for).
            if (kbeg + t * kBK + kl >= kend) {
              for (int c = 0; c < kBM; ++c)
                if (sink.va[kl * kLdA + c])
                  return ::testing::AssertionFailure() << "A slot (" << kl << ", " << c << ") copied past the end";
              for (int c = 0; c < BN; ++c)
                if (sink.vb[kl * (BN + 4) + c])
                  return ::testing::AssertionFailure() << "B slot (" << kl << ", " << c << ") copied past the end";
            }
            for (int c = 0; c < kLdA; ++c)
              if (sink.na[kl * kLdA + c] != (c < kBM ? 1 : 0))
                return ::testing::AssertionFailure()
                       << "A slot (" << kl << ", " << c << ") written " << sink.na[kl * kLdA + c] << " times (block "
                       << bx << "," << by << "," << z << " tile " << t << ")";
            for (int c = 0; c < BN + 4; ++c)
              if (sink.nb[kl * (BN + 4) + c] != (c < BN ? 1 : 0))
                return ::testing::AssertionFailure()
                       << "B slot (" << kl << ", " << c << ") written " << sink.nb[kl * (BN + 4) + c]
                       << " times (block " << bx << "," << by << "," << z << " tile " << t << ")";
          }
          for (int kl = 0; kl < kBK; ++kl)
            for (int m = 0; m < kBM; ++m) {
              const double a = sink.A[kl * kLdA + m];
              if (a == 0.0) continue;
              for (int n = 0; n < BN; ++n) C[m * BN + n] += a * sink.B[kl * (BN + 4) + n];
            }
        }
        for (int m = 0; m < kBM; ++m)
          for (int n = 0; n < BN; ++n)
            if (m0 + m < prob.M && n0 + n < prob.Ncols)
              prob.store(tab, z, m0 + m, n0 + n, static_cast<float>(C[m * BN + n]));
      }
  return ::testing::AssertionSuccess();
}

template <class Prob>
::testing::AssertionResult emulate_any(const Prob& prob, int zdim, int chunk, const float* a, size_t an, const float* b,
                                       size_t bnum) {
  return choose_bn(prob.Ncols) == 64 ? emulate<64>(prob, zdim, chunk, a, an, b, bnum)
                                     : emulate<128>(prob, zdim, chunk, a, an, b, bnum);
}

double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

std::vector<float> randoms(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
  for (float& e : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    e = static_cast<float>((s >> 40) * (2.0 / 16777216.0) - 1.0);
  }
  return v;
}

// The launcher's weight copy (conv2d_v2_transpose_weights_kernel), on the host.
std::vector<float> transposed(const std::vector<float>& w, const Conv2dShape& s, WeightLayout layout) {
  std::vector<float> out(w.size());
  for (size_t o = 0; o < out.size(); ++o)
    out[o] = w[weight_source(layout, static_cast<int>(s.K), static_cast<int>(s.C), static_cast<int>(s.R * s.S),
                             static_cast<int>(o))];
  return out;
}

cpu::Conv2dArgs args_of(const Conv2dShape& s) { return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q}; }

std::string str(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N=" << s.N << " C=" << s.C << " " << s.H << "x" << s.W << " K=" << s.K << " " << s.R << "x" << s.S << "/"
     << s.stride << " pad " << s.pad;
  return os.str();
}

constexpr double kTol = 2e-6;  // double products summed in another order than the CPU's float GEMM

// The reference is the CPU's direct method (implicit GEMM), not Winograd, whose float32 error
// (relative L2 ~2e-6 for F(4x4)) is of another kind than a reordered sum.
struct DirectCpuConv {
  cpu::ConvAlgo before = cpu::conv_algo();
  DirectCpuConv() { cpu::set_conv_algo(cpu::ConvAlgo::Implicit); }
  ~DirectCpuConv() { cpu::set_conv_algo(before); }
};

void check_forward(const Conv2dShape& s) {
  const DirectCpuConv direct;
  SCOPED_TRACE("forward " + str(s));
  const std::vector<float> x = randoms(s.N * s.C * s.H * s.W, 1), w = randoms(s.K * s.C * s.R * s.S, 2),
                           bias = randoms(s.K, 3);
  std::vector<float> want(static_cast<size_t>(s.N * s.K * s.P * s.Q)), got(want.size(), kNaN);
  cpu::conv2d_forward<float>(args_of(s), x.data(), w.data(), bias.data(), want.data());
  const Plan plan = make_plan(s, "test");
  const std::vector<float> wt = transposed(w, s, WeightLayout::kForward);
  if (plan.d.C % kBK == 0)
    EXPECT_TRUE(emulate_any(forward_problem<true>(plan, x.data(), wt.data(), bias.data(), got.data()), 1, 0, x.data(),
                            x.size(), wt.data(), wt.size()));
  else
    EXPECT_TRUE(emulate_any(forward_problem<false>(plan, x.data(), wt.data(), bias.data(), got.data()), 1, 0, x.data(),
                            x.size(), wt.data(), wt.size()));
  EXPECT_LE(rel_l2(got, want), kTol);
}

void check_backward_input(const Conv2dShape& s) {
  const DirectCpuConv direct;
  if (s.C <= 8 || s.stride > kMaxPhase) return;  // the launcher runs v1 there
  SCOPED_TRACE("backward_input " + str(s));
  const std::vector<float> dy = randoms(s.N * s.K * s.P * s.Q, 4), w = randoms(s.K * s.C * s.R * s.S, 5);
  std::vector<float> want(static_cast<size_t>(s.N * s.C * s.H * s.W)), got(want.size(), kNaN);
  cpu::conv2d_backward_input<float>(args_of(s), dy.data(), w.data(), want.data());
  const Plan plan = make_plan(s, "test");
  const int classes = plan.d.stride * plan.d.stride;
  const std::vector<float> wt = transposed(w, s, WeightLayout::kBackwardInput);
  if (plan.d.K % kBK == 0)
    EXPECT_TRUE(emulate_any(backward_input_problem<true>(plan, dy.data(), wt.data(), got.data()), classes, 0, dy.data(),
                            dy.size(), wt.data(), wt.size()));
  else
    EXPECT_TRUE(emulate_any(backward_input_problem<false>(plan, dy.data(), wt.data(), got.data()), classes, 0,
                            dy.data(), dy.size(), wt.data(), wt.size()));
  EXPECT_LE(rel_l2(got, want), kTol);
}

// sms: the SM count the split-K heuristic sees (132: an H100/H200; 1: no split).
void check_backward_weight(const Conv2dShape& s, int sms) {
  const DirectCpuConv direct;
  SCOPED_TRACE("backward_weight " + str(s) + " sms " + std::to_string(sms));
  const std::vector<float> x = randoms(s.N * s.C * s.H * s.W, 6), dy = randoms(s.N * s.K * s.P * s.Q, 7);
  std::vector<float> want(static_cast<size_t>(s.K * s.C * s.R * s.S)), got(want.size(), kNaN);
  cpu::conv2d_backward_weight<float>(args_of(s), x.data(), dy.data(), want.data());
  const Plan plan = make_plan(s, "test");
  if (plan.d.T == 0) return;  // the launcher zeroes dw
  WeightProblem prob = weight_problem(plan, x.data(), dy.data());
  const int bn = choose_bn(prob.Ncols);
  const int64_t tiles_mn = ((prob.M + kBM - 1) / kBM) * ((prob.Ncols + bn - 1) / bn);
  int splits = 1, chunk = 0;
  weight_splits(tiles_mn, prob.red, sms, splits, chunk);
  ASSERT_GE(splits, 1);
  ASSERT_LT(static_cast<int64_t>(splits - 1) * chunk, prob.red) << "an empty trailing slice";
  ASSERT_GE(static_cast<int64_t>(splits) * chunk, prob.red) << "reductions left out";
  if (splits == 1 && plan.all_live) {
    prob.out = got.data();
    EXPECT_TRUE(emulate_any(prob, 1, chunk, dy.data(), dy.size(), x.data(), x.size()));
  } else {
    const int64_t kct = static_cast<int64_t>(prob.M) * prob.Ncols;
    std::vector<float> ws(static_cast<size_t>(splits * kct), kNaN);
    prob.out = ws.data();
    EXPECT_TRUE(emulate_any(prob, splits, chunk, dy.data(), dy.size(), x.data(), x.size()));
    if (!plan.all_live) std::fill(got.begin(), got.end(), 0.f);
    for (int64_t idx = 0; idx < kct; ++idx) {  // conv2d_v2_weight_reduce_kernel
      float acc = 0.f;
      for (int z = 0; z < splits; ++z) acc += ws[z * kct + idx];
      got[weight_target(plan.d, plan.taps.r, plan.taps.s, idx)] = acc;
    }
  }
  EXPECT_LE(rel_l2(got, want), kTol);
}

void check_all(const Conv2dShape& s) {
  check_forward(s);
  check_backward_input(s);
  check_backward_weight(s, 132);
  check_backward_weight(s, 1);
}

Conv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t stride, int64_t pad) {
  return Conv2dShape{N, C, H, W, K, R, R, stride, pad, (H + 2 * pad - R) / stride + 1, (W + 2 * pad - R) / stride + 1};
}

TEST(Conv2dV2Index, ResNet18ShapesAt28) {
  for (const auto& c : kernels::lab::resnet18_cases(28, 2))
    if (c.op == kernels::lab::OpKind::Conv2d) check_all(c.conv);
}

TEST(Conv2dV2Index, ResNet18ShapesAt224) {
  for (const auto& c : kernels::lab::resnet18_cases(224, 1))
    if (c.op == kernels::lab::OpKind::Conv2d) check_all(c.conv);
}

TEST(Conv2dV2Index, OddShapes) {
  for (const Conv2dShape& s : {
           shape(1, 1, 5, 5, 1, 3, 1, 1),       // one of everything
           shape(2, 3, 7, 5, 5, 3, 2, 1),       // per-element path, stride 2
           shape(3, 32, 9, 11, 70, 3, 2, 1),    // one-tap tiles, partial N tile (BN 128)
           shape(2, 16, 5, 7, 130, 3, 1, 1),    // two N tiles, the second nearly empty
           shape(2, 48, 13, 13, 33, 5, 3, 2),   // stride 3, 5x5; backward_input per element (K = 33)
           shape(2, 24, 12, 10, 32, 3, 2, 1),   // backward_input one-tap tiles, stride 2, even sizes
           shape(1, 17, 6, 6, 33, 3, 1, 0),     // no padding
           shape(5, 65, 3, 3, 70, 3, 1, 1),     // tiny planes, odd channels
           shape(2, 8, 1, 1, 9, 3, 1, 1),       // 1x1 maps: one live tap
           shape(2, 32, 1, 1, 48, 3, 2, 1),     // one live tap on the one-tap path
           shape(3, 12, 9, 7, 17, 1, 2, 0),     // 1x1 stride 2: three tapless classes write zeros
           shape(2, 16, 2, 2, 16, 3, 2, 1),     // stride 2 with dead taps
           shape(2, 32, 11, 9, 16, 7, 4, 3),    // stride 4, 7x7
           shape(1, 16, 40, 40, 200, 3, 1, 1),  // M > 1000 rows, two N tiles
       })
    check_all(s);
}

// The fp32 micro-tile and the tf32 warp tiles cover the 128 x BN C tile exactly once, and every
// column lies in the epilogue chunk it is written in.
template <int BN>
void check_c_mappings() {
  std::vector<int> seen(static_cast<size_t>(kBM) * BN, 0);
  for (int tid = 0; tid < kThreads; ++tid)
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < BN / 16; ++j) {
        const int m = fp_row(tid % 16, i), n = fp_col(tid / 16, j);
        ASSERT_TRUE(m >= 0 && m < kBM && n >= 0 && n < BN);
        EXPECT_EQ(n / kEpiCols, j / 4);
        EXPECT_EQ(n - kEpiCols * (j / 4), (tid / 16) * 4 + j % 4);  // the Cs row the epilogue writes
        ++seen[m * BN + n];
      }
  for (int v : seen) ASSERT_EQ(v, 1) << "fp32, BN " << BN;
  std::fill(seen.begin(), seen.end(), 0);
  using WT = WarpTiles<BN>;
  EXPECT_EQ(WT::kWarpsM * WT::kWarpsN, kThreads / 32);
  for (int warp = 0; warp < kThreads / 32; ++warp) {
    EXPECT_EQ(WT::wn(warp) / kEpiCols, (WT::wn(warp) + 31) / kEpiCols);  // a warp's columns in one chunk
    for (int i = 0; i < WT::kFM; ++i)
      for (int j = 0; j < WT::kFN; ++j)
        for (int r = 0; r < 16; ++r)
          for (int c = 0; c < 16; ++c) ++seen[(WT::wm(warp) + 16 * i + r) * BN + WT::wn(warp) + 16 * j + c];
  }
  for (int v : seen) ASSERT_EQ(v, 1) << "tf32, BN " << BN;
}

TEST(Conv2dV2Index, CTileMappingsCoverEachElementOnce) {
  check_c_mappings<64>();
  check_c_mappings<128>();
}

// Shared memory: wmma pointers are multiples of 8 floats (32 bytes) from the base, the C chunk fits
// the stages, and the total stays within an sm_80 block's 163 KB.
TEST(Conv2dV2Index, SharedMemoryLayout) {
  for (int ld : {kLdA, ld_b<64>, ld_b<128>}) EXPECT_EQ(8 * ld % 8, 0);
  EXPECT_EQ(kLdA % 4, 0);
  EXPECT_EQ(ld_b<64> % 4, 0);
  EXPECT_EQ(ld_b<128> % 4, 0);
  EXPECT_EQ(stage_floats<64> % 8, 0);
  EXPECT_EQ(stage_floats<128> % 8, 0);
  EXPECT_EQ((kBK * kLdA) % 8, 0);
  EXPECT_GE(smem_floats<64>, kEpiCols * kLdA);
  EXPECT_LE(smem_floats<128> * 4, 163 * 1024);
}

}  // namespace
}  // namespace lb
