// test_optim.cc: SGD and AdamW against hand-computed updates, freezing, version bumps, state-dict
// resume, and the learning-rate schedules at chosen steps.
//
// The hand-computed cases use float64 scalars so that the only error is double rounding of a
// handful of operations; the arithmetic is written out next to each expectation.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/optim/optim.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using optim::AdamW;
using optim::AdamWOptions;
using optim::SGD;
using optim::SGDOptions;

// A few double roundings of values of order 1.
constexpr double kTol = 1e-12;

Tensor param(double v) { return Tensor::from_vector({v}, {1}, DType::Float64).requires_grad_(); }
void set_grad(Tensor& p, double g) { p.set_grad(Tensor::from_vector({g}, {1}, DType::Float64)); }

// Runs steps with the given gradients on one scalar parameter starting at 1 and returns its value
// after each step.
template <class Opt, class Options>
std::vector<double> run_scalar(Options o, std::vector<double> grads) {
  Tensor p = param(1.0);
  Opt opt({p}, o);
  std::vector<double> out;
  for (double g : grads) {
    set_grad(p, g);
    opt.step();
    out.push_back(p.item());
  }
  return out;
}

// ---- SGD -------------------------------------------------------------------------------------------

TEST(SGD, PlainTwoSteps) {
  SGDOptions o;
  o.lr = 0.1;
  // p = 1 - 0.1*2 = 0.8, then 0.8 - 0.1*2 = 0.6
  auto v = run_scalar<SGD>(o, {2, 2});
  EXPECT_NEAR(v[0], 0.8, kTol);
  EXPECT_NEAR(v[1], 0.6, kTol);
}

TEST(SGD, MomentumTwoSteps) {
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  // step 1: buf = g = 2 (no scaling on the first step); p = 1 - 0.1*2 = 0.8
  // step 2: buf = 0.9*2 + 1 = 2.8;                      p = 0.8 - 0.1*2.8 = 0.52
  auto v = run_scalar<SGD>(o, {2, 1});
  EXPECT_NEAR(v[0], 0.8, kTol);
  EXPECT_NEAR(v[1], 0.52, kTol);
}

TEST(SGD, DampeningSkipsTheFirstStep) {
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.dampening = 0.5;
  // step 1: buf = 2 (torch clones d on the first step, undamped); p = 0.8
  // step 2: buf = 0.9*2 + (1 - 0.5)*1 = 2.3;                      p = 0.8 - 0.23 = 0.57
  auto v = run_scalar<SGD>(o, {2, 1});
  EXPECT_NEAR(v[0], 0.8, kTol);
  EXPECT_NEAR(v[1], 0.57, kTol);
}

TEST(SGD, NesterovTwoSteps) {
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  // step 1: buf = 2;             d = 2 + 0.9*2 = 3.8;    p = 1 - 0.38 = 0.62
  // step 2: buf = 1.8 + 1 = 2.8; d = 1 + 0.9*2.8 = 3.52; p = 0.62 - 0.352 = 0.268
  auto v = run_scalar<SGD>(o, {2, 1});
  EXPECT_NEAR(v[0], 0.62, kTol);
  EXPECT_NEAR(v[1], 0.268, kTol);
}

TEST(SGD, WeightDecayGoesThroughMomentum) {
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  // step 1: d = 2 + 0.1*1 = 2.1;      buf = 2.1;                      p = 1 - 0.21 = 0.79
  // step 2: d = 1 + 0.1*0.79 = 1.079; buf = 0.9*2.1 + 1.079 = 2.969;  p = 0.79 - 0.2969 = 0.4931
  auto v = run_scalar<SGD>(o, {2, 1});
  EXPECT_NEAR(v[0], 0.79, kTol);
  EXPECT_NEAR(v[1], 0.4931, kTol);
}

TEST(SGD, NesterovNeedsMomentum) {
  SGDOptions o;
  o.nesterov = true;
  EXPECT_THROW(SGD({param(1)}, o), Error);
}

TEST(SGD, GradientFromBackward) {
  // loss = sum(p * p) over p = [1, -2]: dL/dp = 2p = [2, -4]; p -= 0.25 * [2, -4] -> [0.5, -1]
  Tensor p = Tensor::from_vector({1, -2}, {2}, DType::Float64).requires_grad_();
  SGDOptions o;
  o.lr = 0.25;
  SGD opt({p}, o);
  sum(mul(p, p)).backward();
  opt.step();
  EXPECT_EQ(p.to_vector(), (std::vector<double>{0.5, -1.0}));  // exact: halvings of small integers
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

// Frozen (requires_grad false), unused (no grad) and frozen-after-backward parameters stay put and
// keep their versions.
template <class Opt, class Options>
void check_frozen_untouched(Options o) {
  Tensor frozen = Tensor::from_vector({3.0}, {1}, DType::Float64);  // never required grad
  Tensor unused = param(4.0);                                       // no grad this step
  Tensor late = param(5.0);                                         // grad, then frozen
  Tensor live = param(1.0);
  set_grad(late, 1.0);
  set_grad(live, 1.0);
  late.requires_grad_(false);
  Opt opt({frozen, unused, late, live}, o);
  const uint64_t vf = frozen.version(), vu = unused.version(), vl = late.version(), vlive = live.version();
  opt.step();
  EXPECT_EQ(frozen.item(), 3.0);
  EXPECT_EQ(unused.item(), 4.0);
  EXPECT_EQ(late.item(), 5.0);
  EXPECT_NE(live.item(), 1.0);
  EXPECT_EQ(frozen.version(), vf);
  EXPECT_EQ(unused.version(), vu);
  EXPECT_EQ(late.version(), vl);
  EXPECT_GT(live.version(), vlive);
  // Only the live parameter (index 3) may have state.
  for (const auto& [key, t] : opt.state_dict()) EXPECT_TRUE(key == "lr" || key.rfind("3.", 0) == 0) << key;
}

TEST(SGD, FrozenAndUnusedParametersUntouched) {
  SGDOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.5;  // decay would move a skipped parameter if skipping were wrong
  check_frozen_untouched<SGD>(o);
}

// A graph that saved a parameter must refuse to backpropagate after the optimizer moved it.
template <class Opt, class Options>
void check_stale_backward_throws(Options o) {
  Tensor w = Tensor::from_vector({1, 2}, {2}, DType::Float64).requires_grad_();
  Tensor x = Tensor::from_vector({3, 4}, {2}, DType::Float64);
  Tensor loss = sum(mul(w, x));  // mul saves w at its current version
  loss.backward(Tensor(), /*retain_graph=*/true);
  Opt opt({w}, o);
  opt.step();
  try {
    loss.backward();
    FAIL() << "a backward through a graph that saved a stepped parameter must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
  }
}

TEST(SGD, StepBumpsVersionSoStaleBackwardThrows) {
  SGDOptions o;
  o.lr = 0.1;
  check_stale_backward_throws<SGD>(o);
}

// Two identical runs: one straight through, one interrupted by a state_dict save and a load into
// a fresh optimizer on a copy of the parameters. They must agree bit for bit afterwards.
template <class Opt, class Options>
void check_resume_identical(Options o) {
  const std::vector<std::vector<double>> grads = {{1, -2, 3}, {0.5, 0.25, -1}, {2, 2, 2}, {-1, 0, 1}, {3, -3, 1}};
  auto g = [&](size_t k) { return Tensor::from_vector(grads[k], {3}); };
  Tensor a = Tensor::from_vector({0.3, -0.7, 1.1}, {3}).requires_grad_();  // float32, the real case
  Opt opt_a({a}, o);
  for (size_t k = 0; k < 2; ++k) {
    a.set_grad(g(k));
    opt_a.step();
  }
  Tensor b = a.detach().clone().requires_grad_();
  Opt opt_b({b}, o);
  opt_b.set_lr(o.lr * 7);  // the load must restore lr too
  opt_b.load_state_dict(opt_a.state_dict());
  EXPECT_EQ(opt_b.lr(), opt_a.lr());
  for (size_t k = 2; k < grads.size(); ++k) {
    a.set_grad(g(k));
    b.set_grad(g(k));
    opt_a.step();
    opt_b.step();
  }
  EXPECT_EQ(a.to_vector(), b.to_vector());
  // The loaded state is a private copy: stepping b did not write into a's buffers.
  for (const auto& [key, t] : opt_b.state_dict()) {
    for (const auto& [key_a, ta] : opt_a.state_dict()) {
      if (key == key_a && key != "lr") {
        EXPECT_FALSE(t.same_storage(ta)) << key;
      }
    }
  }
}

TEST(SGD, StateDictRoundTripContinuesIdentically) {
  SGDOptions o;
  o.lr = 0.05;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 5e-4;
  check_resume_identical<SGD>(o);
}

TEST(SGD, LoadStateDictRejectsBadEntries) {
  Tensor p = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  SGD opt({p}, SGDOptions{});
  EXPECT_THROW(opt.load_state_dict({{"0.exp_avg", Tensor::zeros({2})}}), Error);          // wrong field
  EXPECT_THROW(opt.load_state_dict({{"1.momentum_buffer", Tensor::zeros({2})}}), Error);  // no param 1
  EXPECT_THROW(opt.load_state_dict({{"weird", Tensor::zeros({2})}}), Error);
  try {
    opt.load_state_dict({{"0.momentum_buffer", Tensor::zeros({3})}});
    FAIL() << "a shape mismatch must throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
  }
}

// ---- AdamW -----------------------------------------------------------------------------------------

TEST(AdamW, TwoStepsByHand) {
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.1;  // beta1 0.9, beta2 0.999, eps 1e-8 (defaults)
  auto v = run_scalar<AdamW>(o, {2, 1});
  // step 1 (g = 2): p = 1 * (1 - 0.1*0.1) = 0.99
  //   m = 0 + 0.1*(2 - 0) = 0.2;  v = 0.001 * 4 = 0.004;  bc1 = 0.1, bc2 = 0.001
  //   denom = sqrt(0.004)/sqrt(0.001) + 1e-8 = 2 + 1e-8;  step size = 0.1/0.1 = 1
  //   p = 0.99 - 0.2/(2 + 1e-8) = 0.89 + 5e-10 (the eps shows in the 10th digit)
  EXPECT_NEAR(v[0], 0.99 - 0.2 / (2 + 1e-8), kTol);
  EXPECT_NEAR(v[0], 0.8900000005, 1e-15);  // the same number, written out
  // step 2 (g = 1): p = p1 * 0.99 = 0.8811000004950
  //   m = 0.9*0.2 + 0.1*1 = 0.28;  v = 0.999*0.004 + 0.001*1 = 0.004996
  //   bc1 = 1 - 0.81 = 0.19;  bc2 = 1 - 0.998001 = 0.001999
  //   denom = sqrt(0.004996/0.001999) + 1e-8 = 1.5809015228...;  step size = 0.1/0.19
  //   p = 0.8811000004950 - (0.1/0.19) * 0.28 / 1.5809015228 = 0.7878820372
  const double p1 = 0.99 - 0.2 / (2 + 1e-8);
  EXPECT_NEAR(v[1], p1 * 0.99 - (0.1 / 0.19) * 0.28 / (std::sqrt(0.004996 / 0.001999) + 1e-8), kTol);
  EXPECT_NEAR(v[1], 0.7878820372, 1e-10);  // 10 digits written out
}

TEST(AdamW, ZeroGradientOnlyDecays) {
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.5;
  // m = v = 0, so the Adam term is 0/(0 + eps) = 0 and only p *= 1 - 0.05 acts, twice.
  auto v = run_scalar<AdamW>(o, {0, 0});
  EXPECT_NEAR(v[0], 0.95, kTol);
  EXPECT_NEAR(v[1], 0.9025, kTol);
}

TEST(AdamW, NoDecayFirstStepMovesByLr) {
  AdamWOptions o;
  o.lr = 0.01;
  o.weight_decay = 0.0;
  o.eps = 0.0;
  // With no eps the bias-corrected first step is exactly lr * sign(g): m/bc1 = g, sqrt(v/bc2) = |g|.
  auto v = run_scalar<AdamW>(o, {-3});
  EXPECT_NEAR(v[0], 1.01, kTol);
}

TEST(AdamW, Float32TracksFloat64) {
  // The same three steps on a float32 and a float64 copy: float32 rounding is about 1e-7
  // relative per operation, and a few dozen operations stay far below 1e-5.
  AdamWOptions o;
  o.lr = 0.01;
  Tensor p32 = Tensor::from_vector({0.5, -1.5, 2.0, 0.0}, {4}).requires_grad_();
  Tensor p64 = Tensor::from_vector({0.5, -1.5, 2.0, 0.0}, {4}, DType::Float64).requires_grad_();
  AdamW a32({p32}, o), a64({p64}, o);
  const std::vector<std::vector<double>> grads = {{1, -1, 0.1, 0}, {0.5, 2, -0.3, 1e-3}, {-1, 0, 0.2, 5}};
  for (const auto& g : grads) {
    p32.set_grad(Tensor::from_vector(g, {4}));
    p64.set_grad(Tensor::from_vector(g, {4}, DType::Float64));
    a32.step();
    a64.step();
  }
  LB_EXPECT_CLOSE(p32, p64.to(DType::Float32), 1e-6, 1e-5);
}

TEST(AdamW, FrozenAndUnusedParametersUntouched) {
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.5;  // decoupled decay would shrink a skipped parameter if skipping were wrong
  check_frozen_untouched<AdamW>(o);
}

TEST(AdamW, SkippedParameterKeepsItsOwnStepCount) {
  // Parameter b skips the first step, so its bias corrections start at t = 1 one step later; with
  // eps 0 and no decay a first Adam step is exactly lr * sign(g) whenever it happens.
  AdamWOptions o;
  o.lr = 0.1;
  o.eps = 0.0;
  o.weight_decay = 0.0;
  Tensor a = param(1.0), b = param(1.0);
  AdamW opt({a, b}, o);
  set_grad(a, 1.0);
  opt.step();
  set_grad(a, 1.0);
  set_grad(b, 1.0);
  opt.step();
  EXPECT_NEAR(b.item(), 0.9, kTol);
  bool found = false;
  for (const auto& [key, t] : opt.state_dict())
    if (key == "1.step") found = (t.item() == 1.0);
  EXPECT_TRUE(found);
}

TEST(AdamW, StepBumpsVersionSoStaleBackwardThrows) {
  AdamWOptions o;
  check_stale_backward_throws<AdamW>(o);
}

TEST(AdamW, StateDictRoundTripContinuesIdentically) {
  AdamWOptions o;
  o.lr = 0.01;
  o.weight_decay = 0.05;
  check_resume_identical<AdamW>(o);
}

TEST(AdamW, LoadStateDictNeedsCompleteEntries) {
  Tensor p = Tensor::from_vector({1, 2}, {2}).requires_grad_();
  AdamW opt({p}, AdamWOptions{});
  EXPECT_THROW(opt.load_state_dict({{"0.exp_avg", Tensor::zeros({2})}}), Error);  // no step, no exp_avg_sq
  EXPECT_NO_THROW(opt.load_state_dict({{"0.step", Tensor::scalar(3, DType::Int64)},
                                       {"0.exp_avg", Tensor::zeros({2}, DType::Float64)},
                                       {"0.exp_avg_sq", Tensor::zeros({2})}}));
}

// ---- LR schedules ------------------------------------------------------------------------------------

// Closed forms of a few transcendental calls: double rounding only.
constexpr double kLrTol = 1e-15;

// ---- CUDA Graph replay (engine/optim/optimizer.h) -----------------------------------------------
// The device scalar table is CUDA-only: on the CPU it is refused in one line naming the fix, a
// replay before the table exists is refused, and step() (never recording on the CPU) is unchanged.
// tests/models/test_graph_step_cuda.cc runs the table through real captures.
TEST(OptimizerReplay, DeviceScalarsNeedCudaParameters) {
  Tensor p = param(1.0);
  SGD sgd({p}, SGDOptions{});
  AdamW adam({p}, AdamWOptions{});
  test::expect_error([&] { sgd.use_device_scalars(); }, {"CUDA Graph", "one CUDA device", "parameter 0"});
  test::expect_error([&] { adam.use_device_scalars(); }, {"CUDA Graph", "one CUDA device"});
  EXPECT_FALSE(sgd.has_device_scalars());
  set_grad(p, 0.5);
  test::expect_error([&] { sgd.prepare_replay(); }, {"prepare_replay", "use_device_scalars"});
  test::expect_error([&] { adam.prepare_replay(); }, {"prepare_replay", "use_device_scalars"});
  sgd.step();
  EXPECT_NEAR(p.item(), 1.0 - 0.01 * 0.5, kTol);
}

TEST(LRSchedule, StepLR) {
  optim::StepLR s(0.1, 3, 0.5);
  EXPECT_NEAR(s.lr_at(0), 0.1, kLrTol);
  EXPECT_NEAR(s.lr_at(2), 0.1, kLrTol);
  EXPECT_NEAR(s.lr_at(3), 0.05, kLrTol);    // 0.1 * 0.5^1
  EXPECT_NEAR(s.lr_at(7), 0.025, kLrTol);   // 0.1 * 0.5^2
  EXPECT_NEAR(s.lr_at(9), 0.0125, kLrTol);  // 0.1 * 0.5^3
  EXPECT_THROW(s.lr_at(-1), Error);
}

TEST(LRSchedule, CosineLR) {
  optim::CosineLR s(0.1, 10);
  EXPECT_NEAR(s.lr_at(0), 0.1, kLrTol);
  EXPECT_NEAR(s.lr_at(2), 0.0904508497187474, kLrTol);  // 0.05 * (1 + cos(pi/5)), cos(pi/5) = 0.80901699...
  EXPECT_NEAR(s.lr_at(5), 0.05, kLrTol);                // halfway: (1 + cos(pi/2)) / 2 = 1/2
  EXPECT_NEAR(s.lr_at(10), 0.0, kLrTol);
  EXPECT_NEAR(s.lr_at(15), 0.05, kLrTol);  // the closed form keeps following the cosine past t_max
  optim::CosineLR m(0.1, 10, 0.01);
  EXPECT_NEAR(m.lr_at(5), 0.055, kLrTol);  // 0.01 + 0.09 / 2
  EXPECT_NEAR(m.lr_at(10), 0.01, kLrTol);
}

TEST(LRSchedule, WarmupLR) {
  auto inner = std::make_shared<optim::StepLR>(0.1, 2, 0.5);
  optim::WarmupLR s(inner, 4, 0.25);
  EXPECT_NEAR(s.lr_at(0), 0.025, kLrTol);    // 0.1 * 0.25
  EXPECT_NEAR(s.lr_at(1), 0.04375, kLrTol);  // 0.1 * (0.25 + 0.75 * 1/4)
  EXPECT_NEAR(s.lr_at(3), 0.08125, kLrTol);  // 0.1 * (0.25 + 0.75 * 3/4)
  EXPECT_NEAR(s.lr_at(4), 0.1, kLrTol);      // inner(0)
  EXPECT_NEAR(s.lr_at(6), 0.05, kLrTol);     // inner(2) = 0.1 * 0.5
}

TEST(LRSchedule, OneCycleLR) {
  // max 1, 10 steps, pct 0.3: initial 1/25 = 0.04, final 0.04/1e4 = 4e-6, phase one ends at
  // 0.3*10 - 1 = 2, phase two at 9.
  optim::OneCycleLR s(1.0, 10);
  EXPECT_NEAR(s.lr_at(0), 0.04, kLrTol);
  EXPECT_NEAR(s.lr_at(1), 0.52, kLrTol);  // pct 1/2: 1 + (0.04 - 1)/2 * (cos(pi/2) + 1) = 1 - 0.48
  EXPECT_NEAR(s.lr_at(2), 1.0, kLrTol);
  EXPECT_NEAR(s.lr_at(9), 4e-6, kLrTol);
  // Step 10 is allowed, as in torch, and extrapolates phase two: pct 8/7,
  // 4e-6 + (1 - 4e-6)/2 * (cos(8 pi/7) + 1) = 0.04951936798652623.
  EXPECT_NEAR(s.lr_at(10), 0.04951936798652623, kLrTol);
  EXPECT_THROW(s.lr_at(11), Error);
  // Momentum moves the other way: 0.95 -> 0.85 at the peak -> 0.95 at the end.
  EXPECT_NEAR(s.momentum_at(0), 0.95, kLrTol);
  EXPECT_NEAR(s.momentum_at(1), 0.90, kLrTol);
  EXPECT_NEAR(s.momentum_at(2), 0.85, kLrTol);
  EXPECT_NEAR(s.momentum_at(9), 0.95, kLrTol);
}

TEST(LRSchedule, OneCycleLRWithFewStepsSkipsWarmupLikeTorch) {
  // 3 steps, pct 0.3: phase one would end at -0.1, so step 0 is already in phase two
  // (pct = 0.1/2.1 from max_lr down to min_lr), as torch computes it.
  optim::OneCycleLR s(1.0, 3);
  const double pct = 0.1 / 2.1;
  EXPECT_NEAR(s.lr_at(0), 4e-6 + (1 - 4e-6) / 2 * (std::cos(3.14159265358979323846 * pct) + 1), kLrTol);
  EXPECT_NEAR(s.lr_at(2), 4e-6, kLrTol);
}

}  // namespace
}  // namespace lb
