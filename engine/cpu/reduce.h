// cpu/reduce.h: sums over one axis of a tensor seen as (outer, n, inner), and the broadcast back.
//
// Any dimension d of a contiguous tensor splits its shape into outer = prod(shape[:d]),
// n = shape[d], inner = prod(shape[d+1:]); element (o, i, j) sits at (o * n + i) * inner + j.
// Softmax, sum and mean over a dimension all use this view. Accumulation is in double.
#pragma once

#include <cstdint>

namespace lb::cpu {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

// out[o, j] = scale * sum_i x[o, i, j]
template <class T>
void sum_axis(const T* x, T* out, AxisView v, double scale) {
#pragma omp parallel for if (v.outer * v.n * v.inner > (1 << 15))
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t j = 0; j < v.inner; ++j) {
      double acc = 0.0;
      for (int64_t i = 0; i < v.n; ++i) acc += static_cast<double>(x[(o * v.n + i) * v.inner + j]);
      out[o * v.inner + j] = static_cast<T>(acc * scale);
    }
  }
}

// dx[o, i, j] = scale * dy[o, j]: the backward of sum_axis.
template <class T>
void broadcast_axis(const T* dy, T* dx, AxisView v, double scale) {
#pragma omp parallel for if (v.outer * v.n * v.inner > (1 << 15))
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.n; ++i)
      for (int64_t j = 0; j < v.inner; ++j)
        dx[(o * v.n + i) * v.inner + j] = static_cast<T>(scale * dy[o * v.inner + j]);
}

}  // namespace lb::cpu
