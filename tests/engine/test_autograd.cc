// test_autograd.cc: the tape, gradient accumulation, retain_graph, autograd::grad, NoGradGuard,
// freezing, in-place safety (version counters) and backward-rule overrides.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"

namespace lb {
namespace {

Tensor vec(std::vector<double> v, DType dt = DType::Float64) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, dt);
}

TEST(Autograd, ChainAndAccumulation) {
  // y = (a*b + a) summed through a scalar seed; dy/da = b + 1, dy/db = a.
  Tensor a = vec({1, -2, 3}).requires_grad_();
  Tensor b = vec({4, 5, -6}).requires_grad_();
  Tensor y = add(mul(a, b), a);
  y.backward(vec({1, 1, 1}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{5, 6, -5}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{1, -2, 3}));
  // A second graph accumulates into .grad.
  Tensor y2 = mul(a, b);
  y2.backward(vec({1, 1, 1}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{9, 11, -11}));
}

TEST(Autograd, ScalarSeedOnlyForSingleElement) {
  Tensor a = vec({1, 2}).requires_grad_();
  Tensor y = mul(a, a);
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, RetainGraph) {
  Tensor a = vec({2}).requires_grad_();
  Tensor y = mul(a, a);
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_DOUBLE_EQ(a.grad().item(), 8.0);  // 2 * (2a)
  try {
    y.backward();
    FAIL() << "third backward through a freed graph must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, GradDoesNotTouchDotGrad) {
  Tensor a = vec({1, 2, 3}).requires_grad_();
  Tensor h = mul(a, a);  // intermediate
  Tensor y = scale(h, 3.0);
  auto g = autograd::grad({y}, {a, h}, {vec({1, 1, 1})});
  EXPECT_EQ(g[0].to_vector(), (std::vector<double>{6, 12, 18}));
  EXPECT_EQ(g[1].to_vector(), (std::vector<double>{3, 3, 3}));
  EXPECT_FALSE(a.grad().defined());
}

TEST(Autograd, GradUnusedInput) {
  Tensor a = vec({1}).requires_grad_();
  Tensor b = vec({1}).requires_grad_();
  Tensor y = scale(a, 2.0);
  EXPECT_THROW(autograd::grad({y}, {b}), Error);
  auto g = autograd::grad({y}, {b}, {}, false, /*allow_unused=*/true);
  EXPECT_FALSE(g[0].defined());
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor a = vec({1}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = scale(a, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(scale(a, 2.0).requires_grad());
}

TEST(Autograd, FrozenParameterGetsNoGradient) {
  Tensor w = vec({2}).requires_grad_();
  Tensor frozen = vec({3});  // requires_grad false: a frozen parameter
  Tensor y = mul(w, frozen);
  y.backward();
  EXPECT_DOUBLE_EQ(w.grad().item(), 3.0);
  EXPECT_FALSE(frozen.grad().defined());
}

TEST(Autograd, DeepChainIsIterative) {
  // 200k nodes would overflow the stack of a recursive topological sort.
  Tensor a = vec({1}).requires_grad_();
  Tensor y = a;
  for (int i = 0; i < 200000; ++i) y = scale(y, 1.0);
  y.backward();
  EXPECT_DOUBLE_EQ(a.grad().item(), 1.0);
}

TEST(InPlace, ModifyingSavedInputThrowsWithVersions) {
  Tensor a = vec({1, 2}).requires_grad_();
  Tensor h = scale(a, 1.0);
  Tensor y = mul(h, h);  // saves h at its current version
  relu_(h);              // bumps h's version
  try {
    y.backward(vec({1, 1}));
    FAIL() << "expected an in-place error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mul"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at version 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("now at version 1"), std::string::npos) << msg;
  }
}

TEST(InPlace, LeafThatRequiresGradIsRefused) {
  Tensor a = vec({1, -1}).requires_grad_();
  EXPECT_THROW(relu_(a), Error);
  NoGradGuard g;  // optimizer updates are legal
  EXPECT_NO_THROW(relu_(a));
}

TEST(InPlace, ReluInPlaceIsLegalAndCorrect) {
  Tensor a = vec({1, -2, 3}).requires_grad_();
  Tensor h = scale(a, 2.0);
  relu_(h);
  Tensor y = mul(h, vec({1, 1, 1}));
  y.backward(vec({1, 1, 1}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{2, 0, 2}));
}

TEST(InPlace, ViewsShareTheVersionCounter) {
  Tensor a = vec({1, 2, 3, 4});
  Tensor v = a.view({2, 2});
  Tensor d = a.detach();
  const uint64_t before = a.version();
  d.fill_(0.0);
  EXPECT_EQ(a.version(), before + 1);
  EXPECT_EQ(v.version(), before + 1);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 0, 0, 0}));
}

TEST(Override, ReplacesBackwardOfOneKindAndSeesInputsAndOutput) {
  Tensor a = vec({-1, 2}).requires_grad_();
  std::vector<double> seen_in, seen_out;
  Tensor g;
  {
    // A toy rule: pass the gradient straight through relu (a "straight-through estimator").
    BackwardOverride scope("relu", [&](const BackwardContext& ctx) {
      seen_in = ctx.inputs[0].to_vector();
      seen_out = ctx.output.to_vector();
      return std::vector<Tensor>{ctx.grad_output};
    });
    Tensor y = relu(scale(a, 1.0));
    g = autograd::grad({y}, {a}, {vec({1, 1})})[0];
  }
  EXPECT_EQ(g.to_vector(), (std::vector<double>{1, 1}));
  EXPECT_EQ(seen_in, (std::vector<double>{-1, 2}));
  EXPECT_EQ(seen_out, (std::vector<double>{0, 2}));
  // Outside the scope the normal rule is back.
  Tensor y = relu(scale(a, 1.0));
  EXPECT_EQ(autograd::grad({y}, {a}, {vec({1, 1})})[0].to_vector(), (std::vector<double>{0, 1}));
}

TEST(Override, InPlaceReluRecordsThePreActivation) {
  Tensor a = vec({-1, 2}).requires_grad_();
  std::vector<double> seen_in;
  BackwardOverride scope("relu", [&](const BackwardContext& ctx) {
    seen_in = ctx.inputs[0].to_vector();
    return ctx.default_backward();
  });
  Tensor h = scale(a, 1.0);
  relu_(h);
  h.backward(vec({1, 1}));
  EXPECT_EQ(seen_in, (std::vector<double>{-1, 2}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0, 1}));
}

TEST(Override, ForwardOutsideScopeIsAClearError) {
  Tensor a = vec({1}).requires_grad_();
  Tensor y = relu(scale(a, 1.0));
  BackwardOverride scope("relu", [](const BackwardContext& ctx) { return ctx.default_backward(); });
  EXPECT_THROW(y.backward(), Error);
}

TEST(Dot, DumpsOpsAndNamedLeaves) {
  Tensor w = vec({1, 2}).requires_grad_();
  w.set_name("fc.weight");
  Tensor y = relu(mul(w, vec({3, 4})));
  const std::string dot = autograd::to_dot(y);
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("relu"), std::string::npos);
  EXPECT_NE(dot.find("mul"), std::string::npos);
  EXPECT_NE(dot.find("fc.weight"), std::string::npos);
}

}  // namespace
}  // namespace lb
