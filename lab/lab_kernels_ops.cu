// lab/lab_kernels_ops.cu: variant 1 of relu, linear, cross-entropy and the optimizer updates: the
// CPU loops (engine/cpu/elementwise.h, linear.h, ops/softmax.cc, optim/sgd.cc, optim/adamw.cc)
// ported as they are, one thread per output element (per row for cross-entropy).
//
// Shapes (letters of this file): relu x, y, dy, dx (n); linear x, dx (N, IN), w, dw (OUT, IN),
// y, dy (N, OUT), bias, db (OUT); cross-entropy logits, log_probs, dlogits (N, C), target and
// row_weight (N); optimizers p, g, buf, exp_avg, exp_avg_sq (n).
//
// The optimizer kernels round every operation explicitly (__fmul_rn, __fadd_rn, ...) as
// kernels/optim.cu does: nvcc would contract a * b + c into one FMA, the CPU build does not, and
// with the same rounding the update is bit-identical to the CPU's.
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::cuda_stream;
using detail::launch;
using detail::thread_index;

namespace {

__global__ void relu_forward_kernel1(const float* x, float* y, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// Masked by the output, like the CPU (y > 0 exactly where x > 0).
__global__ void relu_backward_kernel1(const float* y, const float* dy, float* dx, int64_t n) {
  const int64_t i = thread_index();
  if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// One thread per y[n, o] = bias[o] + sum_i x[n, i] * w[o, i].
__global__ void linear_forward_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w,
                                       const float* bias, float* y) {
  const int64_t at = thread_index();
  if (at >= N * OUT) return;
  const int64_t o = at % OUT, n = at / OUT;
  float acc = bias ? bias[o] : 0.0f;
  for (int64_t i = 0; i < IN; ++i) acc += x[n * IN + i] * w[o * IN + i];
  y[at] = acc;
}

// One thread per dx[n, i] = sum_o dy[n, o] * w[o, i].
__global__ void linear_backward_input_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w,
                                              float* dx) {
  const int64_t at = thread_index();
  if (at >= N * IN) return;
  const int64_t i = at % IN, n = at / IN;
  float acc = 0.0f;
  for (int64_t o = 0; o < OUT; ++o) acc += dy[n * OUT + o] * w[o * IN + i];
  dx[at] = acc;
}

// One thread per dw[o, i] = sum_n dy[n, o] * x[n, i].
__global__ void linear_backward_weight_kernel1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy,
                                               float* dw) {
  const int64_t at = thread_index();
  if (at >= OUT * IN) return;
  const int64_t i = at % IN, o = at / IN;
  float acc = 0.0f;
  for (int64_t n = 0; n < N; ++n) acc += dy[n * OUT + o] * x[n * IN + i];
  dw[at] = acc;
}

// One thread per db[o] = sum_n dy[n, o].
__global__ void linear_backward_bias_kernel1(int64_t N, int64_t OUT, const float* dy, float* db) {
  const int64_t o = thread_index();
  if (o >= OUT) return;
  float acc = 0.0f;
  for (int64_t n = 0; n < N; ++n) acc += dy[n * OUT + o];
  db[o] = acc;
}

// One thread per row r: log_probs[r] = log_softmax(logits[r]) (max-subtracted), and
// row_weight[r] = w[t_r] / sum_j w[t_j]. Every row re-sums the batch's weights itself: N^2 reads,
// which is what "naive" buys (N is a batch, a few hundred).
__global__ void cross_entropy_rows_kernel1(const float* logits, const int64_t* target, const float* class_weight,
                                           int64_t N, int64_t C, float* log_probs, float* row_weight) {
  const int64_t r = thread_index();
  if (r >= N) return;
  const float* x = logits + r * C;  // (C)
  float m = x[0];
  for (int64_t k = 1; k < C; ++k) m = fmaxf(m, x[k]);
  float sum = 0.0f;
  for (int64_t k = 0; k < C; ++k) sum += expf(x[k] - m);
  const float log_sum = logf(sum);
  for (int64_t k = 0; k < C; ++k) log_probs[r * C + k] = x[k] - m - log_sum;
  float total = 0.0f;
  for (int64_t j = 0; j < N; ++j) total += class_weight ? class_weight[target[j]] : 1.0f;
  row_weight[r] = (class_weight ? class_weight[target[r]] : 1.0f) / total;
}

// One thread: loss = -sum_r row_weight[r] * log_probs[r, t_r], in row order like the CPU loop.
__global__ void cross_entropy_loss_kernel1(const float* log_probs, const int64_t* target, const float* row_weight,
                                           int64_t N, int64_t C, float* loss) {
  float acc = 0.0f;
  for (int64_t r = 0; r < N; ++r) acc -= row_weight[r] * log_probs[r * C + target[r]];
  *loss = acc;
}

// One thread per row: dlogits[r, k] = g * row_weight[r] * (softmax[r, k] - [k == t_r]).
__global__ void cross_entropy_backward_kernel1(const float* log_probs, const int64_t* target, const float* row_weight,
                                               const float* g, int64_t N, int64_t C, float* dlogits) {
  const int64_t r = thread_index();
  if (r >= N) return;
  const float scale = g[0] * row_weight[r];
  for (int64_t k = 0; k < C; ++k)
    dlogits[r * C + k] = scale * (expf(log_probs[r * C + k]) - (k == target[r] ? 1.0f : 0.0f));
}

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

void relu_forward1(const float* x, float* y, int64_t n, int block) {
  launch("relu_forward_kernel1", relu_forward_kernel1, n, block, x, y, n);
}

void relu_backward1(const float* y, const float* dy, float* dx, int64_t n, int block) {
  launch("relu_backward_kernel1", relu_backward_kernel1, n, block, y, dy, dx, n);
}

void linear_forward1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias, float* y,
                     int block) {
  launch("linear_forward_kernel1", linear_forward_kernel1, N * OUT, block, N, IN, OUT, x, w, bias, y);
}

void linear_backward_input1(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx, int block) {
  launch("linear_backward_input_kernel1", linear_backward_input_kernel1, N * IN, block, N, IN, OUT, dy, w, dx);
}

void linear_backward_weight1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                             int block) {
  launch("linear_backward_weight_kernel1", linear_backward_weight_kernel1, OUT * IN, block, N, IN, OUT, x, dy, dw);
}

void linear_backward_bias1(int64_t N, int64_t OUT, const float* dy, float* db, int block) {
  launch("linear_backward_bias_kernel1", linear_backward_bias_kernel1, OUT, block, N, OUT, dy, db);
}

void cross_entropy_forward1(const float* logits, const int64_t* target, const float* class_weight, int64_t N, int64_t C,
                            float* log_probs, float* row_weight, float* loss, int block) {
  LB_CHECK(N > 0 && C > 0, "lab cross_entropy_forward1: empty logits (" << N << ", " << C << ")");
  launch("cross_entropy_rows_kernel1", cross_entropy_rows_kernel1, N, block, logits, target, class_weight, N, C,
         log_probs, row_weight);
  cross_entropy_loss_kernel1<<<1, 1, 0, cuda_stream()>>>(log_probs, target, row_weight, N, C, loss);
  LB_CUDA_CHECK_LAUNCH("cross_entropy_loss_kernel1");
}

void cross_entropy_backward1(const float* log_probs, const int64_t* target, const float* row_weight, const float* g,
                             int64_t N, int64_t C, float* dlogits, int block) {
  launch("cross_entropy_backward_kernel1", cross_entropy_backward_kernel1, N, block, log_probs, target, row_weight, g,
         N, C, dlogits);
}

void sgd_update1(float* p, const float* g, float* buf, int64_t n, const SgdParams& o, int block) {
  launch("sgd_update_kernel1", sgd_update_kernel1, n, block, p, g, buf, n, o);
}

void adamw_update1(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWParams& o,
                   int block) {
  launch("adamw_update_kernel1", adamw_update_kernel1, n, block, p, g, exp_avg, exp_avg_sq, n, o);
}

}  // namespace lb::kernels::lab
