// medmnist.h: MedMNIST 2D datasets (PneumoniaMNIST and its siblings) from their official .npz.
//
// The file holds {train,val,test}_images as uint8 (N, H, W) for grey sets or (N, H, W, 3) for RGB
// ones, and {train,val,test}_labels as (N, 1) integers, or (N, L) 0/1 flags for the multi-label
// set ChestMNIST (Yang et al., MedMNIST v2, 2023). Any size MedMNIST ships (28, 64, 128, 224)
// loads.
//
// The task follows from the labels, as MedMNIST defines its 12 2D sets: (N, L) with L > 1 is
// multi-label (one sigmoid output per label, BCE); (N, 1) with two classes is binary; more
// classes are multi-class (softmax, cross-entropy), ordinal regression (RetinaMNIST) included,
// which MedMNIST's own evaluator also treats as multi-class. A split keeps the raw uint8 pixels; `to_model_space`
// turns a batch of them into the float32 (N, C, H, W) tensor the model takes:
//   x = (pixel / 255 - mean) / std
// with the mean and std stored in every checkpoint (default 0.5 / 0.5, MedMNIST's getting-started
// transform, which the seed report used).
#pragma once

#include <string>
#include <vector>

#include "engine/data/augment.h"
#include "engine/tensor.h"

namespace lb::data {

struct Normalization {
  double mean = 0.5;
  double std = 0.5;
};

enum class Task { Binary, MultiClass, MultiLabel };
// MedMNIST's names: "binary-class", "multi-class", "multi-label, binary-class".
const char* task_name(Task t);
// Either MedMNIST's name or the short "binary" / "multi-class" / "multi-label"; an error otherwise.
Task parse_task(const std::string& s);

struct Split {
  std::string name;  // "train", "val" or "test"
  Tensor images;     // uint8 (N, H, W, C), C = 1 or 3
  Tensor labels;     // int64 (N) class indices, or (N, L) 0/1 flags for a multi-label set
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t height() const { return images.size(1); }
  int64_t width() const { return images.size(2); }
  int64_t channels() const { return images.size(3); }
  bool multilabel() const { return labels.dim() == 2; }
  // Samples per class; for a multi-label split, the positives per label.
  std::vector<int64_t> class_counts(int64_t num_classes) const;
};

struct Dataset {
  std::string path;
  Split train, val, test;
  Task task = Task::Binary;
  // The model's outputs: 1 + the largest label seen in any split, or L for a multi-label set.
  int64_t num_classes = 0;
  const Split& split(const std::string& name) const;
};

// Loads and validates every split: the six keys exist, image and label counts agree, images are
// uint8 of rank 3 or 4 (1 or 3 channels), all splits share H, W and C and the label layout,
// labels are non-negative (multi-label flags 0 or 1).
// Every problem is one line naming the file and what to do.
Dataset load_medmnist(const std::string& path);

// Converts images [idx[0], idx[1], ...] of a split to model space: float32 (B, C, H, W). With
// `aug`, each image is augmented in pixel space first, with a generator seeded by
// sample_seed(seed, epoch, idx[b]).
Tensor to_model_space(const Split& s, const std::vector<int64_t>& idx, Normalization norm,
                      const AugmentConfig* aug = nullptr, uint64_t seed = 0, int64_t epoch = 0);
// Labels of the same samples: int64 (B), or (B, L) for a multi-label split.
Tensor gather_labels(const Split& s, const std::vector<int64_t>& idx);

// Pixel mean and std of a split in [0, 1] units (for --normalize train-stats).
Normalization split_statistics(const Split& s);

}  // namespace lb::data
