// ops/conv2d.h: 2-D convolution (cross-correlation, like PyTorch), with autograd.
//
// Shapes: x (N, C, H, W), weight (K, C, R, S), bias (K) or undefined, output (N, K, P, Q) with
//   P = (H + 2*padding - R) / stride + 1,  Q = (W + 2*padding - S) / stride + 1.
// Square stride and zero padding; no groups or dilation (ResNet18 needs neither).
// CPU: implicit GEMM on lightbox's own GEMM, Winograd where it pays, im2col + OpenBLAS for
// float64 and as the comparison (engine/cpu/conv2d.h, docs/03-cpu-ops.md).
#pragma once

#include "engine/tensor.h"

namespace lb {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0);

}  // namespace lb
