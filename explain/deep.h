// deep.h: DeepExplainer: DeepLIFT's rescale rule averaged over a background set ("Deep SHAP",
// Lundberg & Lee 2017; DeepLIFT: Shrikumar, Greenside & Kundaje 2017), written with lightbox's
// backward-rule overrides (engine/autograd.h) instead of module hooks.
//
// DeepLIFT explains the difference f(x) - f(r) between an input x and a reference r. Every op
// gets a "multiplier" m = Δy/Δu (output difference over input difference) instead of its
// derivative dy/du, and multipliers chain like derivatives, so the modified backward pass from
// output k yields G with
//     sum_e G_e * (x_e - r_e) = f_k(x) - f_k(r)                        (completeness)
// exactly, for any network built from the rules below. The rules:
//   linear ops (conv, eval-mode batch norm, linear, average pools, add, reshape): Δy = J Δu, so
//     the multiplier IS the Jacobian: their ordinary backward stays.
//   relu (the rescale rule): per element, m = (relu(u_x) - relu(u_r)) / (u_x - u_r) when
//     |u_x - u_r| >= 1e-6, else the ordinary derivative of the reference, [u_r > 0] (shap's eps;
//     the pair is then too close for the ratio to mean anything, and contributes ~nothing).
//   max_pool2d: per pooled output, c = max(y_x, y_r) splits the difference y_x - y_r into
//     (c - y_r), credited to the x's argmax, and (y_x - c), credited to the reference's argmax;
//     each input position then gets m = (credits routed to it) / (u_x - u_r) (0 when
//     |u_x - u_r| < 1e-7). Window by window the credits add up to g * (y_x - y_r), so the rule
//     is complete only if a position that is the argmax of SEVERAL windows gets the SUM of their
//     credits. With overlapping windows (ResNet's 3x3/stride-2 stem pool) that happens often.
//
// Deep SHAP: with a background set bg_1..bg_B, phi = mean_p G(x, bg_p) ⊙ (x - bg_p), so
// sum(phi) = f(x) - mean_p f(bg_p) = f(x) - E f(bg): the values explain the output against the
// expected output, as SHAP values do. (For a network that is additive in groups of inputs, each
// group's value is its exact Shapley value; for deeper nets Deep SHAP is an approximation.)
//
// What shap 0.51's DeepExplainer gets wrong (explainers.md 2.5), and why lightbox cannot:
//   - its max-pool rule routes credits with F.max_unpool2d, which ASSIGNS: where windows overlap,
//     all but one credit is dropped (on CUDA, which one survives is nondeterministic). On the
//     fixture ResNet the sum of its values misses f(x) - E f(bg) by up to 62% (tests
//     DeepPool.Overlapping*, DeepResNet.*; tests/fixtures/explain/deep/resnet_shap_errors.json).
//     lightbox scatter-ADDS; shap_maxpool = true reproduces the overwrite (last window in row-major
//     order wins, as PyTorch's CPU kernel does) for parity.
//   - its hooks live on module objects: a ReLU module used twice (torchvision's BasicBlock) keeps
//     only the second call's activations; in-place ReLUs and `out += identity` raise under full
//     backward hooks. lightbox's rules run per op instance on the tape, and relu_ records its
//     pre-activation, so torchvision's layout is right by construction.
//   - its additivity check is absolute (0.01); lightbox reports every gap and checks it relative
//     to the size of what is explained.
//
// Batch layout of one pass (shap runs [x repeated B; bg] once per image and output): rows
// [0, n) hold n explained images, row n + i*Bc + p holds background p paired with image i. The x
// rows are computed once, not B times; every rule compares row n + i*Bc + p with row i, and only
// the reference rows are seeded and read (shap reads its reference half). One forward serves
// all K outputs: the multipliers depend on (x, bg_p) only, so K backward passes over the same
// tape (retain_graph) replace shap's K forward + backward passes. Parameters are frozen for the
// duration (their requires_grad is restored after), so no weight gradient is ever computed.
//
// Layer variant (layer = a module's dotted name, "layer1"): the gradient is taken at that
// module's input h (captured with nn::Capture), phi = mean_p G_h ⊙ (h(x) - h(bg_p)), shaped
// (N, K, C_l, H_l, W_l), like shap's DeepExplainer((model, model.layer1), bg). A module called
// several times in one forward keeps its LAST call (the completeness check then fails).
#pragma once

#include <cstdint>
#include <string>

#include "explain/explain.h"

namespace lb::explain {

struct DeepOptions {
  std::string layer = "input";     // or a module's dotted name: attribute to that module's INPUT
  bool check_completeness = true;  // throw when a gap exceeds the tolerance (gaps are always computed)
  double tolerance = 1e-4;         // allowed |gap| relative to max(mean_p |f(x) - f(bg_p)|, 1e-6)
  bool shap_maxpool = false;       // shap's max_unpool overwrite (parity tests only; incomplete)
  int64_t batch_size = 0;          // background rows per pass (0 = all)
  bool progress = false;           // progress over images, to the installed renderer (engine/progress.h)
};

// values (N, K, C, H, W) float64 (layer: (N, K, C_l, H_l, W_l)) for every output k of f;
// expected (K,) = mean_b f(b); outputs (N, K) = f(x); gaps (N, K) = completeness_gaps.
// x (N, C, H, W) and background (B, C, H, W): float32 images in model space, on any device (the
// passes and the rules (deep_rules.h) run on the model's device, the bookkeeping on the CPU).
// f must be in eval
// mode and explain logits (f.output == Probs is refused: softmax has no complete rule here).
Attribution deep_explain(const Explained& f, const Tensor& x, const Tensor& background, const DeepOptions& opt);

// Its entry in the table of explainers (explain/registry.h): "deep", its options and its runner.
struct Explainer;
Explainer deep_explainer();

}  // namespace lb::explain
