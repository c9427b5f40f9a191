// cpu/linear.cc: see cpu/linear.h. Each direction is one GEMM; the bias is folded into the
// forward GEMM by starting C from broadcast bias rows (beta = 1), and its gradient is a column
// sum. Shapes: x (N, IN), weight (OUT, IN), bias (OUT), y and dy (N, OUT). In bf16 mode the two
// operands of each GEMM enter as bf16-rounded copies (an extra copy of each: the emulation favours
// plainness over speed).
#include "engine/cpu/linear.h"

#include <vector>

#include "base/bf16.h"

namespace lb::cpu {

namespace {

// A GEMM operand of n values: itself, or (bf16 mode, float only) a bf16-rounded copy in buf.
const float* operand(bool bf16, const float* p, int64_t n, std::vector<float>& buf) {
  if (!bf16) return p;
  buf.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[i] = round_to_bf16(p[i]);
  return buf.data();
}
const double* operand(bool, const double* p, int64_t, std::vector<double>&) { return p; }

}  // namespace

template <class T>
void linear_forward(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* w, const T* bias, T* y, bool bf16) {
  use_single_threaded_blas();
  if (N == 0) return;  // an empty batch: nothing to compute
  std::vector<T> xb, wb;
  x = operand(bf16, x, N * IN, xb);
  w = operand(bf16, w, OUT * IN, wb);
  // y: (N, OUT), seeded with the bias on every row so that the GEMM adds x W^T on top.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) y[n * OUT + o] = bias ? bias[o] : T(0);
  // (N, IN) x (OUT, IN)^T: W is stored OUT-major, so it enters transposed.
  gemm(false, true, N, OUT, IN, T(1), x, IN, w, IN, T(1), y, OUT);
}

template <class T>
void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const T* dy, const T* w, T* dx, bool bf16) {
  use_single_threaded_blas();
  if (N == 0) return;  // an empty batch: nothing to compute
  std::vector<T> dyb, wb;
  dy = operand(bf16, dy, N * OUT, dyb);
  w = operand(bf16, w, OUT * IN, wb);
  // dx: (N, IN) = dy (N, OUT) x W (OUT, IN)
  gemm(false, false, N, IN, OUT, T(1), dy, OUT, w, IN, T(0), dx, IN);
}

template <class T>
void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const T* x, const T* dy, T* dw, bool bf16) {
  use_single_threaded_blas();
  std::vector<T> xb, dyb;
  x = operand(bf16, x, N * IN, xb);
  dy = operand(bf16, dy, N * OUT, dyb);
  // dw: (OUT, IN) = dy^T (OUT, N) x x (N, IN)
  gemm(true, false, OUT, IN, N, T(1), dy, OUT, x, IN, T(0), dw, IN);
}

template <class T>
void linear_backward_bias(int64_t N, int64_t OUT, const T* dy, T* db) {
  // db: (OUT). Accumulate in double: N can be a whole batch and float32 sums drift.
  for (int64_t o = 0; o < OUT; ++o) {
    double acc = 0.0;
    for (int64_t n = 0; n < N; ++n) acc += static_cast<double>(dy[n * OUT + o]);
    db[o] = static_cast<T>(acc);
  }
}

#define LB_INSTANTIATE_LINEAR(T)                                                                      \
  template void linear_forward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T*, bool); \
  template void linear_backward_input<T>(int64_t, int64_t, int64_t, const T*, const T*, T*, bool);    \
  template void linear_backward_weight<T>(int64_t, int64_t, int64_t, const T*, const T*, T*, bool);   \
  template void linear_backward_bias<T>(int64_t, int64_t, const T*, T*);
LB_INSTANTIATE_LINEAR(float)
LB_INSTANTIATE_LINEAR(double)
#undef LB_INSTANTIATE_LINEAR

}  // namespace lb::cpu
