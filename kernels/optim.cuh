// optim.cuh: fused optimizer updates, one kernel per parameter tensor, no host round trip.
//
// Same arithmetic as engine/optim/{sgd,adamw}.cc (torch.optim semantics), in float32.
#pragma once

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"

namespace lb::kernels {

// buf may be null when momentum == 0. `dyn`: null, or device memory holding the scalars to use
// instead of `o`, read when the kernel runs. A CUDA Graph bakes kernel arguments in at capture;
// a captured step passes `dyn` so that each replay uses the learning rate and bias corrections
// the host wrote there just before it (engine/optim/optimizer.h, use_device_scalars()).
LB_CUDA_API(void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdParams& o,
                            const SgdParams* dyn = nullptr))
LB_CUDA_API(void adamw_update(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n,
                              const AdamWParams& o, const AdamWParams* dyn = nullptr))

}  // namespace lb::kernels
