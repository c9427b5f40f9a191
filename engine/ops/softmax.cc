// ops/softmax.cc: softmax, log_softmax and cross-entropy with their backward rules.
#include "engine/ops/softmax.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/cpu/softmax.h"

namespace lb {

namespace {

void check_input(const char* op, const Tensor& x) {
  LB_CHECK(x.defined(), op << ": undefined tensor");
  LB_CHECK(is_floating(x.dtype()), op << ": expected a float tensor, got " << x.str());
  LB_CHECK(x.device().is_cpu(), op << ": CUDA kernels for this op arrive with the CUDA backend; move "
                                   << x.str() << " to the CPU");
  LB_CHECK(x.dim() >= 1, op << ": needs at least one dimension, got a scalar");
}

cpu::AxisView axis_view(const char* op, const Shape& s, int64_t dim) {
  const int64_t nd = static_cast<int64_t>(s.size());
  const int64_t d = dim < 0 ? dim + nd : dim;
  LB_CHECK(d >= 0 && d < nd, op << ": dim " << dim << " out of range for shape " << shape_str(s));
  cpu::AxisView v;
  for (int64_t i = 0; i < d; ++i) v.outer *= s[i];
  v.n = s[d];
  for (int64_t i = d + 1; i < nd; ++i) v.inner *= s[i];
  return v;
}

// Both softmax and log_softmax save their output: the backward needs only y.
struct SoftmaxNode : Node {
  SavedTensor y;
  cpu::AxisView view;
  bool log = false;
  const char* kind() const override { return log ? "log_softmax" : "softmax"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor yv = y.unpack(kind(), "output");
    Tensor dx = Tensor::empty(yv.shape(), yv.dtype());
    LB_DISPATCH_FLOAT(yv.dtype(), kind(), [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::softmax_backward(yv.data<T>(), dy.data<T>(), dx.data<T>(), view, log);
    });
    return {dx};
  }
  void release_saved() override { y.reset(); }
};

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_input(op, x);
  const cpu::AxisView v = axis_view(op, x.shape(), dim);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  LB_DISPATCH_FLOAT(x.dtype(), op, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::softmax_forward(x.data<T>(), y.data<T>(), v, log);
  });
  if (needs_grad({x})) {
    auto node = std::make_shared<SoftmaxNode>();
    node->view = v;
    node->log = log;
    set_history(y, node, {x});
    node->y = SavedTensor(y);
  }
  return y;
}

// Cross-entropy's backward: dlogits[i, c] = g * w[y_i] / W * (softmax[i, c] - [c == y_i]),
// W = sum_i w[y_i] (N when unweighted). Saves the log-probabilities it computed, the targets
// and the per-row weights w[y_i] / W.
struct CrossEntropyNode : Node {
  Tensor log_probs;    // (N, C), internal
  Tensor target;       // (N) int64
  std::vector<double> row_weight;  // w[y_i] / W
  const char* kind() const override { return "cross_entropy"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    const double g = dy.item();
    const int64_t n = log_probs.size(0), c = log_probs.size(1);
    Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype());
    const int64_t* t = target.data<int64_t>();
    LB_DISPATCH_FLOAT(dx.dtype(), "cross_entropy", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      const T* lp = log_probs.data<T>();
      T* d = dx.data<T>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < c; ++k)
          d[i * c + k] = static_cast<T>(g * row_weight[i] * (std::exp(static_cast<double>(lp[i * c + k])) -
                                                            (k == t[i] ? 1.0 : 0.0)));
    });
    return {dx};
  }
  void release_saved() override {
    log_probs = Tensor();
    target = Tensor();
  }
};

void check_targets(const Tensor& logits, const Tensor& target, const Tensor& weight) {
  LB_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, C), got " << shape_str(logits.shape()));
  LB_CHECK(target.defined() && target.dtype() == DType::Int64 && target.dim() == 1,
           "cross_entropy: target must be an int64 (N) tensor of class indices, got " << target.str());
  LB_CHECK(target.size(0) == logits.size(0), "cross_entropy: " << target.size(0) << " targets for "
                                                               << logits.size(0) << " rows of logits");
  const int64_t c = logits.size(1);
  const int64_t* t = target.data<int64_t>();
  for (int64_t i = 0; i < target.numel(); ++i)
    LB_CHECK(t[i] >= 0 && t[i] < c, "cross_entropy: target " << t[i] << " at row " << i
                                                             << " is outside [0, " << c << ")");
  if (weight.defined())
    LB_CHECK(weight.dim() == 1 && weight.size(0) == c,
             "cross_entropy: weight must have one entry per class (" << c << "), got " << weight.str());
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight) {
  check_input("cross_entropy", logits);
  check_targets(logits, target, weight);
  Tensor lp;
  {
    NoGradGuard no_grad;
    lp = log_softmax(logits, 1);
  }
  const int64_t n = logits.size(0), c = logits.size(1);
  LB_CHECK(n > 0, "cross_entropy: empty batch");
  const int64_t* t = target.data<int64_t>();
  std::vector<double> w(n, 1.0);
  double total_w = 0.0, loss = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (weight.defined()) w[i] = weight.at(t[i]);
    total_w += w[i];
    loss -= w[i] * lp.at(i * c + t[i]);
  }
  LB_CHECK(total_w > 0.0, "cross_entropy: the class weights of this batch sum to " << total_w);
  Tensor out = Tensor::scalar(loss / total_w, logits.dtype());
  if (needs_grad({logits})) {
    auto node = std::make_shared<CrossEntropyNode>();
    node->log_probs = lp;
    node->target = target;
    for (double& wi : w) wi /= total_w;
    node->row_weight = w;
    set_history(out, node, {logits});
  }
  return out;
}

}  // namespace lb
