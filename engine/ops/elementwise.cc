// ops/elementwise.cc: forward, backward and autograd node of each elementwise op, side by side.
//
// Accumulation rule: every backward returns fresh gradient tensors; the engine sums them.
#include "engine/ops/elementwise.h"

#include <sstream>

#include "engine/autograd.h"
#include "engine/cpu/elementwise.h"
#include "kernels/elementwise.cuh"

namespace lb {

namespace {

void check_float_device(const char* op, const Tensor& t) {
  LB_CHECK(t.defined(), op << ": undefined tensor");
  LB_CHECK(is_floating(t.dtype()), op << ": expected a float tensor, got " << t.str());
  LB_CHECK(t.device().is_cpu() || t.dtype() == DType::Float32, op << ": CUDA tensors must be float32, got " << t.str());
}

// b must match a's shape or be a single element; both on one device with one dtype.
void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_float_device(op, a);
  check_float_device(op, b);
  check_same_dtype(op, a, b);
  LB_CHECK(a.device() == b.device(), op << ": tensors on different devices, " << a.str() << " and " << b.str());
  LB_CHECK(a.shape() == b.shape() || b.numel() == 1, op << ": shapes " << shape_str(a.shape()) << " and "
                                                        << shape_str(b.shape())
                                                        << " differ (b must have a's shape or be a single element)");
}

// ---- raw forward dispatch (no autograd) ---------------------------------------------------------

void relu_raw(const Tensor& x, Tensor& y) {
  if (x.device().is_cuda()) {
    kernels::relu_forward(x.data_ptr<float>(), y.data_ptr<float>(), x.numel());
    return;
  }
  LB_DISPATCH_FLOAT(x.dtype(), "relu", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::relu_forward(x.data<T>(), y.data<T>(), x.numel());
  });
}

void add_raw(const Tensor& a, const Tensor& b, double alpha, Tensor& out) {
  if (a.device().is_cuda()) {
    kernels::add_forward(a.data_ptr<float>(), b.data_ptr<float>(), b.numel(), static_cast<float>(alpha),
                         out.data_ptr<float>(), a.numel());
    return;
  }
  LB_DISPATCH_FLOAT(a.dtype(), "add", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::add_forward(a.data<T>(), b.data<T>(), b.numel(), static_cast<T>(alpha), out.data<T>(), a.numel());
  });
}

void mul_raw(const Tensor& a, const Tensor& b, Tensor& out) {
  if (a.device().is_cuda()) {
    kernels::mul_forward(a.data_ptr<float>(), b.data_ptr<float>(), b.numel(), out.data_ptr<float>(), a.numel());
    return;
  }
  LB_DISPATCH_FLOAT(a.dtype(), "mul", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::mul_forward(a.data<T>(), b.data<T>(), b.numel(), out.data<T>(), a.numel());
  });
}

void scale_raw(const Tensor& x, double s, Tensor& out) {
  if (x.device().is_cuda()) {
    kernels::scale(x.data_ptr<float>(), static_cast<float>(s), out.data_ptr<float>(), x.numel());
    return;
  }
  LB_DISPATCH_FLOAT(x.dtype(), "scale", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::scale(x.data<T>(), static_cast<T>(s), out.data<T>(), x.numel());
  });
}

// Sum of g (or of g*w) as a one-element tensor shaped like `like` (a broadcast scalar's grad).
Tensor reduce_to_scalar(const Tensor& g, const Tensor* w, const Tensor& like) {
  Tensor gc = g.device().is_cpu() ? g : g.to(Device::cpu());
  Tensor wc = w ? (w->device().is_cpu() ? *w : w->to(Device::cpu())) : Tensor();
  double s = LB_DISPATCH_FLOAT(g.dtype(), "add/mul backward", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    return w ? cpu::dot(gc.data<T>(), wc.data<T>(), gc.numel()) : cpu::sum(gc.data<T>(), gc.numel());
  });
  return Tensor::full(like.shape(), s, like.dtype(), like.device());
}

// ---- autograd nodes -----------------------------------------------------------------------------

// relu: dx = dy * (y > 0). Saves the output only.
struct ReluNode : Node {
  SavedTensor y;
  const char* kind() const override { return "relu"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor yv = y.unpack("relu", "output");
    Tensor dx = Tensor::empty(yv.shape(), yv.dtype(), yv.device());
    if (yv.device().is_cuda()) {
      kernels::relu_backward(yv.data_ptr<float>(), dy.data_ptr<float>(), dx.data_ptr<float>(), yv.numel());
    } else {
      LB_DISPATCH_FLOAT(yv.dtype(), "relu backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::relu_backward(yv.data<T>(), dy.data<T>(), dx.data<T>(), yv.numel());
      });
    }
    return {dx};
  }
  void release_saved() override { y.reset(); }
};

// add: da = dy, db = alpha * dy (summed to a scalar when b was broadcast). Saves nothing but
// b's shape, so it never blocks an in-place write.
struct AddNode : Node {
  double alpha = 1.0;
  bool b_scalar = false;
  const char* kind() const override { return "add"; }
  std::string describe() const override { return alpha == 1.0 ? "" : "alpha=" + std::to_string(alpha); }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor da, db;
    if (needs_input_grad(0)) da = dy;
    if (needs_input_grad(1)) {
      if (b_scalar) {
        db = reduce_to_scalar(dy, nullptr, Tensor::empty(input_shapes[1], input_dtypes[1], dy.device()));
        if (alpha != 1.0) db = scale(db, alpha);
      } else {
        db = alpha == 1.0 ? dy : scale(dy, alpha);
      }
    }
    return {da, db};
  }
};

// mul: da = dy * b, db = dy * a. Saves both inputs.
struct MulNode : Node {
  SavedTensor a, b;
  const char* kind() const override { return "mul"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor av = a.unpack("mul", "input a"), bv = b.unpack("mul", "input b");
    Tensor da, db;
    if (needs_input_grad(0)) da = mul(dy, bv);
    if (needs_input_grad(1)) db = bv.numel() == 1 && av.numel() != 1 ? reduce_to_scalar(dy, &av, bv) : mul(dy, av);
    return {da, db};
  }
  void release_saved() override {
    a.reset();
    b.reset();
  }
};

struct ScaleNode : Node {
  double s = 1.0;
  const char* kind() const override { return "scale"; }
  std::string describe() const override { return "s=" + std::to_string(s); }
  std::vector<Tensor> apply(const Tensor& dy) override { return {scale(dy, s)}; }
};

}  // namespace

Tensor relu(const Tensor& x) {
  check_float_device("relu", x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  relu_raw(x, y);
  if (needs_grad({x})) {
    auto node = std::make_shared<ReluNode>();
    set_history(y, node, {x});
    node->y = SavedTensor(y);
  }
  return y;
}

Tensor& relu_(Tensor& x) {
  check_float_device("relu_", x);
  check_inplace_allowed("relu_", x);
  const bool grad = needs_grad({x});
  // Overrides (DeepLIFT) need the pre-activation, which the write destroys: keep a copy.
  Tensor pre = grad && io_recording() ? x.clone() : Tensor();
  relu_raw(x, x);
  x.mark_modified();
  if (grad) {
    auto node = std::make_shared<ReluNode>();
    rebase_history(x, node, {x}, {pre});
    node->y = SavedTensor(x);
  }
  return x;
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  check_binary("add", a, b);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  add_raw(a, b, alpha, out);
  if (needs_grad({a, b})) {
    auto node = std::make_shared<AddNode>();
    node->alpha = alpha;
    node->b_scalar = b.shape() != a.shape();
    set_history(out, node, {a, b});
  }
  return out;
}

Tensor& add_(Tensor& a, const Tensor& b, double alpha) {
  check_binary("add_", a, b);
  check_inplace_allowed("add_", a);
  const bool grad = needs_grad({a, b});
  Tensor pre = grad && io_recording() ? a.clone() : Tensor();
  add_raw(a, b, alpha, a);
  a.mark_modified();
  if (grad) {
    auto node = std::make_shared<AddNode>();
    node->alpha = alpha;
    node->b_scalar = b.shape() != a.shape();
    // rebase_history wires the node to a's pre-write producer before making it a's grad_fn.
    rebase_history(a, node, {a, b}, {pre, b});
  }
  return a;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_binary("mul", a, b);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  mul_raw(a, b, out);
  if (needs_grad({a, b})) {
    auto node = std::make_shared<MulNode>();
    set_history(out, node, {a, b});
    node->a = SavedTensor(a);
    node->b = SavedTensor(b);
  }
  return out;
}

Tensor scale(const Tensor& x, double s) {
  check_float_device("scale", x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  scale_raw(x, s, out);
  if (needs_grad({x})) {
    auto node = std::make_shared<ScaleNode>();
    node->s = s;
    set_history(out, node, {x});
  }
  return out;
}

}  // namespace lb
