// deep.cc: DeepLIFT rescale / Deep SHAP with backward-rule overrides; see deep.h for the method.
//
// Shapes: x (N, C, H, W) explained images, bg (B, C, H, W) background; one pass stacks n images
// and Bc background rows into Z (n + n*Bc, C, H, W) (DeepPairing, explain/deep_rules.h). K model
// outputs; the attributed tensor h is Z itself or a layer's input (rows, C_l, H_l, W_l),
// E = C_l*H_l*W_l. The rules (deep_rules.cc) compute in the tensors' dtype (float32 for models), in
// the same order of operations as shap, so that shap's numbers are reproduced to float32
// rounding, on the model's device; phi accumulates in double on the CPU.
#include "explain/deep.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "base/common.h"
#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/ops/ops.h"
#include "engine/progress.h"
#include "explain/deep_rules.h"
#include "explain/registry.h"

namespace lb::explain {

namespace {

// Rows per pass to aim for when the background chunk is small: several images share one forward
// and backward (fewer, bigger passes). Measured on the fixture ResNet (2 cores): 64 beat 128-2048,
// whose activations fall out of cache; with B >= 64 every pass holds one image anyway.
constexpr int64_t kTargetRows = 64;

using Pairing = DeepPairing;

// The overrides: the rules run on the device of the recorded tensors (the model's), so a CUDA
// model's backward never leaves the GPU (explain/deep_rules.h, kernels/deep_rules.cu).
std::vector<Tensor> relu_rule(const BackwardContext& ctx, const Pairing& pr) {
  LB_CHECK(ctx.inputs.size() == 1 && ctx.output.defined(), "deep: relu node without its recorded input");
  // ctx.inputs[0] is the pre-activation (relu_ records a copy before writing).
  return {deep_relu_rule(ctx.inputs[0], ctx.output, ctx.grad_output, pr)};
}

std::vector<Tensor> maxpool_rule(const BackwardContext& ctx, const Pairing& pr, bool overwrite) {
  LB_CHECK(ctx.inputs.size() == 1 && ctx.output.defined(), "deep: max_pool2d node without its recorded input");
  return {deep_maxpool_rule(ctx.inputs[0], ctx.output, ctx.grad_output, max_pool2d_settings(ctx.node), pr, overwrite)};
}

// ---- the passes ------------------------------------------------------------------------------

// Turns every parameter's requires_grad off for its lifetime (no weight gradients in the K
// backward passes), then restores each one as it was.
class FreezeParameters {
 public:
  explicit FreezeParameters(nn::Module& m) : params_(m.parameters()) {
    for (Tensor& p : params_) {
      was_.push_back(p.requires_grad());
      p.requires_grad_(false);
    }
  }
  ~FreezeParameters() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].requires_grad_(was_[i]);
  }

 private:
  std::vector<Tensor> params_;
  std::vector<bool> was_;
};

struct PassInput {
  const Tensor& x;   // (N, C, H, W) float32
  const Tensor& bg;  // (B, C, H, W) float32
  int64_t i0, b0;    // first image, first background row of this pass
};

// Z (n + n*bc, C, H, W): the n images, then every image's bc background rows.
Tensor stack_pass(const PassInput& in, const Pairing& pr) {
  const int64_t F = in.x.numel() / in.x.size(0);
  Tensor z = Tensor::empty({pr.rows(), in.x.size(1), in.x.size(2), in.x.size(3)});
  float* dst = z.data<float>();
  const float *xs = in.x.data<float>(), *bs = in.bg.data<float>();
  std::copy(xs + in.i0 * F, xs + (in.i0 + pr.n) * F, dst);
  for (int64_t i = 0; i < pr.n; ++i) std::copy(bs + in.b0 * F, bs + (in.b0 + pr.bc) * F, dst + (pr.n + i * pr.bc) * F);
  return z;
}

// phi[i0 + i, k] += sum_p G[r] ⊙ (h[i] - h[r]) over the reference rows r = n + i*bc + p.
void accumulate(Tensor& phi, int64_t i0, int64_t k, const Tensor& G, const Tensor& h, const Pairing& pr) {
  const int64_t K = phi.size(1), E = h.numel() / h.size(0);
  const float *g = G.data<float>(), *hv = h.data<float>();
  double* out = phi.data<double>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pr.n; ++i) {
    double* o = out + ((i0 + i) * K + k) * E;
    for (int64_t p = 0; p < pr.bc; ++p) {
      const int64_t r = pr.n + i * pr.bc + p;
      for (int64_t e = 0; e < E; ++e) o[e] += double(g[r * E + e]) * (double(hv[i * E + e]) - double(hv[r * E + e]));
    }
  }
}

// One forward of Z and K backward passes on the model's device; adds this pass's sums into phi
// (allocated on first use). G and h come back to the CPU for the double-precision sums.
void run_pass(const Explained& f, const PassInput& in, Pairing& pr, const DeepOptions& opt, Tensor& phi) {
  const Device dev = f.device();
  const Tensor zc = stack_pass(in, pr);  // (rows, C, H, W) on the CPU
  Tensor z = dev.is_cpu() ? zc : zc.to(dev);
  z.requires_grad_(true);
  const bool layer = opt.layer != "input";
  std::unique_ptr<nn::Capture> cap;
  if (layer) cap = std::make_unique<nn::Capture>(std::vector<std::string>{opt.layer});
  const Tensor out = f(z);  // (rows, K)
  const Tensor target = layer ? cap->at(opt.layer).input_handle : z;
  const Tensor h = layer ? on_cpu(cap->at(opt.layer).input) : zc;
  LB_CHECK(target.defined() && target.requires_grad() && h.dtype() == DType::Float32 && h.size(0) == pr.rows(),
           "deep: the input of '" << opt.layer << "' (" << h.str() << ") is not a float32 activation of the pass's "
                                  << pr.rows() << " rows that the outputs depend on; pick another layer");
  LB_CHECK(out.dtype() == DType::Float32, "deep: expected float32 model outputs, got " << out.str());
  const int64_t K = out.size(1);
  if (!phi.defined()) {
    Shape s = h.shape();
    s[0] = K;
    s.insert(s.begin(), in.x.size(0));
    phi = Tensor::zeros(s, DType::Float64);
  }
  for (int64_t k = 0; k < K; ++k) {
    Tensor seed = Tensor::zeros(out.shape(), out.dtype());  // 1 on the reference rows of column k (CPU)
    for (int64_t r = pr.n; r < pr.rows(); ++r) seed.data<float>()[r * K + k] = 1.0f;
    const Tensor G = on_cpu(autograd::grad({out}, {target}, {seed.to(dev)}, /*retain_graph=*/k + 1 < K)[0]);
    accumulate(phi, in.i0, k, G, h, pr);
  }
}

void check_inputs(const Explained& f, const Tensor& x, const Tensor& bg, const DeepOptions& opt) {
  check_images(x, "inputs");
  check_images(bg, "background");
  LB_CHECK(x.size(1) == bg.size(1) && x.size(2) == bg.size(2) && x.size(3) == bg.size(3),
           "deep: inputs " << shape_str(x.shape()) << " and background " << shape_str(bg.shape())
                           << " must share (C, H, W); give background images of the explained images' size");
  check_eval_mode(f.model, "deep");
  LB_CHECK(f.output == ModelOutput::Logits,
           "deep: DeepLIFT has no complete rule for softmax (its outputs are coupled), so --model-output probs "
           "is not supported; explain logits with --model-output logits");
  LB_CHECK(opt.tolerance > 0, "deep: tolerance must be positive, got " << opt.tolerance);
  LB_CHECK(opt.batch_size >= 0, "deep: batch size must be 0 (all) or positive, got " << opt.batch_size);
  LB_CHECK(opt.layer == "input" || (!opt.layer.empty() && f.model.find(opt.layer) != nullptr),
           "deep: the model has no module '" << opt.layer << "'; use 'input' or a dotted module name (layer1)");
}

// Throws on the first (image, output) whose gap exceeds tolerance * mean_p |f(x) - f(bg_p)|.
void check_gaps(const Tensor& gaps, const Tensor& outputs, const Tensor& fb, const DeepOptions& opt) {
  const int64_t N = gaps.size(0), K = gaps.size(1), B = fb.size(0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double scale = 0;
      for (int64_t p = 0; p < B; ++p) scale += std::abs(outputs.at(n * K + k) - fb.at(p * K + k));
      const double allowed = opt.tolerance * std::max(scale / B, 1e-6), gap = gaps.at(n * K + k);
      LB_CHECK(std::abs(gap) <= allowed,
               "deep: the values of image "
                   << n << ", output " << k << " miss f(x) - E f(bg) by " << gap << " (allowed " << allowed
                   << " = tolerance " << opt.tolerance
                   << " x mean |f(x) - f(bg)|): the model uses an op with no DeepLIFT rule (only relu, max_pool2d "
                      "and linear ops have one)"
                   << (opt.layer == "input"
                           ? ""
                           : " or a path from the input to the output that bypasses '" + opt.layer + "'")
                   << "; explain it with another method or disable the completeness check");
    }
}

}  // namespace

Attribution deep_explain(const Explained& f, const Tensor& x_in, const Tensor& background_in, const DeepOptions& opt) {
  check_inputs(f, x_in, background_in, opt);
  // The passes are stacked on the CPU; run_pass moves each to the model's device.
  const Tensor x = on_cpu(x_in), background = on_cpu(background_in);
  if (opt.layer != "input") f.model.assign_names();  // nn::Capture matches modules by dotted name
  const int64_t N = x.size(0), B = background.size(0);
  const Tensor fb = f.evaluate(background);  // (B, K)
  Attribution a;
  a.method = "deep";
  a.layer = opt.layer;
  a.outputs = f.evaluate(x);
  a.expected = mean(fb, 0);

  // Images per pass: enough to fill kTargetRows rows, at least one.
  const int64_t bc = opt.batch_size > 0 ? std::min(opt.batch_size, B) : B;
  const int64_t per_pass = std::clamp<int64_t>(kTargetRows / (bc + 1), 1, N);
  Pairing pr;
  FreezeParameters frozen(f.model);
  BackwardOverride relu_scope("relu", [&pr](const BackwardContext& c) { return relu_rule(c, pr); });
  BackwardOverride pool_scope("max_pool2d",
                              [&pr, &opt](const BackwardContext& c) { return maxpool_rule(c, pr, opt.shap_maxpool); });
  ProgressBar bar("deep", N, "img", opt.progress);
  for (int64_t i0 = 0; i0 < N; i0 += per_pass) {
    for (int64_t b0 = 0; b0 < B; b0 += bc) {
      pr = Pairing{std::min(per_pass, N - i0), std::min(bc, B - b0)};
      run_pass(f, PassInput{x, background, i0, b0}, pr, opt, a.values);
    }
    const int64_t done = std::min(per_pass, N - i0);
    bar.update(done, double(done));
  }
  bar.finish();
  a.values = scale(a.values, 1.0 / double(B));  // the mean over the background
  a.gaps = completeness_gaps(a.values, a.outputs, a.expected);
  a.settings = {{"background", B},
                {"layer", opt.layer},
                {"batch_size", bc},
                {"images_per_pass", per_pass},
                {"maxpool", opt.shap_maxpool ? "shap overwrite (max_unpool)" : "scatter-add"},
                {"relu_eps", kDeepReluEps},
                {"maxpool_eps", kDeepPoolEps},
                {"tolerance", opt.tolerance},
                {"check_completeness", opt.check_completeness}};
  if (opt.check_completeness) check_gaps(a.gaps, a.outputs, fb, opt);
  return a;
}

// ---- the registry entry -------------------------------------------------------------------------

Explainer deep_explainer() {
  Explainer e;
  e.name = e.title = "deep";
  e.description =
      "Deep SHAP (shap's DeepExplainer): DeepLIFT's rescale rule against each background image, averaged; complete";
  e.layers = true;
  e.needs_background = true;
  e.run = [](const Explained& f, const Tensor& x, const Tensor& background, const ExplainerSettings& s) {
    DeepOptions o;
    o.layer = s.layer;
    if (s.batch_size > 0) o.batch_size = s.batch_size;
    o.progress = s.progress;
    return deep_explain(f, x, background, o);
  };
  return e;
}

}  // namespace lb::explain
