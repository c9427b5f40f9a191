// pool2d_ref.cc: see pool2d_ref.h. Plain nested loops in double; obviously right, never fast.
#include "tests/reference/pool2d_ref.h"

#include <cmath>
#include <limits>
#include <vector>

namespace lb::ref {

MaxPool2dForward max_pool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Hp = H + 2 * padding, Wp = W + 2 * padding;
  const int64_t P = (Hp - kernel) / stride + 1, Q = (Wp - kernel) / stride + 1;
  const std::vector<double> xv = x.to_vector();
  std::vector<double> out(N * C * P * Q), ind(N * C * P * Q);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      // The padded plane, border cells -inf: padding then really "acts as -inf".
      std::vector<double> padded(Hp * Wp, -std::numeric_limits<double>::infinity());
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) padded[(h + padding) * Wp + (w + padding)] = xv[((n * C + c) * H + h) * W + w];
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double best = -std::numeric_limits<double>::infinity();
          int64_t best_h = -1, best_w = -1;
          for (int64_t kh = 0; kh < kernel; ++kh)
            for (int64_t kw = 0; kw < kernel; ++kw) {
              const int64_t hp = p * stride + kh, wp = q * stride + kw;
              const double v = padded[hp * Wp + wp];
              const bool real = hp >= padding && hp < padding + H && wp >= padding && wp < padding + W;
              // First real cell seeds the search; afterwards only a strictly larger value wins.
              if (real && (best_h < 0 || v > best)) {
                best = v;
                best_h = hp - padding;
                best_w = wp - padding;
              }
            }
          const int64_t o = ((n * C + c) * P + p) * Q + q;
          out[o] = best;
          ind[o] = static_cast<double>(best_h * W + best_w);
        }
    }
  return {Tensor::from_vector(out, {N, C, P, Q}, DType::Float64), Tensor::from_vector(ind, {N, C, P, Q}, DType::Int64)};
}

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& input_shape) {
  const int64_t N = input_shape[0], C = input_shape[1], H = input_shape[2], W = input_shape[3];
  const int64_t P = dy.size(2), Q = dy.size(3);
  const std::vector<double> gv = dy.to_vector(), iv = indices.to_vector();
  std::vector<double> dx(N * C * H * W, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          double s = 0.0;
          for (int64_t o = 0; o < P * Q; ++o)
            if (static_cast<int64_t>(iv[(n * C + c) * P * Q + o]) == h * W + w) s += gv[(n * C + c) * P * Q + o];
          dx[((n * C + c) * H + h) * W + w] = s;
        }
  return Tensor::from_vector(dx, input_shape, DType::Float64);
}

namespace {

// Bin [start, end) of output cell i along an axis of `in` cells split into `out` bins.
void bin(int64_t i, int64_t in, int64_t out, int64_t& start, int64_t& end) {
  start = static_cast<int64_t>(std::floor(static_cast<double>(i) * in / out));
  end = static_cast<int64_t>(std::ceil(static_cast<double>(i + 1) * in / out));
}

}  // namespace

Tensor adaptive_avg_pool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::vector<double> xv = x.to_vector();
  std::vector<double> out(N * C * out_h * out_w);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < out_h; ++i)
        for (int64_t j = 0; j < out_w; ++j) {
          int64_t h0, h1, w0, w1;
          bin(i, H, out_h, h0, h1);
          bin(j, W, out_w, w0, w1);
          double s = 0.0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += xv[((n * C + c) * H + h) * W + w];
          out[((n * C + c) * out_h + i) * out_w + j] = s / static_cast<double>((h1 - h0) * (w1 - w0));
        }
  return Tensor::from_vector(out, {N, C, out_h, out_w}, DType::Float64);
}

Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& input_shape) {
  const int64_t N = input_shape[0], C = input_shape[1], H = input_shape[2], W = input_shape[3];
  const int64_t OH = dy.size(2), OW = dy.size(3);
  const std::vector<double> gv = dy.to_vector();
  std::vector<double> dx(N * C * H * W, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          double s = 0.0;
          for (int64_t i = 0; i < OH; ++i)
            for (int64_t j = 0; j < OW; ++j) {
              int64_t h0, h1, w0, w1;
              bin(i, H, OH, h0, h1);
              bin(j, W, OW, w0, w1);
              if (h >= h0 && h < h1 && w >= w0 && w < w1)
                s += gv[((n * C + c) * OH + i) * OW + j] / static_cast<double>((h1 - h0) * (w1 - w0));
            }
          dx[((n * C + c) * H + h) * W + w] = s;
        }
  return Tensor::from_vector(dx, input_shape, DType::Float64);
}

}  // namespace lb::ref
