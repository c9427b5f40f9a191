// test_resnet_fusion.cc: ResNet18's BasicBlocks with the fused batch_norm2d_relu (nn::set_fusion)
// against the unfused blocks, and the rules that keep fusion away from the explainers.
//
//   - fusion on vs off: logits, loss, every parameter's gradient, the input's gradient and the
//     running statistics are bit-identical on the CPU, in training and eval mode (the fused CPU op
//     runs the same loops in the same order as batch_norm2d -> add_ -> relu_);
//   - the tape really is fused when allowed (two batch_norm2d_relu nodes per block) and not when an
//     nn::Capture wants a block's bn1, bn2 or relu, or a BackwardOverride scope is alive (DeepLIFT's
//     "relu" rule must see every ReLU), or fusion is switched off.
// In eval mode the blocks fold batch norm into the convolutions instead (test_resnet_fold.cc), so
// the eval tests here switch folding off (nn::set_folding) to reach the fused batch_norm2d_relu.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/nn/fusion.h"
#include "engine/ops/ops.h"
#include "models/resnet.h"
#include "tests/support/check.h"

namespace lb::models {
namespace {

// Restores the process-wide switch at scope exit, so a failing test cannot leak "off".
struct FusionScope {
  bool prev = nn::fusion_enabled();
  explicit FusionScope(bool on) { nn::set_fusion(on); }
  ~FusionScope() { nn::set_fusion(prev); }
};

// The same for the folding switch: eval tests of the fused op turn folding off.
struct NoFoldingScope {
  bool prev = nn::folding_enabled();
  NoFoldingScope() { nn::set_folding(false); }
  ~NoFoldingScope() { nn::set_folding(prev); }
};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

struct ModelRun {
  Tensor logits;
  std::vector<Tensor> grads;  // every parameter's .grad, then d loss / d input
  nn::StateDict state;        // after the forward: running statistics, num_batches_tracked
  int fused_nodes = 0;
};

// One forward + backward of a fresh copy of `proto` (same weights) on x.
ModelRun run_model(const ResNet18& proto, const Tensor& x, bool training, bool fusion) {
  FusionScope f(fusion);
  Generator gen(0);
  ResNet18 model(1, 2, gen);
  model.load_state_dict(proto.state_dict());
  model.train(training);
  Tensor xi = x.clone().requires_grad_();
  ModelRun r;
  r.logits = model(xi);
  r.fused_nodes = test::count_kind(r.logits, "batch_norm2d_relu");
  const Tensor y = Tensor::from_vector({0, 1, 1, 0}, {4}, DType::Int64);
  cross_entropy(r.logits, y).backward();
  for (const auto& [name, p] : model.named_parameters()) r.grads.push_back(p.grad());
  r.grads.push_back(xi.grad());
  for (const auto& [name, t] : model.state_dict()) r.state.emplace_back(name, t.clone());
  return r;
}

void expect_identical(const ModelRun& a, const ModelRun& b) {
  EXPECT_TRUE(bitwise_equal(a.logits, b.logits));
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    ASSERT_TRUE(a.grads[i].defined() && b.grads[i].defined()) << "gradient " << i;
    EXPECT_TRUE(bitwise_equal(a.grads[i], b.grads[i])) << "gradient " << i;
  }
  ASSERT_EQ(a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i)
    EXPECT_TRUE(bitwise_equal(a.state[i].second, b.state[i].second)) << a.state[i].first;
}

TEST(ResNetFusion, TrainingForwardBackwardIdenticalWithFusionOnAndOff) {
  Generator gen(21);
  ResNet18 proto(1, 2, gen);
  Generator xg(22);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, xg);
  const ModelRun on = run_model(proto, x, true, true), off = run_model(proto, x, true, false);
  EXPECT_EQ(on.fused_nodes, 16);  // 8 blocks, bn1 + relu and bn2 + add + relu each
  EXPECT_EQ(off.fused_nodes, 0);
  expect_identical(on, off);
}

TEST(ResNetFusion, EvalForwardBackwardIdenticalWithFusionOnAndOff) {
  NoFoldingScope no_fold;
  Generator gen(23);
  ResNet18 proto(1, 2, gen, /*width=*/16);  // narrow: the same ops and names, a faster test
  {
    // Running statistics away from their 0/1 start, so eval mode normalises with real values.
    NoGradGuard ng;
    Generator xg(24);
    proto.train();
    proto(Tensor::randn({8, 1, 28, 28}, xg));
  }
  Generator xg(25);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, xg);
  auto run16 = [&](bool fusion) {
    FusionScope f(fusion);
    Generator g0(0);
    ResNet18 model(1, 2, g0, 16);
    model.load_state_dict(proto.state_dict());
    model.eval();
    Tensor xi = x.clone().requires_grad_();
    ModelRun r;
    r.logits = model(xi);
    r.fused_nodes = test::count_kind(r.logits, "batch_norm2d_relu");
    r.grads = autograd::grad({r.logits}, {xi}, {Tensor::ones(r.logits.shape())});  // GradientExplainer-style
    return r;
  };
  const ModelRun on = run16(true), off = run16(false);
  EXPECT_EQ(on.fused_nodes, 16);
  EXPECT_EQ(off.fused_nodes, 0);
  expect_identical(on, off);
}

TEST(ResNetFusion, CaptureOnABlocksBnOrReluKeepsThatBlockUnfused) {
  FusionScope f(true);
  NoFoldingScope no_fold;
  Generator gen(26);
  ResNet18 model(1, 2, gen, 8);
  model.eval();
  Generator xg(27);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, xg).requires_grad_();
  for (const char* name : {"layer1.0.relu", "layer2.1.bn1", "layer4.0.bn2"}) {
    SCOPED_TRACE(name);
    nn::Capture cap({name});
    const Tensor y = model(x);
    EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), 14);  // the other seven blocks still fuse
    EXPECT_TRUE(cap.at(name).output.defined());               // and the tap saw its module run
  }
  // A tap on a whole block or a conv does not need the block unfused.
  nn::Capture cap({"layer1.0", "layer3.1.conv2"});
  const Tensor y = model(x);
  EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), 16);
  EXPECT_TRUE(cap.at("layer1.0").output.defined());
}

TEST(ResNetFusion, BackwardOverrideSeesEveryRelu) {
  FusionScope f(true);
  Generator gen(28);
  ResNet18 model(1, 2, gen, 8);
  model.eval();
  Generator xg(29);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, xg).requires_grad_();
  int calls = 0;
  BackwardOverride scope("relu", [&](const BackwardContext& ctx) {
    ++calls;
    return ctx.default_backward();
  });
  const Tensor y = model(x);
  EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), 0);
  autograd::grad({y}, {x}, {Tensor::ones(y.shape())});
  EXPECT_EQ(calls, 17);  // the stem's relu and two per block
}

TEST(ResNetFusion, SwitchDefaultsOnAndTurnsOff) {
  EXPECT_TRUE(nn::fusion_enabled());
  FusionScope f(false);
  EXPECT_FALSE(nn::fusion_enabled());
  Generator gen(30);
  ResNet18 model(1, 2, gen, 8);
  Generator xg(31);
  const Tensor y = model(Tensor::randn({2, 1, 28, 28}, xg).requires_grad_());
  EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), 0);
  EXPECT_EQ(test::count_kind(y, "relu"), 17);
}

}  // namespace
}  // namespace lb::models
