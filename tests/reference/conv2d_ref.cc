// conv2d_ref.cc: see conv2d_ref.h. The seven nested loops, three times: the forward, and the two
// backward passes that follow from it by the chain rule (each x and w element gets dy times the
// factor it was multiplied by in the forward).
#include "tests/reference/conv2d_ref.h"

#include <vector>

namespace lb::ref {

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), R = w.size(2), S = w.size(3);
  const int64_t P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - S) / stride + 1;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<double> bv = b.defined() ? b.to_vector() : std::vector<double>(K, 0.0);
  std::vector<double> y(N * K * P * Q, 0.0);  // y: (N, K, P, Q)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double acc = bv[k];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t h = p * stride + r - pad, ww = q * stride + s - pad;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;  // zero padding
                acc += xv[((n * C + c) * H + h) * W + ww] * wv[((k * C + c) * R + r) * S + s];
              }
          y[((n * K + k) * P + p) * Q + q] = acc;
        }
  return Tensor::from_vector(y, {N, K, P, Q}, DType::Float64);
}

Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, int64_t stride, int64_t pad) {
  const int64_t N = x_shape[0], C = x_shape[1], H = x_shape[2], W = x_shape[3];
  const int64_t K = w.size(0), R = w.size(2), S = w.size(3);
  const int64_t P = dy.size(2), Q = dy.size(3);
  const std::vector<double> dyv = dy.to_vector(), wv = w.to_vector();
  std::vector<double> dx(N * C * H * W, 0.0);  // dx: (N, C, H, W)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t h = p * stride + r - pad, ww = q * stride + s - pad;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                dx[((n * C + c) * H + h) * W + ww] +=
                    dyv[((n * K + k) * P + p) * Q + q] * wv[((k * C + c) * R + r) * S + s];
              }
  return Tensor::from_vector(dx, x_shape, DType::Float64);
}

Tensor conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape, int64_t stride, int64_t pad) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w_shape[0], R = w_shape[2], S = w_shape[3];
  const int64_t P = dy.size(2), Q = dy.size(3);
  const std::vector<double> xv = x.to_vector(), dyv = dy.to_vector();
  std::vector<double> dw(K * C * R * S, 0.0);  // dw: (K, C, R, S)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t h = p * stride + r - pad, ww = q * stride + s - pad;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                dw[((k * C + c) * R + r) * S + s] +=
                    dyv[((n * K + k) * P + p) * Q + q] * xv[((n * C + c) * H + h) * W + ww];
              }
  return Tensor::from_vector(dw, w_shape, DType::Float64);
}

Tensor conv2d_backward_bias(const Tensor& dy) {
  const int64_t N = dy.size(0), K = dy.size(1), P = dy.size(2), Q = dy.size(3);
  const std::vector<double> dyv = dy.to_vector();
  std::vector<double> db(K, 0.0);  // db: (K)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) db[k] += dyv[((n * K + k) * P + p) * Q + q];
  return Tensor::from_vector(db, {K}, DType::Float64);
}

}  // namespace lb::ref
