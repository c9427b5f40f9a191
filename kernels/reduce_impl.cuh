// reduce_impl.cuh: private device helpers shared by the kernels/*.cu files (not an entry-point
// header): warp and block sums built on __shfl_down_sync. Reductions are trees in a fixed order, so
// every kernel that uses them is deterministic run to run (no float atomics). The launchers' host
// helpers (stream, grid sizes, scoped buffers) are in kernels/common.cuh.
#pragma once

#include <cuda_runtime.h>

namespace lb::kernels::detail {

constexpr unsigned kFullMask = 0xffffffffu;

// After the call lane 0 holds the sum over the warp (other lanes hold partial sums).
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(kFullMask, v, off);
  return v;
}

// Sum over the block; the result is valid in thread 0 only. blockDim.x must be a multiple of 32
// (at most 1024). `scratch` holds 32 values. Ends with no pending reads of scratch by other
// threads only after a __syncthreads(), so callers that reuse scratch must sync first.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x >> 5;
  if (warp == 0) {
    v = lane < nwarps ? scratch[lane] : T(0);
    v = warp_sum(v);
  }
  return v;
}

}  // namespace lb::kernels::detail
