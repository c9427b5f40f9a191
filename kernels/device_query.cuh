// device_query.cuh: the launchers' questions about the current device (CUDA-only, host code):
// the compute stream as a cudaStream_t, the current device, one of its attributes, and the math
// mode its tensor cores can run. Shared by the conv skeletons' launchers (kernels/conv2d.cu, v1,
// and lab/conv2d_v2.cu, v2).
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"
#include "kernels/shapes.h"

namespace lb::kernels::detail {

inline cudaStream_t compute_stream() { return static_cast<cudaStream_t>(stream()); }

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

}  // namespace lb::kernels::detail
