// test_resnet.cc: ResNet18 (models/resnet.h) is torchvision's resnet18, name for name and shape
// for shape, so torchvision checkpoints load and lightbox checkpoints open in PyTorch.
//
// What is checked, and against what:
//   - parameter counts and the state_dict (keys, order, dtypes, shapes, num_batches_tracked
//     included) against torchvision itself: tests/fixtures/resnet18_keys.txt was written by
//     make_resnet_keys.py from torchvision 0.14's resnet18 with the seed's 1-channel conv1;
//   - every stage's output shape at 28x28 (the seed's size, listed in resnet.h) and at 64x64,
//     through nn::Capture, the taps the explainers use;
//   - forward_from(stage, that stage's captured input) reproduces the full forward, for every
//     stage (layer explanations feed activations back in this way);
//   - initialisation: same seed, same weights; torchvision's statistics (kaiming_normal_ fan_out
//     for convs, BatchNorm 1/0, Linear's default uniform for fc);
//   - eval mode is deterministic and per-sample; backward reaches every parameter; freezing with
//     set_trainable leaves frozen parameters without a gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/ops/ops.h"
#include "models/resnet.h"
#include "models/train.h"
#include "tests/support/check.h"

namespace lb::models {
namespace {

struct KeyLine {
  std::string key, dtype;
  Shape shape;
};

// tests/fixtures/resnet18_keys.txt: "# params in_channels=1 num_classes=2: N" comment lines, then
// "<key> <dtype> [d0,d1,...]" per state_dict entry in torchvision's order.
std::vector<KeyLine> torchvision_keys(std::vector<std::pair<std::string, int64_t>>* counts = nullptr) {
  std::ifstream f(std::string(LB_FIXTURES_DIR) + "/resnet18_keys.txt");
  EXPECT_TRUE(f.good()) << "missing tests/fixtures/resnet18_keys.txt (run make_resnet_keys.py)";
  std::vector<KeyLine> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      const auto colon = line.rfind(": ");
      if (counts != nullptr && line.find("# params ") == 0 && colon != std::string::npos)
        counts->emplace_back(line.substr(9, colon - 9), std::stoll(line.substr(colon + 2)));
      continue;
    }
    std::istringstream ss(line);
    KeyLine k;
    std::string shape;
    ss >> k.key >> k.dtype >> shape;
    std::stringstream dims(shape.substr(1, shape.size() - 2));  // strip [ and ]
    std::string d;
    while (std::getline(dims, d, ',')) k.shape.push_back(std::stoll(d));
    out.push_back(k);
  }
  return out;
}

int64_t parameter_count(const ResNet18& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

Tensor input(int64_t n, int64_t c, int64_t size, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn({n, c, size, size}, gen);
}

Tensor param(const ResNet18& m, const std::string& name) {
  for (const auto& [k, t] : m.named_parameters())
    if (k == name) return t;
  ADD_FAILURE() << "no parameter " << name;
  return Tensor::zeros({1});
}

// ---- torchvision parity ----------------------------------------------------------------------------

TEST(ResNet18, ParameterCountsMatchTorchvision) {
  Generator gen(0);
  // torchvision: resnet18(num_classes=2) with conv1 = Conv2d(1, 64, 7, 2, 3, bias=False), and the
  // stock resnet18() (3 channels, 1000 classes); both numbers also sit in the fixture's header.
  EXPECT_EQ(parameter_count(ResNet18(1, 2, gen)), 11171266);
  EXPECT_EQ(parameter_count(ResNet18(3, 1000, gen)), 11689512);
  std::vector<std::pair<std::string, int64_t>> counts;
  torchvision_keys(&counts);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].second, 11171266);
  EXPECT_EQ(counts[1].second, 11689512);
}

TEST(ResNet18, StateDictIsTorchvisionsKeyForKey) {
  Generator gen(0);
  ResNet18 model(1, 2, gen);
  const auto want = torchvision_keys();
  const auto got = model.state_dict();
  ASSERT_EQ(want.size(), 122u);  // 62 params + 60 buffers (20 BatchNorms x running_mean/var/count)
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    EXPECT_EQ(got[i].first, want[i].key);
    EXPECT_EQ(got[i].second.shape(), want[i].shape) << want[i].key;
    EXPECT_EQ(dtype_name(got[i].second.dtype()), want[i].dtype) << want[i].key;
  }
}

TEST(ResNet18, NamedParametersAreTheStateDictWithoutBuffers) {
  Generator gen(0);
  ResNet18 model(1, 2, gen);
  std::vector<std::string> want;
  for (const auto& k : torchvision_keys())
    if (k.key.find("running_") == std::string::npos && k.key.find("num_batches_tracked") == std::string::npos)
      want.push_back(k.key);
  std::vector<std::string> got;
  for (const auto& [k, t] : model.named_parameters()) got.push_back(k);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.size(), 62u);
}

// ---- shapes through the taps -------------------------------------------------------------------------

struct StageShape {
  const char* name;
  Shape shape;
};

void expect_stage_shapes(int64_t size, const std::vector<StageShape>& want) {
  Generator gen(1);
  ResNet18 model(1, 2, gen);
  model.eval();
  std::vector<std::string> names;
  for (const auto& w : want) names.push_back(w.name);
  nn::Capture cap(names);
  Tensor logits;
  {
    NoGradGuard g;
    logits = model(input(2, 1, size, 2));
  }
  for (const auto& w : want) {
    ASSERT_TRUE(cap.has(w.name)) << w.name << " did not run";
    EXPECT_EQ(cap.at(w.name).output.shape(), w.shape) << w.name << " at " << size << "x" << size;
  }
  EXPECT_EQ(logits.shape(), (Shape{2, 2}));
}

TEST(ResNet18, StageShapesAt28MatchTheSeedModel) {
  // resnet.h's table: conv1 64x14x14, maxpool 64x7x7, layer1 64x7x7, layer2 128x4x4, layer3
  // 256x2x2, layer4 512x1x1, avgpool 512, fc 2 (batch 2).
  expect_stage_shapes(28, {{"conv1", {2, 64, 14, 14}},
                           {"bn1", {2, 64, 14, 14}},
                           {"maxpool", {2, 64, 7, 7}},
                           {"layer1", {2, 64, 7, 7}},
                           {"layer2", {2, 128, 4, 4}},
                           {"layer2.0.downsample", {2, 128, 4, 4}},
                           {"layer3", {2, 256, 2, 2}},
                           {"layer4", {2, 512, 1, 1}},
                           {"avgpool", {2, 512, 1, 1}},
                           {"fc", {2, 2}}});
}

TEST(ResNet18, StageShapesAt64) {
  // Every stride-2 stage halves with ceil: 64 -> 32 -> 16 (maxpool) -> 16 -> 8 -> 4 -> 2.
  expect_stage_shapes(64, {{"conv1", {2, 64, 32, 32}},
                           {"maxpool", {2, 64, 16, 16}},
                           {"layer1", {2, 64, 16, 16}},
                           {"layer2", {2, 128, 8, 8}},
                           {"layer3", {2, 256, 4, 4}},
                           {"layer4", {2, 512, 2, 2}},
                           {"avgpool", {2, 512, 1, 1}},
                           {"fc", {2, 2}}});
}

TEST(ResNet18, RejectsInputWithTheWrongChannelCount) {
  Generator gen(0);
  ResNet18 model(1, 2, gen);
  try {
    model(input(1, 3, 28, 28));
    FAIL() << "a 3-channel input was accepted by a 1-channel model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(N, 1, H, W)"), std::string::npos) << e.what();
  }
}

// ---- forward_from ------------------------------------------------------------------------------------

TEST(ResNet18, ForwardFromEveryStageEqualsTheFullForward) {
  Generator gen(3);
  ResNet18 model(1, 2, gen);
  model.eval();  // train mode would move the running statistics between the two passes
  NoGradGuard g;
  const Tensor x = input(3, 1, 28, 4);
  const auto& stages = ResNet18::stage_names();
  nn::Capture cap(stages);
  const Tensor logits = model(x);
  for (const std::string& s : stages) {
    // The same ops on the same values in the same order: equal up to BLAS's summation order,
    // which does not change between two identical calls; 1e-6 on logits of size ~1 only allows
    // for a different OpenMP split of a GEMM.
    LB_EXPECT_CLOSE(model.forward_from(s, cap.at(s).input), logits, 1e-6, 0.0);
  }
  // The case layer explanations use, exactly.
  EXPECT_TRUE(bitwise_equal(model.forward_from("layer4", cap.at("layer4").input), logits));
  EXPECT_THROW(model.forward_from("layer5", x), Error);
}

// ---- initialisation ----------------------------------------------------------------------------------

TEST(ResNet18, SameSeedSameWeightsOtherSeedOtherWeights) {
  Generator g1(7), g2(7), g3(8);
  ResNet18 a(1, 2, g1), b(1, 2, g2), c(1, 2, g3);
  const auto sa = a.state_dict(), sb = b.state_dict(), sc = c.state_dict();
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(bitwise_equal(sa[i].second, sb[i].second)) << sa[i].first;
  for (const char* k : {"conv1.weight", "layer3.1.conv2.weight", "fc.weight"})
    EXPECT_FALSE(bitwise_equal(param(a, k), param(c, k))) << k << " ignores the seed";
}

TEST(ResNet18, ConvInitIsKaimingNormalFanOut) {
  Generator gen(11);
  ResNet18 model(1, 2, gen);
  int convs = 0;
  for (const auto& [name, t] : model.named_parameters()) {
    if (t.dim() != 4) continue;
    ++convs;
    const int64_t fan_out = t.size(0) * t.size(2) * t.size(3);
    const double want_std = std::sqrt(2.0 / fan_out);  // gain sqrt(2) (relu) / sqrt(fan_out)
    const auto v = t.to_vector();
    const double n = static_cast<double>(v.size());
    double sum = 0, sq = 0;
    for (double x : v) sum += x;
    const double mean = sum / n;
    for (double x : v) sq += (x - mean) * (x - mean);
    const double std = std::sqrt(sq / (n - 1));
    // For normal samples the sample std has relative standard error 1/sqrt(2n) and the mean has
    // standard error std/sqrt(n); 5 standard errors (the smallest tensor, conv1 with 3136 values:
    // 6.3% on the std) fail by chance about once in 1.7 million tensors. A fan_in init would be
    // off by sqrt(K/C): 8x for conv1, 2x for the stride-2 first convs, so those are caught.
    EXPECT_NEAR(std / want_std, 1.0, 5.0 / std::sqrt(2.0 * n)) << name;
    EXPECT_NEAR(mean, 0.0, 5.0 * want_std / std::sqrt(n)) << name;
  }
  EXPECT_EQ(convs, 20);  // 1 stem + 16 in blocks + 3 downsample
}

TEST(ResNet18, BatchNormAndLinearInit) {
  Generator gen(12);
  ResNet18 model(1, 2, gen);
  for (const auto& [name, t] : model.state_dict()) {
    const auto v = t.to_vector();
    auto all = [&](double want) {
      for (double x : v)
        if (x != want) return false;
      return true;
    };
    if (name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos) {
      if (name.find(".weight") != std::string::npos || name.find("running_var") != std::string::npos)
        EXPECT_TRUE(all(1.0)) << name;
      else
        EXPECT_TRUE(all(0.0)) << name;  // bias, running_mean, num_batches_tracked
    }
  }
  // fc keeps nn.Linear's reset_parameters: U(-1/sqrt(512), 1/sqrt(512)) for weight and bias.
  const double bound = 1.0 / std::sqrt(512.0);
  const auto w = param(model, "fc.weight").to_vector();
  double sq = 0;
  for (double x : w) {
    EXPECT_LE(std::fabs(x), bound);
    sq += x * x;
  }
  // A uniform's std is bound/sqrt(3); with 1024 samples the sample std's relative standard error
  // is sqrt((kurtosis - 1) / (4n)) = sqrt(0.8 / 4096) = 1.4%, so 7% is 5 standard errors.
  EXPECT_NEAR(std::sqrt(sq / w.size()) / (bound / std::sqrt(3.0)), 1.0, 0.07);
  for (double x : param(model, "fc.bias").to_vector()) EXPECT_LE(std::fabs(x), bound);
}

// ---- modes and gradients -----------------------------------------------------------------------------

TEST(ResNet18, EvalForwardIsDeterministicAndPerSample) {
  Generator gen(5);
  ResNet18 model(1, 2, gen);
  model.eval();
  NoGradGuard g;
  const Tensor x = input(4, 1, 28, 6);
  const Tensor a = model(x), b = model(x);
  EXPECT_TRUE(bitwise_equal(a, b));
  // Eval-mode BatchNorm uses the running statistics, so a sample's logits do not depend on its
  // batch mates. Batch 1 vs batch 4 may split the GEMMs differently, hence 1e-5 on logits ~1.
  const Tensor one = model(x.slice0(0, 1).clone());
  LB_EXPECT_CLOSE(one, a.slice0(0, 1).clone(), 1e-5, 1e-5);
  // Train mode, by contrast, normalises with the batch's statistics: the same sample differs.
  model.train();
  const Tensor t4 = model(x), t2 = model(x.slice0(0, 2).clone());
  EXPECT_FALSE(test::all_close(t2, t4.slice0(0, 2).clone(), 1e-4, 0.0));
}

TEST(ResNet18, BackwardReachesEveryParameter) {
  Generator gen(9);
  ResNet18 model(1, 2, gen);
  model.train();
  const Tensor y = Tensor::from_vector({0, 1, 1, 0}, {4}, DType::Int64);
  cross_entropy(model(input(4, 1, 28, 10)), y).backward();
  for (const auto& [name, p] : model.named_parameters()) {
    const Tensor g = p.grad();
    ASSERT_TRUE(g.defined()) << name << " got no gradient";
    EXPECT_EQ(g.shape(), p.shape()) << name;
    double norm = 0;
    for (double v : g.to_vector()) {
      ASSERT_TRUE(std::isfinite(v)) << name;
      norm += v * v;
    }
    EXPECT_GT(norm, 0.0) << name << " has an all-zero gradient";
  }
  // Buffers are state, not trainable: they never require grad.
  for (const auto& [name, b] : model.named_buffers()) EXPECT_FALSE(b.requires_grad()) << name;
}

TEST(ResNet18, FrozenParametersGetNoGradient) {
  Generator gen(13);
  ResNet18 model(1, 2, gen);
  EXPECT_EQ(set_trainable(model, {"fc", "layer4.1"}), (std::vector<std::string>{"layer4", "fc"}));
  const Tensor y = Tensor::from_vector({0, 1}, {2}, DType::Int64);
  cross_entropy(model(input(2, 1, 28, 14)), y).backward();
  int trained = 0;
  for (const auto& [name, p] : model.named_parameters()) {
    const bool on = name.rfind("fc.", 0) == 0 || name.rfind("layer4.1.", 0) == 0;
    EXPECT_EQ(p.requires_grad(), on) << name;
    EXPECT_EQ(p.grad().defined(), on) << name;
    trained += on;
  }
  EXPECT_EQ(trained, 2 + 6);  // fc weight, bias; layer4.1 conv1, bn1 (2), conv2, bn2 (2)
  // Unfreezing everything again: an empty prefix list.
  EXPECT_EQ(set_trainable(model, {}),
            (std::vector<std::string>{"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"}));
  for (const auto& p : model.parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(ResNet18, SetTrainableMatchesWholeNamesOnly) {
  Generator gen(0);
  ResNet18 model(1, 2, gen);
  // "layer" is a prefix of "layer1" as text but not a module: matching is at dot boundaries.
  try {
    set_trainable(model, {"layer"});
    FAIL() << "'layer' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'layer'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(set_trainable(model, {"conv1.weight"}), (std::vector<std::string>{"conv1"}));
}

}  // namespace
}  // namespace lb::models
