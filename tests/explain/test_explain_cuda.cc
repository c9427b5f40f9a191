// test_explain_cuda.cc (label gpu): every explainer with the model on a CUDA device against the
// same explainer, same settings and same seeds, with the model on the CPU.
//
// The explainers build their images and draws on the host and keep their float64 bookkeeping
// there; only the network passes move (docs/07-shap.md, "On the GPU"). So the two runs see the
// same sample points, and what differs is float32 rounding inside the network (other summation
// orders in the CUDA conv, batch norm and reductions, ~1e-6 relative per op). Attributions are
// compared by their relative L2 error ||gpu - cpu|| / ||cpu|| <= 1e-3: a few hundred float32
// ops deep, that leaves two orders of magnitude of room over the rounding, and a real mistake
// (a wrong device, a missed copy, a rule applied to the wrong rows) moves it to O(1).
// Model: the explain fixture (tests/support/explain_fixture.h), a width-8 ResNet18, 1x28x28, 2
// logits; images x.npy (6) and background bg.npy (20) from tests/fixtures/explain/.
// Skipped, and reported as skipped, when the build has no CUDA or the machine has no device.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/storage.h"
#include "explain/deep.h"
#include "explain/gradient.h"
#include "explain/integrated_gradients.h"
#include "explain/masker.h"
#include "explain/partition.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/explain_fixture.h"
#include "tests/support/tiny_dataset.h"

namespace lb::explain {
namespace {

// Relative L2 error between two attributions (the shared tolerance, see the header).
constexpr double kRelL2 = 1e-3;

// ||got - want||_2 / ||want||_2 over every element, in double (both on the CPU).
double rel_l2(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < std::min(got.numel(), want.numel()); ++i) {
    const double d = got.at(i) - want.at(i);
    num += d * d;
    den += want.at(i) * want.at(i);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// mean over (n, k) of |f(x) - expected|: the size of what the attributions explain.
double explained_scale(const Attribution& a) {
  const int64_t N = a.outputs.size(0), K = a.outputs.size(1);
  double s = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      s += std::fabs(a.outputs.at(n * K + k) - (a.expected.dim() == 1 ? a.expected.at(k) : a.expected.at(n * K + k)));
  return s / static_cast<double>(N * K);
}

class CudaExplain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
    cpu_ = test::explain_fixture_checkpoint();
    gpu_ = test::explain_fixture_checkpoint();
    gpu_.model->to(Device::cuda());
    x_ = io::load_npy(test::explain_fixture("x.npy"));    // (6, 1, 28, 28)
    bg_ = io::load_npy(test::explain_fixture("bg.npy"));  // (20, 1, 28, 28)
  }

  Explained cpu(ModelOutput out = ModelOutput::Logits) { return Explained{*cpu_.model, out}; }
  Explained gpu(ModelOutput out = ModelOutput::Logits) { return Explained{*gpu_.model, out}; }

  // Runs `explain` with f on the CPU and on CUDA, checks what every method shares, prints both
  // times, and leaves the two results in c and g.
  void both(const char* what, const std::function<Attribution(const Explained&)>& explain, Attribution& c,
            Attribution& g) {
    std::vector<bool> wanted;
    for (const Tensor& p : gpu_.model->parameters()) wanted.push_back(p.requires_grad());
    auto t0 = std::chrono::steady_clock::now();
    c = explain(cpu());
    auto t1 = std::chrono::steady_clock::now();
    g = explain(gpu());
    auto t2 = std::chrono::steady_clock::now();
    std::printf("  [%s] cpu %.1f ms, cuda %.1f ms\n", what, 1e3 * std::chrono::duration<double>(t1 - t0).count(),
                1e3 * std::chrono::duration<double>(t2 - t1).count());
    // The results live on the CPU in float64 whatever the model's device.
    for (const Tensor* t : {&g.values, &g.outputs}) {
      EXPECT_TRUE(t->device().is_cpu()) << what;
      EXPECT_EQ(t->dtype(), DType::Float64) << what;
    }
    // The model was not moved, and its parameters' requires_grad was restored.
    size_t i = 0;
    for (const Tensor& p : gpu_.model->parameters()) {
      EXPECT_TRUE(p.device().is_cuda()) << what;
      EXPECT_EQ(p.requires_grad(), wanted[i++]) << what;
    }
    EXPECT_LE(rel_l2(g.outputs, c.outputs), 1e-5) << what;  // logits: a single forward's rounding
    if (c.expected.defined()) {
      EXPECT_LE(rel_l2(g.expected, c.expected), 1e-5) << what;
    }
    EXPECT_LE(rel_l2(g.values, c.values), kRelL2) << what;
  }

  models::Checkpoint cpu_, gpu_;
  Tensor x_, bg_;
};

TEST_F(CudaExplain, EvaluateMatchesTheCpuAndTheFixtureLogits) {
  const Tensor want = io::load_npy(test::explain_fixture("logits.npy")).to(DType::Float64);  // PyTorch's (6, 2)
  const Tensor got = gpu().evaluate(x_, 4);  // chunks of 4: a full and a partial chunk
  EXPECT_TRUE(got.device().is_cpu());
  EXPECT_LE(rel_l2(got, cpu().evaluate(x_)), 1e-5);
  EXPECT_LE(rel_l2(got, want), 1e-5);  // lightbox's CPU matches PyTorch to ~1e-6; CUDA the same
  EXPECT_LE(rel_l2(gpu(ModelOutput::Probs).evaluate(x_), cpu(ModelOutput::Probs).evaluate(x_)), 1e-5);
}

// Same seed, same (b, t) draws, so the same sample points: the values agree to float32 rounding
// of the gradients, and so do the completeness gaps (a sampling error, the same on both).
TEST_F(CudaExplain, GradientAtTheInput) {
  GradientOptions opt;
  opt.nsamples = 24;
  opt.batch_size = 40;  // batches straddle images
  opt.seed = 7;
  Attribution c, g;
  both(
      "gradient input", [&](const Explained& f) { return gradient_explain(f, x_, bg_, opt); }, c, g);
  EXPECT_LE(rel_l2(g.variances, c.variances), kRelL2);
  ASSERT_TRUE(g.gaps.defined());
  const double scale = explained_scale(c);
  for (int64_t i = 0; i < c.gaps.numel(); ++i) EXPECT_NEAR(g.gaps.at(i), c.gaps.at(i), kRelL2 * scale) << i;
}

// Local smoothing draws its noise from a second seeded generator on the host: same noise.
TEST_F(CudaExplain, GradientWithLocalSmoothing) {
  GradientOptions opt;
  opt.nsamples = 16;
  opt.local_smoothing = 0.1;
  opt.seed = 11;
  Attribution c, g;
  both(
      "gradient smoothing", [&](const Explained& f) { return gradient_explain(f, x_.slice0(0, 3), bg_, opt); }, c, g);
}

// Layer modes read the layer input through nn::Capture on the device: shap's h(z) x grad at
// layer4, Captum's (h(x) - h(b)) x grad at layer1 (with noise: h(x~) per point).
TEST_F(CudaExplain, GradientAtLayers) {
  GradientOptions opt;
  opt.nsamples = 16;
  opt.seed = 5;
  opt.layer = "layer4";
  opt.layer_mode = LayerMode::Shap;
  Attribution c, g;
  both(
      "gradient layer4 shap", [&](const Explained& f) { return gradient_explain(f, x_, bg_, opt); }, c, g);
  EXPECT_EQ(g.values.shape(), (Shape{6, 2, 32, 2, 2}));  // layer4's input at width 8
  EXPECT_FALSE(g.gaps.defined());
  opt.layer = "layer1";
  opt.layer_mode = LayerMode::Expected;
  opt.local_smoothing = 0.05;
  both(
      "gradient layer1 expected", [&](const Explained& f) { return gradient_explain(f, x_, bg_, opt); }, c, g);
  EXPECT_EQ(g.values.shape(), (Shape{6, 2, 8, 7, 7}));
  ASSERT_TRUE(g.gaps.defined());
}

// Integrated gradients: the same path points; completeness holds on CUDA as on the CPU (the gap
// is the quadrature's error, small for 32 Gauss-Legendre nodes, and the same on both).
TEST_F(CudaExplain, IntegratedGradients) {
  IGOptions opt;
  opt.steps = 32;
  opt.batch_size = 50;
  Attribution c, g;
  both(
      "ig", [&](const Explained& f) { return integrated_gradients(f, x_, opt); }, c, g);
  const double scale = explained_scale(c);
  for (int64_t i = 0; i < c.gaps.numel(); ++i) {
    EXPECT_NEAR(g.gaps.at(i), c.gaps.at(i), kRelL2 * scale) << i;
    EXPECT_LE(std::fabs(g.gaps.at(i)), std::fabs(c.gaps.at(i)) + kRelL2 * scale) << i;
  }
  // A blurred baseline given on the device is taken as it is.
  opt.baseline = Masker::parse("blur:28").reference(x_);
  opt.steps = 8;
  const Attribution on_host = integrated_gradients(gpu(), x_, opt);
  IGOptions dev_opt = opt;
  dev_opt.baseline = opt.baseline.to(Device::cuda());
  const Attribution on_dev = integrated_gradients(gpu(), x_.to(Device::cuda()), dev_opt);
  // Same points, same device, same kernels: only a nondeterministic reduction could differ.
  EXPECT_LE(rel_l2(on_dev.values, on_host.values), 1e-6);
}

// DeepLIFT: the rescale rules run on the device (kernels/deep_rules.cu): the fixture ResNet's
// stem max-pool (3x3, stride 2, overlapping windows) and its 17 relus cross both rules in every
// backward pass (tests/explain/test_deep_rules_cuda.cc checks each rule alone against the CPU's, bit
// for bit). Completeness is enforced inside deep_explain (per image and output, |gap| <= 1e-4
// of mean_p |f(x) - f(bg_p)|, else it throws); here it is checked again, against the mean size of
// what is explained, with room for images whose f(x) sits near E f(bg).
TEST_F(CudaExplain, DeepAtTheInputAndAtALayer) {
  DeepOptions opt;  // check_completeness on
  Attribution c, g;
  both(
      "deep input", [&](const Explained& f) { return deep_explain(f, x_, bg_, opt); }, c, g);
  const double scale = explained_scale(c);
  for (int64_t i = 0; i < g.gaps.numel(); ++i) EXPECT_LE(std::fabs(g.gaps.at(i)), 1e-3 * scale) << i;
  opt.layer = "layer2";
  opt.batch_size = 7;  // background chunks of 7, 7, 6: several passes per image
  both(
      "deep layer2", [&](const Explained& f) { return deep_explain(f, x_, bg_, opt); }, c, g);
  EXPECT_EQ(g.values.shape(), (Shape{6, 2, 8, 7, 7}));
  for (int64_t i = 0; i < g.gaps.numel(); ++i) EXPECT_LE(std::fabs(g.gaps.at(i)), 1e-3 * scale) << i;
  // shap's max-pool overwrite (incomplete by design): the same routing on both devices.
  DeepOptions shap_opt;
  shap_opt.shap_maxpool = true;
  shap_opt.check_completeness = false;
  both(
      "deep shap maxpool", [&](const Explained& f) { return deep_explain(f, x_.slice0(0, 2), bg_, shap_opt); }, c, g);
}

// Partition: masks and the blur on the host, every batch of masked images evaluated on CUDA.
// Efficiency is exact at any budget (the four sub-credits telescope), so the gaps stay ~1e-12.
// The expansion order follows |f differences|; a near-tie could flip one decision between the
// two float32 engines, which the relative L2 bound would still absorb on these images.
TEST_F(CudaExplain, PartitionWithTheBlurMasker) {
  PartitionOptions opt;
  opt.masker = Masker::parse("blur:28");
  opt.max_evals = 300;
  opt.batch_size = 100;
  Attribution c, g;
  both(
      "partition", [&](const Explained& f) { return partition_explain(as_batch_fn(f), x_.slice0(0, 3), opt); }, c, g);
  for (int64_t i = 0; i < g.gaps.numel(); ++i) EXPECT_LT(std::fabs(g.gaps.at(i)), 1e-9) << i;
}

// The command line end to end: `lightbox explain --device cuda` against `--device cpu`.
TEST_F(CudaExplain, CliExplainOnCuda) {
  const std::string dir = test::fresh_dir();
  const std::string common = " --weights " + test::quoted(test::explain_fixture("model.safetensors")) + " --input " +
                             test::quoted(test::explain_fixture("x.npy")) + " --background " +
                             test::quoted(test::explain_fixture("bg.npy")) + " --quiet --threads 2";
  for (const std::string method : {"deep", "gradient --nsamples 16 --seed 2", "ig --steps 16"}) {
    const std::string name = method.substr(0, method.find(' '));
    const auto rc = test::run_cli(dir, "explain --method " + method + common + " --out " + dir + "/cpu-" + name);
    ASSERT_EQ(rc.code, 0) << rc.err;
    const auto rg =
        test::run_cli(dir, "explain --method " + method + common + " --device cuda --out " + dir + "/cuda-" + name);
    ASSERT_EQ(rg.code, 0) << rg.err;
    EXPECT_LE(
        rel_l2(io::load_npy(dir + "/cuda-" + name + "/values.npy"), io::load_npy(dir + "/cpu-" + name + "/values.npy")),
        kRelL2)
        << method;
    const auto meta = nlohmann::json::parse(io::read_file(dir + "/cuda-" + name + "/meta.json"));
    EXPECT_EQ(meta["device"], "cuda:0");
  }
}

}  // namespace
}  // namespace lb::explain
