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
#include <limits>
#include <type_traits>
#include <vector>

namespace lb::cpu {

namespace {
// Below this many output elements waking the OpenMP threads costs more than the loop itself.
constexpr int64_t kParallelGrain = 1 << 12;
// take ? a : b through the bits, so the compiler emits no branch (it turns `take ? a : b` on
// floats back into one, and max-pool's winners are unpredictable).
template <class T>
T select(bool take, T a, T b) {
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

// One plane's window maxima read from a copy padded with -inf (a pad cell never wins), so every
// window is whole: KS is the kernel size when it is known at compile time (3, ResNet's stem), 0
// otherwise. A window's running maximum is a chain of dependent compare-and-selects, so the loop
// runs the whole output row's windows side by side (q innermost): their chains overlap.
// xpad: (H + 2*padding, Wp); y, idx: (P, Q); best, best_i: (Q) scratch.
template <class T, int KS>
void pool_plane(const T* xpad, int64_t Wp, const MaxPool2dArgs& a, T* y, int64_t* idx, T* best, int32_t* best_i) {
  const int64_t k = KS ? KS : a.kernel;
  for (int64_t p = 0; p < a.P; ++p) {
    const int64_t h0 = p * a.stride - a.padding;  // the windows' first input row
    for (int64_t q = 0; q < a.Q; ++q) {
      best[q] = -std::numeric_limits<T>::infinity();
      best_i[q] = static_cast<int32_t>(std::max<int64_t>(h0, 0) * a.W +
                                       std::max<int64_t>(q * a.stride - a.padding, 0));  // all -inf: first real cell
    }
    for (int64_t dh = 0; dh < k; ++dh)
      for (int64_t dw = 0; dw < k; ++dw) {
        const T* row = xpad + (p * a.stride + dh) * Wp + dw;    // row: cell (dh, dw) of window q at [q*stride]
        const int64_t cell = (h0 + dh) * a.W + dw - a.padding;  // its index in the input, less q*stride
        for (int64_t q = 0; q < a.Q; ++q) {
          const T v = row[q * a.stride];
          // Strictly greater keeps the first maximum on ties; NaN propagates like PyTorch (a NaN
          // is taken, and nothing beats it but a later NaN). Selects, not branches: on real data
          // which cell wins is a coin toss the branch predictor loses.
          const bool take = (v > best[q]) | (v != v);
          best[q] = take ? v : best[q];
          best_i[q] = take ? static_cast<int32_t>(cell + q * a.stride) : best_i[q];
        }
      }
    std::copy(best, best + a.Q, y + p * a.Q);
    std::copy(best_i, best_i + a.Q, idx + p * a.Q);
  }
}

template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* indices, const MaxPool2dArgs& a) {
  const int64_t PQ = a.P * a.Q, Wp = a.W + 2 * a.padding, Hp = a.H + 2 * a.padding;
#pragma omp parallel if (a.planes * PQ > kParallelGrain)
  {
    std::vector<T> xpad(static_cast<size_t>(Hp * Wp), -std::numeric_limits<T>::infinity());  // (Hp, Wp)
    std::vector<T> best(static_cast<size_t>(a.Q));                                           // (Q)
    std::vector<int32_t> best_i(static_cast<size_t>(a.Q));  // (Q), plane offsets: a plane holds < 2^31 cells
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < a.planes; ++pl) {
      const T* xp = x + pl * a.H * a.W;  // (H, W)
      for (int64_t h = 0; h < a.H; ++h)
        std::copy(xp + h * a.W, xp + (h + 1) * a.W, xpad.data() + (h + a.padding) * Wp + a.padding);
      if (a.kernel == 3)
        pool_plane<T, 3>(xpad.data(), Wp, a, y + pl * PQ, indices + pl * PQ, best.data(), best_i.data());
      else
        pool_plane<T, 0>(xpad.data(), Wp, a, y + pl * PQ, indices + pl * PQ, best.data(), best_i.data());
    }
  }
}

template <class T>
void max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, const MaxPool2dArgs& a) {
  const int64_t PQ = a.P * a.Q, HW = a.H * a.W;
#pragma omp parallel for schedule(static) if (a.planes * HW > kParallelGrain)
  for (int64_t pl = 0; pl < a.planes; ++pl) {
    T* dxp = dx + pl * HW;  // (H, W)
    std::fill(dxp, dxp + HW, T(0));
    for (int64_t o = 0; o < PQ; ++o) dxp[indices[pl * PQ + o]] += dy[pl * PQ + o];
  }
}

template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const AdaptiveAvgPool2dArgs& a) {
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

template <class T>
void adaptive_avg_pool2d_backward(const T* dy, T* dx, const AdaptiveAvgPool2dArgs& a) {
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

#define LB_INSTANTIATE_POOL(T)                                                              \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const MaxPool2dArgs&);        \
  template void max_pool2d_backward<T>(const T*, const int64_t*, T*, const MaxPool2dArgs&); \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, const AdaptiveAvgPool2dArgs&); \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, const AdaptiveAvgPool2dArgs&);
LB_INSTANTIATE_POOL(float)
LB_INSTANTIATE_POOL(double)
#undef LB_INSTANTIATE_POOL

}  // namespace lb::cpu
