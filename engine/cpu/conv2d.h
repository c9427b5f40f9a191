// cpu/conv2d.h: the CPU backend of 2-D convolution (cross-correlation, PyTorch's conv2d
// semantics: square stride, zero padding, no groups or dilation).
//
// Shapes, defined once for this file and conv2d.cc:
//   x  (N, C, H, W)    weight (K, C, R, S)    bias (K)    y (N, K, P, Q)
//   P = (H + 2*pad - R) / stride + 1,   Q = (W + 2*pad - S) / stride + 1
//
// Two paths (docs/03-cpu-ops.md walks through both):
//   float32 (the default): implicit GEMM on lightbox's own GEMM (engine/cpu/gemm.h), in
//     cpu/conv2d_implicit.cc. The im2col matrix is packed straight from the activations into the
//     GEMM's panels and never written whole, and output positions are split into classes by which
//     filter taps read the image, so no multiply-add ever reads padding.
//   float64, and float32 under GemmBackend::OpenBlas (the comparison): the classic im2col + BLAS
//     GEMM of Chellapilla, Puri and Simard (2006), in cpu/conv2d_im2col.cc:
//       forward          y_n  (K, P*Q)     = W (K, C*R*S) x cols_n (C*R*S, P*Q)
//       backward input   dcols (C*R*S, P*Q) = W^T x dy_n, then col2im scatters-adds into dx_n
//       backward weight  dW  (K, C*R*S)    = sum over n of dy_n x cols_n^T
// backward bias: db (K) = sum of dy over n, p, q, for both.
//
// Threads: OpenMP inside each function; every GEMM runs single-threaded in its thread.
//
// Every function writes a fresh result (dx, dw and db are overwritten, not accumulated into);
// the autograd engine sums gradients that arrive from several consumers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kernels/shapes.h"

namespace lb::cpu {

// One convolution. Its sizes are the CUDA side's kernels::Conv2dShape: x (N, C, H, W),
// w (K, C, R, S), stride, pad and the output's P, Q (computed by the op); the CPU adds what only
// it needs. Built as Conv2dArgs{{N, C, H, W, K, R, S, stride, pad, P, Q}} or Conv2dArgs{shape},
// and passed as is wherever a Conv2dShape is taken.
struct Conv2dArgs : kernels::Conv2dShape {
  // MathMode::Bf16 (kernels/shapes.h): round both GEMM operands (the column / gathered dy buffers
  // and the weight) to bfloat16 before the fp32 GEMM, as the CUDA kernels do. float only: the
  // float64 functions ignore it (they are the exact oracles of the finite-difference tests).
  bool bf16 = false;
  // Who owns the weight's memory, where in it the weight starts and the owner's version counter
  // (engine/storage.h), set by the op when the weight's values are fixed for a while (it needs no
  // gradient: inference, the explainers). The float32 path then keeps its packed form across calls
  // until the version moves or the owner is freed (cpu/conv2d_implicit.cc). Empty: pack per call.
  std::weak_ptr<const void> weight_owner = {};
  int64_t weight_offset = 0;
  uint64_t weight_version = 0;
};

// Which float32 algorithm the entry points below use (process-wide, read at every call; the
// float64 functions always run im2col):
//   Auto      implicit GEMM, and Winograd F(2x2, 3x3) (as accurate as the direct method) on the
//             3x3 stride-1 layers where it measured faster: large maps, many channels (conv2d.cc)
//   Implicit  implicit GEMM everywhere (the comparison rows of `bench kernels --device cpu`)
//   Winograd  Winograd F(4x4, 3x3) on the 3x3 stride-1 layers where it measured faster (maps of
//             4x4 and up, 64+ channels), else implicit; 5-10x the float32 rounding error; opt-in
// LB_CPU_CONV=auto|implicit|winograd sets the start value.
enum class ConvAlgo { Auto, Implicit, Winograd };
void set_conv_algo(ConvAlgo a);
ConvAlgo conv_algo();
ConvAlgo parse_conv_algo(const std::string& s);  // throws lb::Error naming the choices
const char* conv_algo_name(ConvAlgo a);

// y = conv(x, W) + b. bias may be null.
template <class T>
void conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y);

// dx = d(loss)/dx given dy (N, K, P, Q).
template <class T>
void conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx);

// dw = d(loss)/dW given x and dy. The sum over the batch is deterministic for a given thread count
// (fixed slices of images per thread, partial sums added in thread order).
template <class T>
void conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw);

// db = d(loss)/db, the sum of dy over images and output positions.
template <class T>
void conv2d_backward_bias(const Conv2dArgs& a, const T* dy, T* db);

}  // namespace lb::cpu
