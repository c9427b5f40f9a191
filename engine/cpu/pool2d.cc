// cpu/pool2d.cc: the loops declared in cpu/pool2d.h, instantiated for float and double.
//
// Shapes: x, dx (planes, H, W); y, dy, indices (planes, P, Q) or (planes, OH, OW). Each OpenMP
// thread owns whole planes. Windows are clipped to the input instead of padding a copy: a padded
// cell is -inf, which can never beat a real value, so skipping it gives the same maximum (every
// window holds at least one real cell because padding <= kernel / 2).
#include "engine/cpu/pool2d.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <limits>

namespace lb::cpu {

namespace {
// Below this many output elements waking the OpenMP threads costs more than the loop itself.
constexpr int64_t kParallelGrain = 1 << 12;
// take ? a : b through the bits, so the compiler emits no branch (it turns `take ? a : b` on
// floats back into one, and max-pool's winners are unpredictable).
template <class T> T select(bool take, T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  const Bits r = ub ^ ((ua ^ ub) & (Bits(0) - Bits(take)));
  T out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

}  // namespace

template <class T> void max_pool2d_forward(const T* x, T* y, int64_t* indices, const MaxPool2dArgs& a) {
  const int64_t PQ = a.P * a.Q;
#pragma omp parallel for schedule(static) if (a.planes * PQ > kParallelGrain)
  for (int64_t pl = 0; pl < a.planes; ++pl) {
    const T* xp = x + pl * a.H * a.W;  // (H, W)
    for (int64_t p = 0; p < a.P; ++p) {
      const int64_t h0 = p * a.stride - a.padding;
      const int64_t h_lo = std::max<int64_t>(h0, 0), h_hi = std::min(h0 + a.kernel, a.H);
      for (int64_t q = 0; q < a.Q; ++q) {
        const int64_t w0 = q * a.stride - a.padding;
        const int64_t w_lo = std::max<int64_t>(w0, 0), w_hi = std::min(w0 + a.kernel, a.W);
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_i = h_lo * a.W + w_lo;  // an all -inf window reports its first real cell
        for (int64_t h = h_lo; h < h_hi; ++h) {
          for (int64_t w = w_lo; w < w_hi; ++w) {
            const T v = xp[h * a.W + w];
            // Strictly greater keeps the first maximum on ties; NaN propagates like PyTorch (a
            // NaN is taken, and nothing beats it but a later NaN). Selects, not branches: on
            // real data which cell wins is a coin toss the branch predictor loses.
            const bool take = (v > best) | (v != v);
            best = select(take, v, best);
            best_i ^= (best_i ^ (h * a.W + w)) & -static_cast<int64_t>(take);
          }
        }
        y[pl * PQ + p * a.Q + q] = best;
        indices[pl * PQ + p * a.Q + q] = best_i;
      }
    }
  }
}

template <class T> void max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, const MaxPool2dArgs& a) {
  const int64_t PQ = a.P * a.Q, HW = a.H * a.W;
#pragma omp parallel for schedule(static) if (a.planes * HW > kParallelGrain)
  for (int64_t pl = 0; pl < a.planes; ++pl) {
    T* dxp = dx + pl * HW;  // (H, W)
    std::fill(dxp, dxp + HW, T(0));
    for (int64_t o = 0; o < PQ; ++o) dxp[indices[pl * PQ + o]] += dy[pl * PQ + o];
  }
}

template <class T> void adaptive_avg_pool2d_forward(const T* x, T* y, const AdaptiveAvgPool2dArgs& a) {
  const int64_t OHW = a.OH * a.OW;
#pragma omp parallel for schedule(static) if (a.planes * a.H * a.W > kParallelGrain)
  for (int64_t pl = 0; pl < a.planes; ++pl) {
    const T* xp = x + pl * a.H * a.W;  // (H, W)
    for (int64_t i = 0; i < a.OH; ++i) {
      const int64_t h_lo = adaptive_bin_start(i, a.H, a.OH), h_hi = adaptive_bin_end(i, a.H, a.OH);
      for (int64_t j = 0; j < a.OW; ++j) {
        const int64_t w_lo = adaptive_bin_start(j, a.W, a.OW), w_hi = adaptive_bin_end(j, a.W, a.OW);
        double sum = 0.0;
        for (int64_t h = h_lo; h < h_hi; ++h)
          for (int64_t w = w_lo; w < w_hi; ++w) sum += static_cast<double>(xp[h * a.W + w]);
        y[pl * OHW + i * a.OW + j] = static_cast<T>(sum / static_cast<double>((h_hi - h_lo) * (w_hi - w_lo)));
      }
    }
  }
}

template <class T> void adaptive_avg_pool2d_backward(const T* dy, T* dx, const AdaptiveAvgPool2dArgs& a) {
  const int64_t OHW = a.OH * a.OW, HW = a.H * a.W;
#pragma omp parallel for schedule(static) if (a.planes * HW > kParallelGrain)
  for (int64_t pl = 0; pl < a.planes; ++pl) {
    T* dxp = dx + pl * HW;  // (H, W)
    std::fill(dxp, dxp + HW, T(0));
    for (int64_t i = 0; i < a.OH; ++i) {
      const int64_t h_lo = adaptive_bin_start(i, a.H, a.OH), h_hi = adaptive_bin_end(i, a.H, a.OH);
      for (int64_t j = 0; j < a.OW; ++j) {
        const int64_t w_lo = adaptive_bin_start(j, a.W, a.OW), w_hi = adaptive_bin_end(j, a.W, a.OW);
        const T g = dy[pl * OHW + i * a.OW + j] / static_cast<T>((h_hi - h_lo) * (w_hi - w_lo));
        for (int64_t h = h_lo; h < h_hi; ++h)
          for (int64_t w = w_lo; w < w_hi; ++w) dxp[h * a.W + w] += g;
      }
    }
  }
}

#define LB_INSTANTIATE_POOL(T)                                                                         \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const MaxPool2dArgs&);                   \
  template void max_pool2d_backward<T>(const T*, const int64_t*, T*, const MaxPool2dArgs&);            \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, const AdaptiveAvgPool2dArgs&);            \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, const AdaptiveAvgPool2dArgs&);
LB_INSTANTIATE_POOL(float)
LB_INSTANTIATE_POOL(double)
#undef LB_INSTANTIATE_POOL

}  // namespace lb::cpu
