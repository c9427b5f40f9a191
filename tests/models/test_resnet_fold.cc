// test_resnet_fold.cc: batch norm folded into the convolutions in eval mode (engine/nn/fold.h,
// models/resnet.cc) against the unfolded model, and the rules that keep the fold away from
// training, taps and backward overrides.
//
//   - the fold itself on one conv (with a bias, which ResNet's convs lack) -> BatchNorm pair:
//     values and the gradients of x, W, b, gamma and beta;
//   - ResNet18 in eval mode, folded vs the module-by-module model (nn::set_fusion(false)) and vs the
//     fused batch_norm2d_relu model (nn::set_folding(false)): logits at 28x28 and 33x33, the input's
//     and every parameter's gradient, a layer tap's gradient, and the tape really folded;
//   - training mode never folds: with folding on, bit-identical to the module-by-module model
//     (logits, gradients, running statistics, which move);
//   - a Capture of a conv or BatchNorm, or a BackwardOverride scope, sees the unfolded modules;
//   - nothing goes stale: editing a running statistic, a weight or loading a state dict between two
//     eval forwards moves the output as it moves the unfolded model's (to kRelEdited).
//
// Tolerances. Folding changes float32 rounding, never the math: W * s is one rounding per weight,
// the conv then sums in the same order, and (x - mean) * s + beta becomes
// x * s + (beta - mean * s). One conv + BN pair so differs by a few ulp (measured 1e-7 to 3e-7
// relative L2 for y and every gradient: kRelPair = 2e-6), and ResNet18 stacks 20 of them with
// residual adds. Logits: measured 0.9e-6 to 1.1e-6 of the largest |logit| (width 64, 28x28 and
// 33x33), taps up to 1.7e-6: kRelLogits = 1e-5 leaves ~6-10x room. The subtlest wrong fold, eps
// left out of s, moves the logits by 3.6e-5 (measured, so it fails); a stale statistic or weight
// moves them by 0.38 to 1.0 (the staleness test's edits). Gradients pass through the folded graph
// forward and backward, and dgamma sums terms that partly cancel (dW' . W and db' * mean):
// measured up to 2.3e-6 relative L2 over the input's and all 62 parameters' gradients,
// kRelGrad = 2e-5. After the staleness test's edits (a running_var of 4, a running_mean of 0.3 in
// the stem) the logits shrink and the same rounding is a larger share of them: up to 4.8e-6
// measured, kRelEdited = 1e-4, still 1000x below what a stale fold does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/nn/fold.h"
#include "engine/nn/fusion.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "models/resnet.h"
#include "tests/support/check.h"

namespace lb::models {
namespace {

constexpr double kRelPair = 2e-6;    // see the header
constexpr double kRelLogits = 1e-5;  // see the header
constexpr double kRelGrad = 2e-5;    // see the header
constexpr double kRelEdited = 1e-4;  // see the header

// Sets both process-wide switches and restores them at scope exit.
struct Switches {
  bool fusion = nn::fusion_enabled(), folding = nn::folding_enabled();
  Switches(bool fuse, bool fold) {
    nn::set_fusion(fuse);
    nn::set_folding(fold);
  }
  ~Switches() {
    nn::set_fusion(fusion);
    nn::set_folding(folding);
  }
};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// max |got - want| / max |want|: relative to the tensor's scale, so a logit near zero does not
// turn rounding into a large relative error.
double rel_max_error(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < std::min(got.numel(), want.numel()); ++i) {
    diff = std::max(diff, std::abs(got.at(i) - want.at(i)));
    scale = std::max(scale, std::abs(want.at(i)));
  }
  return diff / std::max(scale, 1e-30);
}

// Overwrites t with seeded uniform values in [lo, hi) (a parameter or buffer, outside autograd).
void set_uniform(Tensor& t, Generator& gen, double lo, double hi) {
  NoGradGuard ng;
  t.copy_(Tensor::rand(t.shape(), gen, lo, hi));
}

// A random-init ResNet18 whose batch norms are far from their 1/0 and 0/1 defaults: gamma in
// [0.5, 1.5), beta in [-0.3, 0.3), running statistics from five training-mode batches (so each
// channel has its own mean and variance, on the activations' real scale). Left in eval mode.
std::unique_ptr<ResNet18> make_model(uint64_t seed, int64_t width) {
  Generator gen(seed);
  auto model = std::make_unique<ResNet18>(1, 2, gen, width);
  for (const auto& [name, m] : model->named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      set_uniform(bn->weight(), gen, 0.5, 1.5);
      set_uniform(bn->bias(), gen, -0.3, 0.3);
    }
  Switches reference(false, false);
  NoGradGuard ng;
  model->train();
  for (int i = 0; i < 5; ++i) (*model)(Tensor::randn({8, 1, 28, 28}, gen));
  model->eval();
  return model;
}

// ---- the fold of one pair ----------------------------------------------------------------------

TEST(FoldBatchNorm, ConvWithBiasEqualsConvThenEvalBatchNormWithGradients) {
  Generator gen(40);
  nn::Conv2d conv(3, 5, 3, /*stride=*/2, /*padding=*/1, /*bias=*/true, gen);
  nn::BatchNorm2d bn(5);
  set_uniform(bn.weight(), gen, 0.5, 1.5);
  set_uniform(bn.bias(), gen, -0.5, 0.5);
  set_uniform(bn.running_mean(), gen, -0.5, 0.5);
  set_uniform(bn.running_var(), gen, 0.2, 2.0);
  bn.eval();
  const Tensor x0 = Tensor::randn({2, 3, 9, 9}, gen);
  // d<y, R>/d(every input) for R fixed: the folded and the unfolded graph.
  const Tensor R = Tensor::randn({2, 5, 5, 5}, gen);
  const std::vector<Tensor> params = {conv.weight(), conv.bias(), bn.weight(), bn.bias()};
  auto run = [&](bool fold) {
    Tensor x = x0.clone().requires_grad_();
    Tensor y = fold ? nn::conv_bn_folded(conv, bn, x) : bn(conv(x));
    std::vector<Tensor> inputs = params;
    inputs.insert(inputs.begin(), x);
    std::vector<Tensor> out = autograd::grad({y}, inputs, {R});
    out.insert(out.begin(), y);
    return out;
  };
  const std::vector<Tensor> folded = run(true), plain = run(false);
  const char* what[] = {"y", "dx", "dW", "db", "dgamma", "dbeta"};
  for (size_t i = 0; i < folded.size(); ++i) {
    SCOPED_TRACE(what[i]);
    ASSERT_TRUE(folded[i].defined());
    LB_EXPECT_REL(folded[i], plain[i], kRelPair);
  }
  nn::BatchNorm2d wrong(4);
  test::expect_error([&] { nn::fold_batch_norm(conv, wrong); }, {"fold_batch_norm", "5 output channels", "4"});
}

// The cache: reused while nothing changed, refolded after any write to any of the six source
// tensors or a swapped storage, bypassed (and left alone) when autograd must see the fold.
TEST(FoldCache, ReusesTheFoldUntilASourceChanges) {
  Generator gen(59);
  nn::Conv2d conv(2, 3, 3, 1, 1, /*bias=*/true, gen);
  nn::BatchNorm2d bn(3);
  bn.eval();
  nn::FoldCache cache;
  auto expect_fresh = [&](const nn::FoldedConv& got) {  // the cached fold equals a new one
    NoGradGuard ng;
    const nn::FoldedConv want = nn::fold_batch_norm(conv, bn);
    EXPECT_TRUE(bitwise_equal(got.weight, want.weight));
    EXPECT_TRUE(bitwise_equal(got.bias, want.bias));
  };
  int64_t expected = 1;
  {
    NoGradGuard ng;
    const nn::FoldedConv first = cache.get(conv, bn);
    const nn::FoldedConv again = cache.get(conv, bn);
    EXPECT_EQ(cache.folds_computed(), 1);
    EXPECT_EQ(first.weight.raw_data(), again.weight.raw_data());  // the same tensor, not a recompute
    std::vector<std::pair<const char*, std::function<void()>>> edits = {
        {"conv weight", [&] { conv.weight().copy_(scale(conv.weight(), 2.0)); }},
        {"conv bias", [&] { conv.bias().fill_(0.25); }},
        {"gamma", [&] { bn.weight().fill_(1.5); }},
        {"beta", [&] { bn.bias().fill_(-0.5); }},
        {"running_mean", [&] { bn.running_mean().fill_(0.1); }},
        {"running_var", [&] { bn.running_var().fill_(3.0); }},
        {"load_state_dict", [&] { bn.load_state_dict(bn.state_dict()); }},
        // A new storage in the same TensorImpl (what Module::to does), holding other values.
        {"swapped storage", [&] { conv.weight().impl()->storage = scale(conv.weight(), 0.5).impl()->storage; }},
    };
    for (auto& [what, edit] : edits) {
      SCOPED_TRACE(what);
      edit();
      expect_fresh(cache.get(conv, bn));
      EXPECT_EQ(cache.folds_computed(), ++expected);
      cache.get(conv, bn);
      EXPECT_EQ(cache.folds_computed(), expected);  // and reused again afterwards
    }
  }
  // Grad mode on and parameters requiring grad: folded on the tape every time, cache untouched.
  const nn::FoldedConv tracked = cache.get(conv, bn);
  EXPECT_TRUE(tracked.weight.requires_grad());
  cache.get(conv, bn);
  EXPECT_EQ(cache.folds_computed(), expected + 2);
  NoGradGuard ng;
  const nn::FoldedConv plain = cache.get(conv, bn);
  EXPECT_FALSE(plain.weight.requires_grad());
  EXPECT_EQ(cache.folds_computed(), expected + 2);  // the untracked fold was still cached
  expect_fresh(plain);
}

// ---- ResNet18 in eval mode ---------------------------------------------------------------------

TEST(ResNetFold, EvalLogitsMatchUnfoldedAt28AndAnOddSize) {
  auto model = make_model(41, /*width=*/64);  // full width: the longest reductions (512 x 3 x 3)
  model->set_requires_grad(false);            // frozen: only the activations' path is on the tape
  Generator gen(42);
  for (int64_t size : {28, 33}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const Tensor x = Tensor::randn({3, 1, size, size}, gen).requires_grad_();
    Tensor folded, unfused, fused;
    {
      Switches s(true, true);
      folded = (*model)(x);
      EXPECT_EQ(test::count_kind(folded, "batch_norm2d"), 0);  // every BatchNorm folded away
      EXPECT_EQ(test::count_kind(folded, "batch_norm2d_relu"), 0);
      EXPECT_EQ(test::count_kind(folded, "conv2d"), 20);
    }
    {
      Switches s(false, true);  // fusion off: folding off too, the module-by-module model
      unfused = (*model)(x);
      EXPECT_EQ(test::count_kind(unfused, "batch_norm2d"), 20);
    }
    {
      Switches s(true, false);  // folding off: eval runs the fused batch_norm2d_relu
      fused = (*model)(x);
      EXPECT_EQ(test::count_kind(fused, "batch_norm2d_relu"), 16);
    }
    double largest = 0;
    for (int64_t i = 0; i < unfused.numel(); ++i) largest = std::max(largest, std::abs(unfused.at(i)));
    ASSERT_GT(largest, 1e-2);  // real logits, not a collapsed network
    EXPECT_LE(rel_max_error(folded, unfused), kRelLogits);
    EXPECT_LE(rel_max_error(folded, fused), kRelLogits);
    EXPECT_TRUE(bitwise_equal(fused, unfused));  // the BN + ReLU fusion stays bit-exact
  }
}

TEST(ResNetFold, ForwardFromALayerFoldsTheRest) {
  auto model = make_model(43, 16);
  model->set_requires_grad(false);
  Generator gen(44);
  const Tensor act = Tensor::rand({2, 32, 4, 4}, gen).requires_grad_();  // layer3's input, width 16
  Tensor folded, unfused;
  {
    Switches s(true, true);
    folded = model->forward_from("layer3", act);
    EXPECT_EQ(test::count_kind(folded, "batch_norm2d"), 0);
  }
  {
    Switches s(false, true);
    unfused = model->forward_from("layer3", act);
    EXPECT_EQ(test::count_kind(unfused, "batch_norm2d"), 10);  // layer3, layer4: 4 blocks x 2 + 2 downsamples
  }
  EXPECT_LE(rel_max_error(folded, unfused), kRelLogits);
}

TEST(ResNetFold, TrainingModeIsNeverFolded) {
  auto model = make_model(45, 16);
  const nn::StateDict start = model->state_dict();
  Generator gen(46);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, gen);
  const Tensor labels = Tensor::from_vector({0, 1, 1, 0}, {4}, DType::Int64);
  struct Run {
    Tensor logits;
    std::vector<Tensor> grads, state;
  };
  // Folding stays on in both runs; fusion on (the default) vs off (module by module).
  auto run = [&](bool fuse) {
    Switches s(fuse, true);
    Generator g0(0);
    ResNet18 m(1, 2, g0, 16);
    m.load_state_dict(start);
    m.train();
    Run r;
    r.logits = m(x);
    // Not folded: a fold would put two batch_norm2d nodes per pair (40) on the tape.
    EXPECT_EQ(test::count_kind(r.logits, "batch_norm2d_relu"), fuse ? 16 : 0);
    EXPECT_EQ(test::count_kind(r.logits, "batch_norm2d"), fuse ? 4 : 20);  // fused: the stem's and 3 downsamples'
    cross_entropy(r.logits, labels).backward();
    for (const auto& [name, p] : m.named_parameters()) r.grads.push_back(p.grad());
    for (const auto& [name, t] : m.state_dict()) r.state.push_back(t.clone());
    return r;
  };
  const Run on = run(true), off = run(false);
  EXPECT_TRUE(bitwise_equal(on.logits, off.logits));
  ASSERT_EQ(on.grads.size(), off.grads.size());
  for (size_t i = 0; i < on.grads.size(); ++i) EXPECT_TRUE(bitwise_equal(on.grads[i], off.grads[i])) << i;
  ASSERT_EQ(on.state.size(), start.size());
  bool stats_moved = false;
  for (size_t i = 0; i < on.state.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(on.state[i], off.state[i])) << start[i].first;
    if (start[i].first.find("running_mean") != std::string::npos)
      stats_moved = stats_moved || !bitwise_equal(on.state[i], start[i].second);
  }
  EXPECT_TRUE(stats_moved);  // training updated the running statistics
}

// Gradients of a cross-entropy loss at eval (what `probe --backward-output` and a fine-tuning
// diagnostic ask for): the input's and every parameter's.
TEST(ResNetFold, EvalGradientsMatchUnfolded) {
  auto model = make_model(47, 16);
  Generator gen(48);
  const Tensor x0 = Tensor::randn({4, 1, 28, 28}, gen);
  const Tensor labels = Tensor::from_vector({0, 1, 1, 0}, {4}, DType::Int64);
  auto run = [&](bool fuse) {
    Switches s(fuse, true);
    model->zero_grad();
    Tensor x = x0.clone().requires_grad_();
    const Tensor logits = (*model)(x);
    EXPECT_EQ(test::count_kind(logits, "batch_norm2d"), fuse ? 40 : 20);  // folded: two per pair (W', b')
    cross_entropy(logits, labels).backward();
    std::vector<Tensor> g = {x.grad()};
    for (const auto& [name, p] : model->named_parameters()) g.push_back(p.grad());
    return g;
  };
  const std::vector<Tensor> folded = run(true), unfused = run(false);
  const auto names = model->named_parameters();
  ASSERT_EQ(folded.size(), names.size() + 1);
  for (size_t i = 0; i < folded.size(); ++i) {
    SCOPED_TRACE(i == 0 ? std::string("input") : names[i - 1].first);
    ASSERT_TRUE(folded[i].defined() && unfused[i].defined());
    LB_EXPECT_REL(folded[i], unfused[i], kRelGrad);
  }
}

// A layer tap (Gradient / IG at a layer): a tap on the Sequential "layer3" wants none of the
// convs or BatchNorms inside it, so every block folds, and the value and gradients at the tap are
// the unfolded ones.
TEST(ResNetFold, LayerTapGradientMatchesUnfolded) {
  auto model = make_model(49, 16);
  model->set_requires_grad(false);
  Generator gen(50);
  const Tensor x = Tensor::randn({3, 1, 28, 28}, gen).requires_grad_();
  auto run = [&](bool fuse) {
    Switches s(fuse, true);
    nn::Capture cap({"layer3"});
    const Tensor logits = (*model)(x);
    const auto g = cap.gradients(logits, Tensor::ones(logits.shape()));
    return std::vector<Tensor>{cap.at("layer3").input, g.at("layer3").input_grad, g.at("layer3").output_grad};
  };
  const std::vector<Tensor> folded = run(true), unfused = run(false);
  for (size_t i = 0; i < folded.size(); ++i) {
    ASSERT_TRUE(folded[i].defined()) << i;
    LB_EXPECT_REL(folded[i], unfused[i], kRelGrad);
  }
}

// ---- what must stay unfolded -------------------------------------------------------------------

TEST(ResNetFold, CaptureOfAConvOrBatchNormSeesTheUnfoldedModule) {
  auto model = make_model(51, 16);
  model->set_requires_grad(false);  // the tape then holds only the activations' path
  Generator gen(52);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, gen).requires_grad_();
  struct Case {
    const char* name;
    int bn_nodes, fused_nodes;  // on the tape with that tap alive
    bool exact;                 // nothing before the tap folds: the capture is bit-identical
  };
  const Case cases[] = {
      {"conv1", 1, 0, true},  // the stem runs conv1 -> bn1 -> relu as modules
      {"bn1", 1, 0, true},
      {"layer1.0.conv2", 0, 2, false},         // that block falls back to the fused BN + ReLU
      {"layer2.1.bn1", 2, 0, false},           // a tap on a BN: the block runs unfused
      {"layer3.0.downsample.1", 1, 2, false},  // the downsample's BN as a module, the rest fused
      {"layer4.0.downsample.0", 1, 2, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor got, want;
    {
      Switches s(true, true);
      nn::Capture cap({c.name});
      const Tensor y = (*model)(x);
      EXPECT_EQ(test::count_kind(y, "batch_norm2d"), c.bn_nodes);
      EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), c.fused_nodes);
      got = cap.at(c.name).output;
    }
    {
      Switches s(false, true);
      nn::Capture cap({c.name});
      (*model)(x);
      want = cap.at(c.name).output;
    }
    if (c.exact) {
      EXPECT_TRUE(bitwise_equal(got, want));
    }
    EXPECT_LE(rel_max_error(got, want), kRelLogits);
  }
}

TEST(ResNetFold, BackwardOverrideScopeKeepsEverythingUnfolded) {
  Switches s(true, true);
  auto model = make_model(53, 16);
  model->set_requires_grad(false);
  Generator gen(54);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, gen).requires_grad_();
  BackwardOverride scope("relu", [](const BackwardContext& ctx) { return ctx.default_backward(); });
  const Tensor y = (*model)(x);
  EXPECT_EQ(test::count_kind(y, "batch_norm2d"), 20);  // DeepLIFT's rules see every module's node
  EXPECT_EQ(test::count_kind(y, "batch_norm2d_relu"), 0);
  EXPECT_EQ(test::count_kind(y, "relu"), 17);
}

TEST(ResNetFold, SwitchDefaultsOnAndTurnsOff) {
  EXPECT_TRUE(nn::folding_enabled());
  auto model = make_model(55, 8);
  model->set_requires_grad(false);
  Generator gen(56);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, gen).requires_grad_();
  {
    Switches s(true, false);
    EXPECT_FALSE(nn::folding_enabled());
    EXPECT_EQ(test::count_kind((*model)(x), "batch_norm2d_relu"), 16);
  }
  {
    Switches s(false, true);  // fusion off wins over folding on
    EXPECT_EQ(test::count_kind((*model)(x), "batch_norm2d"), 20);
  }
  EXPECT_EQ(test::count_kind((*model)(x), "batch_norm2d"), 0);
}

// ---- no stale fold ---------------------------------------------------------------------------------

TEST(ResNetFold, OutputFollowsEditsBetweenEvalForwards) {
  auto model = make_model(57, 16);
  const nn::StateDict original = model->state_dict();
  std::vector<std::pair<std::string, Tensor>> saved;
  for (const auto& [k, t] : original) saved.emplace_back(k, t.clone());
  Generator gen(58);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, gen);
  // Eval forwards without grad, as inference runs them: the folds come from each block's FoldCache.
  auto folded_and_unfused = [&] {
    NoGradGuard ng;
    Tensor f, u;
    {
      Switches s(true, true);
      f = (*model)(x);
    }
    {
      Switches s(false, true);
      u = (*model)(x);
    }
    EXPECT_LE(rel_max_error(f, u), kRelEdited);
    return f;
  };
  const Tensor y0 = folded_and_unfused();
  const Tensor y0_again = folded_and_unfused();
  EXPECT_TRUE(bitwise_equal(y0, y0_again));  // deterministic: an unchanged model gives the same bits
  // Each edit, made in place between two eval forwards, must move the folded output.
  auto* block = dynamic_cast<BasicBlock*>(model->find("layer2.0"));
  ASSERT_NE(block, nullptr);
  auto sgd_step = [&] {  // one training step: every parameter and running statistic moves
    optim::SGDOptions so;
    so.lr = 0.05;
    optim::SGD opt(model->parameters(), so);
    model->train();
    cross_entropy((*model)(x), Tensor::from_vector({0, 1}, {2}, DType::Int64)).backward();
    opt.step();
    model->eval();
  };
  auto* conv = block->conv1.get();
  std::vector<std::pair<const char*, std::function<void()>>> edits = {
      {"running_var of layer2.0.bn2", [&] { block->bn2->running_var().fill_(4.0); }},
      {"running_mean of the stem's bn1", [&] { model->bn1->running_mean().fill_(0.3); }},
      {"gamma of layer2.0.bn1", [&] { block->bn1->weight().fill_(0.7); }},
      {"weight of layer2.0.conv1",
       [&] {
         NoGradGuard ng;
         conv->weight().copy_(scale(conv->weight(), 0.5));
       }},
      {"an SGD step in training mode", sgd_step},
  };
  Tensor prev = y0;
  for (auto& [what, edit] : edits) {
    SCOPED_TRACE(what);
    edit();
    const Tensor y = folded_and_unfused();  // and checks folded == unfused after the edit
    EXPECT_GT(rel_max_error(y, prev), 100 * kRelEdited);
    prev = y;
  }
  // Loading the original state dict back restores the original output, bit for bit.
  nn::StateDict sd;
  for (const auto& [k, t] : saved) sd.emplace_back(k, t);
  model->load_state_dict(sd);
  EXPECT_TRUE(bitwise_equal(folded_and_unfused(), y0));
}

}  // namespace
}  // namespace lb::models
