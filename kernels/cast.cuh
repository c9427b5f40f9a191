// cast.cuh: dtype conversion on the GPU (Tensor::to(DType) and copy_ between dtypes on one device).
//
// Converts n elements of src (dtype `from`) into dst (dtype `to`), any pair of Float32, Float64,
// Int64 and UInt8, with the CPU's semantics (engine/tensor.cc): every value goes through double,
//   load:  float, uint8 exactly; int64 rounded to nearest (exact below 2^53)
//   store: float rounded to nearest; int64 and uint8 truncated toward zero.
// Where C++ leaves the store undefined (NaN, or a value outside the target's range) the kernel
// gives what the CPU build gives on x86-64, whose conversion instructions define it: int64 from
// cvttsd2si (NaN or outside [-2^63, 2^63) -> INT64_MIN), uint8 from the low byte of the 32-bit
// cvttsd2si (so -3.7 -> 253, 300.5 -> 44; NaN or outside (-2^31 - 1, 2^31) -> 0).
#pragma once

#include "base/dtype.h"
#include "kernels/cuda_api.h"

namespace lb::kernels {

LB_CUDA_API(void cast(const void* src, DType from, void* dst, DType to, int64_t n))

}  // namespace lb::kernels
