// shapes.h: the argument structs every CUDA backend (kernels/ and kernels/cudnn/) takes.
//
// Plain integers (no CUDA types) so that engine/ops can fill them in a build without CUDA. They
// mirror the CPU backend's structs (engine/cpu/*.h) field for field.
#pragma once

#include <cstdint>

namespace lb::kernels {

// conv2d: x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q); cross-correlation, zero padding.
struct Conv2dShape {
  int64_t N, C, H, W;
  int64_t K, R, S;
  int64_t stride, pad;
  int64_t P, Q;
};

// Math mode for conv and linear: plain fp32 FMA, or TF32 tensor cores (10-bit mantissa inputs,
// fp32 accumulation), PyTorch's allow_tf32 trade.
enum class MathMode : int { Fp32 = 0, Tf32 = 1 };

// batchnorm2d over (N, C, HW): statistics per channel c over N * HW values.
struct BatchNormShape {
  int64_t N, C, HW;
};

// max_pool2d over `planes` = N * C independent H x W planes.
struct MaxPoolShape {
  int64_t planes, H, W, P, Q;
  int64_t kernel, stride, padding;
};

// adaptive_avg_pool2d: planes of H x W into OH x OW bins (PyTorch's floor/ceil bin edges).
struct AvgPoolShape {
  int64_t planes, H, W, OH, OW;
};

// A reduction or softmax along one axis: [outer, n, inner], reduce over n.
struct AxisShape {
  int64_t outer, n, inner;
};

// Scalars rounded to float on the host, exactly as engine/optim/sgd.cc rounds them.
struct SgdParams {
  float neg_lr, weight_decay, momentum, keep;  // keep = 1 - dampening
  bool nesterov;
  bool first;  // first step with momentum: buf = d, as torch.optim.SGD
};

// engine/optim/adamw.cc's AdamScalars, rounded to float: decay = 1 - lr * wd, w1 = 1 - beta1,
// w2 = 1 - beta2, bc2_sqrt = sqrt(1 - beta2^t), neg_step = -lr / (1 - beta1^t).
struct AdamWParams {
  float decay, w1, beta2, w2, bc2_sqrt, neg_step, eps;
};

}  // namespace lb::kernels
