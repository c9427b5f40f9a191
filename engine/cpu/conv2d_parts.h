// cpu/conv2d_parts.h: the pieces both CPU convolution paths share (engine/cpu/conv2d.h says
// which path runs when): how the batch is cut into image groups, the live filter taps (dead-tap
// pruning), the compacted and bf16-rounded weight, and col2im. Internal to engine/cpu/conv2d*.cc.
//
// Dead taps: a filter tap (r, s) that lands in the zero padding for EVERY output position adds
// nothing and receives no gradient. On 1x1 output maps (layer4 of a 28x28 input) that is 8 of the
// 9 taps of a 3x3 stride-1 filter and 5 of 9 for the stride-2 one, so the column matrices keep only
// the live taps (rows (c, t) for the live taps t) and the GEMMs run on a weight compacted to
// (K, C*T). Every function works on the live-tap list; with all taps live it is the plain method.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/bf16.h"
#include "engine/cpu/conv2d.h"

namespace lb::cpu::conv_detail {

// Images are grouped until a GEMM has at least this many columns. Fewer columns turn the product
// into matrix-vector work that streams the whole weight for each image: per-image GEMMs on the 1x1
// maps of layer4 (28x28 input) measured 4-10x slower than grouped ones. Values from 32 to 512 were
// within measurement noise on ResNet18's 28x28 shapes.
constexpr int64_t kMinGemmCols = 128;

// How the batch is cut: `group` images per GEMM, `groups` GEMMs, shared by `threads` threads.
struct Plan {
  int64_t group = 1;
  int64_t groups = 0;
  int threads = 1;
};

// Below this many multiply-adds a convolution takes a few tens of microseconds on one core, less
// than starting and joining a team of threads costs when the other cores are busy.
constexpr int64_t kParallelMacs = int64_t(1) << 20;

inline Plan make_plan(const Conv2dArgs& a, int64_t min_cols = kMinGemmCols) {
  const int64_t macs = a.N * a.K * a.P * a.Q * a.C * a.R * a.S;
  const int64_t max_threads = macs < kParallelMacs ? 1 : omp_get_max_threads();
  const int64_t pq = a.P * a.Q;
  const int64_t wide_enough = (min_cols + pq - 1) / pq;              // images for a wide GEMM
  const int64_t per_thread = (a.N + max_threads - 1) / max_threads;  // images if every thread works
  Plan plan;
  // Keeping every thread busy matters more than GEMM width, so per_thread caps the group.
  plan.group = std::max<int64_t>(1, std::min(wide_enough, per_thread));
  plan.groups = (a.N + plan.group - 1) / plan.group;
  plan.threads = static_cast<int>(std::max<int64_t>(1, std::min(max_threads, plan.groups)));
  return plan;
}

// 1x1, stride 1, no padding: an image's (C, H*W) plane already is its (C*R*S, P*Q) column matrix.
inline bool input_is_cols(const Conv2dArgs& a) { return a.R == 1 && a.S == 1 && a.pad == 0 && a.stride == 1; }

// A per-thread scratch buffer, left uninitialised: every element is written before it is read.
template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(n > 0 ? new T[n] : nullptr);
}

// Output positions o in [0, n_out) read input index o*stride + offset. Returns in [lo, hi) those
// that land inside [0, n_in); the others read the zero padding.
inline void valid_range(int64_t n_out, int64_t n_in, int64_t offset, int64_t stride, int64_t* lo, int64_t* hi) {
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  *hi = n_in - 1 - offset < 0 ? 0 : std::min(n_out, (n_in - 1 - offset) / stride + 1);
  *lo = std::min(*lo, *hi);
}

// The filter taps (r, s), in row-major order, that read the image for at least one output position.
struct Taps {
  std::vector<int64_t> r, s;
  int64_t size() const { return static_cast<int64_t>(r.size()); }
};

inline Taps live_taps(const Conv2dArgs& a) {
  Taps t;
  for (int64_t r = 0; r < a.R; ++r) {
    int64_t p_lo, p_hi;
    valid_range(a.P, a.H, r - a.pad, a.stride, &p_lo, &p_hi);
    for (int64_t s = 0; s < a.S; ++s) {
      int64_t q_lo, q_hi;
      valid_range(a.Q, a.W, s - a.pad, a.stride, &q_lo, &q_hi);
      if (p_lo < p_hi && q_lo < q_hi) {
        t.r.push_back(r);
        t.s.push_back(s);
      }
    }
  }
  return t;
}

// The weight (K, C, R, S) restricted to the live taps: (K, C*T), column c*T + t. Returns w itself
// when every tap is live.
template <class T>
const T* compact_weight(const Conv2dArgs& a, const Taps& taps, const T* w, std::vector<T>& buf) {
  const int64_t nt = taps.size();
  if (nt == a.R * a.S) return w;
  buf.resize(a.K * a.C * nt);
  for (int64_t k = 0; k < a.K; ++k)
    for (int64_t c = 0; c < a.C; ++c)
      for (int64_t t = 0; t < nt; ++t)
        buf[(k * a.C + c) * nt + t] = w[((k * a.C + c) * a.R + taps.r[t]) * a.S + taps.s[t]];
  return buf.data();
}

// Bf16 mode rounds the GEMM operands; only float32 does (float64 is the exact oracle).
inline bool rounds(const Conv2dArgs& a, const float*) { return a.bf16; }
inline bool rounds(const Conv2dArgs&, const double*) { return false; }

// A GEMM operand of n values, rounded to bf16 into buf when `on` (in place when src is buf, a
// buffer this thread has just filled); src itself otherwise.
inline const float* bf16_operand(bool on, const float* src, int64_t n, float* buf) {
  if (!on) return src;
  for (int64_t i = 0; i < n; ++i) buf[i] = round_to_bf16(src[i]);
  return buf;
}
inline const double* bf16_operand(bool, const double* src, int64_t, double*) { return src; }

// The GEMM's weight operand (K, C*T): compact_weight, then rounded to bf16 in Bf16 mode.
template <class T>
const T* gemm_weight(const Conv2dArgs& a, const Taps& taps, const T* w, std::vector<T>& buf) {
  const T* wc = compact_weight(a, taps, w, buf);
  if (!rounds(a, w)) return wc;
  buf.resize(a.K * a.C * taps.size());
  return bf16_operand(true, wc, static_cast<int64_t>(buf.size()), buf.data());
}

// The adjoint of im2col: every column entry is added back onto the pixel it was read from (a
// pixel read by several overlapping windows collects the sum). Entries from the pad are dropped.
// dcols: (C*T, ld), this image's P*Q columns at the start of each row; dx: (C, H, W), zeroed by
// the caller.
template <class T>
void col2im(const Conv2dArgs& a, const Taps& taps, const T* dcols, int64_t ld, T* dx) {
  const int64_t nt = taps.size();
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t r = taps.r[t], s = taps.s[t];
      int64_t p_lo, p_hi, q_lo, q_hi;
      valid_range(a.P, a.H, r - a.pad, a.stride, &p_lo, &p_hi);
      valid_range(a.Q, a.W, s - a.pad, a.stride, &q_lo, &q_hi);
      const T* row = dcols + (c * nt + t) * ld;  // row: (P*Q)
      const int64_t n = q_hi - q_lo;             // in-image columns per output row
      for (int64_t p = p_lo; p < p_hi && n > 0; ++p) {
        // The same runs as im2col, read back: in (n) from column q_lo of row p, out the pixels
        // they came from.
        const T* in = row + p * a.Q + q_lo;
        T* out = dx + (c * a.H + p * a.stride + r - a.pad) * a.W + q_lo * a.stride + s - a.pad;
        if (a.stride == 1) {
          for (int64_t j = 0; j < n; ++j) out[j] += in[j];
        } else {
          for (int64_t j = 0; j < n; ++j) out[j * a.stride] += in[j];
        }
      }
    }
}

// The classic path, for float64 (the oracles' precision) and for float32 under
// GemmBackend::OpenBlas (the comparison): im2col into a column buffer, then a BLAS-style GEMM
// (engine/cpu/conv2d_im2col.cc).
template <class T>
void im2col_conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y);
template <class T>
void im2col_conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx);
template <class T>
void im2col_conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw);

// The fast float32 path on lightbox's own GEMM: the column matrix is packed straight from the
// activations into the GEMM's panels and never written whole (engine/cpu/conv2d_implicit.cc).
void implicit_conv2d_forward(const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y);
void implicit_conv2d_backward_input(const Conv2dArgs& a, const float* dy, const float* w, float* dx);
void implicit_conv2d_backward_weight(const Conv2dArgs& a, const float* x, const float* dy, float* dw);

}  // namespace lb::cpu::conv_detail
