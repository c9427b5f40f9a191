// ops/reduce.cc: sum and mean with their backward (a broadcast of the upstream gradient).
#include "engine/ops/reduce.h"

#include "engine/autograd.h"
#include "engine/cpu/reduce.h"
#include "kernels/softmax.cuh"

namespace lb {

namespace {

int64_t normalize_dim(const char* op, int64_t dim, int64_t ndim) {
  const int64_t d = dim < 0 ? dim + ndim : dim;
  LB_CHECK(d >= 0 && d < ndim, op << ": dim " << dim << " out of range for a " << ndim << "-d tensor");
  return d;
}

cpu::AxisView axis_view(const Shape& s, int64_t d) {
  cpu::AxisView v;
  for (int64_t i = 0; i < d; ++i) v.outer *= s[i];
  v.n = s[d];
  for (size_t i = d + 1; i < s.size(); ++i) v.inner *= s[i];
  return v;
}

void check_input(const char* op, const Tensor& x) {
  LB_CHECK(x.defined(), op << ": undefined tensor");
  LB_CHECK(is_floating(x.dtype()), op << ": expected a float tensor, got " << x.str());
  LB_CHECK(x.device().is_cpu() || x.dtype() == DType::Float32,
           op << ": CUDA reductions take float32; got " << x.str() << " (float64 is for CPU checks)");
}

// Sum over the middle axis of `v`, times `scale`; the output has shape `out_shape`.
Tensor reduce_raw(const Tensor& x, cpu::AxisView v, double scale, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  if (x.device().is_cuda()) {
    kernels::sum_axis({v.outer, v.n, v.inner}, x.data_ptr<float>(), out.data_ptr<float>(), static_cast<float>(scale));
    return out;
  }
  LB_DISPATCH_FLOAT(x.dtype(), "sum", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::sum_axis(x.data<T>(), out.data<T>(), v, scale);
  });
  return out;
}

// Backward of sum/mean: dx[o, i, j] = scale * dy[o, j].
struct ReduceNode : Node {
  cpu::AxisView view;
  double scale = 1.0;
  bool is_mean = false;
  const char* kind() const override { return is_mean ? "mean" : "sum"; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor dx = Tensor::empty(input_shapes[0], input_dtypes[0], dy.device());
    if (dy.device().is_cuda()) {
      kernels::broadcast_axis({view.outer, view.n, view.inner}, dy.data_ptr<float>(), dx.data_ptr<float>(),
                              static_cast<float>(scale));
      return {dx};
    }
    LB_DISPATCH_FLOAT(dx.dtype(), kind(), [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::broadcast_axis(dy.data<T>(), dx.data<T>(), view, scale);
    });
    return {dx};
  }
};

Tensor reduce(const char* op, const Tensor& x, cpu::AxisView v, bool is_mean, const Shape& out_shape) {
  const double scale = is_mean ? 1.0 / static_cast<double>(v.n) : 1.0;
  LB_CHECK(!is_mean || v.n > 0, op << ": mean over an empty dimension of " << x.str());
  Tensor out = reduce_raw(x, v, scale, out_shape);
  if (needs_grad({x})) {
    auto node = std::make_shared<ReduceNode>();
    node->view = v;
    node->scale = scale;
    node->is_mean = is_mean;
    set_history(out, node, {x});
  }
  return out;
}

Tensor reduce_dim(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool is_mean) {
  check_input(op, x);
  const int64_t d = normalize_dim(op, dim, x.dim());
  Shape out_shape = x.shape();
  if (keepdim)
    out_shape[d] = 1;
  else
    out_shape.erase(out_shape.begin() + d);
  return reduce(op, x, axis_view(x.shape(), d), is_mean, out_shape);
}

}  // namespace

Tensor sum(const Tensor& x) {
  check_input("sum", x);
  return reduce("sum", x, cpu::AxisView{1, x.numel(), 1}, false, {});
}

Tensor mean(const Tensor& x) {
  check_input("mean", x);
  return reduce("mean", x, cpu::AxisView{1, x.numel(), 1}, true, {});
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return reduce_dim("sum", x, dim, keepdim, false); }
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return reduce_dim("mean", x, dim, keepdim, true); }

}  // namespace lb
