// basic_ref.h: naive double-precision oracles for the elementwise, reduction, shape and softmax
// ops. Written as the math reads (explicit Jacobians where that is clearest), never fast.
#pragma once

#include <cstdint>
#include <vector>

namespace lb::ref {

using Vec = std::vector<double>;

Vec relu(const Vec& x);
Vec relu_backward(const Vec& x, const Vec& dy);  // from the input: dx = dy * [x > 0]

// Softmax over rows of an (rows, n) matrix, and the backward through the explicit Jacobian
// J_ik = y_i (delta_ik - y_k).
Vec softmax_rows(const Vec& x, int64_t rows, int64_t n);
Vec softmax_rows_backward(const Vec& x, const Vec& dy, int64_t rows, int64_t n);
Vec log_softmax_rows(const Vec& x, int64_t rows, int64_t n);
Vec log_softmax_rows_backward(const Vec& x, const Vec& dy, int64_t rows, int64_t n);

// Mean (weighted) negative log-likelihood of softmax(logits) and its gradient w.r.t. logits.
double cross_entropy(const Vec& logits, const std::vector<int64_t>& target, const Vec& weight, int64_t n, int64_t c);
Vec cross_entropy_backward(const Vec& logits, const std::vector<int64_t>& target, const Vec& weight, int64_t n,
                           int64_t c);

// Sum over the middle axis of (outer, n, inner).
Vec sum_axis(const Vec& x, int64_t outer, int64_t n, int64_t inner);

}  // namespace lb::ref
