// cpu/conv2d_im2col.cc: the classic CPU convolution, im2col + GEMM (Chellapilla, Puri and Simard
// 2006), forward and backward; see cpu/conv2d.h for the shapes and when this path runs (float64,
// and float32 under GemmBackend::OpenBlas, the comparison of `lightbox bench kernels --device cpu`).
//
// The batch is cut into groups of `group` consecutive images. A group's column matrices sit side
// by side in one buffer, cols (C*R*S, group*P*Q), with image i's P*Q columns starting at column
// i*P*Q, so one GEMM serves the whole group. For the large maps of a 224x224 input a group is a
// single image; for the 7x7 ... 1x1 maps of a 28x28 input it is 3 to 64 images, which turns the
// per-image matrix-vector products (memory bound: the whole weight streamed once per image) into
// matrix products that reuse the weight from cache. Dead taps are skipped (cpu/conv2d_parts.h).
//
// MathMode::Bf16 (Conv2dArgs::bf16, float only): both operands of each GEMM are rounded to
// bfloat16 where they are staged (the column or gathered-dy buffer right after it is filled, the
// weight with its compaction), then the fp32 GEMM runs as usual. bf16 x bf16 products are exact
// in fp32, so this equals the CUDA bf16 tensor-core result up to the order of the additions.
#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/cpu/conv2d_parts.h"
#include "engine/cpu/gemm.h"

namespace lb::cpu::conv_detail {

namespace {

// 1x1 kernel, no padding: column (p, q) of channel c is the pixel x[c, p*stride, q*stride], so the
// column matrix is a subsample (a plain copy at stride 1).
// x: (C, H, W) one image; cols: (C, ld), this image's P*Q columns at the start of each row.
template <class T>
void pointwise_cols(const Conv2dArgs& a, const T* x, T* cols, int64_t ld) {
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t p = 0; p < a.P; ++p) {
      const T* in = x + (c * a.H + p * a.stride) * a.W;  // in: input row p*stride, (W)
      T* out = cols + c * ld + p * a.Q;                  // out: (Q)
      for (int64_t q = 0; q < a.Q; ++q) out[q] = in[q * a.stride];
    }
}

// x: (C, H, W) one image; cols: (C*T, ld) for T live taps, this image's P*Q columns at the start
// of each row. Row (c, t) for tap t = (r, s), column (p, q) holds x[c, p*stride + r - pad,
// q*stride + s - pad], or 0 in the pad. On small maps (Q = 7 and below) the per-run overheads
// dominate, so a row that touches the pad is zeroed with one fill and then only the in-image runs
// are copied; rows wholly inside the image (the centre taps) skip the fill.
template <class T>
void im2col(const Conv2dArgs& a, const Taps& taps, const T* x, T* cols, int64_t ld) {
  if (a.R == 1 && a.S == 1 && a.pad == 0) return pointwise_cols(a, x, cols, ld);
  const int64_t nt = taps.size();
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t r = taps.r[t], s = taps.s[t];
      int64_t p_lo, p_hi, q_lo, q_hi;
      valid_range(a.P, a.H, r - a.pad, a.stride, &p_lo, &p_hi);
      valid_range(a.Q, a.W, s - a.pad, a.stride, &q_lo, &q_hi);
      T* row = cols + (c * nt + t) * ld;  // row: (P*Q)
      if (p_lo > 0 || p_hi < a.P || q_lo > 0 || q_hi < a.Q) std::fill(row, row + a.P * a.Q, T(0));
      const int64_t n = q_hi - q_lo;  // in-image columns per output row
      for (int64_t p = p_lo; p < p_hi && n > 0; ++p) {
        // in: the first in-image pixel this run reads, in row p*stride + r - pad, column
        // q_lo*stride + s - pad; out: (n) entries of output row p from column q_lo.
        const T* in = x + (c * a.H + p * a.stride + r - a.pad) * a.W + q_lo * a.stride + s - a.pad;
        T* out = row + p * a.Q + q_lo;
        if (a.stride == 1) {
          for (int64_t j = 0; j < n; ++j) out[j] = in[j];
        } else {
          for (int64_t j = 0; j < n; ++j) out[j] = in[j * a.stride];
        }
      }
    }
}

// The column matrix of images [n0, n0 + count) of x (N, C, H, W): cols (C*T, count*P*Q).
// Returns the image itself when it already is its column matrix (one 1x1 stride-1 image).
template <class T>
const T* gather_cols(const Conv2dArgs& a, const Taps& taps, const T* x, int64_t n0, int64_t count, T* cols) {
  const int64_t chw = a.C * a.H * a.W, pq = a.P * a.Q;
  if (count == 1 && input_is_cols(a)) return x + n0 * chw;
  for (int64_t i = 0; i < count; ++i) im2col(a, taps, x + (n0 + i) * chw, cols + i * pq, count * pq);
  return cols;
}

// Images [n0, n0 + count) of t (N, K, P*Q), side by side: buf (K, count*P*Q). Returns the image
// itself when count is 1 (its (K, P*Q) block already has that layout).
template <class T>
const T* gather_maps(const T* t, int64_t K, int64_t pq, int64_t n0, int64_t count, T* buf) {
  if (count == 1) return t + n0 * K * pq;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t k = 0; k < K; ++k) std::copy_n(t + ((n0 + i) * K + k) * pq, pq, buf + (k * count + i) * pq);
  return buf;
}

// The inverse of gather_maps: buf (K, count*P*Q) back into images [n0, n0 + count) of t (N, K, P*Q).
template <class T>
void scatter_maps(const T* buf, int64_t K, int64_t pq, int64_t n0, int64_t count, T* t) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t k = 0; k < K; ++k) std::copy_n(buf + (k * count + i) * pq, pq, t + ((n0 + i) * K + k) * pq);
}

}  // namespace

template <class T>
void im2col_conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y) {
  use_single_threaded_blas();
  const Plan plan = make_plan(a);
  const Taps taps = live_taps(a);
  const bool bf16 = rounds(a, x);
  std::vector<T> wbuf;
  const T* wc = gemm_weight(a, taps, w, wbuf);  // (K, C*T)
  const int64_t crs = a.C * taps.size(), pq = a.P * a.Q, kpq = a.K * pq;
  if (crs == 0) {  // every output position reads only padding: y is the bias
    for (int64_t i = 0; i < a.N * a.K; ++i) std::fill(y + i * pq, y + (i + 1) * pq, bias ? bias[i % a.K] : T(0));
    return;
  }
#pragma omp parallel num_threads(plan.threads)
  {
    auto cols =
        scratch<T>(input_is_cols(a) && plan.group == 1 && !bf16 ? 0 : crs * plan.group * pq);  // (C*T, group*P*Q)
    auto ybuf = scratch<T>(plan.group > 1 ? kpq * plan.group : 0);                             // (K, group*P*Q)
#pragma omp for schedule(static)
    for (int64_t g = 0; g < plan.groups; ++g) {
      const int64_t n0 = g * plan.group, count = std::min(plan.group, a.N - n0), ld = count * pq;
      const T* cg = gather_cols(a, taps, x, n0, count, cols.get());  // cg: (C*T, count*P*Q)
      cg = bf16_operand(bf16, cg, crs * ld, cols.get());
      T* out = count == 1 ? y + n0 * kpq : ybuf.get();  // out: (K, count*P*Q)
      gemm(false, false, a.K, ld, crs, T(1), wc, crs, cg, ld, T(0), out, ld);
      if (count > 1) scatter_maps(out, a.K, pq, n0, count, y);
      if (!bias) continue;
      for (int64_t i = n0; i < n0 + count; ++i)
        for (int64_t k = 0; k < a.K; ++k) {
          T* yk = y + (i * a.K + k) * pq;  // yk: (P*Q)
          for (int64_t j = 0; j < pq; ++j) yk[j] += bias[k];
        }
    }
  }
}

template <class T>
void im2col_conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx) {
  use_single_threaded_blas();
  const Plan plan = make_plan(a);
  const Taps taps = live_taps(a);
  const bool bf16 = rounds(a, dy);
  std::vector<T> wbuf;
  const T* wc = gemm_weight(a, taps, w, wbuf);  // (K, C*T)
  const int64_t crs = a.C * taps.size(), pq = a.P * a.Q, chw = a.C * a.H * a.W;
  if (crs == 0) {  // no tap ever reads the image
    std::fill(dx, dx + a.N * chw, T(0));
    return;
  }
#pragma omp parallel num_threads(plan.threads)
  {
    auto dybuf = scratch<T>(plan.group > 1 || bf16 ? a.K * plan.group * pq : 0);               // (K, group*P*Q)
    auto dcols = scratch<T>(input_is_cols(a) && plan.group == 1 ? 0 : crs * plan.group * pq);  // (C*T, group*P*Q)
#pragma omp for schedule(static)
    for (int64_t g = 0; g < plan.groups; ++g) {
      const int64_t n0 = g * plan.group, count = std::min(plan.group, a.N - n0), ld = count * pq;
      const T* dyg = gather_maps(dy, a.K, pq, n0, count, dybuf.get());  // dyg: (K, count*P*Q)
      dyg = bf16_operand(bf16, dyg, a.K * ld, dybuf.get());
      T* dxg = dx + n0 * chw;  // dxg: (count, C, H, W)
      if (count == 1 && input_is_cols(a)) {
        // dx_n (C, H*W) is its own column matrix: W^T dy_n lands in place, no col2im.
        gemm(true, false, crs, ld, a.K, T(1), wc, crs, dyg, ld, T(0), dxg, ld);
        continue;
      }
      // dcols (C*T, count*P*Q) = W^T (C*T, K) x dyg (K, count*P*Q)
      gemm(true, false, crs, ld, a.K, T(1), wc, crs, dyg, ld, T(0), dcols.get(), ld);
      std::fill(dxg, dxg + count * chw, T(0));
      for (int64_t i = 0; i < count; ++i) col2im(a, taps, dcols.get() + i * pq, ld, dxg + i * chw);
    }
  }
}

template <class T>
void im2col_conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw) {
  use_single_threaded_blas();
  const Plan plan = make_plan(a);
  const Taps taps = live_taps(a);
  const int64_t nt = taps.size(), crs = a.C * nt, pq = a.P * a.Q, kcrs = a.K * crs;
  const bool bf16 = rounds(a, x);
  const bool all_live = nt == a.R * a.S;
  if (nt == 0) {  // no tap ever reads the image: no weight gets a gradient
    std::fill(dw, dw + a.K * a.C * a.R * a.S, T(0));
    return;
  }
  // partial: (threads, K, C*T), thread t's sum over its fixed slice of images. Zero-initialised,
  // so a slot stays harmless if OpenMP grants fewer threads than asked for. With one thread and
  // every tap live the sum goes straight into dw.
  const bool direct = plan.threads == 1 && all_live;
  std::vector<T> partial(direct ? 0 : plan.threads * kcrs);
  if (direct) std::fill(dw, dw + kcrs, T(0));
#pragma omp parallel num_threads(plan.threads)
  {
    T* dwt = direct ? dw : partial.data() + omp_get_thread_num() * kcrs;  // dwt: (K, C*T)
    auto cols =
        scratch<T>(input_is_cols(a) && plan.group == 1 && !bf16 ? 0 : crs * plan.group * pq);  // (C*T, group*P*Q)
    auto dybuf = scratch<T>(plan.group > 1 || bf16 ? a.K * plan.group * pq : 0);               // (K, group*P*Q)
    // schedule(static) hands each thread one contiguous, fixed slice of the groups.
#pragma omp for schedule(static)
    for (int64_t g = 0; g < plan.groups; ++g) {
      const int64_t n0 = g * plan.group, count = std::min(plan.group, a.N - n0), ld = count * pq;
      const T* cg = gather_cols(a, taps, x, n0, count, cols.get());     // cg: (C*T, count*P*Q)
      const T* dyg = gather_maps(dy, a.K, pq, n0, count, dybuf.get());  // dyg: (K, count*P*Q)
      cg = bf16_operand(bf16, cg, crs * ld, cols.get());
      dyg = bf16_operand(bf16, dyg, a.K * ld, dybuf.get());
      // dwt (K, C*T) += dyg (K, count*P*Q) x cg^T (count*P*Q, C*T)
      gemm(false, true, a.K, crs, ld, T(1), dyg, ld, cg, ld, T(1), dwt, crs);
    }
  }
  if (direct) return;
  // Sum the partials in thread order (the same inputs give the same bits on every run) and put
  // each live tap back at (r, s); dead taps get exactly 0, their true gradient.
  if (!all_live) std::fill(dw, dw + a.K * a.C * a.R * a.S, T(0));
#pragma omp parallel for schedule(static) if (kcrs > (1 << 15))
  for (int64_t i = 0; i < kcrs; ++i) {
    T acc = T(0);
    for (int t = 0; t < plan.threads; ++t) acc += partial[t * kcrs + i];
    if (all_live) {
      dw[i] = acc;
    } else {
      const int64_t kc = i / nt, t = i % nt;  // (k, c) and the live tap
      dw[(kc * a.R + taps.r[t]) * a.S + taps.s[t]] = acc;
    }
  }
}

#define LB_INSTANTIATE_IM2COL(T)                                                               \
  template void im2col_conv2d_forward<T>(const Conv2dArgs&, const T*, const T*, const T*, T*); \
  template void im2col_conv2d_backward_input<T>(const Conv2dArgs&, const T*, const T*, T*);    \
  template void im2col_conv2d_backward_weight<T>(const Conv2dArgs&, const T*, const T*, T*);
LB_INSTANTIATE_IM2COL(float)
LB_INSTANTIATE_IM2COL(double)
#undef LB_INSTANTIATE_IM2COL

}  // namespace lb::cpu::conv_detail
