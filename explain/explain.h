// explain.h: what every explainer shares: the function being explained, the attribution it
// returns, and the checks on its inputs.
//
//   f(x) = model(x)                  --model-output logits (K outputs, one per class)
//   f(x) = softmax(model(x))         --model-output probs (sigmoid per output for a multi-label model)
//
// An attribution explains every output k of f for every image n at once:
//   values    (N, K, C, H, W) float64   one number per input element (or per element of a layer's
//                                       input, (N, K, C_l, H_l, W_l), for layer explanations)
//   expected  (K,) float64              E_b f(b) over the background set (gradient, deep), or
//             (N, K)                    f(reference image) per image (partition, ig)
//   outputs   (N, K) float64            f(x)
//   gaps      (N, K) float64            outputs - expected - sum(values): the completeness gap
//                                       (0 for exact methods, an estimate's error otherwise)
// See docs/07-shap.md for what each method computes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace lb::explain {

enum class ModelOutput { Logits, Probs };
ModelOutput parse_model_output(const std::string& s);  // "logits" | "probs"
const char* to_string(ModelOutput m);

// The device a model computes on: that of its first parameter (the CPU for a model without
// parameters). Module::to moves every parameter together, so one answers for all.
Device model_device(nn::Module& model);

// The explained function. Holds a reference to the model; sets nothing on it (callers put the
// model in eval mode: explainers check and refuse a model in training mode, whose batch norm
// would mix the images of a batch).
//
// Devices: the model stays where it is (CPU or CUDA). The explainers build their images on the
// CPU; the network passes run on the model's device, and what comes back for their float64
// bookkeeping (outputs, gradients, captured activations) is copied to the CPU (docs/07-shap.md,
// "On the GPU").
struct Explained {
  nn::Module& model;
  ModelOutput output = ModelOutput::Logits;
  bool multilabel = false;  // Probs: sigmoid of each output instead of the softmax over them

  Device device() const { return model_device(model); }
  // f(x) with autograd (when grad mode is on): (N, C, H, W) float32 -> (N, K) float32 on the
  // model's device. x on another device is copied there first; that copy has no autograd history,
  // so a caller that wants gradients with respect to x puts x on device() itself.
  Tensor operator()(const Tensor& x) const;
  // f(x) without autograd in chunks of `batch` images, as float64 (N, K) on the CPU (x on any
  // device; each chunk is copied to the model's device and its outputs back).
  Tensor evaluate(const Tensor& x, int64_t batch = 256) const;
};

// A batch function for model-agnostic methods (partition, the exact oracles): (n, C, H, W)
// float32 -> (n, K) in any float dtype. Explained converts to one with as_batch_fn.
using BatchFn = std::function<Tensor(const Tensor&)>;
BatchFn as_batch_fn(const Explained& f);

struct Attribution {
  std::string method;                                  // "gradient", "deep", "partition", "ig"
  std::string layer = "input";                         // "input" or the module whose input is explained ("layer1")
  Tensor values;                                       // (N, K, C, H, W) float64
  Tensor expected;                                     // (K,) or (N, K) float64; undefined when the method has none
  Tensor outputs;                                      // (N, K) float64
  Tensor gaps;                                         // (N, K) float64; undefined when completeness is not defined
  Tensor variances;                                    // gradient only: shap's per-element var / sqrt(nsamples)
  nlohmann::json settings = nlohmann::json::object();  // every setting that shaped the result
};

// outputs - expected - sum over (C, H, W) of values, per (n, k); expected (K,) broadcasts.
Tensor completeness_gaps(const Tensor& values, const Tensor& outputs, const Tensor& expected);

// ---- input checks shared by the explainers (each throws one clear line) --------------------
// x must be (N, C, H, W) float32 with finite values (on any device; the explainers take their
// own CPU copy with on_cpu); `what` names it ("inputs").
void check_images(const Tensor& x, const char* what);
// t itself when it is on the CPU, else a CPU copy (for code that reads the values on the host).
Tensor on_cpu(const Tensor& t);
// The model must be in eval mode.
void check_eval_mode(const nn::Module& model, const char* method);

// ---- layer attributions drawn on the image ----------------------------------------------------
// Sums (N, K, C_l, h, w) over channels and upsamples nearest to (N, K, 1, H, W). Each output pixel
// (i, j) takes cell (floor(i*h/H), floor(j*w/W)); for the ResNet18 stages at 28x28 the factors
// are whole numbers (7 -> 28 is 4x4 blocks, 2 -> 28 is 14x14 blocks).
Tensor channel_sum_upsampled(const Tensor& values, int64_t H, int64_t W);
// "2x2 -> 28x28, nearest" (the label a figure carries).
std::string upsampling_label(int64_t h, int64_t w, int64_t H, int64_t W);

}  // namespace lb::explain
