// test_gemm.cc: lightbox's own fp32 GEMM (engine/cpu/gemm.h) against a naive double-precision
// triple loop, on every ISA path this machine can run (avx512, avx2, generic forced in turn), over
// edge sizes: M, N, K not multiples of any tile, K = 1, unaligned leading dimensions and offsets,
// transposed operands, alpha/beta, beta = 0 over a C full of NaN, sizes past every cache block,
// and the packers the convolutions use (PackedA reused, indexed operands). Also the CPUID facts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/cpu/cpu_info.h"
#include "engine/cpu/gemm.h"

namespace lb::cpu {
namespace {

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(gen);
  return v;
}

std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::Generic, Isa::Avx2, Isa::Avx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

// |got - want| <= tol * (K-scaled magnitude): float32 sums of K products of values in [-1, 1)
// carry a rounding error of about sqrt(K) * 2^-24 * |partial sums|; 1e-5 * (K + 1) bounds it with
// room, and is still 1000x below the error of a wrong or missing term (>= 1e-2 here).
void expect_near_matrix(const std::vector<double>& want, const float* got, int64_t M, int64_t N, int64_t ldc, int64_t K,
                        const std::string& what) {
  const double tol = 1e-5 * static_cast<double>(K + 1);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const double g = got[i * ldc + j], w = want[i * N + j];
      ASSERT_NEAR(g, w, tol) << what << " at (" << i << ", " << j << ")";
    }
}

struct GemmCase {
  int64_t M, N, K;
  bool ta, tb;
  float alpha, beta;
  int64_t pad;  // extra leading-dimension slack, so rows start unaligned
};

void run_case(Isa isa, const GemmCase& c, uint32_t seed) {
  const int64_t lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad, ldc = c.N + c.pad;
  const int64_t arows = c.ta ? c.K : c.M, brows = c.tb ? c.N : c.K;
  // One float of offset: the operands start off any 64-byte boundary.
  std::vector<float> abuf = random_floats(arows * lda + 1, seed), bbuf = random_floats(brows * ldb + 1, seed + 1);
  std::vector<float> cbuf = random_floats(c.M * ldc + 1, seed + 2);
  const float* A = abuf.data() + 1;
  const float* B = bbuf.data() + 1;
  float* C = cbuf.data() + 1;
  std::vector<double> want(static_cast<size_t>(c.M * c.N));
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[k * lda + i] : A[i * lda + k];
        const double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      want[i * c.N + j] = c.alpha * acc + (c.beta == 0.0f ? 0.0 : c.beta * double(C[i * ldc + j]));
    }
  if (c.beta == 0.0f)  // beta == 0 must not read C: fill it with NaN
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) C[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> before = cbuf;
  sgemm(PackedA(row_major(A, lda, c.ta), c.M, c.K, isa), c.N, pack_b_view(row_major(B, ldb, c.tb)), c.alpha, c.beta, C,
        ldc);
  const std::string what = std::string(isa_name(isa)) + " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) +
                           " K=" + std::to_string(c.K) + (c.ta ? " A^T" : "") + (c.tb ? " B^T" : "");
  expect_near_matrix(want, C, c.M, c.N, ldc, c.K, what);
  // Nothing outside the M x N window of C was touched (the padding columns and the extra element).
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j)
      ASSERT_EQ(cbuf[1 + i * ldc + j], before[1 + i * ldc + j]) << what << ": wrote past column N";
  ASSERT_EQ(cbuf[0], before[0]) << what << ": wrote before C";
}

TEST(Gemm, EdgeSizesEveryIsa) {
  // Tiles are 8x32 (avx512), 6x16 (avx2), 4x8 (generic): these sizes hit every edge of each.
  const GemmCase cases[] = {
      {1, 1, 1, false, false, 1.0f, 0.0f, 0},     {8, 32, 1, false, false, 1.0f, 0.0f, 0},
      {7, 31, 5, false, false, 1.0f, 0.0f, 3},    {9, 33, 17, false, false, 1.0f, 0.0f, 1},
      {13, 47, 64, true, false, 1.0f, 1.0f, 2},   {6, 16, 3, false, true, 0.5f, -2.0f, 5},
      {25, 70, 129, true, true, 1.0f, 0.0f, 7},   {64, 147, 576, false, false, 1.0f, 0.0f, 0},
      {3, 100, 2, false, false, -1.0f, 0.25f, 1}, {40, 5, 300, false, true, 1.0f, 1.0f, 0},
  };
  uint32_t seed = 1;
  for (Isa isa : runnable_isas())
    for (const GemmCase& c : cases) run_case(isa, c, seed += 3);
}

TEST(Gemm, PastEveryCacheBlock) {
  // K past KC (<= 512), M past a few MC rows' worth of panels, N past NC is too slow for a unit
  // test on the smallest NC (4*NR), so N crosses several NR panels and one NC block at generic.
  for (Isa isa : runnable_isas()) {
    const GemmBlocking bl = gemm_blocking(isa);
    run_case(isa, {bl.mr * 3 + 1, bl.nr * 5 + 3, bl.kc * 2 + 7, false, false, 1.0f, 0.0f, 1}, 77);
    run_case(isa, {17, bl.nc + bl.nr + 5, 9, false, false, 1.0f, 1.0f, 0}, 78);
  }
}

TEST(Gemm, IndexedOperandsEveryIsa) {
  // A and B read through offset tables (the convolutions' implicit im2col), with negative parts
  // (a window origin left of the image) that only sum to valid offsets, and sizes off every tile.
  const int64_t M = 19, N = 45, K = 23, base = 50;
  const std::vector<float> src = random_floats(4000, 21);
  std::vector<int64_t> arow(M), acol(K), brow(K), bcol(N);
  for (int64_t i = 0; i < M; ++i) arow[i] = base + 61 * i;
  for (int64_t k = 0; k < K; ++k) acol[k] = 3 * k - 7, brow[k] = base + 97 * k;
  for (int64_t j = 0; j < N; ++j) bcol[j] = 2 * j - 11;
  std::vector<double> want(static_cast<size_t>(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t k = 0; k < K; ++k) want[i * N + j] += double(src[arow[i] + acol[k]]) * src[brow[k] + bcol[j]];
  for (Isa isa : runnable_isas()) {
    std::vector<float> c(static_cast<size_t>(M * N), std::numeric_limits<float>::quiet_NaN());
    const PackedA pa(IndexedView{src.data(), arow.data(), acol.data()}, M, K, isa);
    sgemm(pa, N, pack_b_indexed(IndexedView{src.data(), brow.data(), bcol.data()}, isa), 1.0f, 0.0f, c.data(), N);
    expect_near_matrix(want, c.data(), M, N, N, K, std::string("indexed ") + isa_name(isa));
  }
}

TEST(Gemm, KZeroScalesC) {
  std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f};
  sgemm(2, 2, 0, 1.0f, row_major(nullptr, 1), row_major(nullptr, 2), 0.5f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
}

TEST(Gemm, PackedAReusedAcrossProducts) {
  // One PackedA, three products with different B: each must match its own reference.
  const int64_t M = 24, K = 40;
  const std::vector<float> a = random_floats(M * K, 5);
  for (Isa isa : runnable_isas()) {
    const PackedA pa(row_major(a.data(), K), M, K, isa);
    for (int64_t N : {1, 31, 65}) {
      const std::vector<float> b = random_floats(K * N, uint32_t(N));
      std::vector<float> c(static_cast<size_t>(M * N));
      sgemm(pa, N, pack_b_view(row_major(b.data(), N)), 1.0f, 0.0f, c.data(), N);
      std::vector<double> want(static_cast<size_t>(M * N), 0.0);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j)
          for (int64_t k = 0; k < K; ++k) want[i * N + j] += double(a[i * K + k]) * b[k * N + j];
      expect_near_matrix(want, c.data(), M, N, N, K, std::string("reused ") + isa_name(isa));
    }
  }
}

TEST(Gemm, BackendSwitchGivesTheSameProduct) {
  const int64_t M = 20, N = 30, K = 50;
  const std::vector<float> a = random_floats(M * K, 9), b = random_floats(K * N, 10);
  std::vector<float> own(M * N), blas(M * N);
  gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, own.data(), N);
  set_gemm_backend(GemmBackend::OpenBlas);
  gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, blas.data(), N);
  set_gemm_backend(GemmBackend::Own);
  for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(own[i], blas[i], 1e-4) << i;
}

TEST(CpuInfo, FeatureBitsAndCachesAreConsistent) {
  const CpuInfo& c = cpu_info();
  EXPECT_FALSE(c.vendor.empty());
  EXPECT_FALSE(c.model.empty());
  // AVX-512 implies AVX2 on every CPU that has shipped it; the chosen path must be runnable.
  if (c.avx512f) {
    EXPECT_TRUE(c.avx2);
  }
  EXPECT_TRUE(isa_supported(best_isa()));
  EXPECT_TRUE(isa_supported(active_isa()));
  EXPECT_TRUE(isa_supported(Isa::Generic));
  // Every x86-64 CPU this runs on reports its caches through CPUID (leaf 4 or 0x8000001D).
  EXPECT_GE(c.l1d, 16 << 10);
  EXPECT_GE(c.l2, c.l1d);
  const GemmBlocking& b = gemm_blocking();
  EXPECT_EQ(b.kc % 8, 0);
  EXPECT_EQ(b.mc % b.mr, 0);
  EXPECT_EQ(b.nc % b.nr, 0);
  EXPECT_FALSE(openblas_core().empty());
  EXPECT_NE(cpu_summary().find(isa_name(active_isa())), std::string::npos);
  // ctest runs this suite again with LB_CPU_ISA=avx2 and =generic (tests/CMakeLists.txt): the
  // forced path must be the one in use, or those runs test nothing new.
  if (const char* forced = std::getenv("LB_CPU_ISA")) {
    EXPECT_EQ(active_isa(), parse_isa(forced));
  }
}

TEST(CpuInfo, IsaNamesParseAndUnknownOnesAreRefused) {
  for (Isa i : {Isa::Generic, Isa::Avx2, Isa::Avx512}) EXPECT_EQ(parse_isa(isa_name(i)), i);
  try {
    parse_isa("sse9");
    FAIL() << "parse_isa accepted sse9";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx512, avx2 or generic"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lb::cpu
