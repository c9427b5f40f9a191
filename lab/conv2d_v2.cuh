// conv2d_v2.cuh: the second implicit-GEMM conv skeleton ("v2": 128-row tiles, cp.async into a
// 3-stage shared-memory pipeline, tap-major index math; lab/conv2d_v2_impl.cuh). Lab-only
// until measured: the kernel lab (lab/problems.cu) runs these as variants v2-fp32 and
// v2-tf32 beside v1's custom-*; the engine's dispatch never calls them.
//
// Same contracts as kernels/conv2d.cuh: float32 device pointers, NCHW / KCRS contiguous, launches
// on stream(), every output overwritten, deterministic. mode Fp32 or Tf32 (Tf32 means fp32 below
// sm_80); v2 has no bf16 path: Bf16 runs v1's bf16 kernel. backward_input falls back to
// v1 for C <= 8 (v1's direct kernel: the stem) and for strides above 4.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

LB_CUDA_API(void conv2d_v2_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                   MathMode mode))
LB_CUDA_API(void conv2d_v2_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                          MathMode mode))
LB_CUDA_API(void conv2d_v2_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                           MathMode mode))

}  // namespace lb::kernels
