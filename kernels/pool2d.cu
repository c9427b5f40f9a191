// pool2d.cu: max-pool with indices and adaptive average pool on the GPU, the semantics of
// engine/cpu/pool2d.cc.
//
// Shapes (the letters of this file): x, dx (planes, H, W) with planes = N * C; y, dy, indices
// (planes, P, Q) for max pooling, (planes, OH, OW) for adaptive average pooling.
//
// Forwards are one thread per output (one warp per output when adaptive bins are large, e.g.
// the global average pool). Max-pool backward zeroes dx and scatters dy with atomicAdd (windows
// overlap when stride < kernel, and a plane's outputs can share a maximum). Adaptive backward is
// a gather instead: each input finds the few bins that contain it and adds their dy / area in the
// CPU's bin order, so it needs no atomics and matches the CPU bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/pool2d.cuh"
#include "kernels/reduce_impl.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;
using detail::warp_sum;

constexpr int kThreads = 256;
constexpr int64_t kGridCap = 1 << 20;  // grid-stride loops: at most this many blocks

__host__ __device__ __forceinline__ int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__host__ __device__ __forceinline__ int64_t bin_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// y, indices (planes, P, Q). Windows are clipped to the input (padding is -inf and never wins).
// Strictly greater keeps the first maximum in row-major window order; a NaN always takes over
// (so the last NaN of the window is reported), exactly the CPU's test.
__global__ void max_pool2d_forward_kernel(const float* x, float* y, int64_t* indices, MaxPoolShape s) {
  const int64_t total = s.planes * s.P * s.Q;
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t q = o % s.Q, t = o / s.Q;
    const int64_t p = t % s.P, pl = t / s.P;
    const float* xp = x + pl * s.H * s.W;  // (H, W)
    const int64_t h0 = p * s.stride - s.padding, w0 = q * s.stride - s.padding;
    const int64_t h_lo = h0 > 0 ? h0 : 0, h_hi = h0 + s.kernel < s.H ? h0 + s.kernel : s.H;
    const int64_t w_lo = w0 > 0 ? w0 : 0, w_hi = w0 + s.kernel < s.W ? w0 + s.kernel : s.W;
    float best = -INFINITY;
    int64_t best_i = h_lo * s.W + w_lo;  // an all -inf window reports its first real cell
    for (int64_t h = h_lo; h < h_hi; ++h) {
      for (int64_t w = w_lo; w < w_hi; ++w) {
        const float v = xp[h * s.W + w];
        if (v > best || isnan(v)) {
          best = v;
          best_i = h * s.W + w;
        }
      }
    }
    y[o] = best;
    indices[o] = best_i;
  }
}

// dx (planes, H, W) already zeroed; dx[plane][indices[o]] += dy[o].
__global__ void max_pool2d_backward_kernel(const float* dy, const int64_t* indices, float* dx, int64_t PQ, int64_t HW,
                                           int64_t total) {
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t pl = o / PQ;
    atomicAdd(dx + pl * HW + indices[o], dy[o]);
  }
}

// One thread per output: the bin sum in double, divided by the area in double (the CPU's order).
__global__ void adaptive_avg_pool2d_forward_kernel(const float* x, float* y, AvgPoolShape s) {
  const int64_t total = s.planes * s.OH * s.OW;
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = o % s.OW, t = o / s.OW;
    const int64_t i = t % s.OH, pl = t / s.OH;
    const float* xp = x + pl * s.H * s.W;  // (H, W)
    const int64_t h_lo = bin_start(i, s.H, s.OH), h_hi = bin_end(i, s.H, s.OH);
    const int64_t w_lo = bin_start(j, s.W, s.OW), w_hi = bin_end(j, s.W, s.OW);
    double sum = 0.0;
    for (int64_t h = h_lo; h < h_hi; ++h)
      for (int64_t w = w_lo; w < w_hi; ++w) sum += static_cast<double>(xp[h * s.W + w]);
    y[o] = static_cast<float>(sum / static_cast<double>((h_hi - h_lo) * (w_hi - w_lo)));
  }
}

// One warp per output, for large bins (the global average pool): lanes stride over the bin's
// cells (row by row, lanes along w), then a shuffle tree in double.
__global__ void adaptive_avg_pool2d_forward_warp_kernel(const float* x, float* y, AvgPoolShape s) {
  const int64_t total = s.planes * s.OH * s.OW;
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
  for (int64_t o = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5); o < total; o += warps) {
    const int64_t j = o % s.OW, t = o / s.OW;
    const int64_t i = t % s.OH, pl = t / s.OH;
    const float* xp = x + pl * s.H * s.W;  // (H, W)
    const int64_t h_lo = bin_start(i, s.H, s.OH), h_hi = bin_end(i, s.H, s.OH);
    const int64_t w_lo = bin_start(j, s.W, s.OW), w_hi = bin_end(j, s.W, s.OW);
    const int64_t bw = w_hi - w_lo, area = (h_hi - h_lo) * bw;
    double sum = 0.0;
    for (int64_t c = lane; c < area; c += 32) {
      const int64_t h = h_lo + c / bw, w = w_lo + c % bw;
      sum += static_cast<double>(xp[h * s.W + w]);
    }
    sum = warp_sum(sum);
    if (lane == 0) y[o] = static_cast<float>(sum / static_cast<double>(area));
  }
}

// Rows (or columns) i of the output whose bin [start(i), end(i)) holds input row h: from
// floor(h * out / in) to floor(((h + 1) * out - 1) / in), widened by one on each side and then
// tested with the exact bin edges, so a rounding slip in the bound can only cost a test.
__device__ __forceinline__ void bins_containing(int64_t h, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = (h * out) / in - 1;
  hi = ((h + 1) * out - 1) / in + 1;
  if (lo < 0) lo = 0;
  if (hi > out - 1) hi = out - 1;
}

// One thread per input: dx(h, w) = sum over bins (i, j) containing it of dy(i, j) / area(i, j)
// in float, bins in row-major order: the CPU's scatter adds in the same order.
__global__ void adaptive_avg_pool2d_backward_kernel(const float* dy, float* dx, AvgPoolShape s) {
  const int64_t total = s.planes * s.H * s.W;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = e % s.W, t = e / s.W;
    const int64_t h = t % s.H, pl = t / s.H;
    const float* dyp = dy + pl * s.OH * s.OW;  // (OH, OW)
    int64_t i_lo, i_hi, j_lo, j_hi;
    bins_containing(h, s.H, s.OH, i_lo, i_hi);
    bins_containing(w, s.W, s.OW, j_lo, j_hi);
    float acc = 0.f;
    for (int64_t i = i_lo; i <= i_hi; ++i) {
      const int64_t h_lo = bin_start(i, s.H, s.OH), h_hi = bin_end(i, s.H, s.OH);
      if (h < h_lo || h >= h_hi) continue;
      for (int64_t j = j_lo; j <= j_hi; ++j) {
        const int64_t w_lo = bin_start(j, s.W, s.OW), w_hi = bin_end(j, s.W, s.OW);
        if (w < w_lo || w >= w_hi) continue;
        const float g = __fdiv_rn(dyp[i * s.OW + j], static_cast<float>((h_hi - h_lo) * (w_hi - w_lo)));
        acc = __fadd_rn(acc, g);
      }
    }
    dx[e] = acc;
  }
}

}  // namespace

void max_pool2d_forward(const MaxPoolShape& s, const float* x, float* y, int64_t* indices) {
  const int64_t total = s.planes * s.P * s.Q;
  if (total == 0) return;
  max_pool2d_forward_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(x, y, indices, s);
  LB_CUDA_CHECK_LAUNCH("max_pool2d_forward_kernel");
}

void max_pool2d_backward(const MaxPoolShape& s, const float* dy, const int64_t* indices, float* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  if (s.planes * HW == 0) return;
  const cudaStream_t st = cuda_stream();
  LB_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(s.planes * HW) * sizeof(float), st));
  const int64_t total = s.planes * PQ;
  if (total == 0) return;
  max_pool2d_backward_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, st>>>(dy, indices, dx, PQ, HW, total);
  LB_CUDA_CHECK_LAUNCH("max_pool2d_backward_kernel");
}

void adaptive_avg_pool2d_forward(const AvgPoolShape& s, const float* x, float* y) {
  const int64_t total = s.planes * s.OH * s.OW;
  if (total == 0) return;
  // The largest bin (area bounded by the widest row bin times the widest column bin) decides
  // between a thread and a warp per output.
  int64_t bh = 0, bw = 0;
  for (int64_t i = 0; i < s.OH; ++i) bh = std::max(bh, bin_end(i, s.H, s.OH) - bin_start(i, s.H, s.OH));
  for (int64_t j = 0; j < s.OW; ++j) bw = std::max(bw, bin_end(j, s.W, s.OW) - bin_start(j, s.W, s.OW));
  const cudaStream_t st = cuda_stream();
  if (bh * bw >= 64) {
    const int64_t warps_per_block = kThreads / 32;
    const int64_t blocks = std::min<int64_t>((total + warps_per_block - 1) / warps_per_block, kGridCap);
    adaptive_avg_pool2d_forward_warp_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, st>>>(x, y, s);
    LB_CUDA_CHECK_LAUNCH("adaptive_avg_pool2d_forward_warp_kernel");
  } else {
    adaptive_avg_pool2d_forward_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, st>>>(x, y, s);
    LB_CUDA_CHECK_LAUNCH("adaptive_avg_pool2d_forward_kernel");
  }
}

void adaptive_avg_pool2d_backward(const AvgPoolShape& s, const float* dy, float* dx) {
  const int64_t total = s.planes * s.H * s.W;
  if (total == 0) return;
  adaptive_avg_pool2d_backward_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(dy, dx, s);
  LB_CUDA_CHECK_LAUNCH("adaptive_avg_pool2d_backward_kernel");
}

}  // namespace lb::kernels
