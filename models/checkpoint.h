// checkpoint.h: ResNet18 checkpoints as safetensors with torchvision's parameter names.
//
// The tensors are the model's state_dict (conv1.weight, bn1.running_mean, layer1.0.conv1.weight,
// layer2.0.downsample.0.weight, fc.bias, ...), so a checkpoint opens in PyTorch with
// safetensors.torch.load_file and loads into torchvision's resnet18 unchanged. The header's
// __metadata__ carries JSON strings:
//   arch           "resnet18"
//   in_channels    "1"
//   num_classes    "2"
//   normalization  {"mean": 0.5, "std": 0.5}   (pixel / 255 - mean) / std, applied to inputs
//   class_names    ["normal", "pneumonia"]
//   image_size     "28"
//   config         the training configuration (every flag of the run)
// A file without metadata (converted from torchvision, or timm's) still loads: arch, channels and
// classes (and the width, conv1's output channels) are read off the tensor shapes, normalization defaults to 0.5 / 0.5.
// The tensors are the truth; metadata is free text. An entry that is not lightbox's (an `arch` of
// another tool's wording, a normalization that does not parse) is reported once through lb::note
// (base/notes.h) and ignored when every tensor matches; a tensor that does not match is refused,
// naming the first key and both shapes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/data/medmnist.h"
#include "models/resnet.h"

namespace lb::models {

struct ModelMeta {
  std::string arch = "resnet18";  // what the tensors are; a file's own `arch` entry is not trusted
  std::string foreign_arch;       // the file's `arch` entry when it is not "resnet18" (noted on load)
  int64_t in_channels = 1;
  int64_t num_classes = 2;
  // What the outputs mean (engine/data/medmnist.h): softmax classes or sigmoid labels. Stored as
  // the `task` entry; a file without one is binary or multi-class by its output count, and
  // task_stored is false so that a dataset's own task can decide (a multi-label model cannot be
  // told from its tensors).
  data::Task task = data::Task::Binary;
  bool task_stored = false;
  int64_t width = 64;  // conv1's output channels (read off the tensor shapes, not stored)
  data::Normalization norm;
  std::vector<std::string> class_names;
  int64_t image_size = 28;
  nlohmann::json config = nlohmann::json::object();
};

struct Checkpoint {
  std::shared_ptr<ResNet18> model;
  ModelMeta meta;
};

void save_checkpoint(const std::string& path, const ResNet18& model, const ModelMeta& meta);
// Builds the model the file describes and loads its weights (strict: every key must match).
// A file that is not a ResNet18 is one clear error naming what is missing or unexpected.
Checkpoint load_checkpoint(const std::string& path);

// Class names for a dataset file name: MedMNIST's own label names when the file name starts with
// one of its 12 2D sets ("pneumoniamnist_64.npz" -> normal, pneumonia) and the count matches,
// else "class 0", "class 1", ...
std::vector<std::string> default_class_names(const std::string& dataset_path, int64_t num_classes);

}  // namespace lb::models
