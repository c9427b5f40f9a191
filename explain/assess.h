// assess.h: is an explanation right? Scores that judge an attribution map against ground truth
// (where lesion masks exist), against the model itself (faithfulness), and against a model that
// should have nothing left to explain (sanity checks). `lightbox assess` tabulates them for every
// explainer; docs/08-judging-explanations.md says what each means and where it misleads.
//
// Maps are flat vectors of one number per element, in NCHW order, for ONE image and ONE output
// (values[n, k] of an Attribution); masks are flat uint8 of the same length.
//
// ---- localisation (needs a lesion mask) ------------------------------------------------------
//   positive_share  sum of max(a, 0) inside the mask / sum of max(a, 0) everywhere: how much of
//                   the evidence FOR the class lies on the lesion (Wang et al. 2020, Score-CAM's
//                   "energy-based pointing game"). NaN when no element is positive.
//   pointing_game   1 if the element with the largest attribution lies inside the mask, else 0
//                   (Zhang et al. 2016, "Top-down neural attention by excitation backprop"). Ties
//                   go to the first element in NCHW order.
//   detection_auc   the attribution used as a per-pixel lesion detector: the probability that a
//                   random lesion pixel gets a higher attribution than a random other pixel (ties
//                   count 1/2; Mann-Whitney U / (n_in n_out)). 0.5 = chance. NaN for an empty or
//                   full mask.
//
// ---- faithfulness (any data) -------------------------------------------------------------------
// Deletion and insertion curves (Petsiuk et al. 2018, RISE): rank the elements by attribution
// (largest first), then
//   deletion   start from x and replace the first m elements of the ranking by the reference
//              (the masker's blurred or constant image) for m = 0, n/S, 2n/S, ..., n;
//   insertion  start from the reference and put back the first m elements of x.
// The curve is the explained output after each step against the fraction m/n; its area
// (trapezoid rule on [0, 1]) should be LOW for deletion and HIGH for insertion when the ranking
// is faithful. The same curves for a random ranking give the yardstick. At a layer the elements
// are the cells (c, i, j) of the layer's input, the reference is the background's mean activation,
// and the rest of the network runs from there (ResNet18::forward_from).
//
// ---- sanity checks (Adebayo et al. 2018, "Sanity Checks for Saliency Maps") -----------------
// Cascading randomisation re-initialises the model's stages from the top down (fc, layer4,
// layer3, layer2, layer1, then the stem conv1 + bn1) with the constructor's distributions, keeping
// BatchNorm's running statistics; label randomisation trains a model on shuffled labels. A map
// that still looks the same explains the image (an edge detector), not the model. Similarity of
// two maps: Spearman rank correlation and SSIM, both on |attribution| (Adebayo's "absolute value"
// variant). A method passes when the mean Spearman after full randomisation is below kSanityPass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "explain/compare.h"
#include "explain/explain.h"
#include "models/resnet.h"

namespace lb::explain {

// ---- localisation ------------------------------------------------------------------------------
double positive_share(const std::vector<double>& attr, const std::vector<uint8_t>& mask);
double pointing_game(const std::vector<double>& attr, const std::vector<uint8_t>& mask);
double detection_auc(const std::vector<double>& attr, const std::vector<uint8_t>& mask);

// ---- faithfulness ------------------------------------------------------------------------------
enum class CurveKind { Deletion, Insertion };
const char* to_string(CurveKind k);

struct Curve {
  std::vector<double> fraction;  // (S + 1) m / n, from 0 to 1
  std::vector<double> output;    // (S + 1) f_k after each step
  double auc = 0;                // trapezoid area under output over fraction
};

// Element indices by decreasing attribution (ties keep NCHW order: a stable sort).
std::vector<int64_t> attribution_order(const std::vector<double>& attr);
// A seeded random permutation of 0..n-1.
std::vector<int64_t> random_order(int64_t n, uint64_t seed);

// x and reference: (1, ...) float32 of the same shape (an image, or a layer input); f maps a batch
// (B, ...) to (B, K) in any float dtype; `output` picks k. order: a permutation of x's elements.
// S = steps (1..n); step s changes the first round(s n / S) elements of `order`. The S + 1 inputs
// are evaluated in batches of `batch`.
Curve perturbation_curve(const BatchFn& f, const Tensor& x, const Tensor& reference, const std::vector<int64_t>& order,
                         int64_t output, CurveKind kind, int64_t steps, int64_t batch = 64);

// Trapezoid rule: area under y over x (x increasing).
double trapezoid(const std::vector<double>& x, const std::vector<double>& y);

// ---- sanity helpers ----------------------------------------------------------------------------
// spearman(a, b) (explain/compare.h): Pearson correlation of the ranks, ties given their average
// rank, NaN when either input is constant.

// Structural similarity (Wang et al. 2004) of two H x W maps as scikit-image's
// structural_similarity computes it by default: a uniform `window` x `window` filter (7), sample
// covariances (normalised by window^2 - 1), K1 = 0.01, K2 = 0.03, the mean over the windows that
// fit entirely in the image. L is the data range: max - min over both maps (1 if that is 0).
// Identical maps give 1; window must be odd and <= min(H, W).
double ssim(const std::vector<double>& a, const std::vector<double>& b, int64_t H, int64_t W, int64_t window = 7);

// Mean Spearman below this after full cascading randomisation (or label randomisation) passes.
constexpr double kSanityPass = 0.5;

// fc, layer4, layer3, layer2, layer1, stem: the order of cascading randomisation.
const std::vector<std::string>& cascade_stages();
// Re-initialises the parameters (not the running statistics) of one stage of `model` ("stem" =
// conv1 and bn1) as ResNet18's constructor would, from Generator(seed).
void randomize_stage(models::ResNet18& model, const std::string& stage, uint64_t seed);

// The map a person looks at: sum over channels of |values| (C, h, w) -> (H, W), upsampled nearest
// when (h, w) != (H, W). values: one (n, k) slice, flat.
std::vector<double> abs_map(const std::vector<double>& values, int64_t C, int64_t h, int64_t w, int64_t H, int64_t W);

// ---- running the explainers the same way everywhere -----------------------------------------
struct MethodSettings {
  std::string layer = "input";  // the explainers with layers (registry.h) also explain a layer's input
  int64_t nsamples = 100;       // gradient
  int64_t max_evals = 500;      // partition
  std::string masker;           // partition and the curves' reference; "" = blur:W (shap's default)
  int64_t steps = 32;           // ig (Gauss-Legendre)
  uint64_t seed = 0;
  bool progress = false;
};
// Runs the registered explainer `method` (explain/registry.h) as assess does, for every output of
// f (logits): gradient completes where it can (layer mode "expected"; shap's mode has no gap to
// report), and partition evaluates kAssessPartitionBatch masked images per model call. background:
// (B, C, H, W) for the explainers that need one.
constexpr int64_t kAssessPartitionBatch = 50;  // shap's 10 per call is slow for a table of images
Attribution explain_for_assess(const std::string& method, const Explained& f, const Tensor& x, const Tensor& background,
                               const MethodSettings& s);

// values[n, k] of an Attribution (or of any (N, K, ...) tensor) as a flat vector.
std::vector<double> map_of(const Attribution& a, int64_t n, int64_t k);
std::vector<double> map_of(const Tensor& values, int64_t n, int64_t k);

}  // namespace lb::explain
