// gradient.h: expected gradients, the estimator behind shap's GradientExplainer (Erion et al. 2021,
// "Improving performance of deep learning models with axiomatic attribution priors and expected
// gradients"), natively on lightbox's autograd. Specification: explainers.md section 1.
//
// ---- the math ---------------------------------------------------------------------------------
// Integrated gradients with baseline b explains f(x) - f(b) by integrating the gradient along the
// straight path from b to x:
//     IG_b(x) = (x - b) ⊙ ∫_0^1 ∇f(b + t (x - b)) dt,         Σ IG_b(x) = f(x) - f(b).
// Expected gradients averages that over baselines b drawn from a background set, which turns the
// integral and the average into one expectation that is estimated by sampling:
//     phi(x) = E_{b ~ bg, t ~ U[0,1)} [ ∇f(z) ⊙ (x - b) ],   z = t x + (1 - t) b
//            ≈ (1/n) Σ_k g_k ⊙ d_k,    g_k = ∇f(z_k),  d_k = x - b_k.
// In expectation Σ phi = f(x) - E_b f(b) (the `expected` of the Attribution); for finite n the gap
// shrinks like 1/sqrt(n). shap draws, for every image and sample k, first b_k (uniform index
// into the background, with replacement) and then t_k; `local_smoothing` replaces x by
// x~ = x + sigma * N(0, 1) noise, fresh per sample (shap's SmoothGrad flavour).
//
// ---- layer variants (layer = a module name; its INPUT h is explained) ---------------------------
// The interpolation always happens in image space: z_k = t_k x~ + (1 - t_k) b_k, and the gradient
// is taken with respect to the layer input h(z_k) in the same batched pass (nn::Capture).
//   LayerMode::Shap      phi = (1/n) Σ_k (dF/dh)(h(z_k)) ⊙ h(z_k)            (explainers.md 1.3)
//     What shap's GradientExplainer((model, layer), bg) really computes: its multiplier is the
//     activation at the sample point itself, not a difference h(x) - h(b). It is "gradient times
//     activation along the image-space path", and it has no completeness property (shap's own
//     tests skip the sum check for it), so `gaps` is left undefined.
//   LayerMode::Expected  phi = (1/n) Σ_k (dF/dh)(h(z_k)) ⊙ (h(x~) - h(b_k))   (Captum's
//     LayerGradientShap with attribute_to_layer_input=True, explainers.md 5.4; the tests match
//     Captum's numbers). The multiplier is a difference of activations, so the sums are compared
//     with f(x) - E f(b) and `gaps` is filled in. Completeness holds in expectation only where h
//     is affine in the image (then (dF/dh) J (x - b) = ∇f . (x - b), sample for sample, the input
//     estimator's sums). For a nonlinear h (a ResNet stage) h(x) - h(b) is not the path's
//     dh/dt, and a bias remains that more samples do not remove: on the test fixture's layer4
//     the gap stays near 1.3 of a 3.4 output difference from 100 to 1600 samples. Complete layer
//     attributions need the interpolation in layer space (h(b) + t (h(x) - h(b)) fed to the rest
//     of the network), which is a different method.
//
// ---- randomness ------------------------------------------------------------------------------------
// The draws come from lb::Generator (mt19937_64) through libstdc++'s uniform distributions, so a
// seed reproduces on this toolchain, not across standard libraries and not shap's numpy stream:
// for bit-level parity with shap, pass its recorded draws (draw_b, draw_t).
//
// ---- variances ----------------------------------------------------------------------------------
// shap returns, per feature, var_k(g_k ⊙ d_k) / sqrt(n): the population variance (ddof 0) of the
// per-sample products divided by sqrt(n). Its comment says "variance of the mean", which would be
// var / n; we reproduce shap's sqrt(n) as is so the numbers compare, and say so here.
//
// ---- cost -----------------------------------------------------------------------------------------
// shap runs, per image and per output, ceil(n / batch) forward+backward passes (plus, for a layer,
// n extra single-image forwards to read h(z_k)). The draws are the same for every output, so here
// the N * n sample points of all images are cut into batches of `batch_size`, each batch gets ONE
// forward and K backward passes (retain_graph), and h(z_k) is read from that same forward.
// Parameters are frozen during the passes so that backward never computes weight gradients.
// Measured on one CPU thread, nsamples = 200, per image (test fixture, width-8 ResNet18): input
// 0.13 s vs shap 0.36 s, layer1 0.12 s vs shap 2.7 s; width 64: input 2.3 s vs 3.2 s, layer1
// 2.4 s vs 10.8 s. At the input the saving is K forwards out of K (forward + backward), and the
// rest is the engine's conv speed against PyTorch's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "explain/explain.h"

namespace lb::explain {

enum class LayerMode { Shap, Expected };
LayerMode parse_layer_mode(const std::string& s);  // "shap" | "expected"
const char* to_string(LayerMode m);

struct GradientOptions {
  std::string layer = "input";             // "input" or a dotted module name; that module's INPUT is explained
  LayerMode layer_mode = LayerMode::Shap;  // layers only; see the header comment
  int64_t nsamples = 200;                  // sample points per image
  double local_smoothing = 0.0;            // std of the Gaussian noise added to x per sample
  // Draws b_k then t_k per sample, per image (image-major), from lb::Generator(seed); the noise of
  // local smoothing comes from a second generator derived from the seed, so the (b, t) draws do not
  // depend on it. The same draws serve every output, like shap.
  uint64_t seed = 0;
  int64_t batch_size = 50;  // sample points per forward/backward pass (across images)
  // Recorded draws (parity with shap's numpy RNG): draw_b[n][k], draw_t[n][k] for image n, sample
  // k; N rows of nsamples each. When non-empty they replace the generator's (b, t).
  std::vector<std::vector<int64_t>> draw_b;
  std::vector<std::vector<double>> draw_t;
  bool progress = false;  // progress over images, to the installed renderer (engine/progress.h)
};

// values    (N, K, C, H, W), or (N, K, C_l, H_l, W_l) for a layer: phi for every output k
// variances same shape: shap's var_k(g_k ⊙ d_k) / sqrt(n)
// outputs   (N, K) f(x);  expected (K,) mean over the background of f(b)
// gaps      (N, K) outputs - expected - Σ values for the input and LayerMode::Expected; undefined
//           for LayerMode::Shap (no completeness to measure)
Attribution gradient_explain(const Explained& f, const Tensor& x, const Tensor& background, const GradientOptions& opt);

// ---- shared with integrated_gradients --------------------------------------------------------------
// The gradients of every output of f at a batch of points, from one forward and K backward passes.
struct PointGradients {
  Tensor outputs;             // (P, K) float32 f(z), on the model's device (not copied back)
  Tensor layer_input;         // (P, ...) float32 h(z) on the CPU, the captured layer input; undefined for "input"
  std::vector<Tensor> grads;  // K entries, each (P, ...) float32 on the CPU: d f_k / d z (or d f_k / d h)
};
// z (P, C, H, W) float32 on any device: the passes run on the model's device (z is copied there)
// and the layer input and gradients are copied back to the CPU. layer "input" or a module name
// (checked by the caller). The model's parameters do not require grad during the call (restored
// after, also on error).
PointGradients gradients_at(const Explained& f, const Tensor& z, const std::string& layer);

// Its entry in the table of explainers (explain/registry.h): "gradient", its options and its runner.
struct Explainer;
Explainer gradient_explainer();

}  // namespace lb::explain
