// lab/launch.cuh: what every file of naive lab kernels (lab_kernels*.cu) needs to launch one
// thread per output: the compute stream, the grid for n threads, the block-size check, launch().
// Private to lab/.
#pragma once

#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"

namespace lb::kernels::lab::detail {

inline cudaStream_t lab_stream() { return static_cast<cudaStream_t>(lb::kernels::stream()); }

// Blocks of `block` threads covering n threads (one per output).
inline unsigned blocks_for(int64_t n, int block) {
  const int64_t b = (n + block - 1) / block;
  LB_CHECK(b <= INT32_MAX, "lab: grid of " << b << " blocks is too large");
  return static_cast<unsigned>(b);
}

inline void check_block(int block) {
  LB_CHECK(block >= 32 && block <= 1024 && block % 32 == 0,
           "lab: block size " << block << " is not 32..1024, a multiple of 32");
}

// The flat index of this thread: one thread per output element.
__device__ inline int64_t thread_index() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }

// Launches `kernel` with n threads in blocks of `block` on the lab's stream, checked: the
// boilerplate of every naive entry point.
template <class Kernel, class... Args>
void launch(const char* name, Kernel kernel, int64_t n, int block, Args... args) {
  check_block(block);
  if (n == 0) return;
  kernel<<<blocks_for(n, block), block, 0, lab_stream()>>>(args...);
  LB_CUDA_CHECK_LAUNCH(name);
}

}  // namespace lb::kernels::lab::detail
