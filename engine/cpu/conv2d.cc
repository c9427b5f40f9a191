// cpu/conv2d.cc: the CPU convolution's entry points. Which path runs (cpu/conv2d.h):
//   float32 on lightbox's own GEMM (the default)    implicit GEMM, cpu/conv2d_implicit.cc
//   float64, or float32 under GemmBackend::OpenBlas im2col + BLAS GEMM, cpu/conv2d_im2col.cc
// and the bias gradient, a plain sum, for both.
#include "engine/cpu/conv2d.h"

#include <type_traits>

#include "engine/cpu/conv2d_parts.h"
#include "engine/cpu/gemm.h"

namespace lb::cpu {

namespace {

template <class T> bool implicit_path() {
  return std::is_same_v<T, float> && gemm_backend() == GemmBackend::Own;
}

}  // namespace

template <class T> void conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>)
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_forward(a, x, w, bias, y);
  conv_detail::im2col_conv2d_forward(a, x, w, bias, y);
}

template <class T> void conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_backward_input(a, dy, w, dx);
  conv_detail::im2col_conv2d_backward_input(a, dy, w, dx);
}

template <class T> void conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw) {
  if constexpr (std::is_same_v<T, float>)
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_backward_weight(a, x, dy, dw);
  conv_detail::im2col_conv2d_backward_weight(a, x, dy, dw);
}

template <class T> void conv2d_backward_bias(const Conv2dArgs& a, const T* dy, T* db) {
  const int64_t pq = a.P * a.Q;
  // Accumulate in double: one channel sums N*P*Q terms (25k for a 128-image batch of 14x14 maps).
#pragma omp parallel for schedule(static) if (a.N * a.K * pq > (1 << 15))
  for (int64_t k = 0; k < a.K; ++k) {
    double acc = 0.0;
    for (int64_t n = 0; n < a.N; ++n) {
      const T* dyk = dy + (n * a.K + k) * pq;  // dyk: (P*Q)
      for (int64_t j = 0; j < pq; ++j) acc += static_cast<double>(dyk[j]);
    }
    db[k] = static_cast<T>(acc);
  }
}

#define LB_INSTANTIATE_CONV2D(T)                                                                       \
  template void conv2d_forward<T>(const Conv2dArgs&, const T*, const T*, const T*, T*);                \
  template void conv2d_backward_input<T>(const Conv2dArgs&, const T*, const T*, T*);                   \
  template void conv2d_backward_weight<T>(const Conv2dArgs&, const T*, const T*, T*);                  \
  template void conv2d_backward_bias<T>(const Conv2dArgs&, const T*, T*);
LB_INSTANTIATE_CONV2D(float)
LB_INSTANTIATE_CONV2D(double)
#undef LB_INSTANTIATE_CONV2D

}  // namespace lb::cpu
