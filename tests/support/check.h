// check.h: the assertions every op test uses.
//
//   expect_close    element-wise |got - want| <= atol + rtol * |want|, reporting the worst element
//   gradcheck       analytic gradients (autograd::grad) against central finite differences, in
//                   float64, for every input that requires grad
//   rel_l2_error    |got - want| / |want| in the L2 norm (LB_EXPECT_REL)
//   random_tensor   seeded uniform values in [lo, hi)
//   error_of        the message of the lb::Error a call threw ("" if none)
//   expect_error    a call throws a one-line lb::Error containing every given fragment
//   TempFolder      a fresh folder per test, removed afterwards
#pragma once

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace lb::test {

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol, double rtol);

#define LB_EXPECT_CLOSE(got, want, atol, rtol) EXPECT_TRUE(::lb::test::all_close((got), (want), (atol), (rtol)))

// |got - want|_2 / |want|_2 over all elements (any dtypes and devices); infinity when the shapes
// differ or got holds a non-finite value. The GPU tests' measure: one number per tensor.
double rel_l2_error(const Tensor& got, const Tensor& want);

#define LB_EXPECT_REL(got, want, tol)                                                      \
  do {                                                                                     \
    const double lb_e_ = ::lb::test::rel_l2_error((got), (want));                          \
    EXPECT_LE(lb_e_, (tol)) << #got << " vs " << #want << ": relative L2 error " << lb_e_; \
  } while (0)

Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype = DType::Float64, double lo = -1.0,
                     double hi = 1.0);

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d<f(inputs), R>/d(input) for a fixed random R against central differences with step eps.
// Inputs must be float64; those with requires_grad are checked. Tolerances are absolute + relative.
::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs, double eps = 1e-6,
                                     double atol = 1e-6, double rtol = 1e-5);

// What f threw as an lb::Error, or "" when it did not throw.
std::string error_of(const std::function<void()>& f);

// Runs f and expects an lb::Error whose one-line message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts);

// A fresh folder per test under googletest's temp dir (named after the running test), removed
// when it goes out of scope.
class TempFolder {
 public:
  TempFolder();
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Every tensor of two safetensors files is the same: names, order, dtype, shape and bits.
::testing::AssertionResult same_tensors(const std::string& a, const std::string& b);

// Nodes of kind `kind` ("conv2d", "batch_norm2d", ...) in the autograd tape behind `root`; an
// iterative walk, since ResNet tapes are deep. Tests read which ops a forward really ran.
int count_kind(const Tensor& root, const std::string& kind);

}  // namespace lb::test
