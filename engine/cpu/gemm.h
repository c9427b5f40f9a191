// cpu/gemm.h: lightbox's own fp32 matrix product (GEMM) for the CPU, and the double-precision one
// the finite-difference oracles use (OpenBLAS, which is exact enough and not on any hot path).
//
//   C (M, N) = alpha * A (M, K) * B (K, N) + beta * C
//
// The method is BLIS's (Van Zee and van de Geijn, "BLIS: A Framework for Rapidly Instantiating
// BLAS Functionality", 2015; Low et al., "Analytical Modeling Is Enough for High-Performance
// BLIS", 2016): a small register-tile kernel, fed from copies of A and B ("packed" panels) laid
// out in exactly the order it reads them, inside three loops sized so each copy stays in one
// level of the cache:
//
//   for jc in N step NC:                B block (KC, NC)  lives in L3
//     for pc in K step KC:              pack B[pc:pc+KC, jc:jc+NC] into NR-wide panels
//       for ic in M step MC:            A block (MC, KC)  lives in L2
//         for jr in NC step NR:         B micro-panel (KC, NR) lives in L1
//           for ir in MC step MR:       micro-kernel: C tile (MR, NR) += A panel x B micro-panel
//
// The micro-kernel (one per instruction set: engine/cpu/gemm_avx512.cc, gemm_avx2.cc,
// gemm_generic.cc) keeps the whole MR x NR tile of C in registers for the K loop; the tile sizes
// and why they are what they are are written beside each kernel and drawn in docs/03. Which kernel
// runs is decided once from CPUID feature bits (engine/cpu/cpu_info.h; LB_CPU_ISA forces one).
// Block sizes come from the cache sizes CPUID reports.
//
// Two things beyond a BLAS interface make it fit convolution:
//   - PackedA: A packed once and reused by many products (a conv's weight, by every image group and
//     thread in one call).
//   - PackB: B may be produced by a callback that writes the packed panels straight from wherever
//     the values live. A convolution packs its im2col matrix directly from the activations this
//     way, so the (C*R*S, P*Q) column matrix is never written to memory (implicit GEMM).
//
// Threading: every product here is single-threaded; ops split their work across OpenMP threads and
// call one GEMM per thread (engine/cpu/conv2d.cc). Nothing here allocates per call except the
// packed A (one allocation) and a per-thread B buffer that grows once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "engine/cpu/cpu_info.h"

namespace lb::cpu {

// A read-only matrix: element (i, j) at p[i*rs + j*cs]. A row-major matrix with leading dimension
// ld is {p, ld, 1}; its transpose is {p, 1, ld}.
struct MatView {
  const float* p;
  int64_t rs, cs;
  float at(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};
inline MatView row_major(const float* p, int64_t ld, bool transposed = false) {
  return transposed ? MatView{p, 1, ld} : MatView{p, ld, 1};
}

// A matrix that is never stored: element (i, j) is src[row[i] + col[j]]. A convolution's im2col
// matrix is one (row: the filter tap's offset in the padded input, col: the output window's
// origin), and so are several images' maps side by side (row: the channel, col: image and
// position). With bf16 set, every element is rounded to bfloat16 as it is packed (MathMode::Bf16).
struct IndexedView {
  const float* src;
  const int64_t* row;
  const int64_t* col;
  bool bf16 = false;
};

// The register tile and cache blocks of one micro-kernel on this machine.
struct GemmBlocking {
  Isa isa;
  int mr, nr;          // register tile: MR rows of A x NR columns of B
  int64_t kc, mc, nc;  // cache blocks (multiples of 8, MR and NR)
};
// The blocking of the active ISA path (or of `isa`, for tests and the docs' table).
const GemmBlocking& gemm_blocking();
GemmBlocking gemm_blocking(Isa isa);

// A packed into MR-row panels over the whole of K: panel i holds rows [i*MR, i*MR + MR) with
// element (r, k) at panel(i)[k*MR + r]; rows past M are zero. Any K-block [pc, pc + kc) of a panel
// is then the contiguous run panel(i) + pc*MR, which is what the micro-kernel reads.
class PackedA {
 public:
  PackedA() = default;
  PackedA(MatView a, int64_t M, int64_t K, Isa isa = active_isa());
  PackedA(IndexedView a, int64_t M, int64_t K, Isa isa = active_isa());
  int64_t rows() const { return M_; }
  int64_t depth() const { return K_; }
  Isa isa() const { return isa_; }
  const float* panel(int64_t i) const { return data_.get() + i * K_ * mr_; }

 private:
  template <class Get>
  void pack(int64_t M, int64_t K, Isa isa, Get get);
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data_;
  int64_t M_ = 0, K_ = 0;
  int mr_ = 0;
  Isa isa_ = Isa::Generic;
};

// Writes rows [k0, k0 + kc) x columns [j0, j0 + nc) of B as ceil(nc / nr) panels of nr columns:
// panel p at dst + p*kc*nr, element (k, j) at [k*nr + j], columns past nc zero-filled.
using PackB = std::function<void(int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst)>;
// The packers of an ordinary matrix and of an indexed one.
PackB pack_b_view(MatView b);
PackB pack_b_indexed(IndexedView b, Isa isa = active_isa());  // isa: the PackedA it meets

// C (M, N) = alpha * A * B + beta * C, C row-major with leading dimension ldc. beta == 0 never
// reads C (it may hold garbage or NaN). K == 0 gives beta * C.
void sgemm(const PackedA& a, int64_t N, const PackB& b, float alpha, float beta, float* C, int64_t ldc);
void sgemm(int64_t M, int64_t N, int64_t K, float alpha, MatView a, MatView b, float beta, float* C, int64_t ldc);

// Which GEMM the float overload of gemm() below runs: lightbox's own (the default) or OpenBLAS
// (the comparison of `lightbox bench kernels --device cpu`). Process-wide, read at every call.
enum class GemmBackend { Own, OpenBlas };
void set_gemm_backend(GemmBackend b);
GemmBackend gemm_backend();

// OpenBLAS runs single-threaded: our ops already split work across OpenMP threads and call the
// GEMM from inside them, where a second thread pool would only oversubscribe the cores. Called by
// every entry point that may reach OpenBLAS; it takes effect once.
void use_single_threaded_blas();

// The BLAS-style interface every CPU op calls: C (M, N) = alpha * op(A) (M, K) * op(B) (K, N)
// + beta * C, all row-major; lda/ldb/ldc are the row strides of the stored matrices (before
// transposition), as in cblas. float: gemm_backend(); double: OpenBLAS's dgemm.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

}  // namespace lb::cpu
