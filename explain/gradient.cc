// gradient.cc: see gradient.h. Shapes: N images, B background images, K outputs, n = nsamples,
// F = C*H*W elements per image, F_l elements of the explained layer input, P points per batch.
#include "explain/gradient.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "base/common.h"
#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/progress.h"
#include "explain/registry.h"

namespace lb::explain {

LayerMode parse_layer_mode(const std::string& s) {
  if (s == "shap") return LayerMode::Shap;
  if (s == "expected") return LayerMode::Expected;
  LB_THROW("layer mode '" << s << "' is not one of: shap, expected");
}

const char* to_string(LayerMode m) { return m == LayerMode::Shap ? "shap" : "expected"; }

namespace {

// Turns requires_grad off on every parameter for its lifetime and restores each flag after, so a
// backward to the input (or a layer input) never computes weight gradients it would throw away.
class FrozenParameters {
 public:
  explicit FrozenParameters(nn::Module& m) : params_(m.parameters()) {
    for (Tensor& p : params_) {
      was_.push_back(p.requires_grad());
      p.requires_grad_(false);
    }
  }
  ~FrozenParameters() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].requires_grad_(was_[i]);
  }
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<Tensor> params_;
  std::vector<bool> was_;
};

// A (P, K) float32 seed on `dev` that selects output column k of every row.
Tensor one_hot_column(int64_t P, int64_t K, int64_t k, Device dev) {
  Tensor g = Tensor::zeros({P, K});
  float* p = g.data<float>();
  for (int64_t r = 0; r < P; ++r) p[r * K + k] = 1.0f;
  return g.to(dev);
}

// h(images): the input of `layer` for every image, (M, ...) float32 on the CPU, without autograd.
Tensor layer_inputs(const Explained& f, const Tensor& images, const std::string& layer, int64_t batch) {
  NoGradGuard no_grad;
  const int64_t M = images.size(0);
  Tensor out;
  for (int64_t s = 0; s < M; s += batch) {
    const int64_t len = std::min(batch, M - s);
    nn::Capture cap({layer});
    f(images.slice0(s, len));
    const Tensor h = on_cpu(cap.at(layer).input);
    if (!out.defined()) {
      Shape shape = h.shape();
      shape[0] = M;
      out = Tensor::empty(shape);
    }
    std::copy(h.data<float>(), h.data<float>() + h.numel(), out.data<float>() + s * (h.numel() / len));
  }
  return out;
}

// The (b, t) draws per image and sample: recorded ones (checked), or shap's order from the seed.
struct Draws {
  std::vector<std::vector<int64_t>> b;
  std::vector<std::vector<double>> t;
};

Draws make_draws(const GradientOptions& opt, int64_t N, int64_t B) {
  const int64_t n = opt.nsamples;
  if (!opt.draw_b.empty() || !opt.draw_t.empty()) {
    LB_CHECK(static_cast<int64_t>(opt.draw_b.size()) == N && static_cast<int64_t>(opt.draw_t.size()) == N,
             "gradient: recorded draws hold " << opt.draw_b.size() << " (b) and " << opt.draw_t.size()
                                              << " (t) rows for " << N << " images; give one row per image");
    for (int64_t i = 0; i < N; ++i) {
      LB_CHECK(static_cast<int64_t>(opt.draw_b[i].size()) == n && static_cast<int64_t>(opt.draw_t[i].size()) == n,
               "gradient: recorded draws of image " << i << " hold " << opt.draw_b[i].size() << " (b) and "
                                                    << opt.draw_t[i].size() << " (t) samples; nsamples is " << n);
      for (int64_t k = 0; k < n; ++k) {
        LB_CHECK(opt.draw_b[i][k] >= 0 && opt.draw_b[i][k] < B, "gradient: recorded background index "
                                                                    << opt.draw_b[i][k] << " (image " << i
                                                                    << ", sample " << k << ") is outside 0.." << B - 1);
        LB_CHECK(opt.draw_t[i][k] >= 0.0 && opt.draw_t[i][k] <= 1.0, "gradient: recorded t "
                                                                         << opt.draw_t[i][k] << " (image " << i
                                                                         << ", sample " << k << ") is outside [0, 1]");
      }
    }
    return {opt.draw_b, opt.draw_t};
  }
  Generator gen(opt.seed);
  std::uniform_int_distribution<int64_t> pick(0, B - 1);
  Draws d{std::vector<std::vector<int64_t>>(N, std::vector<int64_t>(n)),
          std::vector<std::vector<double>>(N, std::vector<double>(n))};
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < n; ++k) {
      d.b[i][k] = pick(gen.engine());  // first the background row, then t: shap's order
      d.t[i][k] = gen.uniform();
    }
  return d;
}

void check_gradient_args(const Explained& f, const Tensor& x, const Tensor& background, const GradientOptions& opt) {
  check_eval_mode(f.model, "gradient");
  check_images(x, "inputs");
  check_images(background, "background");
  LB_CHECK(background.size(1) == x.size(1) && background.size(2) == x.size(2) && background.size(3) == x.size(3),
           "gradient: background " << shape_str(background.shape()) << " does not match the inputs "
                                   << shape_str(x.shape()) << "; use background images of the same C, H, W");
  LB_CHECK(opt.nsamples > 0, "gradient: nsamples must be positive, got " << opt.nsamples);
  LB_CHECK(opt.batch_size > 0, "gradient: batch size must be positive, got " << opt.batch_size);
  LB_CHECK(std::isfinite(opt.local_smoothing) && opt.local_smoothing >= 0,
           "gradient: local smoothing must be a finite std >= 0, got " << opt.local_smoothing);
  LB_CHECK(!opt.layer.empty(), "gradient: empty layer name; use input or a module name such as layer1");
  LB_CHECK(opt.layer == "input" || f.model.find(opt.layer) != nullptr,
           "gradient: the model has no module named '" << opt.layer
                                                       << "'; use input or a module name such as layer1..layer4");
}

// Running per-element mean and sum of squared deviations of the per-sample products, in double
// (Welford's update: stable where the mean is large against the spread).
struct Moments {
  std::vector<double> mean, m2;  // (N, K, F_l)
  void add(int64_t idx, int64_t count, const float* g, const double* d, int64_t F) {
    double* mu = mean.data() + idx * F;
    double* s2 = m2.data() + idx * F;
    const double inv = 1.0 / static_cast<double>(count);
    for (int64_t e = 0; e < F; ++e) {
      const double v = static_cast<double>(g[e]) * d[e];
      const double dv = v - mu[e];
      mu[e] += dv * inv;
      s2[e] += dv * (v - mu[e]);
    }
  }
};

}  // namespace

PointGradients gradients_at(const Explained& f, const Tensor& z, const std::string& layer) {
  FrozenParameters frozen(f.model);
  const Device dev = f.device();
  // A fresh leaf on the model's device (to() copies, so it shares nothing with z either way).
  Tensor zg = z.device() == dev ? z.detach().clone() : z.to(dev);
  zg.requires_grad_(true);
  const bool at_input = layer == "input";
  std::unique_ptr<nn::Capture> cap;
  if (!at_input) cap = std::make_unique<nn::Capture>(std::vector<std::string>{layer});
  PointGradients out;
  const Tensor y = f(zg);  // (P, K)
  out.outputs = y.detach();
  Tensor target = zg;
  if (!at_input) {
    const nn::Tap& tap = cap->at(layer);
    LB_CHECK(tap.input_handle.defined(), "gradient: the input of '" << layer << "' does not depend on the image; "
                                                                    << "pick a layer inside the network");
    target = tap.input_handle;
    out.layer_input = on_cpu(tap.input);
    cap.reset();  // the handle keeps the graph alive; stop recording
  }
  const int64_t P = y.size(0), K = y.size(1);
  for (int64_t k = 0; k < K; ++k) {
    auto g = autograd::grad({y}, {target}, {one_hot_column(P, K, k, dev)}, /*retain_graph=*/k + 1 < K,
                            /*allow_unused=*/true);
    out.grads.push_back(g[0].defined() ? on_cpu(g[0]) : Tensor::zeros(target.shape()));
  }
  return out;
}

namespace {

// What one batch of sample points needs: the images, the background, the draws and the noise.
// Point q (0 <= q < N * n) is image q / n, sample q % n: image-major, so a batch may hold the
// tail of one image's samples and the head of the next one's.
struct SamplePoints {
  const Tensor& x;   // (N, C, H, W)
  const Tensor& bg;  // (B, C, H, W)
  const Draws& draws;
  int64_t n, F;
  float sigma;
  Generator noise;  // local smoothing only, drawn in point order (independent of batching)

  int64_t image(int64_t q) const { return q / n; }
  int64_t sample(int64_t q) const { return q % n; }
  int64_t background_row(int64_t q) const { return draws.b[image(q)][sample(q)]; }

  // Points [start, start + P): xs = x~ (x plus noise) and z = t x~ + (1 - t) b, (P, C, H, W) each,
  // in float32 in shap's order (torch's t * x + (1 - t) * bg with the scalars cast to float).
  void make(int64_t start, int64_t P, Tensor& xs, Tensor& z) {
    xs = Tensor::empty({P, x.size(1), x.size(2), x.size(3)});
    z = Tensor::empty(xs.shape());
    for (int64_t p = 0; p < P; ++p) {
      const int64_t q = start + p;
      const double t = draws.t[image(q)][sample(q)];
      const float tf = static_cast<float>(t), omt = static_cast<float>(1.0 - t);
      const float* xi = x.data<float>() + image(q) * F;
      const float* bk = bg.data<float>() + background_row(q) * F;
      float* xsp = xs.data<float>() + p * F;
      float* zp = z.data<float>() + p * F;
      for (int64_t e = 0; e < F; ++e) {
        xsp[e] = sigma > 0 ? xi[e] + static_cast<float>(noise.normal()) * sigma : xi[e];
        zp[e] = tf * xsp[e] + omt * bk[e];
      }
    }
  }
};

// The multipliers d_k of points [start, start + P), (P, F_l) double:
//   input              x~ - b            (the float32 difference, as shap forms it)
//   LayerMode::Shap    h(z)              (the layer input captured in the gradient pass)
//   LayerMode::Expected h(x~) - h(b)     (float32 difference, as Captum); h_x holds h(x) per image
//                                        or, with noise, h(x~) per point of this batch
std::vector<double> multipliers(const SamplePoints& sp, int64_t start, int64_t P, int64_t Fl, const Tensor& xs,
                                const PointGradients& pg, bool at_input, bool expected_mode, const Tensor& h_x,
                                bool h_x_per_point, const Tensor& h_bg) {
  std::vector<double> d(P * Fl);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t q = start + p, b = sp.background_row(q);
    double* dp = d.data() + p * Fl;
    if (at_input) {
      const float* xsp = xs.data<float>() + p * Fl;
      const float* bk = sp.bg.data<float>() + b * Fl;
      for (int64_t e = 0; e < Fl; ++e) dp[e] = static_cast<double>(xsp[e] - bk[e]);
    } else if (!expected_mode) {
      const float* hz = pg.layer_input.data<float>() + p * Fl;
      for (int64_t e = 0; e < Fl; ++e) dp[e] = hz[e];
    } else {
      const float* hx = h_x.data<float>() + (h_x_per_point ? p : sp.image(q)) * Fl;
      const float* hb = h_bg.data<float>() + b * Fl;
      for (int64_t e = 0; e < Fl; ++e) dp[e] = static_cast<double>(hx[e] - hb[e]);
    }
  }
  return d;
}

// E_b f(b): the mean of f over the background, (K,) float64.
Tensor background_mean(const Explained& f, const Tensor& background) {
  const Tensor fb = f.evaluate(background);  // (B, K)
  const int64_t B = fb.size(0), K = fb.size(1);
  Tensor mean = Tensor::zeros({K}, DType::Float64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) mean.data<double>()[k] += fb.at(b * K + k) / static_cast<double>(B);
  return mean;
}

}  // namespace

Attribution gradient_explain(const Explained& f, const Tensor& x_in, const Tensor& background_in,
                             const GradientOptions& opt) {
  check_gradient_args(f, x_in, background_in, opt);
  // The sample points are built on the CPU (the draws are host-side); gradients_at moves them.
  const Tensor x = on_cpu(x_in), background = on_cpu(background_in);
  const int64_t N = x.size(0), B = background.size(0), n = opt.nsamples;
  const bool at_input = opt.layer == "input";
  const bool expected_mode = !at_input && opt.layer_mode == LayerMode::Expected;
  const bool noisy = opt.local_smoothing > 0;
  const Draws draws = make_draws(opt, N, B);

  Attribution a;
  a.method = "gradient";
  a.layer = opt.layer;
  a.outputs = f.evaluate(x);  // (N, K)
  a.expected = background_mean(f, background);
  const int64_t K = a.outputs.size(1);
  // Expected mode's h(b) for every background image and (without noise) h(x) per image, once.
  Tensor h_bg, h_x;
  if (expected_mode) {
    h_bg = layer_inputs(f, background, opt.layer, opt.batch_size);
    if (!noisy) h_x = layer_inputs(f, x, opt.layer, opt.batch_size);
  }

  // The local-smoothing noise has its own generator so that the (b, t) draws do not depend on it.
  SamplePoints sp{x,
                  background,
                  draws,
                  n,
                  x.numel() / N,
                  static_cast<float>(opt.local_smoothing),
                  Generator(opt.seed ^ 0x9E3779B97F4A7C15ull)};
  Moments mom;
  Shape value_shape;  // (N, K, C_l, H_l, W_l), known after the first pass
  int64_t Fl = 0;
  ProgressBar bar("gradient", N, "img", opt.progress);
  for (int64_t start = 0; start < N * n; start += opt.batch_size) {
    const int64_t P = std::min(opt.batch_size, N * n - start);
    Tensor xs, z;
    sp.make(start, P, xs, z);
    const PointGradients pg = gradients_at(f, z, opt.layer);  // one forward, K backward
    if (mom.mean.empty()) {
      const Tensor& explained = at_input ? z : pg.layer_input;
      value_shape = {N, K};
      for (int64_t d = 1; d < explained.dim(); ++d) value_shape.push_back(explained.size(d));
      Fl = explained.numel() / P;
      mom.mean.assign(N * K * Fl, 0.0);
      mom.m2.assign(N * K * Fl, 0.0);
    }
    if (expected_mode && noisy) h_x = layer_inputs(f, xs, opt.layer, P);
    const std::vector<double> d = multipliers(sp, start, P, Fl, xs, pg, at_input, expected_mode, h_x, noisy, h_bg);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t p = 0; p < P; ++p)
        mom.add(sp.image(start + p) * K + k, sp.sample(start + p) + 1, pg.grads[k].data<float>() + p * Fl,
                d.data() + p * Fl, Fl);
    const int64_t finished = (start + P) / n - start / n;
    if (finished > 0) bar.update(finished, static_cast<double>(finished));
  }
  bar.finish();

  a.values = Tensor::from_vector(mom.mean, value_shape, DType::Float64);
  a.variances = Tensor::empty(value_shape, DType::Float64);
  const double nd = static_cast<double>(n);
  for (size_t j = 0; j < mom.m2.size(); ++j) a.variances.data<double>()[j] = mom.m2[j] / nd / std::sqrt(nd);
  if (at_input || expected_mode) a.gaps = completeness_gaps(a.values, a.outputs, a.expected);
  a.settings = {{"method", "gradient"},
                {"layer", opt.layer},
                {"layer_mode", at_input ? "none (input)" : to_string(opt.layer_mode)},
                {"nsamples", n},
                {"local_smoothing", opt.local_smoothing},
                {"seed", opt.seed},
                {"draws", opt.draw_b.empty() ? "generator" : "recorded"},
                {"batch_size", opt.batch_size},
                {"background_size", B},
                {"model_output", to_string(f.output)},
                {"variance", "population variance of the per-sample products / sqrt(nsamples), as shap"},
                {"progress", opt.progress}};
  return a;
}

// ---- the registry entry -------------------------------------------------------------------------

Explainer gradient_explainer() {
  Explainer e;
  e.name = e.title = "gradient";
  e.description =
      "expected gradients (shap's GradientExplainer): gradients at random points between background images and x, "
      "times x - background";
  e.layers = true;
  e.needs_background = true;
  e.options = {{"nsamples", int64_t{200}, "gradient: samples per image", ""},
               {"local-smoothing", 0.0, "gradient: std of input noise", ""},
               {"layer-mode", std::string("shap"),
                "gradient at a layer: shap (h(z) x grad, what shap computes) or expected (Captum's h(x)-h(b))", ""}};
  e.run = [](const Explained& f, const Tensor& x, const Tensor& background, const ExplainerSettings& s) {
    GradientOptions o;
    o.layer = s.layer;
    o.layer_mode = parse_layer_mode(s.text("layer-mode"));
    o.nsamples = s.integer("nsamples");
    o.local_smoothing = s.real("local-smoothing");
    o.seed = s.seed;
    if (s.batch_size > 0) o.batch_size = s.batch_size;
    o.progress = s.progress;
    return gradient_explain(f, x, background, o);
  };
  return e;
}

}  // namespace lb::explain
