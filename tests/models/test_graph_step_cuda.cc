// The CUDA Graph training step (models/graph_step.h, `lightbox train --graph`): every batch a
// GraphStep trains on — eager, captured or replayed — must do what the same step does eagerly.
//
// Two identical ResNet18s train side by side, one eagerly, one through a GraphStep, on the same
// batches with a learning rate that changes every step (a graph that froze the lr of its capture
// would fall behind at once), through a short batch (eager under another key), a return to the
// full size (a replay), and a frozen stage (a new key: eager, then a fresh capture). Before every
// step the graphed model and its optimizer state are overwritten in place with the eager ones,
// and the test compares what the step did: the loss, each parameter's and buffer's update, the
// optimizer's step counts and BatchNorm's num_batches_tracked. Letting the two run free and
// comparing at the end would test nothing: training a random ResNet on random data is chaotic,
// and max-pool's atomics make two runs part in the last bit whatever the graph does.
//
// The cuDNN backend is left out: on an H200 (2026-11-26) its captured TF32 step left non-finite
// parameters under memcheck and timed an implausible 3.6x its eager step. Until that is
// understood GraphStep refuses --backend cudnn, which the last test checks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "kernels/runtime.cuh"
#include "models/graph_step.h"
#include "models/resnet.h"
#include "models/train.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using kernels::MathMode;

struct Case {
  MathMode math;
  std::string optimizer;  // sgd | adamw
};

std::string case_name(const ::testing::TestParamInfo<Case>& p) {
  return p.param.optimizer + (p.param.math == MathMode::Tf32 ? "_tf32" : "_fp32");
}

Tensor host(const Tensor& t) { return t.to(Device::cpu()); }

std::unique_ptr<optim::Optimizer> make_opt(const std::string& kind, std::vector<Tensor> params) {
  if (kind == "adamw") {
    optim::AdamWOptions o;
    o.lr = 1e-3;
    o.weight_decay = 0.01;
    return std::make_unique<optim::AdamW>(std::move(params), o);
  }
  optim::SGDOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.weight_decay = 1e-4;
  return std::make_unique<optim::SGD>(std::move(params), o);
}

// Copies every CUDA tensor of `src` into the same-named tensor of `dst`, in place: a graph reads
// and writes fixed addresses, so its state may be overwritten but never replaced.
void copy_into(const nn::StateDict& dst, const nn::StateDict& src) {
  NoGradGuard ng;
  ASSERT_EQ(dst.size(), src.size());
  for (size_t i = 0; i < dst.size(); ++i) {
    ASSERT_EQ(dst[i].first, src[i].first);
    Tensor d = dst[i].second;
    if (d.device().is_cuda()) d.copy_(src[i].second);
  }
}

class GraphStepTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
    set_cuda_backend(CudaBackend::Custom);
    set_cuda_math_mode(GetParam().math);
  }
  void TearDown() override { set_cuda_math_mode(MathMode::Fp32); }
  double tol(double fp32) const { return GetParam().math == MathMode::Tf32 ? 5e-3 : fp32; }
};

INSTANTIATE_TEST_SUITE_P(Modes, GraphStepTest,
                         ::testing::Values(Case{MathMode::Fp32, "sgd"}, Case{MathMode::Tf32, "sgd"},
                                           Case{MathMode::Fp32, "adamw"}),
                         case_name);

TEST_P(GraphStepTest, EveryBatchMatchesTheEagerStep) {
  Generator gen(5);
  models::ResNet18 eager(1, 2, gen), graphed(1, 2, gen);
  graphed.load_state_dict(eager.state_dict());
  eager.to(Device::cuda());
  graphed.to(Device::cuda());
  eager.train();
  graphed.train();
  auto oe = make_opt(GetParam().optimizer, eager.parameters());
  auto og = make_opt(GetParam().optimizer, graphed.parameters());
  models::GraphStep gs(graphed, *og);

  // Batch sizes per step: 8 eager (first sight), 8 captured + replayed, 8 replayed, 5 eager (another
  // key), 8 replayed, then layer1 frozen: 8 eager (new key), 8 captured again, 8 replayed.
  const std::vector<int64_t> sizes = {8, 8, 8, 5, 8, 8, 8, 8};
  const std::vector<bool> want_replayed = {false, true, true, false, true, false, true, true};
  for (size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    if (i == 5) {
      models::set_trainable(eager, {"conv1", "bn1", "layer2", "layer3", "layer4", "fc"});
      models::set_trainable(graphed, {"conv1", "bn1", "layer2", "layer3", "layer4", "fc"});
    }
    const double lr = (GetParam().optimizer == "adamw" ? 1e-3 : 0.01) * (1.0 + 0.5 * static_cast<double>(i));
    oe->set_lr(lr);
    og->set_lr(lr);
    copy_into(graphed.state_dict(), eager.state_dict());
    copy_into(og->state_dict(), oe->state_dict());
    const nn::StateDict before_sd = eager.state_dict();
    std::vector<Tensor> before;
    for (const auto& [name, t] : before_sd) before.push_back(host(t).clone());

    Tensor x = test::random_tensor({sizes[i], 1, 28, 28}, 920 + i, DType::Float32);
    Tensor y = Tensor::empty({sizes[i]}, DType::Int64);
    for (int64_t k = 0; k < sizes[i]; ++k) y.data<int64_t>()[k] = (k * 7 + static_cast<int64_t>(i)) % 2;

    Tensor le = cross_entropy(eager(x.to(Device::cuda())), y);
    oe->zero_grad();
    le.backward();
    oe->step();
    const models::GraphStep::Result r = gs.step(x, y);

    EXPECT_EQ(r.replayed, want_replayed[i]);
    EXPECT_NEAR(r.loss.item(), le.item(), tol(1e-5) * std::abs(le.item()));
    EXPECT_EQ(r.logits.shape(), (Shape{sizes[i], 2}));
    const auto se = eager.state_dict(), sg = graphed.state_dict();
    for (size_t k = 0; k < se.size(); ++k) {
      SCOPED_TRACE(se[k].first);
      if (!is_floating(se[k].second.dtype())) {  // num_batches_tracked: host counters, never copied
        EXPECT_EQ(sg[k].second.item(), se[k].second.item());
        continue;
      }
      LB_EXPECT_REL(sub(host(sg[k].second), before[k]), sub(host(se[k].second), before[k]), tol(1e-3));
    }
    const auto ose = oe->state_dict(), osg = og->state_dict();
    ASSERT_EQ(ose.size(), osg.size());
    for (size_t k = 0; k < ose.size(); ++k)
      if (ose[k].second.device().is_cpu()) {  // "lr" and AdamW's per-parameter step counts
        SCOPED_TRACE(ose[k].first);
        EXPECT_EQ(osg[k].second.item(), ose[k].second.item());
      }
  }
  EXPECT_EQ(gs.captures(), 2);
  EXPECT_EQ(gs.replays(), 5);
}

// kernels::upload_small, which writes the optimizers' scalar tables between replays: every byte
// lands, across its 1 KB chunk boundaries, in stream order after work queued before it.
TEST(GraphStepSupport, UploadSmallWritesEveryByteInStreamOrder) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  for (const int64_t n : {1, 255, 1024, 1025, 5000}) {
    SCOPED_TRACE(n);
    Tensor dst = Tensor::zeros({n}, DType::Float32, Device::cuda());
    std::vector<float> host(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) host[static_cast<size_t>(i)] = 0.5f * static_cast<float>(i) - 7.f;
    dst.fill_(3.0);  // queued first: the upload must land after it
    kernels::upload_small(dst.data_ptr<float>(), host.data(), host.size() * sizeof(float));
    host.assign(host.size(), -1.f);  // the source is free on return
    const std::vector<double> got = dst.to(Device::cpu()).to_vector();
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], 0.5 * static_cast<double>(i) - 7.0) << i;
  }
}

TEST(GraphStepRefusals, CudnnBackendAndCpuModelAreOneLineErrors) {
  Generator gen(1);
  models::ResNet18 m(1, 2, gen);
  optim::SGD cpu_opt(m.parameters(), optim::SGDOptions{});
  test::expect_error([&] { models::GraphStep gs(m, cpu_opt); }, {"--graph", "--device cuda"});
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  m.to(Device::cuda());
  optim::SGD opt(m.parameters(), optim::SGDOptions{});
  set_cuda_backend(CudaBackend::Cudnn);
  const std::string err = test::error_of([&] { models::GraphStep gs(m, opt); });
  set_cuda_backend(CudaBackend::Custom);
  EXPECT_NE(err.find("--backend custom"), std::string::npos) << err;
}

}  // namespace
}  // namespace lb
