// augment.h: training-time augmentation of one image in pixel space ([0, 1], (C, H, W)).
//
//   shift:       pad by `shift` pixels of black, then crop a random HxW window back out
//                (torchvision's RandomCrop(size, padding=shift))
//   rotate:      a uniform angle in [-rotate, +rotate] degrees about the centre, bilinear,
//                black outside the source (RandomRotation with bilinear interpolation)
//   brightness:  add a uniform offset in [-b, +b]
//   contrast:    scale the deviation from the image mean by a factor in [1 - c, 1 + c]
//   hflip:       mirror left-right with probability 1/2. Off by default: a chest X-ray is not
//                symmetric (the heart sits left), so a flip makes anatomically impossible images.
// Each sample gets its own generator seeded from (seed, epoch, sample index), so the result does
// not depend on threads or batch order: a resumed run sees exactly the augmentations it would
// have seen.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace lb::data {

struct AugmentConfig {
  int64_t shift = 0;
  double rotate = 0.0;      // degrees
  double brightness = 0.0;  // in [0, 1] pixel units
  double contrast = 0.0;
  bool hflip = false;
  bool enabled() const { return shift > 0 || rotate > 0 || brightness > 0 || contrast > 0 || hflip; }
};

// "none", "light" (shift 2, rotate 10, brightness 0.1, contrast 0.1) or "key=value,..." with the
// keys shift, rotate, brightness, contrast, hflip.
AugmentConfig parse_augment(const std::string& spec);
std::string describe(const AugmentConfig& a);

// Augments img (C, H, W) in place. `scratch` must hold C*H*W floats.
void augment_image(float* img, int64_t c, int64_t h, int64_t w, const AugmentConfig& a, Generator& gen, float* scratch);

// A seed for sample `index` of epoch `epoch` of a run seeded `seed` (splitmix64 mixing).
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace lb::data
