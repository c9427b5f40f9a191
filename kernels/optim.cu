// optim.cu: fused SGD and AdamW updates, one grid-stride kernel per parameter tensor.
//
// Shapes: p, g, buf, exp_avg, exp_avg_sq (n), all float32 device memory. The element loops are
// engine/optim/sgd.cc and engine/optim/adamw.cc statement for statement, with the scalars the host
// rounded to float (kernels/shapes.h). Every operation is an explicitly rounded intrinsic
// (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn): nvcc would otherwise contract a * b + c into one
// FMA, and the CPU build does not contract, so this keeps both backends on the same bits.
#include <cuda_runtime.h>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/optim.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;

constexpr int kThreads = 256;
constexpr int64_t kGridCap = 1 << 16;

// `dyn`, when set, replaces the by-value scalars: a kernel recorded in a CUDA Graph reads this
// step's scalars from device memory (optim.cuh).
__global__ void sgd_update_kernel(float* p, const float* g, float* buf, int64_t n, SgdParams by_value,
                                  const SgdParams* dyn) {
  const SgdParams o = dyn ? *dyn : by_value;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float pi = p[i];
    float d = g[i];
    if (o.weight_decay != 0.f) d = __fadd_rn(d, __fmul_rn(o.weight_decay, pi));
    if (buf) {
      const float b = o.first ? d : __fadd_rn(__fmul_rn(buf[i], o.momentum), __fmul_rn(o.keep, d));
      buf[i] = b;
      d = o.nesterov ? __fadd_rn(d, __fmul_rn(o.momentum, b)) : b;
    }
    p[i] = __fadd_rn(pi, __fmul_rn(o.neg_lr, d));
  }
}

// ATen's lerp: the two algebraically equal forms, picked by the weight for accuracy.
__device__ __forceinline__ float lerp1(float self, float end, float w) {
  return fabsf(w) < 0.5f ? __fadd_rn(self, __fmul_rn(w, __fsub_rn(end, self)))
                         : __fsub_rn(end, __fmul_rn(__fsub_rn(end, self), __fsub_rn(1.f, w)));
}

__global__ void adamw_update_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamWParams by_value,
                                    const AdamWParams* dyn) {
  const AdamWParams o = dyn ? *dyn : by_value;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float gi = g[i];
    float pi = __fmul_rn(p[i], o.decay);
    const float mi = lerp1(m[i], gi, o.w1);
    float vi = __fmul_rn(v[i], o.beta2);
    vi = __fadd_rn(vi, __fmul_rn(__fmul_rn(o.w2, gi), gi));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), o.bc2_sqrt), o.eps);
    pi = __fadd_rn(pi, __fdiv_rn(__fmul_rn(o.neg_step, mi), denom));
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
  }
}

}  // namespace

void sgd_update(float* p, const float* g, float* buf, int64_t n, const SgdParams& o, const SgdParams* dyn) {
  if (n == 0) return;
  sgd_update_kernel<<<grid_for(n, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(p, g, buf, n, o, dyn);
  LB_CUDA_CHECK_LAUNCH("sgd_update_kernel");
}

void adamw_update(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWParams& o,
                  const AdamWParams* dyn) {
  if (n == 0) return;
  adamw_update_kernel<<<grid_for(n, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(p, g, exp_avg, exp_avg_sq, n, o,
                                                                                       dyn);
  LB_CUDA_CHECK_LAUNCH("adamw_update_kernel");
}

}  // namespace lb::kernels
