// Integrated gradients (explain/integrated_gradients): the quadrature against numpy and torch, the
// closed form on a linear model, Captum's IntegratedGradients golden files (made by
// tests/fixtures/explain/make_gradient_golden.py), convergence of the delta, and the input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "explain/integrated_gradients.h"
#include "models/resnet.h"
#include "tests/support/check.h"
#include "tests/support/explain_fixture.h"

namespace lb::explain {
namespace {

std::string fixture(const std::string& name) { return std::string(LB_FIXTURES_DIR) + "/explain/" + name; }
std::string golden(const std::string& name) { return fixture("gradient/" + name); }

// Our Newton-on-P_n nodes and weights against numpy's leggauss (eigenvalues of the companion
// matrix, one Newton polish, symmetrised): both are accurate to a few ulp, so 1e-14.
TEST(IntegratedGradientsQuadrature, GaussLegendreMatchesNumpy) {
  for (int64_t n : {7, 50}) {
    const Tensor want = io::load_npy(golden("leggauss_" + std::to_string(n) + ".npy"));  // (2, n)
    std::vector<double> xi, w;
    gauss_legendre(n, xi, w);
    ASSERT_EQ(static_cast<int64_t>(xi.size()), n);
    for (int64_t s = 0; s < n; ++s) {
      EXPECT_NEAR(xi[s], want.at(s), 1e-14) << "node " << s << " of " << n;
      EXPECT_NEAR(w[s], want.at(n + s), 1e-14) << "weight " << s << " of " << n;
    }
  }
  // One node: the midpoint with weight 2.
  std::vector<double> xi, w;
  gauss_legendre(1, xi, w);
  EXPECT_EQ(xi[0], 0.0);
  EXPECT_NEAR(w[0], 2.0, 1e-15);
}

// Captum's Riemann nodes come from torch.linspace in float32; ours reproduce them bit for bit.
// Weights: 1/n, the trapezoid's halved at both ends (so they sum to 1 - 1/n: Captum's rule).
TEST(IntegratedGradientsQuadrature, RiemannNodesMatchTorchLinspace) {
  for (const std::string m : {"riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}) {
    const Tensor want = io::load_npy(golden("linspace_" + m + "_50.npy"));
    const Quadrature q = ig_quadrature(m, 50);
    for (int64_t s = 0; s < 50; ++s) EXPECT_EQ(q.alphas[s], want.at(s)) << m << " node " << s;
    double sum = 0;
    for (double w : q.weights) sum += w;
    EXPECT_NEAR(sum, m == "riemann_trapezoid" ? 1.0 - 1.0 / 50 : 1.0, 1e-6) << m;  // float32 weights
  }
  const Quadrature gl = ig_quadrature("gausslegendre", 50);
  EXPECT_EQ(gl.weights[0], static_cast<double>(static_cast<float>(gl.weights[0])));  // cast like Captum
}

// f = W flatten(x) + c has the constant gradient W, so phi = (x - x') ⊙ W ⊙ Σ_s w_s for every rule
// and any number of steps; Σ_s w_s is 1 up to float32 rounding of the weights (Gauss-Legendre,
// left/right/middle) or 1 - 1/n (Captum's trapezoid).
TEST(IntegratedGradientsLinear, ClosedFormForAnySteps) {
  Generator gen(1);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(18, 3, true, gen)});
  m->eval();
  const Tensor& W = static_cast<nn::Linear&>(*m->at(1)).weight();
  const Tensor x = test::random_tensor({2, 2, 3, 3}, 2, DType::Float32);
  const Tensor base = test::random_tensor({1, 2, 3, 3}, 3, DType::Float32);
  for (const auto& [method, steps] : std::vector<std::pair<std::string, int64_t>>{{"gausslegendre", 1},
                                                                                  {"gausslegendre", 5},
                                                                                  {"riemann_left", 2},
                                                                                  {"riemann_trapezoid", 7},
                                                                                  {"riemann_middle", 3}}) {
    IGOptions opt;
    opt.method = method;
    opt.steps = steps;
    opt.baseline = base;
    opt.batch_size = 3;  // batches straddle the images
    const Attribution a = integrated_gradients(Explained{*m}, x, opt);
    ASSERT_EQ(a.values.shape(), (Shape{2, 3, 2, 3, 3}));
    double wsum = 0;
    for (double w : ig_quadrature(method, steps).weights) wsum += w;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t k = 0; k < 3; ++k)
        for (int64_t e = 0; e < 18; ++e) {
          const double d = static_cast<double>(x.data<float>()[i * 18 + e] - base.data<float>()[e]);
          EXPECT_NEAR(a.values.at((i * 3 + k) * 18 + e), W.at(k * 18 + e) * d * wsum, 1e-12) << method << steps;
        }
    if (method == "gausslegendre") {
      // Complete up to float32 outputs and weights: the delta is rounding only.
      const Tensor delta = convergence_delta(a);
      for (int64_t j = 0; j < delta.numel(); ++j) EXPECT_NEAR(delta.at(j), 0.0, 1e-5) << steps;
    }
  }
}

// The fixture model in eval mode (tests/support/explain_fixture.h).
std::shared_ptr<models::ResNet18> fixture_resnet() { return test::explain_fixture_checkpoint().model; }

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t j = 0; j < t.numel(); ++j) m = std::max(m, std::fabs(t.at(j)));
  return m;
}

// Captum's IntegratedGradients(model).attribute(x, target=k, n_steps=50, method=...) with a zero
// baseline, for both targets (explainers 6.19). Same nodes, float32 weights and float32 path points
// on both sides; Captum sums the weighted float32 gradients in float32 and we in double, and the
// conv implementations round differently (measured worst: 2.2e-7 relative): 1e-5 relative plus
// 1e-6 of the largest |value|. The deltas (Captum's in float32: sums of 784 values minus logit
// differences) differ by at most 1.5e-6 (measured): 1e-5 absolute.
void expect_captum_parity(const std::string& method) {
  auto m = fixture_resnet();
  const Tensor x = io::load_npy(fixture("x.npy")).slice0(0, 2).clone();
  IGOptions opt;
  opt.method = method;
  opt.steps = 50;
  const Attribution a = integrated_gradients(Explained{*m}, x, opt);
  const Tensor want = io::load_npy(golden("captum_ig_" + method + "_values.npy"));
  ASSERT_EQ(a.values.shape(), want.shape());
  LB_EXPECT_CLOSE(a.values, want, 1e-6 * max_abs(want), 1e-5);
  LB_EXPECT_CLOSE(convergence_delta(a), io::load_npy(golden("captum_ig_" + method + "_deltas.npy")), 1e-5, 0);
  EXPECT_EQ(a.expected.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.settings["quadrature"], method);
  EXPECT_EQ(a.settings["baseline"], "zeros");
}

TEST(IntegratedGradientsCaptum, GaussLegendre50) { expect_captum_parity("gausslegendre"); }
TEST(IntegratedGradientsCaptum, RiemannTrapezoid50) { expect_captum_parity("riemann_trapezoid"); }

double mean_abs(const Tensor& t) {
  double s = 0;
  for (int64_t j = 0; j < t.numel(); ++j) s += std::fabs(t.at(j)) / t.numel();
  return s;
}

// The quadrature error falls with the number of steps. A ReLU network's path integrand is only
// piecewise smooth, so single deltas are not monotone in the steps (one is 0.003 at 10 nodes and
// 0.025 at 200); the mean |delta| over 2 images x 2 outputs is: measured 0.43 at 10
// Gauss-Legendre nodes, 0.026 at 200, against |f(x) - f(0)| of order 1..5.
TEST(IntegratedGradientsConvergence, DeltaShrinksWithSteps) {
  auto m = fixture_resnet();
  const Tensor x = io::load_npy(fixture("x.npy")).slice0(0, 2).clone();
  IGOptions opt;
  opt.batch_size = 100;
  opt.steps = 10;
  const double d10 = mean_abs(convergence_delta(integrated_gradients(Explained{*m}, x, opt)));
  opt.steps = 200;
  const double d200 = mean_abs(convergence_delta(integrated_gradients(Explained{*m}, x, opt)));
  EXPECT_LT(d200, d10 / 5);
  EXPECT_LT(d200, 0.05);
}

// A (1, C, H, W) baseline is used for every image, the same as repeating it per image.
TEST(IntegratedGradientsBaseline, BroadcastEqualsRepeated) {
  Generator gen(5);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(32, 2, true, gen)});
  m->eval();
  const Tensor x = test::random_tensor({3, 1, 4, 4}, 6, DType::Float32);
  const Tensor b1 = test::random_tensor({1, 1, 4, 4}, 7, DType::Float32);
  Tensor b3 = Tensor::empty({3, 1, 4, 4});
  for (int i = 0; i < 3; ++i) std::copy(b1.data<float>(), b1.data<float>() + 16, b3.data<float>() + i * 16);
  IGOptions opt;
  opt.steps = 8;
  opt.baseline = b1;
  const Attribution a = integrated_gradients(Explained{*m}, x, opt);
  opt.baseline = b3;
  opt.batch_size = 5;
  const Attribution b = integrated_gradients(Explained{*m}, x, opt);
  LB_EXPECT_CLOSE(a.values, b.values, 1e-7, 1e-6);  // batch composition changes float32 rounding only
  LB_EXPECT_CLOSE(a.expected, b.expected, 1e-7, 0);
  EXPECT_EQ(a.settings["baseline"], "one image for all");
  EXPECT_EQ(b.settings["baseline"], "one per image");
}

TEST(IntegratedGradientsErrors, BadInputs) {
  Generator gen(8);
  auto m = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 2, true, gen)});
  m->eval();
  const Explained f{*m};
  const Tensor x = test::random_tensor({2, 1, 4, 4}, 9, DType::Float32);
  Tensor nan_x = x.clone();
  nan_x.data<float>()[3] = std::nanf("");
  test::expect_error([&] { integrated_gradients(f, nan_x, IGOptions{}); }, {"inputs", "non-finite"});
  IGOptions opt;
  opt.baseline = nan_x;
  test::expect_error([&] { integrated_gradients(f, x, opt); }, {"baseline", "non-finite"});
  opt.baseline = test::random_tensor({3, 1, 4, 4}, 1, DType::Float32);
  test::expect_error([&] { integrated_gradients(f, x, opt); }, {"baseline [3, 1, 4, 4] does not fit", "(1, C, H, W)"});
  opt = IGOptions{};
  opt.method = "simpson";
  test::expect_error([&] { integrated_gradients(f, x, opt); }, {"method 'simpson'", "gausslegendre"});
  opt.method = "riemann_left";
  opt.steps = 1;
  test::expect_error([&] { integrated_gradients(f, x, opt); }, {"riemann_left needs at least 2 steps"});
  opt = IGOptions{};
  opt.steps = 0;
  test::expect_error([&] { integrated_gradients(f, x, opt); }, {"steps must be positive"});
  m->train();
  test::expect_error([&] { integrated_gradients(f, x, IGOptions{}); }, {"integrated gradients", "training mode"});
  test::expect_error([&] { convergence_delta(Attribution{}); }, {"convergence_delta"});
}

}  // namespace
}  // namespace lb::explain
