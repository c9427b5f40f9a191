// test_train_parity.cc: six steps of the trainer's recipe on a whole ResNet18 against torch 1.13.
//
// Every op and the optimizer have their own golden tests; this one checks what they make together,
// the way models/trainer.cc composes them: make_optimizer (SGD, momentum 0.9, weight decay 5e-4
// on every parameter, batch-norm affine included), make_schedule ("onecycle:0.5" over six steps)
// and apply_schedule (the lr and the momentum one-cycle cycles, set before each step), the
// forward in training mode (batch statistics, running statistics updated with the unbiased
// variance, num_batches_tracked counted), cross-entropy, backward and the step. A difference in
// any of these rules (weight decay skipping batch-norm parameters, momentum not cycled, a biased
// running variance, dampening) moves a loss or a weight by far more than the tolerance; float32
// summation order moves them by ~1e-6.
//
// Golden files: tests/fixtures/golden/train_steps/ from make_golden.py --only train_steps (width 4,
// 16x16 grey inputs, torchvision's layout and names; init.npz, steps.npz, final.npz).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/io/npz.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "models/train.h"
#include "tests/support/check.h"

namespace lb::models {
namespace {

const std::string kDir = std::string(LB_FIXTURES_DIR) + "/golden/train_steps/";

nn::StateDict read_state(const std::string& path) {
  const io::NpzReader r(path);
  nn::StateDict sd;
  for (const std::string& k : r.keys()) sd.emplace_back(k, r.get(k));
  return sd;
}

TEST(TorchParity_Training, SixStepsOfTheTrainersRecipeMatchTorch) {
  Generator gen(0);
  ResNet18 model(1, 2, gen, 4);
  model.load_state_dict(read_state(kDir + "init.npz"));
  model.train();
  TrainConfig c;
  c.epochs = 1;
  c.lr = 0.05;
  c.momentum = 0.9;
  c.weight_decay = 5e-4;
  c.schedule = "onecycle:0.5";
  const io::NpzReader steps(kDir + "steps.npz");
  const Tensor x = steps.get("x"), y = steps.get("y");  // (6, 16, 1, 16, 16), (6, 16)
  const Tensor loss_want = steps.get("loss"), lr_want = steps.get("lr"), mom_want = steps.get("momentum");
  const int64_t n = x.size(0), b = x.size(1);
  auto opt = make_optimizer(c, model);
  const auto sched = make_schedule(c, n);
  for (int64_t t = 0; t < n; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    const double lr = apply_schedule(*sched, *opt, t);
    EXPECT_NEAR(lr, lr_want.data<double>()[t], 1e-12);
    EXPECT_NEAR(dynamic_cast<optim::SGD&>(*opt).momentum(), mom_want.data<double>()[t], 1e-12);
    const Tensor xt = x.slice0(t, 1).view({b, 1, x.size(3), x.size(4)});
    const Tensor yt = y.slice0(t, 1).view({b});
    Tensor loss = cross_entropy(model(xt), yt);
    EXPECT_NEAR(loss.item(), loss_want.data<double>()[t], 1e-5 * std::max(1.0, std::abs(loss_want.data<double>()[t])));
    opt->zero_grad();
    loss.backward();
    opt->step();
  }
  const nn::StateDict want = read_state(kDir + "final.npz");
  const nn::StateDict got = model.state_dict();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, w] : want) {
    SCOPED_TRACE(key);
    const std::string name = key;  // a structured binding cannot be captured in C++17 (clang refuses)
    const auto it = std::find_if(got.begin(), got.end(), [&](const auto& kv) { return kv.first == name; });
    ASSERT_NE(it, got.end());
    if (w.dtype() == DType::Int64) {
      EXPECT_EQ(it->second.item(), w.item());  // num_batches_tracked: six
      continue;
    }
    LB_EXPECT_CLOSE(it->second, w, 1e-5, 1e-4);
  }
}

}  // namespace
}  // namespace lb::models
