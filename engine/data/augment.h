// augment.h: training-time augmentation of one image in pixel space ([0, 1], (C, H, W)).
//
//   shift:       pad by `shift` pixels, then crop a random HxW window back out: a whole-pixel
//                offset in {-shift, ..., +shift} per axis (torchvision's RandomCrop(size,
//                padding=shift))
//   translate:   a sub-pixel offset, uniform in [-translate, +translate] pixels per axis, bilinear
//                (an affine_grid + grid_sample augmentation); use shift or translate, not both
//   rotate:      a uniform angle in [-rotate, +rotate] degrees about the centre, bilinear
//                (RandomRotation with bilinear interpolation)
//   fill:        what the warp reads outside the source: zero (black, the default, torchvision's
//                fill=0) or border (the nearest edge pixel, grid_sample's padding_mode="border")
//   scale:       zoom about the centre by a factor uniform in [1 - s, 1 + s] (RandomAffine's scale)
//   gamma:       pixel^g with log g uniform in [-gamma, +gamma] (a different exposure curve)
//   brightness:  add a uniform offset in [-b, +b]
//   contrast:    scale the deviation from the image mean by a factor in [1 - c, 1 + c]
//   noise:       add Gaussian noise of standard deviation `noise` to every pixel
//   hflip:       mirror left-right with probability 1/2. Off by default: a chest X-ray is not
//                symmetric (the heart sits left), so a flip makes anatomically impossible images.
// Applied in this order: the warp (shift or translate, rotate and scale in one bilinear resample),
// hflip, gamma, contrast, brightness, noise, then a clamp to [0, 1].
// Each sample gets its own generator seeded from (seed, epoch, sample index), so the result does
// not depend on threads or batch order: a resumed run sees exactly the augmentations it would
// have seen.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace lb::data {

enum class Fill { Zero, Border };

struct AugmentConfig {
  int64_t shift = 0;
  double translate = 0.0;   // pixels, sub-pixel
  double rotate = 0.0;      // degrees
  double scale = 0.0;       // zoom factor in [1 - scale, 1 + scale]
  double gamma = 0.0;       // log of the exponent in [-gamma, +gamma]
  double noise = 0.0;       // Gaussian standard deviation, pixel units
  double brightness = 0.0;  // in [0, 1] pixel units
  double contrast = 0.0;
  bool hflip = false;
  Fill fill = Fill::Zero;
  bool enabled() const {
    return shift > 0 || translate > 0 || rotate > 0 || scale > 0 || gamma > 0 || noise > 0 || brightness > 0 ||
           contrast > 0 || hflip;
  }
};

// "none", "light" (shift 2, rotate 10, brightness 0.1, contrast 0.1) or "key=value,..." with the
// keys shift, translate, rotate, scale, gamma, noise, brightness, contrast, hflip, fill.
AugmentConfig parse_augment(const std::string& spec);
std::string describe(const AugmentConfig& a);

// The geometric part alone, with its parameters given: dst (C, H, W) reads src at the inverse
// transform of "rotate by angle_deg about the centre ((H-1)/2, (W-1)/2), then move by (sy, sx)
// pixels", bilinear, `fill` outside; `zoom` > 1 magnifies about the centre (source offsets from
// the centre divided by zoom). The same map as torch's affine_grid + grid_sample with
// align_corners=True (tests/fixtures/golden/augment_warp_*). src and dst must not overlap.
void warp_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w, double angle_deg, double sy, double sx,
                Fill fill, double zoom = 1.0);

// Augments img (C, H, W) in place. `scratch` must hold C*H*W floats.
void augment_image(float* img, int64_t c, int64_t h, int64_t w, const AugmentConfig& a, Generator& gen, float* scratch);

// A seed for sample `index` of epoch `epoch` of a run seeded `seed` (splitmix64 mixing).
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

}  // namespace lb::data
