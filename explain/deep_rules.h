// deep_rules.h: DeepLIFT's two nonlinear backward rules (relu's rescale rule and max_pool2d's
// credit routing) as plain tensor functions, on the CPU or on CUDA. explain/deep.cc installs them
// as backward overrides; deep.h states the method and the rules' math.
//
// Shapes: one DeepExplainer pass holds rows = n + n*bc: rows [0, n) the explained images, row
// n + i*bc + p background p paired with image i. Every rule compares a reference row with its
// image row and returns 0 in the image rows (nothing reads their gradient).
//   relu:       u (pre-activation), y, g (dL/dy), result: (rows, ...), any trailing shape
//   max_pool2d: u and result (rows, C, H, W); y, g (rows, C, P, Q)
//
// The rules run on the tensors' device: on the CPU in their dtype (float32 or float64), on CUDA
// in float32 (kernels/deep_rules.cu), with the same operations in the same order, so the two
// devices give the same bits (tests/explain/test_deep_rules_cuda.cc).
#pragma once

#include <cstdint>

#include "engine/ops/pool2d.h"
#include "engine/tensor.h"

namespace lb::explain {

constexpr double kDeepReluEps = 1e-6;  // shap's nonlinear_1d: |Δu| below this takes the plain gradient
constexpr double kDeepPoolEps = 1e-7;  // shap's maxpool: |Δu| below this gets multiplier 0

// Which rows of a pass are paired (see above).
struct DeepPairing {
  int64_t n = 0, bc = 0;
  int64_t rows() const { return n + n * bc; }
  int64_t image_row(int64_t ref_row) const { return (ref_row - n) / bc; }
};

// dx[r] = g[r] * (y[i] - y[r]) / (u[i] - u[r]), or g[r] * [u[r] > 0] where |u[i] - u[r]| < 1e-6.
Tensor deep_relu_rule(const Tensor& u, const Tensor& y, const Tensor& g, const DeepPairing& pr);

// Per reference plane: c = max(y_x, y_r); A[idx_x] (+)= g (c - y_r); R[idx_r] (+)= g (y_x - c);
// dx = (A + R) / (u_x - u_r), 0 where |u_x - u_r| < 1e-7. idx are the argmaxes of u re-pooled
// with `st`. `overwrite` assigns instead of adding (shap's max_unpool2d: the last window in
// row-major order that names a position wins).
Tensor deep_maxpool_rule(const Tensor& u, const Tensor& y, const Tensor& g, const MaxPool2dSettings& st,
                         const DeepPairing& pr, bool overwrite);

}  // namespace lb::explain
