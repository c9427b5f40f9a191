// ops/shape.cc: reshape and flatten. The forward is a view; the backward views the gradient
// back to the input's shape. Nothing is saved, so neither op ever blocks an in-place write.
#include "engine/ops/shape.h"

#include "engine/autograd.h"

namespace lb {

namespace {

struct ReshapeNode : Node {
  const char* kind() const override { return "reshape"; }
  std::vector<Tensor> apply(const Tensor& dy) override { return {dy.view(input_shapes[0])}; }
};

Shape infer_shape(const Tensor& x, Shape shape) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      LB_CHECK(infer_at < 0, "reshape: only one dimension can be -1, got " << shape_str(shape));
      infer_at = static_cast<int64_t>(i);
    } else {
      LB_CHECK(shape[i] >= 0, "reshape: negative dimension in " << shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    LB_CHECK(known > 0 && x.numel() % known == 0,
             "reshape: cannot reshape " << shape_str(x.shape()) << " into " << shape_str(shape));
    shape[infer_at] = x.numel() / known;
  }
  LB_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot reshape " << shape_str(x.shape()) << " (" << x.numel()
                                                                       << " elements) into " << shape_str(shape));
  return shape;
}

}  // namespace

Tensor reshape(const Tensor& x, Shape shape) {
  LB_CHECK(x.defined(), "reshape: undefined tensor");
  Tensor out = x.view(infer_shape(x, std::move(shape)));
  if (needs_grad({x})) {
    set_history(out, std::make_shared<ReshapeNode>(), {x});
    x.impl()->grad_view_alias = true;
    out.impl()->grad_view_alias = true;
  }
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim) {
  LB_CHECK(x.defined(), "flatten: undefined tensor");
  const int64_t nd = x.dim();
  const int64_t d = start_dim < 0 ? start_dim + nd : start_dim;
  LB_CHECK(d >= 0 && d < std::max<int64_t>(nd, 1),
           "flatten: start_dim " << start_dim << " out of range for shape " << shape_str(x.shape()));
  Shape s(x.shape().begin(), x.shape().begin() + d);
  int64_t rest = 1;
  for (int64_t i = d; i < nd; ++i) rest *= x.shape()[i];
  s.push_back(rest);
  return reshape(x, s);
}

}  // namespace lb
