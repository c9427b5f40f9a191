// predict.h: the model's outputs on a whole split (eval mode, no tape), batch by batch.
#pragma once

#include <vector>

#include "engine/data/medmnist.h"
#include "models/resnet.h"

namespace lb::models {

struct Predictions {
  Tensor logits;      // float32 (N, K)
  Tensor probs;       // float32 (N, K), softmax of the logits
  Tensor labels;      // int64 (N)
  double loss = 0.0;  // mean cross-entropy
  // Probability of class 1 per sample and the labels as ints: what the binary metrics take.
  std::vector<double> positive_scores() const;
  std::vector<int> int_labels() const;
};

// Runs `model` in eval mode over every sample of `split`. The model's train/eval state is
// restored afterwards.
Predictions predict(ResNet18& model, const data::Split& split, data::Normalization norm, int64_t batch_size = 256,
                    bool progress = false);

}  // namespace lb::models
