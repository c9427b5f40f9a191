// cpu/softmax.h: softmax and log-softmax along the middle axis of an (outer, n, inner) view,
// and their backward rules.
//
//   softmax:      y_i = exp(x_i - m) / sum_k exp(x_k - m),  m = max_k x_k (no overflow)
//   backward:     dx_i = y_i * (dy_i - sum_k dy_k y_k)
//   log_softmax:  y_i = x_i - m - log sum_k exp(x_k - m)
//   backward:     dx_i = dy_i - exp(y_i) * sum_k dy_k
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cpu/reduce.h"

namespace lb::cpu {

template <class T>
void softmax_forward(const T* x, T* y, AxisView v, bool log) {
#pragma omp parallel for if (v.outer * v.n * v.inner > (1 << 15))
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t j = 0; j < v.inner; ++j) {
      const T* xr = x + o * v.n * v.inner + j;
      T* yr = y + o * v.n * v.inner + j;
      double m = xr[0];
      for (int64_t i = 1; i < v.n; ++i) m = std::fmax(m, static_cast<double>(xr[i * v.inner]));
      double s = 0.0;
      for (int64_t i = 0; i < v.n; ++i) s += std::exp(static_cast<double>(xr[i * v.inner]) - m);
      const double log_s = std::log(s);
      for (int64_t i = 0; i < v.n; ++i) {
        const double z = static_cast<double>(xr[i * v.inner]) - m;
        yr[i * v.inner] = static_cast<T>(log ? z - log_s : std::exp(z) / s);
      }
    }
  }
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, AxisView v, bool log) {
#pragma omp parallel for if (v.outer * v.n * v.inner > (1 << 15))
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t j = 0; j < v.inner; ++j) {
      const int64_t base = o * v.n * v.inner + j;
      double s = 0.0;
      for (int64_t i = 0; i < v.n; ++i) {
        const int64_t k = base + i * v.inner;
        s += log ? static_cast<double>(dy[k]) : static_cast<double>(dy[k]) * y[k];
      }
      for (int64_t i = 0; i < v.n; ++i) {
        const int64_t k = base + i * v.inner;
        dx[k] = static_cast<T>(log ? dy[k] - std::exp(static_cast<double>(y[k])) * s : y[k] * (dy[k] - s));
      }
    }
  }
}

}  // namespace lb::cpu
