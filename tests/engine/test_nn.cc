// test_nn.cc: the module tree (dotted names, state dicts, strict and non-strict loads, modes,
// repr, find), the initialisers (bounds, statistics, determinism) and the layers (each equals its
// functional op; BatchNorm2d's running statistics; in-place ReLU inside a residual block).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/nn.h"
#include "engine/ops/ops.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::error_of;

using namespace lb::nn;

// A block with its own parameter and buffer besides children, registered children-first, to
// show that state_dict puts own entries before the children's whatever the registration order.
struct Block : Module {
  explicit Block(Generator& gen) {
    conv = register_module("conv", std::make_shared<Conv2d>(2, 2, 3, 1, 1, false, gen));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(2));
    gain = register_parameter("gain", Tensor::ones({1}));
    register_buffer("count", Tensor::zeros({1}));
  }
  Tensor forward(const Tensor& x) override { return mul(bn->forward(conv->forward(x)), gain); }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  Tensor gain;
};

// Sequential(Sequential(Conv2d, BatchNorm2d), ReLU, Block)
std::shared_ptr<Sequential> make_model(uint64_t seed) {
  Generator gen(seed);
  auto inner = std::make_shared<Sequential>();
  inner->push_back(std::make_shared<Conv2d>(1, 2, 3, 1, 1, false, gen));
  inner->push_back(std::make_shared<BatchNorm2d>(2));
  auto outer = std::make_shared<Sequential>();
  outer->push_back(inner);
  outer->push_back(std::make_shared<ReLU>(true));
  outer->push_back(std::make_shared<Block>(gen));
  return outer;
}

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& kv : v) out.push_back(kv.first);
  return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- Module --------------------------------------------------------------------------------------

TEST(Module, DottedParameterNamesOfNestedSequential) {
  auto m = make_model(0);
  EXPECT_EQ(keys_of(m->named_parameters()), (std::vector<std::string>{"0.0.weight", "0.1.weight", "0.1.bias", "2.gain",
                                                                      "2.conv.weight", "2.bn.weight", "2.bn.bias"}));
  EXPECT_EQ(m->parameters().size(), 7u);
  for (const auto& p : m->parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(keys_of(m->named_buffers()),
            (std::vector<std::string>{"0.1.running_mean", "0.1.running_var", "0.1.num_batches_tracked", "2.count",
                                      "2.bn.running_mean", "2.bn.running_var", "2.bn.num_batches_tracked"}));
  std::vector<std::string> mods;
  for (const auto& [name, mod] : m->named_modules()) mods.push_back(name + ":" + mod->type_name());
  EXPECT_EQ(mods, (std::vector<std::string>{":Sequential", "0:Sequential", "0.0:Conv2d", "0.1:BatchNorm2d", "1:ReLU",
                                            "2:Block", "2.conv:Conv2d", "2.bn:BatchNorm2d"}));
  EXPECT_EQ(m->named_children().size(), 3u);
}

TEST(Module, StateDictOrderIsPyTorchs) {
  auto m = make_model(0);
  // Own parameters, own buffers, then each child: Block's gain and count come before conv and bn.
  EXPECT_EQ(
      keys_of(m->state_dict()),
      (std::vector<std::string>{"0.0.weight", "0.1.weight", "0.1.bias", "0.1.running_mean", "0.1.running_var",
                                "0.1.num_batches_tracked", "2.gain", "2.count", "2.conv.weight", "2.bn.weight",
                                "2.bn.bias", "2.bn.running_mean", "2.bn.running_var", "2.bn.num_batches_tracked"}));
  // Entries alias the model's storage but carry no autograd history.
  auto sd = m->state_dict();
  EXPECT_TRUE(sd[0].second.same_storage(m->named_parameters()[0].second));
  EXPECT_FALSE(sd[0].second.requires_grad());
  EXPECT_EQ(sd[5].second.dtype(), DType::Int64);
  EXPECT_EQ(sd[5].second.dim(), 0);
}

TEST(Module, LoadStateDictCopiesValuesAndBumpsVersions) {
  auto a = make_model(1), b = make_model(2);
  Tensor bw = b->named_parameters()[0].second;
  ASSERT_NE(bw.to_vector(), a->named_parameters()[0].second.to_vector());
  const uint64_t v0 = bw.version();
  LoadReport r = b->load_state_dict(a->state_dict());
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty());
  EXPECT_EQ(bw.to_vector(), a->named_parameters()[0].second.to_vector());  // same handle, new values
  EXPECT_GT(bw.version(), v0);
  EXPECT_FALSE(bw.same_storage(a->named_parameters()[0].second));  // copied, not aliased
}

TEST(Module, LoadStateDictConvertsDtype) {
  auto a = make_model(1), b = make_model(2);
  StateDict sd;
  for (auto& [k, t] : a->state_dict()) sd.emplace_back(k, t.dtype() == DType::Float32 ? t.to(DType::Float64) : t);
  b->load_state_dict(sd);
  EXPECT_EQ(b->named_parameters()[0].second.dtype(), DType::Float32);
  EXPECT_EQ(b->named_parameters()[0].second.to_vector(), a->named_parameters()[0].second.to_vector());
}

TEST(Module, StrictLoadListsEveryMissingAndUnexpectedKey) {
  auto a = make_model(1), b = make_model(2);
  StateDict sd;
  for (auto& [k, t] : a->state_dict())
    if (k != "2.conv.weight" && k != "0.1.bias") sd.emplace_back(k, t);
  sd.emplace_back("fc.weight", Tensor::zeros({2, 2}));
  const std::vector<double> before = b->named_parameters()[0].second.to_vector();
  const std::string msg = error_of([&] { b->load_state_dict(sd); });
  EXPECT_TRUE(contains(msg, "missing keys: 0.1.bias, 2.conv.weight")) << msg;
  EXPECT_TRUE(contains(msg, "unexpected keys: fc.weight")) << msg;
  // A failed load writes nothing.
  EXPECT_EQ(b->named_parameters()[0].second.to_vector(), before);
}

TEST(Module, ShapeMismatchThrowsEvenWhenNotStrict) {
  auto b = make_model(2);
  StateDict sd = make_model(1)->state_dict();
  sd[0].second = Tensor::zeros({2, 3, 3, 3});  // "0.0.weight" is (2, 1, 3, 3) in the model
  for (bool strict : {true, false}) {
    const std::string msg = error_of([&] { b->load_state_dict(sd, strict); });
    EXPECT_TRUE(contains(msg, "0.0.weight")) << msg;
    EXPECT_TRUE(contains(msg, "[2, 3, 3, 3]")) << msg;
    EXPECT_TRUE(contains(msg, "[2, 1, 3, 3]")) << msg;
  }
}

TEST(Module, NonStrictLoadReportsAndLoadsTheRest) {
  auto a = make_model(1), b = make_model(2);
  StateDict sd;
  for (auto& [k, t] : a->state_dict())
    if (k != "2.gain") sd.emplace_back(k, t);
  sd.emplace_back("extra.bias", Tensor::zeros({3}));
  LoadReport r = b->load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(r.missing, std::vector<std::string>{"2.gain"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"extra.bias"});
  EXPECT_EQ(b->named_parameters()[0].second.to_vector(), a->named_parameters()[0].second.to_vector());
}

TEST(Module, NumBatchesTrackedMayBeAbsent) {
  // Old checkpoints and some converters drop it; PyTorch keeps the current value. So do we.
  auto a = make_model(1), b = make_model(2);
  StateDict sd;
  for (auto& [k, t] : a->state_dict())
    if (!contains(k, "num_batches_tracked")) sd.emplace_back(k, t);
  LoadReport r;
  EXPECT_NO_THROW(r = b->load_state_dict(sd));
  EXPECT_TRUE(r.missing.empty());
}

TEST(Module, TrainAndEvalRecurse) {
  auto m = make_model(0);
  for (auto& [name, mod] : m->named_modules()) EXPECT_TRUE(mod->is_training()) << name;
  m->eval();
  for (auto& [name, mod] : m->named_modules()) EXPECT_FALSE(mod->is_training()) << name;
  m->find("2")->train();
  EXPECT_FALSE(m->is_training());
  EXPECT_TRUE(m->find("2.bn")->is_training());
  EXPECT_FALSE(m->find("0.1")->is_training());
}

TEST(Module, FindByDottedName) {
  auto m = make_model(0);
  EXPECT_EQ(m->find(""), m.get());
  ASSERT_NE(m->find("0.1"), nullptr);
  EXPECT_EQ(m->find("0.1")->type_name(), "BatchNorm2d");
  EXPECT_EQ(m->find("2.conv")->type_name(), "Conv2d");
  EXPECT_EQ(m->find("3"), nullptr);
  EXPECT_EQ(m->find("0.1.weight"), nullptr);  // a parameter, not a module
  EXPECT_EQ(m->find("2.conv.x"), nullptr);
}

TEST(Module, ReprIsPyTorchs) {
  auto m = make_model(0);
  // What print() shows for the same model built from torch.nn (Block's extra_repr is empty).
  const std::string want =
      "Sequential(\n"
      "  (0): Sequential(\n"
      "    (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "    (1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  )\n"
      "  (1): ReLU(inplace=True)\n"
      "  (2): Block(\n"
      "    (conv): Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
      "    (bn): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  )\n"
      ")";
  EXPECT_EQ(m->repr(), want);
  Generator gen(0);
  EXPECT_EQ(MaxPool2d(3, 2, 1).repr(), "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)");
  EXPECT_EQ(AdaptiveAvgPool2d(1, 1).repr(), "AdaptiveAvgPool2d(output_size=(1, 1))");
  EXPECT_EQ(Flatten().repr(), "Flatten(start_dim=1, end_dim=-1)");
  EXPECT_EQ(Linear(512, 2, true, gen).repr(), "Linear(in_features=512, out_features=2, bias=True)");
  EXPECT_EQ(ReLU().repr(), "ReLU()");
  EXPECT_EQ(Conv2d(64, 128, 1, 2, 0, false, gen).repr(),
            "Conv2d(64, 128, kernel_size=(1, 1), stride=(2, 2), bias=False)");
  EXPECT_EQ(Sequential().repr(), "Sequential()");
}

TEST(Module, PyFloatReprMatchesPython) {
  EXPECT_EQ(py_float_repr(0.1), "0.1");
  EXPECT_EQ(py_float_repr(1e-5), "1e-05");
  EXPECT_EQ(py_float_repr(1e-4), "0.0001");
  EXPECT_EQ(py_float_repr(1.0), "1.0");
  EXPECT_EQ(py_float_repr(-2.5), "-2.5");
  EXPECT_EQ(py_float_repr(123.0), "123.0");
  EXPECT_EQ(py_float_repr(1e16), "1e+16");
  EXPECT_EQ(py_float_repr(0.001), "0.001");
}

TEST(Module, FreezeZeroGradAndNames) {
  auto m = make_model(0);
  m->set_requires_grad(false);
  for (auto& p : m->parameters()) EXPECT_FALSE(p.requires_grad());
  m->set_requires_grad(true);
  for (auto& p : m->parameters()) p.set_grad(Tensor::zeros(p.shape()));
  m->zero_grad();
  for (auto& p : m->parameters()) EXPECT_FALSE(p.grad().defined());
  m->assign_names();
  EXPECT_EQ(m->named_parameters()[4].second.name(), "2.conv.weight");
  EXPECT_EQ(m->named_buffers()[2].second.name(), "0.1.num_batches_tracked");
}

TEST(Module, RegistrationErrors) {
  struct Bad : Module {
    Tensor forward(const Tensor& x) override { return x; }
    std::string type_name() const override { return "Bad"; }
    void add(const std::string& n) { register_parameter(n, Tensor::zeros({1})); }
  } bad;
  bad.add("w");
  EXPECT_THROW(bad.add("w"), Error);    // duplicate
  EXPECT_THROW(bad.add("a.b"), Error);  // dots would make dotted names ambiguous
  EXPECT_THROW(bad.add(""), Error);
}

TEST(Module, ToCpuKeepsHandles) {
  auto m = make_model(0);
  Tensor w = m->named_parameters()[0].second;
  const std::vector<double> before = w.to_vector();
  m->to(Device::cpu());
  EXPECT_TRUE(w.same_storage(m->named_parameters()[0].second));
  EXPECT_EQ(w.to_vector(), before);
}

// ---- Init ------------------------------------------------------------------------------------------

TEST(Init, FansAndGains) {
  Tensor conv = Tensor::empty({8, 4, 3, 3}), fc = Tensor::empty({10, 7});
  EXPECT_EQ(init::fan_in(conv), 36);   // C*R*S
  EXPECT_EQ(init::fan_out(conv), 72);  // K*R*S
  EXPECT_EQ(init::fan_in(fc), 7);
  EXPECT_EQ(init::fan_out(fc), 10);
  EXPECT_THROW(init::fan_in(Tensor::empty({3})), Error);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::Linear), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::LeakyReLU, std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
}

// Every value of t lies in [-bound, bound], and the extremes come close to it (a uniform over
// many draws fills its range: with n draws the gap is about 2*bound/n).
void expect_uniform_in(const Tensor& t, double bound) {
  double lo = 0, hi = 0;
  for (double v : t.to_vector()) {
    EXPECT_LE(std::fabs(v), bound * (1 + 1e-7)) << "float32 rounding of the bound is ~6e-8 relative";
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (t.numel() >= 1000) {
    EXPECT_GT(hi, 0.98 * bound);
    EXPECT_LT(lo, -0.98 * bound);
  }
}

TEST(Init, ConvAndLinearDefaultsAreUniformWithinInverseSqrtFanIn) {
  Generator gen(7);
  Conv2d conv(16, 32, 3, 1, 1, true, gen);  // fan_in = 16*9 = 144, bound 1/12
  expect_uniform_in(conv.weight(), 1.0 / 12.0);
  expect_uniform_in(conv.bias(), 1.0 / 12.0);
  Linear fc(64, 100, true, gen);  // fan_in 64, bound 1/8
  expect_uniform_in(fc.weight(), 1.0 / 8.0);
  expect_uniform_in(fc.bias(), 1.0 / 8.0);
  Conv2d nobias(16, 32, 3, 1, 1, false, gen);
  EXPECT_FALSE(nobias.bias().defined());
  EXPECT_EQ(keys_of(nobias.named_parameters()), std::vector<std::string>{"weight"});
}

TEST(Init, KaimingNormalFanOutReluStatistics) {
  // torchvision's ResNet conv init. (256, 128, 3, 3): fan_out = 256*9 = 2304, std = sqrt(2/2304).
  Generator gen(3);
  Tensor w = Tensor::empty({256, 128, 3, 3});
  init::kaiming_normal_(w, gen, init::FanMode::FanOut, init::Nonlinearity::ReLU);
  const double want_std = std::sqrt(2.0 / 2304.0);
  const std::vector<double> v = w.to_vector();
  const double n = static_cast<double>(v.size());  // 294912 draws
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= n;
  for (double x : v) sq += (x - mean) * (x - mean);
  const double std = std::sqrt(sq / (n - 1));
  // Five standard errors: the sample mean's is std/sqrt(n) (5e-5 here), the sample std's is
  // about std/sqrt(2n) relative (0.13%); a correct sampler fails these about once in 10^6 runs.
  EXPECT_NEAR(mean, 0.0, 5 * want_std / std::sqrt(n));
  EXPECT_NEAR(std / want_std, 1.0, 5 / std::sqrt(2 * n));
}

TEST(Init, KaimingUniformBoundAndFanMode) {
  Generator gen(4);
  Tensor w = Tensor::empty({64, 8, 3, 3});  // fan_in 72, fan_out 576
  init::kaiming_uniform_(w, gen, init::FanMode::FanOut, init::Nonlinearity::ReLU);
  expect_uniform_in(w, std::sqrt(2.0) * std::sqrt(3.0 / 576.0));
}

TEST(Init, SameSeedSameWeights) {
  Generator g1(42), g2(42), g3(43);
  Conv2d a(3, 8, 3, 1, 1, true, g1), b(3, 8, 3, 1, 1, true, g2), c(3, 8, 3, 1, 1, true, g3);
  EXPECT_EQ(a.weight().to_vector(), b.weight().to_vector());
  EXPECT_EQ(a.bias().to_vector(), b.bias().to_vector());
  EXPECT_NE(a.weight().to_vector(), c.weight().to_vector());
}

TEST(Init, ConstantNormalAndUniform) {
  Generator gen(5);
  Tensor t = Tensor::empty({4, 4}).requires_grad_();  // a parameter: init writes it without recording
  init::constant_(t, 0.5);
  for (double v : t.to_vector()) EXPECT_EQ(v, 0.5);
  init::uniform_(t, 2.0, 3.0, gen);
  for (double v : t.to_vector()) EXPECT_TRUE(v >= 2.0 && v <= 3.0);
  const uint64_t before = t.version();
  init::normal_(t, 0.0, 1.0, gen);
  EXPECT_GT(t.version(), before);
  EXPECT_TRUE(t.is_leaf());
}

// ---- Layers ----------------------------------------------------------------------------------------

// Each layer must run exactly its op with its own settings: bitwise equality.
TEST(Layers, ConvAndLinearEqualTheirOps) {
  Generator gen(1);
  Conv2d conv(3, 4, 3, 2, 1, true, gen);
  Tensor x = test::random_tensor({2, 3, 9, 9}, 10, DType::Float32);
  Tensor y = conv(x);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 5, 5}));
  LB_EXPECT_CLOSE(y, conv2d(x, conv.weight(), conv.bias(), 2, 1), 0, 0);
  Linear fc(6, 3, false, gen);
  Tensor z = test::random_tensor({5, 6}, 11, DType::Float32);
  LB_EXPECT_CLOSE(fc(z), linear(z, fc.weight(), Tensor()), 0, 0);
}

TEST(Layers, PoolFlattenReluEqualTheirOps) {
  Tensor x = test::random_tensor({2, 3, 8, 8}, 12, DType::Float32);
  LB_EXPECT_CLOSE(MaxPool2d(3, 2, 1)(x), max_pool2d(x, 3, 2, 1), 0, 0);
  LB_EXPECT_CLOSE(AdaptiveAvgPool2d(1, 1)(x), adaptive_avg_pool2d(x, 1, 1), 0, 0);
  EXPECT_EQ(Flatten()(x).shape(), (Shape{2, 192}));
  LB_EXPECT_CLOSE(ReLU()(x), relu(x), 0, 0);
  Tensor xc = x.clone();
  Tensor y = ReLU(true)(xc);
  EXPECT_TRUE(y.same_storage(xc));  // in place: the input itself was rewritten
  LB_EXPECT_CLOSE(xc, relu(x), 0, 0);
}

TEST(Layers, SequentialChains) {
  Generator gen(2);
  Sequential seq({std::make_shared<Conv2d>(1, 2, 3, 1, 0, true, gen), std::make_shared<ReLU>(),
                  std::make_shared<AdaptiveAvgPool2d>(1, 1), std::make_shared<Flatten>(),
                  std::make_shared<Linear>(2, 3, true, gen)});
  Tensor x = test::random_tensor({4, 1, 6, 6}, 13, DType::Float32);
  auto* conv = static_cast<Conv2d*>(seq.at(0).get());
  auto* fc = static_cast<Linear*>(seq.at(4).get());
  Tensor want = linear(flatten(adaptive_avg_pool2d(relu(conv2d(x, conv->weight(), conv->bias(), 1, 0)), 1, 1)),
                       fc->weight(), fc->bias());
  LB_EXPECT_CLOSE(seq(x), want, 0, 0);
  EXPECT_EQ(seq.size(), 5u);
  EXPECT_THROW(seq.at(5), Error);
}

TEST(Layers, BatchNormTrainUpdatesRunningStatsEvalDoesNot) {
  BatchNorm2d bn(3);
  EXPECT_EQ(bn.running_mean().to_vector(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(bn.running_var().to_vector(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(bn.num_batches_tracked().item(), 0);
  Tensor x = test::random_tensor({4, 3, 5, 5}, 14, DType::Float32, 1.0, 3.0);
  // The functional op on copies of the buffers is the reference, in both modes.
  Tensor rm = bn.running_mean().clone(), rv = bn.running_var().clone();
  Tensor want = batch_norm2d(x, bn.weight(), bn.bias(), rm, rv, true, 0.1, 1e-5);
  LB_EXPECT_CLOSE(bn(x), want, 0, 0);
  LB_EXPECT_CLOSE(bn.running_mean(), rm, 0, 0);
  LB_EXPECT_CLOSE(bn.running_var(), rv, 0, 0);
  for (double v : bn.running_mean().to_vector()) EXPECT_GT(v, 0.1);  // 0.1 * a batch mean near 2
  EXPECT_EQ(bn.num_batches_tracked().item(), 1);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().item(), 2);

  bn.eval();
  const std::vector<double> mean_before = bn.running_mean().to_vector(), var_before = bn.running_var().to_vector();
  Tensor y = bn(x);
  LB_EXPECT_CLOSE(y, batch_norm2d(x, bn.weight(), bn.bias(), bn.running_mean(), bn.running_var(), false), 0, 0);
  EXPECT_EQ(bn.running_mean().to_vector(), mean_before);
  EXPECT_EQ(bn.running_var().to_vector(), var_before);
  EXPECT_EQ(bn.num_batches_tracked().item(), 2);
}

TEST(Layers, BadSettingsThrow) {
  Generator gen(0);
  EXPECT_THROW(Conv2d(0, 2, 3, 1, 0, true, gen), Error);
  EXPECT_THROW(MaxPool2d(3, 2, 2), Error);  // padding above kernel / 2
  EXPECT_THROW(BatchNorm2d(0), Error);
  EXPECT_THROW(BatchNorm2d(4)(Tensor::zeros({2, 3, 4, 4})), Error);
}

// ---- InPlace: the ResNet residual block with in-place ReLUs ------------------------------------------

// x -> conv -> bn -> relu -> conv -> bn, out += x, relu; loss = sum(out * r). Run once with
// ReLU(inplace) and add_, once out of place, on the same modules and inputs.
struct ResidualGrads {
  Tensor out;
  std::vector<Tensor> grads;  // dL/dx, then every parameter's gradient
};

ResidualGrads run_block(Sequential& block, const Tensor& x_value, const Tensor& r, bool inplace) {
  block.zero_grad();
  Tensor x = x_value.clone().requires_grad_();
  ReLU act(inplace);
  Tensor out = (*block.at(0))(x);
  out = (*block.at(1))(out);
  out = act(out);
  out = (*block.at(2))(out);
  out = (*block.at(3))(out);
  if (inplace) {
    add_(out, x);
  } else {
    out = add(out, x);
  }
  out = act(out);
  sum(mul(out, r)).backward();
  ResidualGrads g{out.detach().clone(), {x.grad()}};
  for (auto& p : block.parameters()) g.grads.push_back(p.grad());
  return g;
}

TEST(InPlace, ResidualBlockWithInplaceReluMatchesOutOfPlace) {
  Generator gen(9);
  Sequential block({std::make_shared<Conv2d>(3, 3, 3, 1, 1, false, gen), std::make_shared<BatchNorm2d>(3),
                    std::make_shared<Conv2d>(3, 3, 3, 1, 1, false, gen), std::make_shared<BatchNorm2d>(3)});
  Tensor x = test::random_tensor({2, 3, 5, 5}, 15, DType::Float32);
  Tensor r = test::random_tensor({2, 3, 5, 5}, 16, DType::Float32);
  ResidualGrads a = run_block(block, x, r, true);
  ResidualGrads b = run_block(block, x, r, false);
  // Both runs execute the same kernels on the same values (training-mode BN ignores the running
  // statistics the first run updated); only the order in which the engine sums the two gradient
  // paths into x may differ, which is a float32 rounding of about 1e-7 relative.
  LB_EXPECT_CLOSE(a.out, b.out, 0, 0);
  ASSERT_EQ(a.grads.size(), 7u);  // x, then 2 conv weights and 2 x (bn weight, bias)
  for (size_t i = 0; i < a.grads.size(); ++i) {
    ASSERT_TRUE(a.grads[i].defined() && b.grads[i].defined()) << i;
    LB_EXPECT_CLOSE(a.grads[i], b.grads[i], 1e-6, 1e-5);
  }
  // Some ReLU units were cut (otherwise the test would not exercise the mask).
  int zeros = 0;
  for (double v : a.out.to_vector()) zeros += v == 0.0;
  EXPECT_GT(zeros, 0);
}

}  // namespace
}  // namespace lb
