// check.h: the assertions every op test uses.
//
//   expect_close    element-wise |got - want| <= atol + rtol * |want|, reporting the worst element
//   gradcheck       analytic gradients (autograd::grad) against central finite differences, in
//                   float64, for every input that requires grad
//   random_tensor   seeded uniform values in [lo, hi)
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace lb::test {

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol, double rtol);

#define LB_EXPECT_CLOSE(got, want, atol, rtol) EXPECT_TRUE(::lb::test::all_close((got), (want), (atol), (rtol)))

Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float64, double lo = -1.0,
                     double hi = 1.0);

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d<f(inputs), R>/d(input) for a fixed random R against central differences with step eps.
// Inputs must be float64; those with requires_grad are checked. Tolerances are absolute + relative.
::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs, double eps = 1e-6,
                                     double atol = 1e-6, double rtol = 1e-5);

}  // namespace lb::test
