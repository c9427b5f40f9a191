// weights.h: loading ImageNet-pretrained ResNet18 weights into a lightbox model (transfer learning).
//
// Why: the seed trained from scratch; starting from ImageNet features is the standard remedy for a
// small medical dataset (docs/06-transfer-learning.md). The file is safetensors with torchvision's
// parameter names, as written by tools/convert_weights.py (or timm's resnet18 safetensors, which
// uses the same names). Loading follows load_state_dict's strict rules (engine/nn/module.h): one
// message lists every missing and unexpected key, and a shape mismatch names the parameter and
// both shapes. Exactly two mismatches are adaptations rather than errors:
//
//   conv1.weight  (64, 3, 7, 7) from ImageNet, the model takes 1 channel (grey MedMNIST):
//                   sum     w[:, 0] = w_R + w_G + w_B (default). A grey image x then gives the same
//                           conv1 output as the RGB image (x, x, x) through the original weights,
//                           so ImageNet's edge and blob filters respond to grey input as they did
//                           to colour (docs/06-transfer-learning.md)
//                   mean    (w_R + w_G + w_B) / 3: same filters, a third of the response
//                   red     w_R, channel 0 alone
//                   random  conv1 keeps the model's own kaiming init (what the seed did); this
//                           also applies when the channel counts agree
//                 A 3-channel model (RGB MedMNIST) loads conv1 unchanged (except with random).
//   fc.weight, fc.bias  when the file's class count differs from the model's, both are
//                 re-initialised from `gen` like torchvision's nn.Linear default
//                 (kaiming_uniform_(a = sqrt(5)) then U(+-1/sqrt(512)) for the bias).
// The report names every tensor that was adapted or re-initialised; everything else is copied.
#pragma once

#include <string>
#include <vector>

#include "models/resnet.h"

namespace lb::models {

struct InitReport {
  std::vector<std::string> reinitialised;  // tensors left at / drawn from a fresh init
  std::vector<std::string> adapted;        // tensors transformed from the file's values
};

// Throws unless mode is sum, mean, red or random (the --conv1 flag's values).
void check_conv1_mode(const std::string& mode);

// Loads `path` into `model` (any in_channels and num_classes) as described above. Everything is
// checked before anything is written, so a failed load leaves the model untouched. Errors start
// with the path.
InitReport load_imagenet(ResNet18& model, const std::string& path, const std::string& conv1_mode, Generator& gen);

}  // namespace lb::models
