// ops/conv2d.cc: the conv2d op: argument checks, forward dispatch, and its autograd node right
// under it. PyTorch's conv2d semantics (cross-correlation, zero padding, square stride).
//
// Shapes: x (N, C, H, W), weight (K, C, R, S), bias (K) or undefined, y (N, K, P, Q).
// Backward: dx = conv2d_backward_input(dy, W), dW = conv2d_backward_weight(x, dy), db = sum of dy
// over (N, P, Q). Only the gradients the graph needs are computed (a frozen weight costs no dW,
// the first layer's image input costs no dx).
//
// Accumulation rule: apply() returns fresh gradient tensors; the autograd engine sums them into
// parameter .grad (+=) and across consumers.
#include "engine/ops/conv2d.h"

#include <string>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/ops/weighted_checks.h"
#include "engine/cpu/conv2d.h"

namespace lb {

namespace {

constexpr const char* kOp = "conv2d";

// Output size along one axis; <= 0 when the (padded) input is smaller than the kernel.
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

// Validates the arguments and returns the sizes the CPU backend takes. Every message names the op
// and the shapes, so a wrong layer in a model is found from the message alone.
cpu::Conv2dArgs check_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad) {
  const std::string shapes = ops_detail::check_weighted_op(kOp, x, w, b);
  LB_CHECK(x.dim() == 4, kOp << ": input must be 4-D (N, C, H, W); " << shapes);
  LB_CHECK(w.dim() == 4, kOp << ": weight must be 4-D (K, C, R, S); " << shapes);
  LB_CHECK(w.size(1) == x.size(1), kOp << ": input has " << x.size(1) << " channels but weight expects "
                                       << w.size(1) << "; " << shapes);
  LB_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)),
           kOp << ": bias must be 1-D with one entry per output channel (" << w.size(0) << "); " << shapes);
  LB_CHECK(stride >= 1 && pad >= 0, kOp << ": stride must be >= 1 and padding >= 0, got stride=" << stride
                                        << " pad=" << pad);
  cpu::Conv2dArgs a{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), stride, pad, 0, 0};
  a.P = conv_out_size(a.H, a.R, stride, pad);
  a.Q = conv_out_size(a.W, a.S, stride, pad);
  LB_CHECK(a.P > 0 && a.Q > 0 && a.K > 0 && a.C > 0,
           kOp << ": output size " << a.P << "x" << a.Q << " with " << a.K << " channels is empty; the "
               << a.R << "x" << a.S << " kernel (stride=" << stride << " pad=" << pad
               << ") does not fit the input; " << shapes);
  return a;
}

// ---- autograd node ------------------------------------------------------------------------------

// Saves x only when dW is wanted and W only when dx is wanted: those are the only uses.
struct Conv2dNode : Node {
  cpu::Conv2dArgs args{};
  SavedTensor x, w;
  const char* kind() const override { return kOp; }
  std::string describe() const override {
    return "stride=" + std::to_string(args.stride) + " pad=" + std::to_string(args.pad);
  }
  std::vector<Tensor> apply(const Tensor& dy) override {
    LB_CHECK(dy.device().is_cpu() && dy.dtype() == input_dtypes[0] && dy.shape() == output_shape,
             kOp << " backward: expected a CPU " << dtype_name(input_dtypes[0]) << " gradient shaped "
                 << shape_str(output_shape) << ", got " << dy.str());
    Tensor dx, dw, db;
    const Tensor wv = needs_input_grad(0) ? w.unpack(kOp, "weight") : Tensor();
    const Tensor xv = needs_input_grad(1) ? x.unpack(kOp, "input") : Tensor();
    if (needs_input_grad(0)) dx = Tensor::empty(input_shapes[0], dy.dtype());
    if (needs_input_grad(1)) dw = Tensor::empty(input_shapes[1], dy.dtype());
    if (needs_input_grad(2)) db = Tensor::empty(input_shapes[2], dy.dtype());
    LB_DISPATCH_FLOAT(dy.dtype(), "conv2d backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      if (dx.defined()) cpu::conv2d_backward_input(args, dy.data<T>(), wv.data<T>(), dx.data<T>());
      if (dw.defined()) cpu::conv2d_backward_weight(args, xv.data<T>(), dy.data<T>(), dw.data<T>());
      if (db.defined()) cpu::conv2d_backward_bias(args, dy.data<T>(), db.data<T>());
    });
    return {dx, dw, db};
  }
  void release_saved() override {
    x.reset();
    w.reset();
  }
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  const cpu::Conv2dArgs a = check_conv2d(x, weight, bias, stride, padding);
  Tensor y = Tensor::empty({a.N, a.K, a.P, a.Q}, x.dtype());
  LB_DISPATCH_FLOAT(x.dtype(), kOp, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::conv2d_forward(a, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
  });
  if (needs_grad({x, weight, bias})) {
    auto node = std::make_shared<Conv2dNode>();
    node->args = a;
    set_history(y, node, {x, weight, bias});
    if (node->needs_input_grad(1)) node->x = SavedTensor(x);
    if (node->needs_input_grad(0)) node->w = SavedTensor(weight);
  }
  return y;
}

}  // namespace lb
