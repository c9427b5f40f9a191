// phantom.h: a synthetic chest X-ray with known lesions, the ground truth that real
// PneumoniaMNIST lacks. An explanation of a "pneumonia" prediction on a phantom can be checked
// against the pixels that really differ between the classes (explain/assess.h scores it).
//
// One image is drawn in continuous coordinates (u, v) in [-1, 1]^2 (u to the right, v down),
// posed by a random rotation (+-6 degrees), scale (0.92..1.04) and shift (+-0.05), then sampled
// at pixel centres, so any size (16, 28, 64, ...) gives the same anatomy:
//   background  dark (0.04..0.12)
//   body        an ellipse of soft tissue (0.45..0.60), the lungs cut out of it
//   lungs       two tall ellipses, darker than tissue by a random contrast (0.22..0.34)
//   heart       a shadow over the lower left lung (the image's right: radiological convention)
//   spine       a bright vertical band; ribs: curved bright bands across the lungs;
//               clavicles: two slanted bright bars at the top
//   pneumonia   1 to 3 soft consolidations: anisotropic Gaussian opacities centred inside a
//               lung, amplitude 0.22..0.40, fading out at the lung border
// then blurred (Gaussian, sigma 0.3..0.8 pixels of a 28-pixel image, scaled with the size),
// given Gaussian noise (sigma 0.01..0.035) and quantised to uint8 (0..255).
// The lesion mask is 1 where a consolidation is at least a third of its peak (a normalised
// distance of 1.5) AND the pixel centre lies inside a lung: masks always lie inside the lungs.
// Normal images have an empty mask.
//
// Shortcut (optional): a bright 3x3 "marker" square (scaled with the size) in the top-left
// corner, the kind of hospital tag models learn instead of anatomy. In train and val it is
// present in 90% of pneumonia images and 10% of normal ones; in test in 50% of either, so a
// model that relies on it scores well on val and worse on test, and its explanations light up
// the corner (Zech et al. 2018, "Variable generalization performance of a deep learning model
// to detect pneumonia in chest radiographs").
//
// Determinism: image i of split s is drawn from its own generator, seeded by (seed, s, i); the
// labels of a split are a seeded shuffle of exactly round(N * pneumonia share) ones. The same
// seed gives the same bytes on every run and any subset of images is reproducible.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace lb::data {

struct PhantomSpec {
  int64_t size = 28;  // H = W
  // Split sizes and pneumonia shares of PneumoniaMNIST (data/pneumoniamnist.npz):
  // train 3494 / 4708, val 389 / 524, test 390 / 624 pneumonia.
  int64_t train = 4708, val = 524, test = 624;
  double train_pneumonia = 3494.0 / 4708.0, val_pneumonia = 389.0 / 524.0, test_pneumonia = 390.0 / 624.0;
  uint64_t seed = 0;
  bool shortcut = false;
};

struct PhantomImage {
  Tensor image;  // uint8 (H, W)
  Tensor mask;   // uint8 (H, W): 1 on a lesion (pneumonia images only)
  Tensor lungs;  // uint8 (H, W): 1 inside a lung field
  int64_t label = 0;
  bool marker = false;  // the shortcut marker is drawn
};

// One image of class `label` (0 normal, 1 pneumonia) from its own seed.
PhantomImage render_phantom(int64_t size, int64_t label, uint64_t image_seed, bool marker);

// The seed of image `index` in split `split` ("train", "val", "test").
uint64_t phantom_image_seed(uint64_t seed, const std::string& split, int64_t index);

// Exactly round(n * share) ones in a seeded order (int64 (n)).
std::vector<int64_t> phantom_labels(int64_t n, double share, uint64_t seed, const std::string& split);

// Every split as MedMNIST arrays plus masks, in this key order:
//   {train,val,test}_images uint8 (N, H, W), _labels uint8 (N, 1), _masks uint8 (N, H, W)
// With spec.shortcut, also {split}_markers uint8 (N) (1 where the marker is drawn).
std::vector<std::pair<std::string, Tensor>> make_phantom(const PhantomSpec& spec, bool progress = false);

}  // namespace lb::data
