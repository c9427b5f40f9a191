// ops/weighted_checks.h: the argument checks that conv2d and linear share (input, weight and an
// optional bias: defined, on the CPU, floating, one dtype). Internal to engine/ops.
#pragma once

#include <string>

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

}  // namespace lb::ops_detail
