// test_torch_parity_optim.cc: the optimizers and learning-rate schedules against torch.optim 1.13.
//
// Golden files come from tests/fixtures/make_golden.py:
//   sgd, sgd_nesterov, adamw   p0 (10), grads (5,10) and p (5,10): the parameter after each of
//                              five steps, torch setting p.grad = grads[t] before step t
//   step_lr, cosine_lr,        lr (steps): the lr of every optimizer step (read before the step,
//   one_cycle_lr               scheduler.step() after it); one_cycle_lr also has momentum
// An optimizer step is a handful of float32 operations per element, so the two sides differ by
// rounding only (the engine may keep intermediates in double; torch keeps them in float32).
// Five steps compound a few ulps of ~1: atol 1e-6 with rtol 1e-5 is ten times that and still a
// thousand times smaller than the effect of a wrong rule (coupled versus decoupled weight decay
// moves p by lr * wd * p ~ 1e-4; a missing bias correction by far more). Schedules are closed
// forms in double on our side and recurrences or closed forms in Python floats on torch's: they
// agree to ~1e-16 relative, checked at 1e-12.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/npy.h"
#include "engine/optim/optim.h"
#include "tests/support/check.h"

namespace lb {
namespace {

constexpr double kParamAtol = 1e-6;  // see the file comment: float32 rounding over five steps
constexpr double kParamRtol = 1e-5;
constexpr double kLrRtol = 1e-12;  // double versus Python float, closed form versus recurrence

Tensor golden(const std::string& name, const std::string& array) {
  return io::load_npy(std::string(LB_FIXTURES_DIR) + "/golden/" + name + "/" + array + ".npy");
}

// Runs five steps on a copy of p0 and compares p after each one with torch's.
// `make` builds the optimizer over the one parameter and returns its step function.
void check_optimizer(const std::string& name, const std::function<std::function<void()>(std::vector<Tensor>)>& make) {
  const Tensor grads = golden(name, "grads");  // (5, 10)
  const Tensor want = golden(name, "p");       // (5, 10)
  Tensor p = golden(name, "p0");               // (10)
  p.requires_grad_();
  std::function<void()> step = make({p});
  for (int64_t t = 0; t < 5; ++t) {
    SCOPED_TRACE("after step " + std::to_string(t + 1));
    p.set_grad(grads.slice0(t, 1).view({10}).clone());
    step();
    LB_EXPECT_CLOSE(p, want.slice0(t, 1).view({10}), kParamAtol, kParamRtol);
  }
}

// The seed report's recipe: momentum 0.9, weight decay 5e-4 (coupled, through the momentum
// buffer), no dampening. The first step must seed the buffer with the gradient itself.
TEST(TorchParity_SGD, MomentumWeightDecay) {
  check_optimizer("sgd", [](std::vector<Tensor> params) {
    optim::SGDOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    auto opt = std::make_shared<optim::SGD>(std::move(params), o);
    return std::function<void()>([opt] { opt->step(); });
  });
}

TEST(TorchParity_SGD, Nesterov) {
  check_optimizer("sgd_nesterov", [](std::vector<Tensor> params) {
    optim::SGDOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.dampening = 0.0;
    o.weight_decay = 5e-4;
    o.nesterov = true;
    auto opt = std::make_shared<optim::SGD>(std::move(params), o);
    return std::function<void()>([opt] { opt->step(); });
  });
}

// lr 1e-2, betas (0.9, 0.999), eps 1e-8, decoupled weight decay 1e-2, bias-corrected moments.
TEST(TorchParity_AdamW, DecoupledWeightDecay) {
  check_optimizer("adamw", [](std::vector<Tensor> params) {
    optim::AdamWOptions o;
    o.lr = 1e-2;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = 1e-2;
    auto opt = std::make_shared<optim::AdamW>(std::move(params), o);
    return std::function<void()>([opt] { opt->step(); });
  });
}

// ---- learning-rate schedules -------------------------------------------------------------------

void check_schedule(const std::string& name, const std::function<double(int64_t)>& lr_at,
                    const std::string& array = "lr") {
  const std::vector<double> want = golden(name, array).to_vector();
  ASSERT_FALSE(want.empty());
  std::vector<double> got;
  for (int64_t k = 0; k < static_cast<int64_t>(want.size()); ++k) got.push_back(lr_at(k));
  const Shape s = {static_cast<int64_t>(want.size())};
  LB_EXPECT_CLOSE(Tensor::from_vector(got, s, DType::Float64), Tensor::from_vector(want, s, DType::Float64), 0.0,
                  kLrRtol);
}

// base 0.1, x0.1 every 3 steps: 0.1 0.1 0.1 0.01 ... over 10 steps.
TEST(TorchParity_LRSchedule, StepLR) {
  const optim::StepLR s(0.1, 3, 0.1);
  check_schedule("step_lr", [&](int64_t k) { return s.lr_at(k); });
}

// base 0.1 down to eta_min 0.001 over T_max = 10, steps 0..10 inclusive (torch computes it by a
// recurrence, we by the closed form: this is where the two must still meet).
TEST(TorchParity_LRSchedule, CosineAnnealing) {
  const optim::CosineLR s(0.1, 10, 0.001);
  check_schedule("cosine_lr", [&](int64_t k) { return s.lr_at(k); });
}

// max_lr 0.05 over 20 steps, pct_start 0.3, cosine annealing, div 25, final div 1e4: from 0.002
// up to 0.05 at step 5 (phase one ends at the float 0.3 * 20 - 1), then down to 2e-7 at step 19.
// The momentum torch cycles alongside (0.95 -> 0.85 -> 0.95) is checked too.
TEST(TorchParity_LRSchedule, OneCycle) {
  const optim::OneCycleLR s(0.05, 20, 0.3, 25.0, 1e4);
  check_schedule("one_cycle_lr", [&](int64_t k) { return s.lr_at(k); });
  check_schedule(
      "one_cycle_lr", [&](int64_t k) { return s.momentum_at(k, 0.85, 0.95); }, "momentum");
}

}  // namespace
}  // namespace lb
