// cpu/conv2d.h: the CPU backend of 2-D convolution (cross-correlation, PyTorch's conv2d
// semantics: square stride, zero padding, no groups or dilation).
//
// Shapes, defined once for this file and conv2d.cc:
//   x  (N, C, H, W)    weight (K, C, R, S)    bias (K)    y (N, K, P, Q)
//   P = (H + 2*pad - R) / stride + 1,   Q = (W + 2*pad - S) / stride + 1
//
// Method: im2col + GEMM (Chellapilla, Puri and Simard, "High Performance Convolutional Neural
// Networks for Document Processing", 2006). im2col unrolls every receptive field of an image into
// a column of a (C*R*S, P*Q) matrix, so the convolution becomes one matrix product:
//   forward          y_n  (K, P*Q)     = W (K, C*R*S) x cols_n (C*R*S, P*Q)
//   backward input   dcols (C*R*S, P*Q) = W^T x dy_n, then col2im scatters-adds into dx_n
//   backward weight  dW  (K, C*R*S)    = sum over n of dy_n x cols_n^T
//   backward bias    db  (K)           = sum of dy over n, p, q
// A 1x1 kernel with stride 1 and no padding needs no unrolling: the input plane (C, H*W) already
// is the column matrix. With stride 2 (ResNet's downsample) the columns are a subsample.
//
// Threads: OpenMP splits the batch into groups of images, one group per GEMM; each thread owns
// its column buffer and calls a single-threaded GEMM. Small feature maps (the 7x7 ... 1x1 maps of
// ResNet18 on 28x28 inputs) put several images side by side in one GEMM so that the product stays
// a real matrix product rather than a matrix-vector one.
//
// Every function writes a fresh result (dx, dw and db are overwritten, not accumulated into);
// the autograd engine sums gradients that arrive from several consumers.
#pragma once

#include <cstdint>

namespace lb::cpu {

// The sizes of one convolution; P and Q are the output height and width (computed by the op).
struct Conv2dArgs {
  int64_t N, C, H, W;  // input
  int64_t K, R, S;     // output channels and filter height, width
  int64_t stride, pad;
  int64_t P, Q;        // output height, width
  // MathMode::Bf16 (kernels/shapes.h): round both GEMM operands (the column / gathered dy buffers
  // and the weight) to bfloat16 before the fp32 GEMM, as the CUDA kernels do. float only: the
  // float64 functions ignore it (they are the exact oracles of the finite-difference tests).
  bool bf16 = false;
};

// y = conv(x, W) + b. bias may be null.
template <class T> void conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y);

// dx = d(loss)/dx given dy (N, K, P, Q).
template <class T> void conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx);

// dw = d(loss)/dW given x and dy. The sum over the batch is deterministic for a given thread count
// (fixed slices of images per thread, partial sums added in thread order).
template <class T> void conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw);

// db = d(loss)/db, the sum of dy over images and output positions.
template <class T> void conv2d_backward_bias(const Conv2dArgs& a, const T* dy, T* db);

}  // namespace lb::cpu
