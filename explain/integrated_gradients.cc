// integrated_gradients.cc: see integrated_gradients.h. Shapes: N images, K outputs, n = steps,
// F = C*H*W elements per image, P path points per batch.
#include "explain/integrated_gradients.h"

#include <algorithm>
#include <cmath>

#include "base/common.h"
#include "engine/progress.h"
#include "explain/gradient.h"
#include "explain/masker.h"
#include "explain/registry.h"

namespace lb::explain {

void gauss_legendre(int64_t n, std::vector<double>& nodes, std::vector<double>& weights) {
  LB_CHECK(n > 0, "gauss_legendre: the number of nodes must be positive, got " << n);
  nodes.assign(n, 0.0);
  weights.assign(n, 0.0);
  const double pi = std::acos(-1.0);
  // The roots come in +- pairs; find the positive half (and 0 for odd n) and mirror them.
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    double x = std::cos(pi * (i + 0.75) / (n + 0.5));  // Tricomi's guess for the (i+1)-th largest root
    double dp = 0.0;
    for (int iter = 0; iter < 100; ++iter) {
      // P_0 = 1, P_1 = x, (j + 1) P_{j+1} = (2j + 1) x P_j - j P_{j-1}.
      double p0 = 1.0, p1 = x;
      for (int64_t j = 1; j < n; ++j) {
        const double p2 = ((2.0 * j + 1.0) * x * p1 - j * p0) / (j + 1.0);
        p0 = p1;
        p1 = p2;
      }
      dp = n * (x * p1 - p0) / (x * x - 1.0);  // P_n'(x) from P_n and P_{n-1}
      const double step = p1 / dp;
      x -= step;
      if (std::fabs(step) < 1e-15) break;
    }
    // One more derivative at the converged root for the weight 2 / ((1 - x^2) P_n'(x)^2).
    double p0 = 1.0, p1 = x;
    for (int64_t j = 1; j < n; ++j) {
      const double p2 = ((2.0 * j + 1.0) * x * p1 - j * p0) / (j + 1.0);
      p0 = p1;
      p1 = p2;
    }
    dp = n * (x * p1 - p0) / (x * x - 1.0);
    const double w = 2.0 / ((1.0 - x * x) * dp * dp);
    nodes[n - 1 - i] = x;
    nodes[i] = -x;
    weights[n - 1 - i] = w;
    weights[i] = w;
  }
  if (n % 2 == 1) nodes[n / 2] = 0.0;  // exactly, like numpy's symmetrised result
}

namespace {

// torch.linspace(start, end, n) in float32: each half is computed from its own end with one
// rounding (the fused multiply-add torch's vectorised kernel performs), which reproduces torch's
// values bit for bit.
std::vector<double> torch_linspace_f32(double start_d, double end_d, int64_t n) {
  const float start = static_cast<float>(start_d), end = static_cast<float>(end_d);
  const float step = (end - start) / static_cast<float>(n - 1);
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i)
    out[i] =
        i < n / 2 ? std::fma(step, static_cast<float>(i), start) : std::fma(-step, static_cast<float>(n - 1 - i), end);
  return out;
}

}  // namespace

Quadrature ig_quadrature(const std::string& method, int64_t steps) {
  Quadrature q;
  if (method == "gausslegendre") {
    LB_CHECK(steps > 0, "integrated gradients: steps must be positive, got " << steps);
    std::vector<double> xi, w;
    gauss_legendre(steps, xi, w);
    for (int64_t s = 0; s < steps; ++s) {
      q.alphas.push_back(0.5 * (1.0 + xi[s]));
      q.weights.push_back(static_cast<float>(0.5 * w[s]));  // Captum: torch.tensor(step_sizes).float()
    }
    return q;
  }
  LB_CHECK(method == "riemann_left" || method == "riemann_right" || method == "riemann_middle" ||
               method == "riemann_trapezoid",
           "integrated gradients: method '" << method << "' is not one of: gausslegendre, riemann_left, "
                                            << "riemann_right, riemann_middle, riemann_trapezoid");
  LB_CHECK(steps > 1, "integrated gradients: " << method << " needs at least 2 steps, got " << steps);
  const double n = static_cast<double>(steps);
  if (method == "riemann_left") q.alphas = torch_linspace_f32(0.0, 1.0 - 1.0 / n, steps);
  if (method == "riemann_right") q.alphas = torch_linspace_f32(1.0 / n, 1.0, steps);
  if (method == "riemann_middle") q.alphas = torch_linspace_f32(1.0 / (2 * n), 1.0 - 1.0 / (2 * n), steps);
  if (method == "riemann_trapezoid") q.alphas = torch_linspace_f32(0.0, 1.0, steps);
  q.weights.assign(steps, static_cast<float>(1.0 / n));
  if (method == "riemann_trapezoid") q.weights.front() = q.weights.back() = static_cast<float>(0.5 / n);
  return q;
}

namespace {

// The baseline as (N, C, H, W): zeros when undefined, a (1, C, H, W) one repeated.
Tensor full_baseline(const Tensor& x, const Tensor& given_in) {
  const int64_t N = x.size(0), F = x.numel() / N;
  if (!given_in.defined()) return Tensor::zeros(x.shape());
  check_images(given_in, "baseline");
  const Tensor given = on_cpu(given_in);
  LB_CHECK((given.size(0) == 1 || given.size(0) == N) && given.size(1) == x.size(1) && given.size(2) == x.size(2) &&
               given.size(3) == x.size(3),
           "integrated gradients: baseline " << shape_str(given.shape()) << " does not fit the inputs "
                                             << shape_str(x.shape()) << "; give (1, C, H, W) or (N, C, H, W)");
  if (given.size(0) == N) return given;
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < N; ++i) std::copy(given.data<float>(), given.data<float>() + F, out.data<float>() + i * F);
  return out;
}

}  // namespace

Attribution integrated_gradients(const Explained& f, const Tensor& x_in, const IGOptions& opt) {
  check_eval_mode(f.model, "integrated gradients");
  check_images(x_in, "inputs");
  // The path points are built on the CPU; gradients_at runs them on the model's device.
  const Tensor x = on_cpu(x_in);
  LB_CHECK(opt.batch_size > 0, "integrated gradients: batch size must be positive, got " << opt.batch_size);
  const Quadrature q = ig_quadrature(opt.method, opt.steps);
  const Tensor base = full_baseline(x, opt.baseline);  // (N, C, H, W)
  const int64_t N = x.size(0), F = x.numel() / N, n = opt.steps;

  Attribution a;
  a.method = "ig";
  a.layer = "input";
  a.outputs = f.evaluate(x);      // (N, K)
  a.expected = f.evaluate(base);  // (N, K)
  const int64_t K = a.outputs.size(1);

  const float* xp = x.data<float>();
  const float* bp = base.data<float>();
  std::vector<double> acc(N * K * F, 0.0);  // Σ_s w_s ∇f_k, per (image, output, element)
  ProgressBar bar("ig", N, "img", opt.progress);
  const int64_t total = N * n;
  for (int64_t start = 0; start < total; start += opt.batch_size) {
    const int64_t P = std::min(opt.batch_size, total - start);
    Tensor z = Tensor::empty({P, x.size(1), x.size(2), x.size(3)});  // x' + a_s (x - x')
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = (start + p) / n, s = (start + p) % n;
      const float alpha = static_cast<float>(q.alphas[s]);  // torch casts the Python float to float32
      float* zp = z.data<float>() + p * F;
      for (int64_t e = 0; e < F; ++e) zp[e] = bp[i * F + e] + alpha * (xp[i * F + e] - bp[i * F + e]);
    }
    const PointGradients pg = gradients_at(f, z, "input");
    for (int64_t k = 0; k < K; ++k) {
      const float* g = pg.grads[k].data<float>();
      for (int64_t p = 0; p < P; ++p) {
        const int64_t i = (start + p) / n, s = (start + p) % n;
        double* dst = acc.data() + (i * K + k) * F;
        for (int64_t e = 0; e < F; ++e) dst[e] += q.weights[s] * static_cast<double>(g[p * F + e]);
      }
    }
    const int64_t done_before = start / n, done_after = (start + P) / n;
    if (done_after > done_before) bar.update(done_after - done_before, static_cast<double>(done_after - done_before));
  }
  bar.finish();

  // phi = (x - x') ⊙ Σ_s w_s g_s; the difference in float32 as Captum forms it.
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t e = 0; e < F; ++e) acc[(i * K + k) * F + e] *= static_cast<double>(xp[i * F + e] - bp[i * F + e]);
  Shape shape = {N, K, x.size(1), x.size(2), x.size(3)};
  a.values = Tensor::from_vector(acc, shape, DType::Float64);
  a.gaps = completeness_gaps(a.values, a.outputs, a.expected);
  a.settings = {{"method", "ig"},
                {"steps", n},
                {"quadrature", opt.method},
                {"baseline", !opt.baseline.defined()     ? "zeros"
                             : opt.baseline.size(0) == 1 ? "one image for all"
                                                         : "one per image"},
                {"batch_size", opt.batch_size},
                {"model_output", to_string(f.output)},
                {"progress", opt.progress}};
  return a;
}

Tensor convergence_delta(const Attribution& a) {
  LB_CHECK(a.values.defined() && a.outputs.defined() && a.expected.defined(),
           "convergence_delta: the attribution lacks values, outputs or expected; pass an integrated gradients result");
  const Tensor gaps = completeness_gaps(a.values, a.outputs, a.expected);
  Tensor delta = Tensor::empty(gaps.shape(), DType::Float64);
  for (int64_t j = 0; j < gaps.numel(); ++j) delta.data<double>()[j] = -gaps.data<double>()[j];
  return delta;
}

// ---- the registry entry -------------------------------------------------------------------------

namespace {

// The baseline of image n is its fully masked (blurred or filled) copy: (N, C, H, W).
Tensor masked_baseline(const Tensor& x, const Masker& m) {
  Tensor base = Tensor::empty(x.shape());
  const int64_t per = x.numel() / x.size(0);
  for (int64_t n = 0; n < x.size(0); ++n) {
    const Tensor r = m.reference(x.slice0(n, 1));
    std::copy(r.data<float>(), r.data<float>() + per, base.data<float>() + n * per);
  }
  return base;
}

}  // namespace

Explainer integrated_gradients_explainer() {
  Explainer e;
  e.name = "ig";
  e.title = "integrated gradients";
  e.description =
      "Integrated Gradients (Captum's): the gradient along the straight path from a baseline to x, by quadrature, "
      "times x - baseline";
  e.layers = false;
  e.options = {
      {"steps", int64_t{50}, "ig: path steps", ""},
      {"ig-method", std::string("gausslegendre"),
       "ig: gausslegendre | riemann_left | riemann_right | riemann_middle | riemann_trapezoid", ""},
      {"baseline", std::string("zero"), "ig: zero, or a masker spelling (blur:28, constant:V)", "ig_baseline"}};
  e.run = [](const Explained& f, const Tensor& x, const Tensor&, const ExplainerSettings& s) {
    IGOptions o;
    o.steps = s.integer("steps");
    o.method = s.text("ig-method");
    if (s.batch_size > 0) o.batch_size = s.batch_size;
    o.progress = s.progress;
    if (s.text("baseline") != "zero") o.baseline = masked_baseline(x, Masker::parse(s.text("baseline")));
    return integrated_gradients(f, x, o);
  };
  return e;
}

}  // namespace lb::explain
