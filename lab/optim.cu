// lab/optim.cu: variant 1 of the SGD and AdamW updates (lab.cuh): the element loops of
// engine/optim/sgd.cc and adamw.cc, one thread per element.
//
// They round every operation explicitly (__fmul_rn, __fadd_rn, ...) as kernels/optim.cu does:
// nvcc would contract a * b + c into one FMA, the CPU build does not, and with the same rounding
// the update is bit-identical to the CPU's.
//
// Shapes (letters of this file): p, g, buf, exp_avg (m), exp_avg_sq (v) (n).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::launch;
using detail::thread_index;

namespace {

// engine/optim/sgd.cc's element loop.
__global__ void sgd_update_kernel1(float* p, const float* g, float* buf, int64_t n, SgdParams o) {
  const int64_t i = thread_index();
  if (i >= n) return;
  float d = g[i];
  if (o.weight_decay != 0.0f) d = __fadd_rn(d, __fmul_rn(o.weight_decay, p[i]));
  if (buf) {
    buf[i] = o.first ? d : __fadd_rn(__fmul_rn(buf[i], o.momentum), __fmul_rn(o.keep, d));
    d = o.nesterov ? __fadd_rn(d, __fmul_rn(o.momentum, buf[i])) : buf[i];
  }
  p[i] = __fadd_rn(p[i], __fmul_rn(o.neg_lr, d));
}

// ATen's lerp (engine/optim/adamw.cc): of the two equal forms, the one accurate for this weight.
__device__ float lerp_rn(float self, float end, float w) {
  const float diff = __fsub_rn(end, self);
  return fabsf(w) < 0.5f ? __fadd_rn(self, __fmul_rn(w, diff)) : __fsub_rn(end, __fmul_rn(diff, __fsub_rn(1.0f, w)));
}

// engine/optim/adamw.cc's element loop.
__global__ void adamw_update_kernel1(float* p, const float* g, float* m, float* v, int64_t n, AdamWParams o) {
  const int64_t i = thread_index();
  if (i >= n) return;
  p[i] = __fmul_rn(p[i], o.decay);
  m[i] = lerp_rn(m[i], g[i], o.w1);
  v[i] = __fmul_rn(v[i], o.beta2);
  v[i] = __fadd_rn(v[i], __fmul_rn(__fmul_rn(o.w2, g[i]), g[i]));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v[i]), o.bc2_sqrt), o.eps);
  p[i] = __fadd_rn(p[i], __fdiv_rn(__fmul_rn(o.neg_step, m[i]), denom));
}

}  // namespace

void sgd_update1(float* p, const float* g, float* buf, int64_t n, const SgdParams& o, int block) {
  launch("sgd_update_kernel1", sgd_update_kernel1, n, block, p, g, buf, n, o);
}

void adamw_update1(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWParams& o,
                   int block) {
  launch("adamw_update_kernel1", adamw_update_kernel1, n, block, p, g, exp_avg, exp_avg_sq, n, o);
}

}  // namespace lb::kernels::lab
