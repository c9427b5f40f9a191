// shapes.h: the argument structs every CUDA backend (kernels/ and kernels/cudnn/) takes.
//
// Plain integers (no CUDA types) so that engine/ops can fill them in a build without CUDA. The CPU
// backend (engine/cpu/*.h) takes the same structs: the pooling shapes as they are
// (cpu::MaxPool2dArgs, cpu::AdaptiveAvgPool2dArgs), conv2d and batchnorm2d with the CPU's own fields
// added in a derived struct (cpu::Conv2dArgs, cpu::BatchNorm2dArgs), so an op builds one shape and
// hands it to either device.
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

// Math mode for conv and linear (engine/backend.h holds the process-wide setting):
//   Fp32  plain fp32 FMA.
//   Tf32  TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation), PyTorch's allow_tf32
//         trade. CUDA only: the CPU computes fp32.
//   Bf16  "bf16 compute, fp32 master weights": the two operands of every conv2d and linear GEMM
//         (forward x and w; backward-input dy and w; backward-weight x and dy) are rounded to
//         bfloat16 (round to nearest even, base/bf16.h), multiplied with fp32 accumulation
//         (tensor cores on sm_80+, wmma m16n16k16) and stored fp32. Everything else stays fp32:
//         parameters (they ARE the master weights; the bf16 copy of a weight lives only inside
//         the GEMM), optimizer state, activations, bias gradients, batchnorm, pooling, the loss.
//         It buys bf16 tensor-core math, not the memory of bf16-stored activations. The CPU
//         emulates it exactly (float32 tensors): same rounded operands, fp32 GEMM, so CPU and CUDA
//         differ only in the order of the fp32 additions. Below sm_80 CUDA falls back to fp32;
//         the cuDNN backend refuses it for conv (cuDNN has no fp32-data, bf16-math conv).
enum class MathMode : int { Fp32 = 0, Tf32 = 1, Bf16 = 2 };

// batchnorm2d over (N, C, HW): statistics per channel c over N * HW values.
struct BatchNormShape {
  int64_t N = 0, C = 0, HW = 0;
};

// max_pool2d over `planes` = N * C independent H x W planes.
// P = (H + 2 * padding - kernel) / stride + 1, the same for Q along W.
struct MaxPoolShape {
  int64_t planes = 0, H = 0, W = 0, P = 0, Q = 0;
  int64_t kernel = 1, stride = 1, padding = 0;
};

// adaptive_avg_pool2d: planes of H x W into OH x OW bins (PyTorch's floor/ceil bin edges).
struct AvgPoolShape {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
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
