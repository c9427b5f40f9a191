// cuda_check.cuh: checks for CUDA runtime calls and kernel launches (device code only).
#pragma once

#include <cuda_runtime.h>

#include "base/common.h"

#define LB_CUDA_CHECK(call)                                                                \
  do {                                                                                     \
    cudaError_t lb_err_ = (call);                                                          \
    LB_CHECK(lb_err_ == cudaSuccess, #call << " failed: " << cudaGetErrorString(lb_err_)); \
  } while (0)

// After a <<<...>>> launch: reports bad launch configurations at once (asynchronous faults show
// up at the next synchronising call, which is checked too).
#define LB_CUDA_CHECK_LAUNCH(kernel_name)                                                               \
  do {                                                                                                  \
    cudaError_t lb_err_ = cudaGetLastError();                                                           \
    LB_CHECK(lb_err_ == cudaSuccess, kernel_name << " launch failed: " << cudaGetErrorString(lb_err_)); \
  } while (0)
