// ops/softmax.cc: softmax, log_softmax and cross-entropy with their backward rules.
#include "engine/ops/softmax.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/cpu/softmax.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linear.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape.h"
#include "kernels/runtime.cuh"
#include "kernels/softmax.cuh"

namespace lb {

namespace {

void check_input(const char* op, const Tensor& x) {
  LB_CHECK(x.defined(), op << ": undefined tensor");
  LB_CHECK(is_floating(x.dtype()), op << ": expected a float tensor, got " << x.str());
  LB_CHECK(x.device().is_cpu() || x.dtype() == DType::Float32,
           op << ": CUDA kernels take float32; got " << x.str() << " (float64 is for CPU checks)");
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
    Tensor dx = Tensor::empty(yv.shape(), yv.dtype(), yv.device());
    if (yv.device().is_cuda()) {
      kernels::softmax_backward({view.outer, view.n, view.inner}, yv.data_ptr<float>(), dy.data_ptr<float>(),
                                dx.data_ptr<float>(), log);
      return {dx};
    }
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
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cuda()) {
    kernels::softmax_forward({v.outer, v.n, v.inner}, x.data_ptr<float>(), y.data_ptr<float>(), log);
  } else {
    LB_DISPATCH_FLOAT(x.dtype(), op, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::softmax_forward(x.data<T>(), y.data<T>(), v, log);
    });
  }
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
  Tensor log_probs;                // (N, C), internal
  Tensor target;                   // (N) int64
  std::vector<double> row_weight;  // w[y_i] / W (CPU)
  Tensor row_weight_dev;           // the same on the GPU (CUDA forward), with target on the GPU
  const char* kind() const override { return "cross_entropy"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    if (log_probs.device().is_cuda()) {
      // g stays on the device: no host synchronisation in the backward pass.
      Tensor dx = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
      const Tensor g = dy.device() == log_probs.device() ? dy : dy.to(log_probs.device());
      kernels::cross_entropy_backward(log_probs.data_ptr<float>(), target.data_ptr<int64_t>(),
                                      row_weight_dev.data_ptr<float>(), g.data_ptr<float>(), log_probs.size(0),
                                      log_probs.size(1), dx.data_ptr<float>());
      return {dx};
    }
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
          d[i * c + k] = static_cast<T>(g * row_weight[i] *
                                        (std::exp(static_cast<double>(lp[i * c + k])) - (k == t[i] ? 1.0 : 0.0)));
    });
    return {dx};
  }
  void release_saved() override {
    log_probs = Tensor();
    target = Tensor();
    row_weight_dev = Tensor();
  }
};

// The CUDA path: targets are checked on the host (where the loader made them; a CUDA target is
// copied back once to check it, except during a capture), then one kernel computes
// log-probabilities, row weights and the loss on the device. Class weights are read by the kernel
// from device memory, which sums this batch's weights itself: no host read. A batch whose weights
// do not sum to a positive number is refused on the host only where that costs no synchronisation
// (weights given on the CPU, targets seen on the host); otherwise the kernel writes a NaN loss and
// NaN row weights, as PyTorch does. `host_t` is the target on the host, or undefined.
Tensor cross_entropy_cuda(const Tensor& logits, const Tensor& target, const Tensor& weight, const Tensor& host_t) {
  const int64_t n = logits.size(0), c = logits.size(1);
  const Tensor dev_t = target.device() == logits.device() ? target : target.to(logits.device());
  Tensor dev_w;
  if (weight.defined()) {
    LB_CHECK(weight.dtype() == DType::Float32, "cross_entropy: CUDA takes float32 class weights, got " << weight.str());
    LB_CHECK(weight.device().is_cuda() || !kernels::is_capturing(),
             "cross_entropy: class weights on the CPU cannot be copied inside a CUDA Graph capture; move them to "
             "the device first");
    if (weight.device().is_cpu() && host_t.defined()) {
      const int64_t* t = host_t.data<int64_t>();
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) total += weight.at(t[i]);
      LB_CHECK(total > 0.0, "cross_entropy: the class weights of this batch sum to " << total);
    }
    dev_w = weight.device() == logits.device() ? weight : weight.to(logits.device());
  }
  Tensor lp = Tensor::empty(logits.shape(), DType::Float32, logits.device());
  Tensor rw = Tensor::empty({n}, DType::Float32, logits.device());
  Tensor out = Tensor::empty({}, DType::Float32, logits.device());
  kernels::cross_entropy_forward(logits.data_ptr<float>(), dev_t.data_ptr<int64_t>(),
                                 dev_w.defined() ? dev_w.data_ptr<float>() : nullptr, n, c, lp.data_ptr<float>(),
                                 rw.data_ptr<float>(), out.data_ptr<float>());
  if (needs_grad({logits})) {
    auto node = std::make_shared<CrossEntropyNode>();
    node->log_probs = lp;
    node->target = dev_t;
    node->row_weight_dev = rw;
    set_history(out, node, {logits});
  }
  return out;
}

// Returns the target on the host when check_values read it there, else an undefined tensor.
Tensor check_targets(const Tensor& logits, const Tensor& target, const Tensor& weight, bool check_values) {
  LB_CHECK(logits.dim() == 2, "cross_entropy: logits must be (N, C), got " << shape_str(logits.shape()));
  LB_CHECK(target.defined() && target.dtype() == DType::Int64 && target.dim() == 1,
           "cross_entropy: target must be an int64 (N) tensor of class indices, got " << target.str());
  LB_CHECK(target.size(0) == logits.size(0),
           "cross_entropy: " << target.size(0) << " targets for " << logits.size(0) << " rows of logits");
  const int64_t c = logits.size(1);
  const Tensor host_t = !check_values || target.device().is_cpu() ? target : target.to(Device::cpu());
  const int64_t* t = check_values ? host_t.data<int64_t>() : nullptr;
  for (int64_t i = 0; check_values && i < target.numel(); ++i)
    LB_CHECK(t[i] >= 0 && t[i] < c,
             "cross_entropy: target " << t[i] << " at row " << i << " is outside [0, " << c << ")");
  if (weight.defined())
    LB_CHECK(weight.dim() == 1 && weight.size(0) == c,
             "cross_entropy: weight must have one entry per class (" << c << "), got " << weight.str());
  return check_values ? host_t : Tensor();
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight) {
  check_input("cross_entropy", logits);
  // Inside a CUDA Graph capture the targets (already on the device, checked when they were copied
  // there) cannot be read back: the capture would fail. Only the shapes are checked then.
  const bool capturing =
      logits.device().is_cuda() && target.defined() && target.device().is_cuda() && kernels::is_capturing();
  const Tensor host_t = check_targets(logits, target, weight, !capturing);
  LB_CHECK(logits.size(0) > 0, "cross_entropy: empty batch");
  if (logits.device().is_cuda()) return cross_entropy_cuda(logits, target, weight, host_t);
  LB_CHECK(target.device().is_cpu() && (!weight.defined() || weight.device().is_cpu()),
           "cross_entropy: logits are on the CPU but the target or weight is not; move them to the CPU");
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

namespace {

// (M, 1) -> (M, 2) rows (0, z): the logit pair whose softmax is (1 - sigmoid(z), sigmoid(z)).
Tensor logit_pairs(const Tensor& z) {
  Tensor pair_weight = Tensor::from_vector({0.0, 1.0}, {2, 1}, z.dtype());
  if (z.device().is_cuda()) pair_weight = pair_weight.to(z.device());
  return linear(z, pair_weight, Tensor());
}

}  // namespace

Tensor sigmoid(const Tensor& z) {
  check_input("sigmoid", z);
  const int64_t m = z.numel();
  LB_CHECK(m > 0, "sigmoid: empty input");
  Tensor pick = Tensor::from_vector({0.0, 1.0}, {1, 2}, z.dtype());  // (p0, p1) -> p1
  if (z.device().is_cuda()) pick = pick.to(z.device());
  const Tensor p = softmax(logit_pairs(reshape(z, {m, 1})), 1);
  return reshape(linear(p, pick, Tensor()), z.shape());
}

Tensor cross_entropy_smoothed(const Tensor& logits, const Tensor& target, double label_smoothing) {
  LB_CHECK(label_smoothing >= 0.0 && label_smoothing < 1.0,
           "cross_entropy: label smoothing must be in [0, 1), got " << label_smoothing);
  const Tensor ce = cross_entropy(logits, target);
  if (label_smoothing == 0.0) return ce;
  // -sum_k (eps / C) log p_ik averaged over the batch is -eps * (the mean over all N * C entries).
  return add(scale(ce, 1.0 - label_smoothing), mean(log_softmax(logits, 1)), -label_smoothing);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target) {
  const char* op = "binary_cross_entropy_with_logits";
  check_input(op, logits);
  LB_CHECK(logits.dim() == 2, op << ": logits must be (N, L), got " << shape_str(logits.shape()));
  LB_CHECK(target.defined() && target.dtype() == DType::Int64 && target.shape() == logits.shape(),
           op << ": target must be int64 0/1 flags of the logits' shape " << shape_str(logits.shape()) << ", got "
              << (target.defined() ? target.str() : std::string("nothing")));
  const int64_t m = logits.numel();
  LB_CHECK(m > 0, op << ": empty batch");
  if (target.device().is_cpu()) {
    const int64_t* t = target.data<int64_t>();
    for (int64_t i = 0; i < m; ++i)
      LB_CHECK(t[i] == 0 || t[i] == 1, op << ": target " << t[i] << " at row " << i / logits.size(1) << ", label "
                                          << i % logits.size(1) << " is not a 0/1 flag");
  }
  // (0, z) per entry, so that softmax((0, z))[1] = sigmoid(z) (see the header).
  return cross_entropy(logit_pairs(reshape(logits, {m, 1})), target.view({m}));
}

}  // namespace lb
