// mix.h: mixup and cutmix, the augmentations that blend two training images and their targets.
//
//   mixup:ALPHA   lam ~ Beta(ALPHA, ALPHA); every image becomes lam * x_i + (1 - lam) * x_perm(i)
//                 (Zhang et al., "mixup", 2018)
//   cutmix:ALPHA  lam ~ Beta(ALPHA, ALPHA); a box of about (1 - lam) H W pixels, its centre uniform
//                 over the image and its edges clipped to it, is pasted from x_perm(i) into x_i;
//                 lam is then set to the exact kept fraction, 1 - box area / (H W)
//                 (Yun et al., "CutMix", 2019; timm's cutmix with correct_lam)
// One lam and one permutation per batch, as both papers do. The loss becomes
//   lam * CE(logits, y) + (1 - lam) * CE(logits, y[perm]),
// the cross-entropy against the blended target (cross-entropy is linear in the target).
// Blending happens in model space (after normalisation): normalisation is affine, so a blend of
// normalised images is the normalised blend of the pixels.
//
// The trainer seeds the generator from (seed, epoch, batch), so a resumed run blends exactly as an
// uninterrupted one would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace lb::data {

struct MixConfig {
  enum class Kind { None, Mixup, Cutmix };
  Kind kind = Kind::None;
  double alpha = 0.0;  // Beta(alpha, alpha)
  bool enabled() const { return kind != Kind::None; }
};

// "none", "mixup:ALPHA" or "cutmix:ALPHA", ALPHA in (0, 100]; anything else is one lb::Error
// that shows the accepted forms.
MixConfig parse_mix(const std::string& spec);

struct Mixed {
  double lam = 1.0;           // the weight of each image's own target
  std::vector<int64_t> perm;  // image i was blended with image perm[i]
  Tensor y2;                  // y[perm]: the second target of every image
};

// Blends the float32 CPU batch x (B, C, H, W) in place per m, with y (B) its labels. For a
// disabled config, x is untouched, lam = 1 and perm is the identity.
Mixed mix_batch(Tensor& x, const Tensor& y, const MixConfig& m, Generator& gen);

// One draw of Beta(a, b), a, b > 0, as X / (X + Y) of two gamma draws.
double sample_beta(double a, double b, Generator& gen);

}  // namespace lb::data
