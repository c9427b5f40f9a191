// cast.cu: dtype conversion, one thread per element, the CPU's rules (see cast.cuh).
//
// The CPU converts every element through double (load_as_double, then store_from_double with a
// static_cast). The kernel does the same two steps: the intermediate double matters, e.g. int64 ->
// float32 rounds twice (to double, then to float), which can differ from one direct rounding.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cast.cuh"
#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;

constexpr int kThreads = 256;
constexpr int64_t kGridCap = 1 << 20;  // grid-stride loops: at most this many blocks

__device__ __forceinline__ double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::Float32:
      return static_cast<double>(static_cast<const float*>(p)[i]);
    case DType::Float64:
      return static_cast<const double*>(p)[i];
    case DType::Int64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);  // __ll2double_rn
    case DType::UInt8:
      return static_cast<double>(static_cast<const uint8_t*>(p)[i]);
  }
  return 0.0;
}

// x86-64's cvttsd2si with a 64-bit destination: truncation, INT64_MIN when out of range or NaN.
__device__ __forceinline__ int64_t to_int64_x86(double v) {
  return v >= -0x1p63 && v < 0x1p63 ? static_cast<int64_t>(v) : INT64_MIN;
}

// gcc's static_cast<uint8_t>(double) on x86-64: 32-bit cvttsd2si (INT32_MIN when out of range or
// NaN), then the low byte.
__device__ __forceinline__ uint8_t to_uint8_x86(double v) {
  const int32_t i = v > -0x1p31 - 1.0 && v < 0x1p31 ? static_cast<int32_t>(v) : INT32_MIN;
  return static_cast<uint8_t>(static_cast<uint32_t>(i) & 0xffu);
}

__device__ __forceinline__ void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::Float32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      break;  // __double2float_rn
    case DType::Float64:
      static_cast<double*>(p)[i] = v;
      break;
    case DType::Int64:
      static_cast<int64_t*>(p)[i] = to_int64_x86(v);
      break;
    case DType::UInt8:
      static_cast<uint8_t*>(p)[i] = to_uint8_x86(v);
      break;
  }
}

__global__ void cast_kernel(const void* src, DType from, void* dst, DType to, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    store_from_double(dst, to, i, load_as_double(src, from, i));
}

}  // namespace

void cast(const void* src, DType from, void* dst, DType to, int64_t n) {
  if (n == 0) return;
  cast_kernel<<<grid_for(n, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(src, from, dst, to, n);
  LB_CUDA_CHECK_LAUNCH("cast_kernel");
}

}  // namespace lb::kernels
