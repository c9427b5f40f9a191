// predict.h: the model's outputs on a whole split (eval mode, no tape), batch by batch.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "engine/data/medmnist.h"
#include "models/resnet.h"

namespace lb::models {

// Single-label splits (binary, multi-class): probs = softmax of the logits, loss = cross-entropy.
// Multi-label splits (labels (N, L)): probs = sigmoid of each logit, loss = the mean binary
// cross-entropy over every label (engine/ops/softmax.h), as MedMNIST trains ChestMNIST.
struct Predictions {
  Tensor logits;      // float32 (N, K)
  Tensor probs;       // float32 (N, K)
  Tensor labels;      // int64 (N), or (N, K) 0/1 flags when multilabel
  double loss = 0.0;  // mean cross-entropy (per label when multilabel)
  bool multilabel = false;
  int64_t size() const { return logits.defined() ? logits.size(0) : 0; }
  // Probability of class 1 per sample and the labels as ints: what the binary metrics take.
  std::vector<double> positive_scores() const;
  std::vector<int> int_labels() const;  // single-label only
  // Per sample: every output's probability; the 0/1 flags of a multi-label split.
  std::vector<std::vector<double>> prob_rows() const;
  std::vector<std::vector<int>> label_rows() const;  // multilabel only
  // Per sample: the probability of output k, and whether the sample belongs to class k (label == k,
  // or flag k set): the one-vs-rest view of any task.
  std::vector<double> scores_of(int64_t k) const;
  std::vector<int> one_vs_rest_labels(int64_t k) const;
  // The predicted class of sample i: argmax of probs (for multi-label, the most probable label).
  int64_t predicted(int64_t i) const;
};

// Probabilities from logits (N, K), on the CPU: softmax per row, or sigmoid per entry.
Tensor probabilities(const Tensor& logits, bool multilabel);

// Runs `model` in eval mode over every sample of `split`. The model's train/eval state is
// restored afterwards.
Predictions predict(ResNet18& model, const data::Split& split, data::Normalization norm, int64_t batch_size = 256,
                    bool progress = false);

// Test-time augmentation (--tta VIEWS): the mean of the probabilities over VIEWS copies of the
// split, the images themselves and whole-pixel shifts with the edge pixels repeated (the border
// fill the training augmentation uses):
//   1  no augmentation: predict() itself
//   5  the images and their shifts by one pixel up, down, left and right
//   9  those and the four diagonal shifts
// Whole-pixel shifts of uint8 images are exact copies, no resampling. The result is a
// Predictions like predict()'s: probs the mean, logits their log (log-odds per label for a
// multi-label split; softmax and sigmoid give the mean back), loss the cross-entropy of the mean.
Predictions predict_tta(ResNet18& model, const data::Split& split, data::Normalization norm, int views,
                        int64_t batch_size = 256, bool progress = false);
// Throws unless `views` is 1, 5 or 9.
void check_tta_views(int views);
// The views a run validated with: its config.json's "tta" when that is 1, 5 or 9, else 1 (runs
// from before --tta, or a checkpoint without a configuration). `lightbox eval`, `compare` and
// `sweep` score a checkpoint as its run was selected.
int run_tta_views(const nlohmann::json& run_config);
// A copy of `split` whose images are moved down by dy and right by dx pixels (negative: up, left),
// the vacated rows and columns filled with the nearest edge pixel.
data::Split shifted_split(const data::Split& split, int64_t dy, int64_t dx);

}  // namespace lb::models
