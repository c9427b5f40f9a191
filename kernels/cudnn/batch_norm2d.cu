// cudnn/batch_norm2d.cu: batchnorm2d through cuDNN (see batch_norm2d.cuh): x, y, dy, dx
// (N, C, HW), per-channel vectors (C), float32.
//
// What cuDNN lacks is done by two small kernels of our own below: eval-mode invstd =
// 1 / sqrt(rv + eps) and the backward with frozen statistics (training = false). The scratch
// weights (ones) and biases (zeros) that stand in for affine=false are filled by kernels::fill.
#include "kernels/cudnn/batch_norm2d.cuh"

#include <algorithm>
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/cudnn/handles.cuh"
#include "kernels/elementwise.cuh"

namespace lb::kernels::cudnn {

namespace {

using namespace detail;  // kernels/cudnn/handles.cuh
using kernels::detail::blocks_for;

// invstd (C) = 1 / sqrt(running_var + eps), written by the eval forward.
__global__ void invstd_kernel(int64_t C, const float* running_var, float eps, float* invstd) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
}

constexpr int kReduceThreads = 256;

// Frozen-statistics backward, one block per channel c: dx = dy * weight * invstd, and (when
// wanted) dweight = sum dy * (x - mean) * invstd, dbias = sum dy over (N, HW). Sums in double,
// like the CPU backend. x, dy, dx (N, C, HW); mean, invstd, weight, dweight, dbias (C).
__global__ void bn_backward_frozen_kernel(int64_t N, int64_t C, int64_t HW, const float* x, const float* dy,
                                          const float* mean, const float* invstd, const float* weight, float* dx,
                                          float* dweight, float* dbias) {
  const int64_t c = blockIdx.x;
  const float is = invstd[c], m = mean ? mean[c] : 0.0f;
  const float scale = (weight ? weight[c] : 1.0f) * is;
  const bool sums = dweight != nullptr || dbias != nullptr;
  double s_dy = 0.0, s_dyx = 0.0;
  for (int64_t i = threadIdx.x; i < N * HW; i += blockDim.x) {
    const int64_t n = i / HW, j = i % HW;
    const int64_t at = (n * C + c) * HW + j;
    const float g = dy[at];
    if (dx) dx[at] = g * scale;
    if (sums) {
      s_dy += g;
      if (dweight) s_dyx += double(g) * double((x[at] - m) * is);
    }
  }
  if (!sums) return;
  __shared__ double sh_dy[kReduceThreads], sh_dyx[kReduceThreads];
  sh_dy[threadIdx.x] = s_dy;
  sh_dyx[threadIdx.x] = s_dyx;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sh_dy[threadIdx.x] += sh_dy[threadIdx.x + half];
      sh_dyx[threadIdx.x] += sh_dyx[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (dbias) dbias[c] = static_cast<float>(sh_dy[0]);
    if (dweight) dweight[c] = static_cast<float>(sh_dyx[0]);
  }
}

}  // namespace

// x is described as (N, C, HW, 1): spatial batchnorm normalises over N, H, W whatever H and W are.

void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                                float eps, float momentum) {
  const char* where = "cudnn::batch_norm2d_forward_train";
  LB_CHECK(s.N * s.HW > 1, where << ": needs more than one value per channel, got N=" << s.N << " HW=" << s.HW);
  LB_CHECK(eps >= CUDNN_BN_MIN_EPSILON,
           where << ": eps " << eps << " is below cuDNN's minimum " << CUDNN_BN_MIN_EPSILON);
  LB_CHECK((running_mean == nullptr) == (running_var == nullptr),
           where << ": running_mean and running_var must both be given or both be null");
  const int device = current_device();
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  // cuDNN needs a scale and a shift: affine=false is a weight of one and a bias of zero.
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device), zeros(bias ? 0 : s.C * sizeof(float), device);
  if (!weight) kernels::fill(ones.as<float>(), 1.0f, s.C);
  if (!bias) kernels::fill(zeros.as<float>(), 0.0f, s.C);
  // running = (1 - factor) * running + factor * batch, with the unbiased batch variance: PyTorch's
  // rule with factor = momentum. resultSaveInvVariance is 1 / sqrt(biased var + eps): our invstd.
  LB_CUDNN(where, cudnnBatchNormalizationForwardTraining(h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd.d, x, xd.d,
                                                         y, pd.d, weight ? weight : ones.as<float>(),
                                                         bias ? bias : zeros.as<float>(), double(momentum),
                                                         running_mean, running_var, double(eps), mean, invstd));
}

void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                               const float* running_mean, const float* running_var, float* y, float* invstd,
                               float eps) {
  const char* where = "cudnn::batch_norm2d_forward_eval";
  LB_CHECK(eps >= CUDNN_BN_MIN_EPSILON,
           where << ": eps " << eps << " is below cuDNN's minimum " << CUDNN_BN_MIN_EPSILON);
  const int device = current_device();
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device), zeros(bias ? 0 : s.C * sizeof(float), device);
  if (!weight) kernels::fill(ones.as<float>(), 1.0f, s.C);
  if (!bias) kernels::fill(zeros.as<float>(), 0.0f, s.C);
  LB_CUDNN(where, cudnnBatchNormalizationForwardInference(h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd.d, x, xd.d,
                                                          y, pd.d, weight ? weight : ones.as<float>(),
                                                          bias ? bias : zeros.as<float>(), running_mean, running_var,
                                                          double(eps)));
  if (invstd) {
    invstd_kernel<<<blocks_for(s.C, 256), 256, 0, cuda_stream()>>>(s.C, running_var, eps, invstd);
    LB_CUDA_CHECK_LAUNCH("invstd_kernel");
  }
}

void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                           const float* invstd, const float* weight, float* dx, float* dweight, float* dbias,
                           bool training) {
  const char* where = "cudnn::batch_norm2d_backward";
  const int device = current_device();
  if (!training) {
    // Frozen statistics: cuDNN has no such mode.
    LB_CHECK(x != nullptr || dweight == nullptr, where << ": dweight needs x");
    if (s.C == 0 || (dx == nullptr && dweight == nullptr && dbias == nullptr)) return;
    bn_backward_frozen_kernel<<<static_cast<unsigned>(s.C), kReduceThreads, 0, cuda_stream()>>>(
        s.N, s.C, s.HW, x, dy, mean, invstd, weight, dx, dweight, dbias);
    LB_CUDA_CHECK_LAUNCH("bn_backward_frozen_kernel");
    return;
  }
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  // cuDNN always writes dx, dscale and dbias: scratch buffers stand in for those not wanted.
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device);
  DeviceBuffer scratch_dw(dweight ? 0 : s.C * sizeof(float), device),
      scratch_db(dbias ? 0 : s.C * sizeof(float), device);
  DeviceBuffer scratch_dx(dx ? 0 : s.N * s.C * s.HW * sizeof(float), device);
  if (!weight) kernels::fill(ones.as<float>(), 1.0f, s.C);
  // With the saved mean and invstd given, epsilon is not used; it must still pass cuDNN's check.
  LB_CUDNN(where, cudnnBatchNormalizationBackward(
                      h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kZero, xd.d, x, xd.d, dy, xd.d,
                      dx ? dx : scratch_dx.as<float>(), pd.d, weight ? weight : ones.as<float>(),
                      dweight ? dweight : scratch_dw.as<float>(), dbias ? dbias : scratch_db.as<float>(),
                      std::max<double>(CUDNN_BN_MIN_EPSILON, 1e-5), mean, invstd));
}

}  // namespace lb::kernels::cudnn
