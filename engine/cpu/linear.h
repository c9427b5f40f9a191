// cpu/linear.h: the CPU backend of the fully connected layer, y = x W^T + b, and the row-major
// GEMM overloads that every CPU op built on matrix products calls (linear here, conv2d through
// im2col in engine/cpu/conv2d.cc).
//
// Shapes (letters used in every comment of this file and linear.cc):
//   x (N, IN)   weight (OUT, IN)   bias (OUT) or null   y (N, OUT)
// Follows PyTorch's nn.Linear layout (weight stored OUT-major), so a torchvision `fc.weight`
// loads without a transpose.
//
// Backward (every function writes a fresh buffer; the autograd engine sums gradients):
//   dx = dy W          (N, OUT) x (OUT, IN)
//   dW = dy^T x        (OUT, N) x (N, IN)
//   db = column sums of dy
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

// y = x W^T + b. bias may be null.
template <class T>
void linear_forward(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* w, const T* bias, T* y);

// dx = dy W.
template <class T> void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const T* dy, const T* w, T* dx);

// dW = dy^T x (a fresh gradient, not accumulated into).
template <class T> void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* dy, T* dw);

// db = sum of dy over the N rows.
template <class T> void linear_backward_bias(int64_t N, int64_t OUT, const T* dy, T* db);

}  // namespace lb::cpu
