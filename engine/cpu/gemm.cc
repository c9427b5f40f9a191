// cpu/gemm.cc: the blocked GEMM driver (see gemm.h for the loop nest): cache blocks from CPUID,
// the packing of A and B, and the dispatch to the micro-kernel of the active ISA.
#include "engine/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "base/bf16.h"
#include "base/common.h"
#include "engine/cpu/gemm_kernels.h"

namespace lb::cpu {

namespace detail {

const MicroKernel& micro_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return kAvx512Kernel;
    case Isa::Avx2:
      return kAvx2Kernel;
    case Isa::Generic:
      return kGenericKernel;
  }
  return kGenericKernel;
}

}  // namespace detail

namespace {

using detail::MicroKernel;

int64_t round_down(int64_t v, int64_t m) { return std::max(m, v / m * m); }
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Cache blocks from the analytical model of Low et al. (2016), simplified:
//   KC: the B micro-panel (KC x NR floats) takes half of L1; the other half holds the A panel being
//       streamed and the C tile, so the micro-panel survives the whole ir loop.
//   MC: the A block (MC x KC) takes half of L2, reused across every jr step from there.
//   NC: the B block (KC x NC) takes a quarter of one core's share of L3 (capped: lightbox's
//       products are at most a few thousand columns wide).
// A CPU that reports no cache gets 32 KiB L1 and 1 MiB L2, the smallest of the machines this runs on.
GemmBlocking make_blocking(Isa isa) {
  const MicroKernel& uk = detail::micro_kernel(isa);
  const CpuInfo& c = cpu_info();
  const int64_t l1 = c.l1d > 0 ? c.l1d : 32 << 10, l2 = c.l2 > 0 ? c.l2 : 1 << 20;
  const int64_t l3 = c.l3 > 0 ? c.l3 : 8 << 20;
  GemmBlocking b{isa, uk.mr, uk.nr, 0, 0, 0};
  b.kc = std::clamp<int64_t>(round_down(l1 / 2 / (4 * uk.nr), 8), 64, 512);
  b.mc = std::clamp<int64_t>(round_down(l2 / 2 / (4 * b.kc), uk.mr), uk.mr, 4096 / uk.mr * uk.mr);
  b.nc = std::clamp<int64_t>(round_down(l3 / 16 / (4 * b.kc), uk.nr), 4 * uk.nr, 8192 / uk.nr * uk.nr);
  return b;
}

// 64-byte aligned float storage (a cache line; the zmm loads never split one).
float* aligned_floats(int64_t n) {
  const size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(n, 1) * 4, 64));
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<float*>(p);
}

// One growing packed-B buffer per thread: ops call the GEMM from their own OpenMP threads.
float* b_workspace(int64_t n) {
  struct Buf {
    float* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf buf;
  if (buf.n < n) {
    std::free(buf.p);
    buf.p = nullptr;
    buf.p = aligned_floats(n);
    buf.n = n;
  }
  return buf.p;
}

std::atomic<GemmBackend> g_backend{GemmBackend::Own};

// A large A (a conv layer's weight, packed once per call before the op's own parallel region)
// is packed by all threads; inside an op's parallel region every thread packs its own, alone.
bool parallel_pack(int64_t floats) { return floats >= (int64_t(1) << 16) && !omp_in_parallel(); }

}  // namespace

const GemmBlocking& gemm_blocking() {
  static const GemmBlocking b = make_blocking(active_isa());
  return b;
}

GemmBlocking gemm_blocking(Isa isa) { return isa == active_isa() ? gemm_blocking() : make_blocking(isa); }

void PackedA::Free::operator()(float* p) const { std::free(p); }

template <class Get>
void PackedA::pack(int64_t M, int64_t K, Isa isa, Get get) {
  M_ = M;
  K_ = K;
  isa_ = isa;
  mr_ = detail::micro_kernel(isa).mr;
  const int64_t panels = (M + mr_ - 1) / mr_;
  data_.reset(aligned_floats(panels * mr_ * K));
#pragma omp parallel for schedule(static) if (parallel_pack(panels * mr_ * K))
  for (int64_t i = 0; i < panels; ++i) {
    float* dst = data_.get() + i * K * mr_;  // dst: (K, MR), element (k, r) at [k*MR + r]
    const int64_t rows = std::min<int64_t>(mr_, M - i * mr_);
    // k outer: every store is to the next float of dst, and the MR rows are read side by side.
    for (int64_t k = 0; k < K; ++k, dst += mr_) {
      for (int64_t r = 0; r < rows; ++r) dst[r] = get(i * mr_ + r, k);
      for (int64_t r = rows; r < mr_; ++r) dst[r] = 0.0f;
    }
  }
}

PackedA::PackedA(MatView a, int64_t M, int64_t K, Isa isa) {
  pack(M, K, isa, [a](int64_t i, int64_t k) { return a.at(i, k); });
}

PackedA::PackedA(IndexedView a, int64_t M, int64_t K, Isa isa) {
  const MicroKernel& uk = detail::micro_kernel(isa);
  if (uk.pack_a_indexed && !a.bf16) {
    M_ = M, K_ = K, isa_ = isa, mr_ = uk.mr;
    const int64_t panels = (M + mr_ - 1) / mr_;
    data_.reset(aligned_floats(panels * mr_ * K));
#pragma omp parallel for schedule(static) if (parallel_pack(panels * mr_ * K))
    for (int64_t i = 0; i < panels; ++i)
      uk.pack_a_indexed(a.src, a.row, a.col, i * mr_, static_cast<int>(std::min<int64_t>(mr_, M - i * mr_)), K,
                        data_.get() + i * K * mr_);
    return;
  }
  if (a.bf16)
    pack(M, K, isa, [a](int64_t i, int64_t k) { return round_to_bf16(a.src[a.row[i] + a.col[k]]); });
  else
    pack(M, K, isa, [a](int64_t i, int64_t k) { return a.src[a.row[i] + a.col[k]]; });
}

PackB pack_b_view(MatView b) {
  return [b](int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
    for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
      const int64_t w = std::min<int64_t>(nr, nc - j);  // columns of this panel inside B
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b.p + (k0 + k) * b.rs + (j0 + j) * b.cs;
        float* row = dst + k * nr;  // row: (NR)
        if (b.cs == 1) {
          std::memcpy(row, src, static_cast<size_t>(w) * 4);
        } else {
          for (int64_t jj = 0; jj < w; ++jj) row[jj] = src[jj * b.cs];
        }
        for (int64_t jj = w; jj < nr; ++jj) row[jj] = 0.0f;
      }
    }
  };
}

PackB pack_b_indexed(IndexedView b, Isa isa) {
  const MicroKernel& uk = detail::micro_kernel(isa);
  if (uk.pack_b_indexed && !b.bf16)
    return
        [b, fn = uk.pack_b_indexed, nr_fn = uk.nr](int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
          LB_CHECK(nr == nr_fn, "pack_b_indexed: packed for NR " << nr_fn << ", asked for " << nr);
          fn(b.src, b.row, b.col, k0, kc, j0, nc, dst);
        };
  return [b](int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
    for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
      const int64_t w = std::min<int64_t>(nr, nc - j);  // columns of this panel inside B
      const int64_t* col = b.col + j0 + j;              // col: (w) the panel's column offsets
      for (int64_t k = 0; k < kc; ++k) {
        const int64_t base = b.row[k0 + k];  // the sum is the offset: either part may be negative
        float* row = dst + k * nr;           // row: (NR)
        if (b.bf16) {
          for (int64_t jj = 0; jj < w; ++jj) row[jj] = round_to_bf16(b.src[base + col[jj]]);
        } else {
          for (int64_t jj = 0; jj < w; ++jj) row[jj] = b.src[base + col[jj]];
        }
        for (int64_t jj = w; jj < nr; ++jj) row[jj] = 0.0f;
      }
    }
  };
}

void sgemm(const PackedA& a, int64_t N, const PackB& pack_b, float alpha, float beta, float* C, int64_t ldc) {
  const int64_t M = a.rows(), K = a.depth();
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no products: C = beta * C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const MicroKernel& uk = detail::micro_kernel(a.isa());
  const GemmBlocking bl = gemm_blocking(a.isa());
  const int mr = uk.mr, nr = uk.nr;
  float* bp = b_workspace(bl.kc * std::min(bl.nc, round_up(N, nr)));  // bp: (KC, NC) as NR-wide panels
  for (int64_t jc = 0; jc < N; jc += bl.nc) {
    const int64_t nc = std::min(bl.nc, N - jc);
    for (int64_t pc = 0; pc < K; pc += bl.kc) {
      const int64_t kc = std::min(bl.kc, K - pc);
      pack_b(pc, kc, jc, nc, nr, bp);
      const float beta_blk = pc == 0 ? beta : 1.0f;  // later K blocks add onto the first's result
      for (int64_t ic = 0; ic < M; ic += bl.mc) {
        const int64_t ie = std::min(M, ic + bl.mc);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const float* bpanel = bp + (jr / nr) * kc * nr;  // bpanel: (kc, NR)
          const int n = static_cast<int>(std::min<int64_t>(nr, nc - jr));
          for (int64_t ir = ic; ir < ie; ir += mr) {
            const float* apanel = a.panel(ir / mr) + pc * mr;  // apanel: (kc, MR)
            const int m = static_cast<int>(std::min<int64_t>(mr, M - ir));
            uk.run(kc, apanel, bpanel, C + ir * ldc + jc + jr, ldc, alpha, beta_blk, m, n);
          }
        }
      }
    }
  }
}

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, MatView a, MatView b, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  sgemm(PackedA(a, M, K), N, pack_b_view(b), alpha, beta, C, ldc);
}

void set_gemm_backend(GemmBackend b) { g_backend.store(b, std::memory_order_relaxed); }
GemmBackend gemm_backend() { return g_backend.load(std::memory_order_relaxed); }

void use_single_threaded_blas() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (gemm_backend() == GemmBackend::OpenBlas) {
    use_single_threaded_blas();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
    return;
  }
  sgemm(M, N, K, alpha, row_major(A, lda, trans_a), row_major(B, ldb, trans_b), beta, C, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  use_single_threaded_blas();
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
              static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

}  // namespace lb::cpu
