// softmax.cu: softmax / log-softmax along an axis, axis sums and broadcasts, and the fused
// softmax cross-entropy, with engine/cpu/softmax.h and engine/cpu/reduce.h as the reference.
//
// Shapes (the letters of this file): a tensor seen as [outer, n, inner], element (o, i, j) at
// (o * n + i) * inner + j; softmax and sums run along n. Cross-entropy: logits and log_probs
// (N, C), target and row_weight (N).
//
// Softmax computes in float with the row maximum subtracted (no overflow). When inner == 1 the
// rows are contiguous: one warp per row for rows up to kWarpRowMax values, one block per row
// above; when inner > 1 each thread walks one (o, j) column and neighbouring threads read
// neighbouring j, which keeps the loads coalesced. Reductions are fixed-order trees (xor
// butterflies inside a warp give every lane the same bits), so results are deterministic.
//
// sum_axis accumulates in double like the CPU. A long axis (a full-tensor sum: outer = inner = 1,
// n = 10^8) is cut into chunks that separate warps (or threads) sum into a double workspace,
// and a second kernel adds each column's chunk sums in order: no float atomics.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/reduce_impl.cuh"
#include "kernels/softmax.cuh"

namespace lb::kernels {

namespace {

using detail::block_sum;
using detail::cuda_stream;
using detail::DeviceBuffer;
using detail::grid_for;
using detail::kFullMask;

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int64_t kWarpRowMax = 1024;     // rows up to this length get one warp, longer ones a block
constexpr int64_t kGridCap = 1 << 20;     // grid-stride loops: at most this many blocks
constexpr int64_t kRowChunk = 16384;      // sum_axis, inner == 1: values per warp before splitting
constexpr int64_t kColThreads = 1 << 17;  // sum_axis, inner > 1: aim for this many threads

// ---- group all-reduce: a warp (kBlock false) or the whole block (kBlock true) -----------------

__device__ __forceinline__ float warp_all_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, off));
  return v;
}
__device__ __forceinline__ float warp_all_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// Every thread of the group gets the same value. scratch: 32 floats, block variant only.
template <bool kBlock, bool kMax>
__device__ __forceinline__ float group_all_reduce(float v, float* scratch) {
  v = kMax ? warp_all_max(v) : warp_all_sum(v);
  if constexpr (kBlock) {
    const int nwarps = blockDim.x >> 5;
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = scratch[0];
    for (int w = 1; w < nwarps; ++w) v = kMax ? fmaxf(v, scratch[w]) : v + scratch[w];
    __syncthreads();  // scratch may be written again by the next reduction
  }
  return v;
}

// ---- softmax along contiguous rows (inner == 1) -----------------------------------------------

// Rows of n values; a group (warp or block) per row. t: this thread's rank in the group, G: the
// group size.
template <bool kBlock>
__device__ __forceinline__ void softmax_row(const float* xr, float* yr, int64_t n, bool log, int t, int G,
                                            float* scratch) {
  float m = -INFINITY;
  for (int64_t i = t; i < n; i += G) m = fmaxf(m, xr[i]);  // fmax ignores NaN, as the CPU's
  m = group_all_reduce<kBlock, true>(m, scratch);
  float s = 0.f;
  for (int64_t i = t; i < n; i += G) s += expf(xr[i] - m);
  s = group_all_reduce<kBlock, false>(s, scratch);
  if (log) {
    const float log_s = logf(s);
    for (int64_t i = t; i < n; i += G) yr[i] = (xr[i] - m) - log_s;
  } else {
    for (int64_t i = t; i < n; i += G) yr[i] = __fdiv_rn(expf(xr[i] - m), s);
  }
}

template <bool kBlock>
__device__ __forceinline__ void softmax_backward_row(const float* yr, const float* dyr, float* dxr, int64_t n, bool log,
                                                     int t, int G, float* scratch) {
  float s = 0.f;
  for (int64_t i = t; i < n; i += G) s += log ? dyr[i] : dyr[i] * yr[i];
  s = group_all_reduce<kBlock, false>(s, scratch);
  if (log) {
    for (int64_t i = t; i < n; i += G) dxr[i] = dyr[i] - expf(yr[i]) * s;
  } else {
    for (int64_t i = t; i < n; i += G) dxr[i] = yr[i] * (dyr[i] - s);
  }
}

// One warp per row (x, y (rows, n)).
__global__ void softmax_forward_warp_kernel(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * (int64_t)kWarpsPerBlock + (threadIdx.x >> 5); r < rows;
       r += (int64_t)gridDim.x * kWarpsPerBlock)
    softmax_row<false>(x + r * n, y + r * n, n, log, lane, 32, nullptr);
}

// One block per row.
__global__ void softmax_forward_block_kernel(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    softmax_row<true>(x + r * n, y + r * n, n, log, threadIdx.x, blockDim.x, scratch);
}

__global__ void softmax_backward_warp_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t n,
                                             bool log) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = blockIdx.x * (int64_t)kWarpsPerBlock + (threadIdx.x >> 5); r < rows;
       r += (int64_t)gridDim.x * kWarpsPerBlock)
    softmax_backward_row<false>(y + r * n, dy + r * n, dx + r * n, n, log, lane, 32, nullptr);
}

__global__ void softmax_backward_block_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t n,
                                              bool log) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    softmax_backward_row<true>(y + r * n, dy + r * n, dx + r * n, n, log, threadIdx.x, blockDim.x, scratch);
}

// ---- softmax along a strided axis (inner > 1): one thread per (o, j) column --------------------

__global__ void softmax_forward_strided_kernel(const float* x, float* y, AxisShape s, bool log) {
  const int64_t cols = s.outer * s.inner;
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = c / s.inner, j = c - o * s.inner;
    const float* xr = x + o * s.n * s.inner + j;
    float* yr = y + o * s.n * s.inner + j;
    float m = -INFINITY;
    for (int64_t i = 0; i < s.n; ++i) m = fmaxf(m, xr[i * s.inner]);
    float sum = 0.f;
    for (int64_t i = 0; i < s.n; ++i) sum += expf(xr[i * s.inner] - m);
    const float log_s = logf(sum);
    for (int64_t i = 0; i < s.n; ++i) {
      const float z = xr[i * s.inner] - m;
      yr[i * s.inner] = log ? z - log_s : __fdiv_rn(expf(z), sum);
    }
  }
}

__global__ void softmax_backward_strided_kernel(const float* y, const float* dy, float* dx, AxisShape s, bool log) {
  const int64_t cols = s.outer * s.inner;
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = c / s.inner, j = c - o * s.inner;
    const int64_t base = o * s.n * s.inner + j;
    float sum = 0.f;
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t k = base + i * s.inner;
      sum += log ? dy[k] : dy[k] * y[k];
    }
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t k = base + i * s.inner;
      dx[k] = log ? dy[k] - expf(y[k]) * sum : y[k] * (dy[k] - sum);
    }
  }
}

// ---- sum_axis ----------------------------------------------------------------------------------

// inner == 1: warp u of outer * S sums chunk (u % S) of row (u / S) (chunk values each) in
// double. S == 1: writes scale * sum to out[row]; else the double to part[u].
__global__ void sum_rows_kernel(const float* x, int64_t outer, int64_t n, int64_t S, int64_t chunk, float scale,
                                float* out, double* part) {
  const int lane = threadIdx.x & 31;
  const int64_t units = outer * S;
  for (int64_t u = blockIdx.x * (int64_t)kWarpsPerBlock + (threadIdx.x >> 5); u < units;
       u += (int64_t)gridDim.x * kWarpsPerBlock) {
    const int64_t r = u / S, c = u - r * S;
    const int64_t lo = c * chunk, hi = lo + chunk < n ? lo + chunk : n;
    const float* xr = x + r * n;
    double acc = 0.0;
    for (int64_t i = lo + lane; i < hi; i += 32) acc += static_cast<double>(xr[i]);
    acc = detail::warp_sum(acc);
    if (lane == 0) {
      if (S == 1)
        out[r] = static_cast<float>(acc * static_cast<double>(scale));
      else
        part[u] = acc;
    }
  }
}

// inner > 1: thread t of outer * S * inner sums rows [s * chunk, (s + 1) * chunk) of column
// (o, j), t = (o * S + s) * inner + j. S == 1: writes out[o * inner + j]; else part[t].
__global__ void sum_cols_kernel(const float* x, AxisShape sh, int64_t S, int64_t chunk, float scale, float* out,
                                double* part) {
  const int64_t total = sh.outer * S * sh.inner;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = t % sh.inner, os = t / sh.inner;
    const int64_t s = os % S, o = os / S;
    const int64_t lo = s * chunk, hi = lo + chunk < sh.n ? lo + chunk : sh.n;
    const float* xc = x + o * sh.n * sh.inner + j;
    double acc = 0.0;
    for (int64_t i = lo; i < hi; ++i) acc += static_cast<double>(xc[i * sh.inner]);
    if (S == 1)
      out[o * sh.inner + j] = static_cast<float>(acc * static_cast<double>(scale));
    else
      part[t] = acc;
  }
}

// out[o * inner + j] = scale * sum_s part[(o * S + s) * inner + j], s in order. (For inner == 1
// this is part[o * S + s], the layout sum_rows_kernel writes.)
__global__ void sum_finalize_kernel(const double* part, int64_t outer, int64_t S, int64_t inner, float scale,
                                    float* out) {
  const int64_t cols = outer * inner;
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < cols; c += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = c / inner, j = c - o * inner;
    double acc = 0.0;
    for (int64_t s = 0; s < S; ++s) acc += part[(o * S + s) * inner + j];
    out[c] = static_cast<float>(acc * static_cast<double>(scale));
  }
}

__global__ void broadcast_axis_kernel(const float* dy, float* dx, AxisShape s, float scale) {
  const int64_t total = s.outer * s.n * s.inner;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = e % s.inner, o = e / (s.n * s.inner);
    dx[e] = __fmul_rn(scale, dy[o * s.inner + j]);
  }
}

// ---- cross-entropy -----------------------------------------------------------------------------

// One block: W = sum_i w[y_i], L = sum_i w[y_i] * log_probs[i, y_i] (double), then
// row_weight[i] = w[y_i] / W and loss = -L / W.
__global__ void cross_entropy_loss_kernel(const float* log_probs, const int64_t* target, const float* class_weight,
                                          int64_t N, int64_t C, float* row_weight, float* loss) {
  __shared__ double scratch[2][32];
  __shared__ double total_w;
  double ws = 0.0, ls = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const int64_t t = target[i];
    const double w = class_weight ? static_cast<double>(class_weight[t]) : 1.0;
    ws += w;
    ls += w * static_cast<double>(log_probs[i * C + t]);
  }
  ws = block_sum(ws, scratch[0]);
  ls = block_sum(ls, scratch[1]);
  if (threadIdx.x == 0) {
    // Weights that do not sum to a positive number make the mean meaningless: NaN loss and row
    // weights (the CPU throws; the host cannot see this sum without a synchronisation).
    total_w = ws > 0.0 ? ws : static_cast<double>(NAN);
    *loss = static_cast<float>(-ls / total_w);
  }
  __syncthreads();
  const double W = total_w;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    const double w = class_weight ? static_cast<double>(class_weight[target[i]]) : 1.0;
    row_weight[i] = static_cast<float>(w / W);
  }
}

// dlogits[i, c] = g * row_weight[i] * (exp(log_probs[i, c]) - [c == y_i]).
__global__ void cross_entropy_backward_kernel(const float* log_probs, const int64_t* target, const float* row_weight,
                                              const float* g, int64_t N, int64_t C, float* dlogits) {
  const float gs = *g;
  const int64_t total = N * C;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e / C, c = e - i * C;
    const float hot = c == target[i] ? 1.f : 0.f;
    dlogits[e] = __fmul_rn(__fmul_rn(gs, row_weight[i]), __fsub_rn(expf(log_probs[e]), hot));
  }
}

unsigned warp_grid(int64_t units) {
  const int64_t b = (units + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kGridCap ? kGridCap : b));
}

}  // namespace

void softmax_forward(const AxisShape& s, const float* x, float* y, bool log) {
  if (s.outer * s.n * s.inner == 0) return;
  const cudaStream_t st = cuda_stream();
  if (s.inner == 1) {
    if (s.n <= kWarpRowMax) {
      softmax_forward_warp_kernel<<<warp_grid(s.outer), kThreads, 0, st>>>(x, y, s.outer, s.n, log);
      LB_CUDA_CHECK_LAUNCH("softmax_forward_warp_kernel");
    } else {
      softmax_forward_block_kernel<<<grid_for(s.outer, 1, kGridCap), kThreads, 0, st>>>(x, y, s.outer, s.n, log);
      LB_CUDA_CHECK_LAUNCH("softmax_forward_block_kernel");
    }
  } else {
    softmax_forward_strided_kernel<<<grid_for(s.outer * s.inner, kThreads, kGridCap), kThreads, 0, st>>>(x, y, s, log);
    LB_CUDA_CHECK_LAUNCH("softmax_forward_strided_kernel");
  }
}

void softmax_backward(const AxisShape& s, const float* y, const float* dy, float* dx, bool log) {
  if (s.outer * s.n * s.inner == 0) return;
  const cudaStream_t st = cuda_stream();
  if (s.inner == 1) {
    if (s.n <= kWarpRowMax) {
      softmax_backward_warp_kernel<<<warp_grid(s.outer), kThreads, 0, st>>>(y, dy, dx, s.outer, s.n, log);
      LB_CUDA_CHECK_LAUNCH("softmax_backward_warp_kernel");
    } else {
      softmax_backward_block_kernel<<<grid_for(s.outer, 1, kGridCap), kThreads, 0, st>>>(y, dy, dx, s.outer, s.n, log);
      LB_CUDA_CHECK_LAUNCH("softmax_backward_block_kernel");
    }
  } else {
    softmax_backward_strided_kernel<<<grid_for(s.outer * s.inner, kThreads, kGridCap), kThreads, 0, st>>>(y, dy, dx, s,
                                                                                                          log);
    LB_CUDA_CHECK_LAUNCH("softmax_backward_strided_kernel");
  }
}

void sum_axis(const AxisShape& s, const float* x, float* out, float scale) {
  const int64_t cols = s.outer * s.inner;
  if (cols == 0) return;
  const cudaStream_t st = cuda_stream();
  if (s.n == 0) {  // empty sums are zero
    LB_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<size_t>(cols) * sizeof(float), st));
    return;
  }
  int64_t S, chunk;
  if (s.inner == 1) {
    chunk = kRowChunk;
    S = (s.n + chunk - 1) / chunk;
  } else {
    // Split n only when the columns alone leave the card idle; keep >= 64 rows per thread.
    const int64_t want = kColThreads / cols;
    const int64_t most = (s.n + 63) / 64;
    S = want < 1 ? 1 : (want < most ? want : most);
    if (S < 1) S = 1;
    chunk = (s.n + S - 1) / S;
    S = (s.n + chunk - 1) / chunk;  // no empty chunks
  }
  DeviceBuffer ws(S > 1 ? static_cast<size_t>(cols * S) * sizeof(double) : 0);
  double* part = ws.as<double>();
  if (s.inner == 1) {
    sum_rows_kernel<<<warp_grid(s.outer * S), kThreads, 0, st>>>(x, s.outer, s.n, S, chunk, scale, out, part);
    LB_CUDA_CHECK_LAUNCH("sum_rows_kernel");
  } else {
    sum_cols_kernel<<<grid_for(cols * S, kThreads, kGridCap), kThreads, 0, st>>>(x, s, S, chunk, scale, out, part);
    LB_CUDA_CHECK_LAUNCH("sum_cols_kernel");
  }
  if (S > 1) {
    sum_finalize_kernel<<<grid_for(cols, kThreads, kGridCap), kThreads, 0, st>>>(part, s.outer, S, s.inner, scale, out);
    LB_CUDA_CHECK_LAUNCH("sum_finalize_kernel");
  }
}

void broadcast_axis(const AxisShape& s, const float* dy, float* dx, float scale) {
  const int64_t total = s.outer * s.n * s.inner;
  if (total == 0) return;
  broadcast_axis_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(dy, dx, s, scale);
  LB_CUDA_CHECK_LAUNCH("broadcast_axis_kernel");
}

void cross_entropy_forward(const float* logits, const int64_t* target, const float* class_weight, int64_t N, int64_t C,
                           float* log_probs, float* row_weight, float* loss) {
  if (N == 0 || C == 0) return;
  softmax_forward(AxisShape{N, C, 1}, logits, log_probs, true);
  cross_entropy_loss_kernel<<<1, 1024, 0, cuda_stream()>>>(log_probs, target, class_weight, N, C, row_weight, loss);
  LB_CUDA_CHECK_LAUNCH("cross_entropy_loss_kernel");
}

void cross_entropy_backward(const float* log_probs, const int64_t* target, const float* row_weight, const float* g,
                            int64_t N, int64_t C, float* dlogits) {
  const int64_t total = N * C;
  if (total == 0) return;
  cross_entropy_backward_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(
      log_probs, target, row_weight, g, N, C, dlogits);
  LB_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

}  // namespace lb::kernels
