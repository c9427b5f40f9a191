// optim.cuh: fused optimizer updates, one kernel per parameter tensor, no host round trip.
//
// Same arithmetic as engine/optim/{sgd,adamw}.cc (torch.optim semantics), in float32.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

// buf may be null when momentum == 0.
LB_CUDA_API(void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdParams& o))
LB_CUDA_API(void adamw_update(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n,
                              const AdamWParams& o))

}  // namespace lb::kernels
