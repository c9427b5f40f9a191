// deep_rules.cuh: DeepLIFT's backward rules (explain/deep_rules.h) on the GPU, float32, on stream().
//
// A DeepExplainer pass stacks rows [0, n) of explained images and, for image i, reference rows
// n + i*bc + p (p < bc); every rule compares reference row r with image row (r - n) / bc and
// writes 0 into the image rows. The arithmetic is the CPU rule's, operation for operation and
// rounded the same way (no fused multiply-adds), so the results are bit-identical to the CPU.
#pragma once

#include "kernels/cuda_api.h"

namespace lb::kernels {

// The pairing of a pass: rows = n + n * bc.
struct DeepPairing {
  int64_t n, bc;
};

// relu's rescale rule over u, y, g, dx (rows, per_row):
//   dx[r] = g[r] * ((y[i] - y[r]) / (u[i] - u[r])), or g[r] * [u[r] > 0] where |u[i] - u[r]| < eps.
LB_CUDA_API(void deep_relu_rescale(const DeepPairing& pr, int64_t per_row, const float* u, const float* y,
                                   const float* g, float eps, float* dx))

// max_pool2d's credit routing. u, dx (rows, C, H, W); y, g, indices (rows, C, P, Q), indices the
// argmax of u's windows (h * W + w, max_pool2d_with_indices's). Per reference plane:
//   c = max(y_x, y_r); A[idx_x] (+)= g (c - y_r); R[idx_r] (+)= g (y_x - c);
//   dx = (A + R) / (u_x - u_r), or 0 where |u_x - u_r| < eps.
// `overwrite` assigns instead of adding (the last window in row-major order wins).
struct DeepPoolShape {
  int64_t C, H, W, P, Q;
  int64_t kernel, stride, padding;
};
LB_CUDA_API(void deep_maxpool_rescale(const DeepPairing& pr, const DeepPoolShape& s, const float* u, const float* y,
                                      const int64_t* indices, const float* g, float eps, bool overwrite, float* dx))

}  // namespace lb::kernels
