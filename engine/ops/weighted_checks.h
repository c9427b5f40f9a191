// ops/weighted_checks.h: what conv2d and linear share: the argument checks (input, weight and an
// optional bias: defined, on one device, floating, one dtype) and the first half of their backward
// (check the incoming gradient, unpack what was saved, allocate the gradients wanted). Internal to
// engine/ops.
#pragma once

#include <string>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace lb::ops_detail {

// "input [2, 3, 28, 28], weight [64, 3, 7, 7], no bias": appended to every shape error.
inline std::string weighted_shapes_str(const Tensor& x, const Tensor& w, const Tensor& b) {
  return "input " + shape_str(x.shape()) + ", weight " + shape_str(w.shape()) +
         (b.defined() ? ", bias " + shape_str(b.shape()) : std::string(", no bias"));
}

// Throws a one-line error naming `op` unless x and w are defined float tensors of one dtype on one
// device (float32 on CUDA) and b is undefined or matches them. Returns weighted_shapes_str(x, w, b)
// for the op's shape checks.
inline std::string check_weighted_op(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  LB_CHECK(x.defined() && w.defined(), op << ": input and weight must be defined tensors");
  for (const Tensor* t : {&w, &b})
    LB_CHECK(!t->defined() || t->device() == x.device(),
             op << ": input and parameters must be on one device; got input " << x.str() << " and " << t->str()
                << " (move the model with .to(device) or the input with Tensor::to)");
  LB_CHECK(x.device().is_cpu() || x.dtype() == DType::Float32,
           op << ": CUDA kernels take float32; got " << x.str() << " (float64 is for CPU checks)");
  LB_CHECK(is_floating(x.dtype()), op << ": expected float32 or float64 tensors, got input " << x.str());
  LB_CHECK(w.dtype() == x.dtype() && (!b.defined() || b.dtype() == x.dtype()),
           op << ": input, weight and bias must share one dtype; got input " << dtype_name(x.dtype()) << ", weight "
              << dtype_name(w.dtype())
              << (b.defined() ? std::string(", bias ") + dtype_name(b.dtype()) : std::string()));
  return weighted_shapes_str(x, w, b);
}

// The start of a weighted op's backward: the saved input (needed for dW) and weight (needed for dx),
// unpacked only when that gradient is wanted (unpacking checks their version counters), and empty
// gradient buffers for the inputs (x, w, b) that want one; the others stay undefined.
struct WeightedBackward {
  Tensor x, w;
  Tensor dx, dw, db;
};

// Throws a one-line error naming `op` unless dy has the device, dtype and shape of the forward
// output `node` recorded.
inline WeightedBackward begin_weighted_backward(const Node& node, const char* op, const Device& device,
                                                const Tensor& dy, const SavedTensor& x, const SavedTensor& w) {
  LB_CHECK(dy.device() == device && dy.dtype() == node.input_dtypes[0] && dy.shape() == node.output_shape,
           op << " backward: expected a " << device.str() << " " << dtype_name(node.input_dtypes[0])
              << " gradient shaped " << shape_str(node.output_shape) << ", got " << dy.str());
  WeightedBackward g;
  if (node.needs_input_grad(0)) g.w = w.unpack(op, "weight");
  if (node.needs_input_grad(1)) g.x = x.unpack(op, "input");
  if (node.needs_input_grad(0)) g.dx = Tensor::empty(node.input_shapes[0], dy.dtype(), device);
  if (node.needs_input_grad(1)) g.dw = Tensor::empty(node.input_shapes[1], dy.dtype(), device);
  if (node.needs_input_grad(2)) g.db = Tensor::empty(node.input_shapes[2], dy.dtype(), device);
  return g;
}

}  // namespace lb::ops_detail
