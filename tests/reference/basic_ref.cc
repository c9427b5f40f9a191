// basic_ref.cc: see basic_ref.h.
#include "tests/reference/basic_ref.h"

#include <cmath>

namespace lb::ref {

Vec relu(const Vec& x) {
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0 ? x[i] : 0.0;
  return y;
}

Vec relu_backward(const Vec& x, const Vec& dy) {
  Vec dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) dx[i] = x[i] > 0 ? dy[i] : 0.0;
  return dx;
}

Vec softmax_rows(const Vec& x, int64_t rows, int64_t n) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) total += std::exp(x[r * n + i]);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = std::exp(x[r * n + i]) / total;
  }
  return y;
}

Vec softmax_rows_backward(const Vec& x, const Vec& dy, int64_t rows, int64_t n) {
  const Vec y = softmax_rows(x, rows, n);
  Vec dx(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < n; ++k)      // input index
      for (int64_t i = 0; i < n; ++i) {  // output index: dy_i * dy_i/dx_k
        const double jac = y[r * n + i] * ((i == k ? 1.0 : 0.0) - y[r * n + k]);
        dx[r * n + k] += dy[r * n + i] * jac;
      }
  return dx;
}

Vec log_softmax_rows(const Vec& x, int64_t rows, int64_t n) {
  Vec y = softmax_rows(x, rows, n);
  for (double& v : y) v = std::log(v);
  return y;
}

Vec log_softmax_rows_backward(const Vec& x, const Vec& dy, int64_t rows, int64_t n) {
  const Vec p = softmax_rows(x, rows, n);
  Vec dx(x.size(), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t i = 0; i < n; ++i)  // d log p_i / d x_k = delta_ik - p_k
        dx[r * n + k] += dy[r * n + i] * ((i == k ? 1.0 : 0.0) - p[r * n + k]);
  return dx;
}

double cross_entropy(const Vec& logits, const std::vector<int64_t>& target, const Vec& weight, int64_t n, int64_t c) {
  const Vec lp = log_softmax_rows(logits, n, c);
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = weight.empty() ? 1.0 : weight[target[i]];
    num -= w * lp[i * c + target[i]];
    den += w;
  }
  return num / den;
}

Vec cross_entropy_backward(const Vec& logits, const std::vector<int64_t>& target, const Vec& weight, int64_t n,
                           int64_t c) {
  const Vec p = softmax_rows(logits, n, c);
  double den = 0.0;
  for (int64_t i = 0; i < n; ++i) den += weight.empty() ? 1.0 : weight[target[i]];
  Vec dx(logits.size());
  for (int64_t i = 0; i < n; ++i) {
    const double w = weight.empty() ? 1.0 : weight[target[i]];
    for (int64_t k = 0; k < c; ++k) dx[i * c + k] = w / den * (p[i * c + k] - (k == target[i] ? 1.0 : 0.0));
  }
  return dx;
}

Vec sum_axis(const Vec& x, int64_t outer, int64_t n, int64_t inner) {
  Vec out(outer * inner, 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < inner; ++j) out[o * inner + j] += x[(o * n + i) * inner + j];
  return out;
}

}  // namespace lb::ref
