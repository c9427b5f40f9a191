// linear_ref.cc: see linear_ref.h.
#include "tests/reference/linear_ref.h"

#include <vector>

namespace lb::ref {

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t N = x.size(0), IN = x.size(1), OUT = w.size(0);
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<double> bv = b.defined() ? b.to_vector() : std::vector<double>(OUT, 0.0);
  std::vector<double> y(N * OUT);  // y: (N, OUT)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = bv[o];
      for (int64_t i = 0; i < IN; ++i) acc += xv[n * IN + i] * wv[o * IN + i];
      y[n * OUT + o] = acc;
    }
  return Tensor::from_vector(y, {N, OUT}, DType::Float64);
}

Tensor linear_backward_input(const Tensor& dy, const Tensor& w) {
  const int64_t N = dy.size(0), OUT = w.size(0), IN = w.size(1);
  const std::vector<double> dyv = dy.to_vector(), wv = w.to_vector();
  std::vector<double> dx(N * IN, 0.0);  // dx: (N, IN)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o)
      for (int64_t i = 0; i < IN; ++i) dx[n * IN + i] += dyv[n * OUT + o] * wv[o * IN + i];
  return Tensor::from_vector(dx, {N, IN}, DType::Float64);
}

Tensor linear_backward_weight(const Tensor& x, const Tensor& dy) {
  const int64_t N = x.size(0), IN = x.size(1), OUT = dy.size(1);
  const std::vector<double> xv = x.to_vector(), dyv = dy.to_vector();
  std::vector<double> dw(OUT * IN, 0.0);  // dw: (OUT, IN)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o)
      for (int64_t i = 0; i < IN; ++i) dw[o * IN + i] += dyv[n * OUT + o] * xv[n * IN + i];
  return Tensor::from_vector(dw, {OUT, IN}, DType::Float64);
}

Tensor linear_backward_bias(const Tensor& dy) {
  const int64_t N = dy.size(0), OUT = dy.size(1);
  const std::vector<double> dyv = dy.to_vector();
  std::vector<double> db(OUT, 0.0);  // db: (OUT)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) db[o] += dyv[n * OUT + o];
  return Tensor::from_vector(db, {OUT}, DType::Float64);
}

}  // namespace lb::ref
