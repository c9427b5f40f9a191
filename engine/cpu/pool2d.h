// cpu/pool2d.h: the CPU loops behind max_pool2d (with indices) and adaptive_avg_pool2d.
//
// Shapes (the letters of this file): x, dx (planes, H, W) with planes = N * C; y, dy, indices
// (planes, P, Q) for max pooling and (planes, OH, OW) for adaptive average pooling. Every plane
// is independent, so OpenMP splits the planes; a backward scatters only inside its own plane,
// which makes the overlapping-window sums race-free.
//
// Semantics follow PyTorch's max_pool2d_with_indices and adaptive_avg_pool2d (see
// engine/ops/pool2d.h for the contract).
#pragma once

#include <cstdint>

#include "kernels/shapes.h"

namespace lb::cpu {

// The CUDA side's shape, as it is: planes, H, W (input), P, Q (output), kernel, stride, padding.
using MaxPool2dArgs = kernels::MaxPoolShape;

// y = the maximum of each kernel x kernel window (padding acts as -inf); indices = its flat
// position h * W + w in the input plane. The first maximum in row-major window order wins a
// tie; a NaN counts as the maximum, like PyTorch.
template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* indices, const MaxPool2dArgs& a);

// dx = 0, then dx[indices] += dy: where windows overlap, an input that is the maximum of
// several windows receives the sum of their gradients.
template <class T>
void max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, const MaxPool2dArgs& a);

// The CUDA side's shape, as it is: planes, H, W (input), OH, OW (output).
using AdaptiveAvgPool2dArgs = kernels::AvgPoolShape;

// Output cell (i, j) averages rows [floor(i * H / OH), ceil((i + 1) * H / OH)) and the matching
// columns. Bins overlap when OH does not divide H; the window sum is accumulated in double.
template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const AdaptiveAvgPool2dArgs& a);

// dx = 0, then every input of bin (i, j) receives dy(i, j) / bin size, summed over the bins that
// contain it.
template <class T>
void adaptive_avg_pool2d_backward(const T* dy, T* dx, const AdaptiveAvgPool2dArgs& a);

// The bin edges, shared by forward and backward: [start, end) along one axis of size `in`.
inline int64_t adaptive_bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace lb::cpu
