// cpu/gemm.h: the row-major GEMM overloads (float and double) that every CPU op built on matrix
// products calls (linear directly, conv2d through im2col), and the BLAS threading policy.
//
// Threading: OpenMP outside, BLAS single-threaded inside. openblas_set_num_threads is
// process-wide, so once any op has run, every BLAS call in the process is single-threaded; ops
// that want parallelism split their work across OpenMP threads instead.
#pragma once

#include <cstdint>

#include <cblas.h>

namespace lb::cpu {

// OpenBLAS (the pthreads build) starts its own thread pool for large products. Our ops already
// split work across OpenMP threads and call the GEMM from inside those threads, where a second
// pool would only oversubscribe the cores, so BLAS runs single-threaded. Called at the top of
// every entry point that uses gemm(); the function-local static makes it happen once.
inline void use_single_threaded_blas() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

// C (M, N) = alpha * op(A) (M, Kd) * op(B) (Kd, N) + beta * C, all row-major; lda/ldb/ldc are
// the row strides of the stored matrices (before transposition), as in cblas.
inline void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t Kd, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(Kd), alpha, A, static_cast<int>(lda), B,
              static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

inline void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t Kd, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(Kd), alpha, A, static_cast<int>(lda), B,
              static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

}  // namespace lb::cpu
