// common.cuh: what every CUDA launcher needs (host code, CUDA-only; private to kernels/,
// kernels/cudnn/ and the lab): the compute stream as a cudaStream_t, the current device and its
// attributes, the grid for n items, and a scoped device buffer.
//
// Two ways to size a grid, because kernels walk their items in two ways:
//   grid_for(n, threads)    a grid-stride loop (`for (i = ...; i < n; i += gridDim.x * blockDim.x)`):
//                           enough blocks for one item per thread, capped (65535 by default), since
//                           each thread takes several items once the grid is full; never 0 blocks.
//   blocks_for(n, threads)  one thread per item and no loop: exactly ceil(n / threads) blocks, which
//                           must fit the grid's x dimension.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"
#include "kernels/shapes.h"

namespace lb::kernels::detail {

// kernels::stream() hands the stream out as void* so that engine/ needs no CUDA header; launches
// take it back as the cudaStream_t it is.
inline cudaStream_t cuda_stream() { return static_cast<cudaStream_t>(stream()); }

inline int current_device() {
  int dev = 0;
  LB_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

inline int device_attribute(cudaDeviceAttr attr) {
  int v = 0;
  LB_CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, current_device()));
  return v;
}

// The mode the kernels run: tensor cores take tf32 and bf16 from sm_80 on; below that Tf32 and
// Bf16 quietly mean fp32.
inline MathMode device_mode(MathMode mode) {
  if (mode == MathMode::Fp32) return mode;
  return device_attribute(cudaDevAttrComputeCapabilityMajor) >= 8 ? mode : MathMode::Fp32;
}

// Blocks for a grid-stride loop over n items with `threads` per block, capped so that one launch
// covers the work in a few passes (and never zero blocks, which is a launch error).
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b);
}

// Blocks of `threads` covering n items, one thread each.
inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  LB_CHECK(b <= INT32_MAX, "grid of " << b << " blocks of " << threads << " threads is too large");
  return static_cast<unsigned>(b);
}

// Device memory from the caching allocator (kernels/runtime.cuh), returned to it when the scope
// ends. Returning it right after queueing the kernels that use it is safe: the allocator hands the
// block out again only to work queued later on the same stream, which runs after them. Zero bytes
// hold no memory (a null pointer).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t nbytes, int device = current_device()) : device_(device) {
    if (nbytes > 0) ptr_ = device_alloc(nbytes, device);
  }
  ~DeviceBuffer() { device_free(ptr_, device_); }  // device_free never throws
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  // The buffer as an array of T starting `byte_offset` bytes in (several arrays in one buffer).
  template <class T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr_) + byte_offset);
  }

 private:
  int device_ = 0;
  void* ptr_ = nullptr;
};

}  // namespace lb::kernels::detail
