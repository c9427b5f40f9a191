// lab/softmax.cu: variant 1 of the fused softmax cross-entropy (lab.cuh), the op kernels/softmax.cu
// holds in production: engine/ops/softmax.cc's CPU loops, one thread per row, and one thread for
// the loss's sum in row order.
//
// Shapes (letters of this file): logits, log_probs, dlogits (N, C); target (N) int64;
// class_weight (C) or null; row_weight (N); loss and g (1).
#include "lab/lab.cuh"
#include "lab/launch.cuh"

namespace lb::kernels::lab {

using detail::cuda_stream;
using detail::launch;
using detail::thread_index;

namespace {

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

}  // namespace

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

}  // namespace lb::kernels::lab
