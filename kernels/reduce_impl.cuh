// reduce_impl.cuh: private helpers shared by the kernels/*.cu files (not an entry-point header).
//
// Warp and block sums built on __shfl_down_sync, the launch-size helpers, the compute stream, and
// a scoped workspace from the caching allocator. Reductions are trees in a fixed order, so every
// kernel that uses them is deterministic run to run (no float atomics).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"

namespace lb::kernels::detail {

constexpr unsigned kFullMask = 0xffffffffu;

inline cudaStream_t lb_stream() { return static_cast<cudaStream_t>(::lb::kernels::stream()); }

// Blocks for a grid-stride loop over n items with `threads` per block, capped so that one launch
// covers the work in a few passes (and never zero blocks, which is a launch error).
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b);
}

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

// Workspace from the caching allocator, freed at scope exit. The free is safe while kernels that
// use the block are still queued: every later user is ordered after them on the one stream.
class Workspace {
 public:
  explicit Workspace(size_t nbytes) {
    LB_CUDA_CHECK(cudaGetDevice(&device_));
    ptr_ = nbytes ? ::lb::kernels::device_alloc(nbytes, device_) : nullptr;
  }
  ~Workspace() {
    if (ptr_) ::lb::kernels::device_free(ptr_, device_);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <class T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr_) + byte_offset);
  }

 private:
  int device_ = 0;
  void* ptr_ = nullptr;
};

}  // namespace lb::kernels::detail
