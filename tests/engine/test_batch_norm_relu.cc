// test_batch_norm_relu.cc: the fused batch_norm2d_relu (y = relu(bn(x) + residual)) on the CPU.
//
// The CPU implementation is batch_norm2d's loops plus one add + ReLU pass, and the ReLU mask plus
// batch_norm2d's backward, so it must equal the composition batch_norm2d -> add_ -> relu_ (what
// ResNet's BasicBlock runs unfused) BIT FOR BIT: outputs, every gradient and the running
// statistics, in float32 and float64, with and without the residual, training and eval. Then
// finite differences (float64) for x, weight, bias and residual, in-place safety of the saved
// output, which gradients are computed, and the one-line errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops/batch_norm2d.h"
#include "engine/ops/elementwise.h"
#include "engine/storage.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::error_of;
using test::random_tensor;

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

struct Inputs {
  Tensor x, weight, bias, running_mean, running_var, residual;
};

// x in [-2, 3) (mean far from zero), residual in [-1, 1) so about half the outputs are clipped.
Inputs make_inputs(const Shape& s, DType dt, uint64_t seed) {
  const Shape c{s[1]};
  return {random_tensor(s, seed, dt, -2.0, 3.0),     random_tensor(c, seed + 1, dt, 0.5, 1.5),
          random_tensor(c, seed + 2, dt, -0.5, 0.5), random_tensor(c, seed + 3, dt, -0.5, 0.5),
          random_tensor(c, seed + 4, dt, 0.5, 2.0),  random_tensor(s, seed + 5, dt, -1.0, 1.0)};
}

// ResNet18's BN shapes at 28x28 (stem, layer1..4 at batch 4) and odd ones.
const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {{4, 64, 14, 14}, {4, 64, 7, 7}, {4, 128, 4, 4}, {4, 256, 2, 2},
                                       {3, 512, 1, 1},  {2, 3, 5, 7},  {1, 4, 3, 3},   {5, 2, 1, 1}};
  return s;
}

// BasicBlock's unfused tail: out = bn(x); out += residual; relu_(out).
Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv, bool training,
                const Tensor& residual) {
  Tensor out = batch_norm2d(x, w, b, rm, rv, training, 0.1, 1e-5);
  if (residual.defined()) add_(out, residual);
  relu_(out);
  return out;
}

// Every input of `in` that the fused op differentiates, fresh leaves requiring grad.
std::vector<Tensor> leaves(const Inputs& in, bool with_residual) {
  std::vector<Tensor> v = {in.x.clone().requires_grad_(), in.weight.clone().requires_grad_(),
                           in.bias.clone().requires_grad_()};
  if (with_residual) v.push_back(in.residual.clone().requires_grad_());
  return v;
}

// ---- fused == composition, bit for bit -----------------------------------------------------------

TEST(BatchNormReluFused, EqualsCompositionBitForBit) {
  uint64_t seed = 10;
  for (DType dt : {DType::Float64, DType::Float32})
    for (const Shape& s : shapes())
      for (bool training : {true, false})
        for (bool with_res : {true, false}) {
          SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s) + (training ? " train" : " eval") +
                       (with_res ? " +residual" : ""));
          const Inputs in = make_inputs(s, dt, seed += 10);
          const std::vector<Tensor> a = leaves(in, with_res), b = leaves(in, with_res);
          Tensor rm_a = in.running_mean.clone(), rv_a = in.running_var.clone();
          Tensor rm_b = in.running_mean.clone(), rv_b = in.running_var.clone();
          Tensor y = batch_norm2d_relu(a[0], a[1], a[2], rm_a, rv_a, training, 0.1, 1e-5, with_res ? a[3] : Tensor());
          Tensor want = composed(b[0], b[1], b[2], rm_b, rv_b, training, with_res ? b[3] : Tensor());
          EXPECT_STREQ(y.grad_fn()->kind(), "batch_norm2d_relu");
          // Exact: the same loops in the same order (cpu/batch_norm2d.cc), so tolerance 0.
          LB_EXPECT_CLOSE(y, want, 0.0, 0.0);
          LB_EXPECT_CLOSE(rm_a, rm_b, 0.0, 0.0);
          LB_EXPECT_CLOSE(rv_a, rv_b, 0.0, 0.0);
          const Tensor dy = random_tensor(s, seed + 7, dt);
          const auto ga = autograd::grad({y}, a, {dy}), gb = autograd::grad({want}, b, {dy});
          for (size_t i = 0; i < ga.size(); ++i) {
            SCOPED_TRACE("gradient of input " + std::to_string(i));
            LB_EXPECT_CLOSE(ga[i], gb[i], 0.0, 0.0);
          }
        }
}

TEST(BatchNormReluFused, WithoutAffineOrRunningStats) {
  const Inputs in = make_inputs({3, 4, 5, 5}, DType::Float64, 500);
  Tensor x1 = in.x.clone().requires_grad_(), x2 = in.x.clone().requires_grad_();
  Tensor y = batch_norm2d_relu(x1, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, in.residual);
  Tensor want = composed(x2, Tensor(), Tensor(), Tensor(), Tensor(), true, in.residual);
  LB_EXPECT_CLOSE(y, want, 0.0, 0.0);  // same loops: exact
  const Tensor dy = random_tensor(y.shape(), 501);
  LB_EXPECT_CLOSE(autograd::grad({y}, {x1}, {dy})[0], autograd::grad({want}, {x2}, {dy})[0], 0.0, 0.0);
}

TEST(BatchNormReluFused, HandComputed) {
  // One channel {1, 3, 1, 3}: mean 2, var 1, xhat = -1, 1, -1, 1 (eps 0); weight 2, bias 1 gives
  // bn = -1, 3, -1, 3; residual {0.5, -4, 2, 1} gives -0.5, -1, 1, 4 and relu 0, 0, 1, 4.
  Tensor x = Tensor::from_vector({1, 3, 1, 3}, {2, 1, 1, 2}, DType::Float64).requires_grad_();
  Tensor r = Tensor::from_vector({0.5, -4, 2, 1}, {2, 1, 1, 2}, DType::Float64).requires_grad_();
  Tensor w = Tensor::from_vector({2}, {1}, DType::Float64), b = Tensor::from_vector({1}, {1}, DType::Float64);
  Tensor y = batch_norm2d_relu(x, w, b, Tensor(), Tensor(), true, 0.1, 0.0, r);
  LB_EXPECT_CLOSE(y, Tensor::from_vector({0, 0, 1, 4}, {2, 1, 1, 2}, DType::Float64), 0.0, 0.0);
  // d_residual is dy masked by y > 0.
  const Tensor dy = Tensor::from_vector({5, 6, 7, 8}, {2, 1, 1, 2}, DType::Float64);
  const auto g = autograd::grad({y}, {r}, {dy});
  LB_EXPECT_CLOSE(g[0], Tensor::from_vector({0, 0, 7, 8}, {2, 1, 1, 2}, DType::Float64), 0.0, 0.0);
}

TEST(BatchNormReluFused, OnlyRequestedGradients) {
  // Frozen BN and an input that needs no gradient: only d_residual (the masked dy) is computed;
  // the other way round, no residual gradient. Both equal the composition's.
  for (bool training : {true, false}) {
    const Inputs in = make_inputs({2, 3, 4, 4}, DType::Float64, 600);
    Tensor r1 = in.residual.clone().requires_grad_(), r2 = in.residual.clone().requires_grad_();
    Tensor y = batch_norm2d_relu(in.x, in.weight, in.bias, in.running_mean.clone(), in.running_var.clone(), training,
                                 0.1, 1e-5, r1);
    Tensor want = composed(in.x, in.weight, in.bias, in.running_mean.clone(), in.running_var.clone(), training, r2);
    const Tensor dy = random_tensor(y.shape(), 601);
    LB_EXPECT_CLOSE(autograd::grad({y}, {r1}, {dy})[0], autograd::grad({want}, {r2}, {dy})[0], 0.0, 0.0);
    Tensor x1 = in.x.clone().requires_grad_(), x2 = in.x.clone().requires_grad_();
    y = batch_norm2d_relu(x1, in.weight, in.bias, in.running_mean.clone(), in.running_var.clone(), training, 0.1, 1e-5,
                          in.residual);
    want = composed(x2, in.weight, in.bias, in.running_mean.clone(), in.running_var.clone(), training, in.residual);
    LB_EXPECT_CLOSE(autograd::grad({y}, {x1}, {dy})[0], autograd::grad({want}, {x2}, {dy})[0], 0.0, 0.0);
  }
}

TEST(BatchNormReluFused, NoGradNoNode) {
  const Inputs in = make_inputs({2, 3, 2, 2}, DType::Float64, 650);
  EXPECT_FALSE(batch_norm2d_relu(in.x, in.weight, in.bias, in.running_mean, in.running_var, true).requires_grad());
  Tensor x = in.x.clone().requires_grad_();
  NoGradGuard ng;
  EXPECT_FALSE(batch_norm2d_relu(x, in.weight, in.bias, in.running_mean, in.running_var, true).requires_grad());
}

// ---- finite differences (float64) ----------------------------------------------------------------

// Default gradcheck tolerances (atol 1e-6, rtol 1e-5). ReLU has a kink at 0: a pre-activation
// within the step (1e-6) of 0 would break central differences; with these seeds none is (the
// nearest is orders of magnitude further), as the tests passing shows.
TEST(BatchNormReluFiniteDiff, TrainingWithResidual) {
  for (const Shape& s : {Shape{2, 3, 3, 4}, Shape{3, 4, 1, 1}}) {
    SCOPED_TRACE(shape_str(s));
    const Inputs in = make_inputs(s, DType::Float64, 700);
    EXPECT_TRUE(test::gradcheck(
        [](const std::vector<Tensor>& v) {
          return batch_norm2d_relu(v[0], v[1], v[2], Tensor(), Tensor(), true, 0.1, 1e-5, v[3]);
        },
        leaves(in, true)));
  }
}

TEST(BatchNormReluFiniteDiff, TrainingWithoutResidual) {
  const Inputs in = make_inputs({2, 3, 3, 3}, DType::Float64, 710);
  EXPECT_TRUE(test::gradcheck(
      [](const std::vector<Tensor>& v) { return batch_norm2d_relu(v[0], v[1], v[2], Tensor(), Tensor(), true); },
      leaves(in, false)));
}

TEST(BatchNormReluFiniteDiff, EvalWithResidual) {
  const Inputs in = make_inputs({2, 3, 2, 3}, DType::Float64, 720);
  const Tensor rm = in.running_mean, rv = in.running_var;
  EXPECT_TRUE(test::gradcheck(
      [&](const std::vector<Tensor>& v) { return batch_norm2d_relu(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5, v[3]); },
      leaves(in, true)));
}

// ---- in-place safety -----------------------------------------------------------------------------

TEST(BatchNormReluInPlace, WritingTheOutputBeforeBackwardIsAnError) {
  // The node saves y for the ReLU mask: a later in-place op on y must make backward fail.
  const Inputs in = make_inputs({2, 3, 2, 2}, DType::Float64, 800);
  for (bool training : {true, false}) {
    const auto v = leaves(in, true);
    Tensor y =
        batch_norm2d_relu(v[0], v[1], v[2], in.running_mean.clone(), in.running_var.clone(), training, 0.1, 1e-5, v[3]);
    Tensor z = scale(y, 2.0);
    add_(y, Tensor::full({1}, 1.0, DType::Float64));
    const std::string msg = error_of([&] { z.backward(random_tensor(z.shape(), 801)); });
    EXPECT_HAS(msg, "in-place error");
    EXPECT_HAS(msg, "batch_norm2d_relu");
    EXPECT_HAS(msg, "output");
  }
}

TEST(BatchNormReluInPlace, WritingTheResidualAfterForwardIsFine) {
  // The residual is not saved (the add's backward needs no values), so BasicBlock-style reuse of
  // the skip tensor cannot break the graph.
  const Inputs in = make_inputs({2, 3, 2, 2}, DType::Float64, 810);
  const auto v = leaves(in, false);
  Tensor r = scale(in.residual.clone().requires_grad_(), 1.0);
  Tensor y = batch_norm2d_relu(v[0], v[1], v[2], Tensor(), Tensor(), true, 0.1, 1e-5, r);
  relu_(r);
  EXPECT_EQ(error_of([&] { y.backward(random_tensor(y.shape(), 811)); }), "");
}

// ---- errors --------------------------------------------------------------------------------------

TEST(BatchNormReluErrors, OneLineMessagesNameTheOp) {
  Tensor x = Tensor::zeros({2, 4, 3, 3}), c4 = Tensor::ones({4});
  const auto one_line = [](const std::string& m) { return m.find('\n') == std::string::npos; };
  std::string msg = error_of([&] { batch_norm2d_relu(Tensor::zeros({2, 4, 3}), c4, c4, Tensor(), Tensor(), true); });
  EXPECT_HAS(msg, "batch_norm2d_relu: expected a 4-D input");
  EXPECT_TRUE(one_line(msg));
  msg = error_of([&] { batch_norm2d_relu(x, Tensor::ones({3}), c4, Tensor(), Tensor(), true); });
  EXPECT_HAS(msg, "batch_norm2d_relu: weight has shape [3]");
  msg = error_of([&] {
    batch_norm2d_relu(x, c4, c4, Tensor(), Tensor(), true, 0.1, 1e-5, Tensor::zeros({2, 4, 3, 2}));
  });
  EXPECT_HAS(msg, "batch_norm2d_relu: residual has shape [2, 4, 3, 2] but input has [2, 4, 3, 3]");
  EXPECT_TRUE(one_line(msg));
  msg = error_of([&] {
    batch_norm2d_relu(x, c4, c4, Tensor(), Tensor(), true, 0.1, 1e-5, Tensor::zeros({2, 4, 3, 3}, DType::Float64));
  });
  EXPECT_HAS(msg, "batch_norm2d_relu: residual is float64 but the input is float32");
  msg = error_of([&] { batch_norm2d_relu(x, c4, c4, Tensor(), Tensor(), false); });
  EXPECT_HAS(msg, "batch_norm2d_relu: eval mode normalises with running_mean and running_var");
  EXPECT_EQ(error_of([&] {
              batch_norm2d_relu(Tensor::ones({1, 3, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true);
            }),
            "batch_norm2d_relu: expected more than 1 value per channel when training, got input [1, 3, 1, 1]");
}

TEST(BatchNormReluErrors, ResidualOnAnotherDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: a CUDA tensor cannot be made here";
  Tensor x = Tensor::zeros({2, 2, 2, 2}), r = Tensor::zeros({2, 2, 2, 2}, DType::Float32, Device::cuda());
  EXPECT_HAS(error_of([&] { batch_norm2d_relu(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, r); }),
             "batch_norm2d_relu: residual and input must be on one device");
}

}  // namespace
}  // namespace lb
