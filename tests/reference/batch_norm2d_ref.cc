// batch_norm2d_ref.cc: see batch_norm2d_ref.h. Plain nested loops in double, one channel at a
// time; speed does not matter here, only being obviously right.
#include "tests/reference/batch_norm2d_ref.h"

#include <cmath>
#include <vector>

namespace lb::ref {

namespace {

// Value of a (C) tensor, or `fallback` when it is undefined (affine=false).
double at_or(const std::vector<double>& v, int64_t c, double fallback) { return v.empty() ? fallback : v[c]; }

std::vector<double> values(const Tensor& t) { return t.defined() ? t.to_vector() : std::vector<double>{}; }

}  // namespace

BatchNorm2dForward batch_norm2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                        const Tensor& running_mean, const Tensor& running_var, bool training,
                                        double momentum, double eps) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::vector<double> xv = x.to_vector(), wv = values(weight), bv = values(bias);
  const std::vector<double> rm = values(running_mean), rv = values(running_var);
  std::vector<double> y(xv.size()), new_rm = rm, new_rv = rv;
  auto idx = [&](int64_t n, int64_t c, int64_t h, int64_t w) { return ((n * C + c) * H + h) * W + w; };
  const double M = static_cast<double>(N * H * W);
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0.0, var = 0.0;
    if (training) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) mean += xv[idx(n, c, h, w)];
      mean /= M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) var += (xv[idx(n, c, h, w)] - mean) * (xv[idx(n, c, h, w)] - mean);
      var /= M;
      if (!rm.empty()) {
        new_rm[c] = (1.0 - momentum) * rm[c] + momentum * mean;
        new_rv[c] = (1.0 - momentum) * rv[c] + momentum * var * M / (M - 1.0);
      }
    } else {
      mean = rm[c];
      var = rv[c];
    }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const int64_t i = idx(n, c, h, w);
          y[i] = (xv[i] - mean) / std::sqrt(var + eps) * at_or(wv, c, 1.0) + at_or(bv, c, 0.0);
        }
  }
  BatchNorm2dForward r;
  r.y = Tensor::from_vector(y, x.shape(), DType::Float64);
  if (!rm.empty()) {
    r.running_mean = Tensor::from_vector(new_rm, {C}, DType::Float64);
    r.running_var = Tensor::from_vector(new_rv, {C}, DType::Float64);
  }
  return r;
}

BatchNorm2dGrads batch_norm2d_backward(const Tensor& x, const Tensor& weight, const Tensor& dy,
                                       const Tensor& running_mean, const Tensor& running_var, bool training,
                                       double eps) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::vector<double> xv = x.to_vector(), gv = dy.to_vector(), wv = values(weight);
  const std::vector<double> rm = values(running_mean), rv = values(running_var);
  std::vector<double> dx(xv.size()), dw(C), db(C);
  auto idx = [&](int64_t n, int64_t c, int64_t h, int64_t w) { return ((n * C + c) * H + h) * W + w; };
  const double M = static_cast<double>(N * H * W);
  for (int64_t c = 0; c < C; ++c) {
    // The forward's statistics again (same loops as above, kept inline to stay self-evident).
    double mean = 0.0, var = 0.0;
    if (training) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) mean += xv[idx(n, c, h, w)];
      mean /= M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) var += (xv[idx(n, c, h, w)] - mean) * (xv[idx(n, c, h, w)] - mean);
      var /= M;
    } else {
      mean = rm[c];
      var = rv[c];
    }
    const double sd = std::sqrt(var + eps);
    const double gamma = at_or(wv, c, 1.0);
    // Step by step: dxhat = dy * gamma; dvar = sum(dxhat * (x - mean)) * -1/2 * (var + eps)^(-3/2);
    // dmean = sum(-dxhat / sd) + dvar * sum(-2 (x - mean)) / M;
    // dx = dxhat / sd + dvar * 2 (x - mean) / M + dmean / M.
    double dvar = 0.0, dmean = 0.0, sum_xmu = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const int64_t i = idx(n, c, h, w);
          const double dxhat = gv[i] * gamma;
          dvar += dxhat * (xv[i] - mean) * -0.5 * std::pow(var + eps, -1.5);
          dmean += -dxhat / sd;
          sum_xmu += -2.0 * (xv[i] - mean);
          dw[c] += gv[i] * (xv[i] - mean) / sd;
          db[c] += gv[i];
        }
    dmean += dvar * sum_xmu / M;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const int64_t i = idx(n, c, h, w);
          const double dxhat = gv[i] * gamma;
          dx[i] = training ? dxhat / sd + dvar * 2.0 * (xv[i] - mean) / M + dmean / M : dxhat / sd;
        }
  }
  return {Tensor::from_vector(dx, x.shape(), DType::Float64), Tensor::from_vector(dw, {C}, DType::Float64),
          Tensor::from_vector(db, {C}, DType::Float64)};
}

}  // namespace lb::ref
