// lab/launch.cuh: what every file of naive lab kernels (lab/<op>.cu) needs to launch one
// thread per output: the block-size check, the thread's index and launch(), on the compute stream
// with kernels/common.cuh's one-thread-per-item grid (blocks_for). Private to lab/.
#pragma once

#include <cstdint>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"

namespace lb::kernels::lab::detail {

using kernels::detail::blocks_for;
using kernels::detail::cuda_stream;

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
  kernel<<<blocks_for(n, block), block, 0, cuda_stream()>>>(args...);
  LB_CUDA_CHECK_LAUNCH(name);
}

}  // namespace lb::kernels::lab::detail
