// masker.h: shap's Image masker for the partition explainer: what a "masked" (absent) pixel
// becomes, and the fully masked reference image.
//
// A mask over an image keeps some elements at their original value and replaces the others with
// the reference image's value at the same place:
//
//   masked[e] = keep[e] ? x[e] : reference[e]
//
// The reference is computed once per image from the ORIGINAL image (shap caches it per image and
// never re-blurs a partly masked image):
//   blur       shap's "blur(kx,ky)": cv2.blur(x, (kx, ky)), OpenCV's normalised box filter, per
//              channel. Output (r, c) averages the kx x ky window whose top-left corner is
//              (r - ky/2, c - kx/2) (anchor at the kernel centre ksize//2, so a 28-wide window
//              covers c-14 .. c+13). Outside the image the window reads the reflect-101 border
//              (gfedcb|abcdefgh|gfedcba: the edge pixel is not repeated). OpenCV sums float32
//              input in double along rows, then along columns, multiplies by 1/(kx*ky) once and
//              rounds to float32; box_blur does the same, so it agrees with cv2 to float32
//              rounding (explainers.md 3.2).
//   constant   shap's numeric mask value: every masked element becomes `fill` (in model space).
//
// "blur(28,28)" on a 28x28 image is a near-global weighted mean (a smooth grey), not a constant:
// rows near the border count the reflected rows twice.
//
// Shapes: images are (1, C, H, W) or (N, C, H, W) float32 (NCHW, lightbox's layout). shap works
// channels-last (H, W, C) and numbers features p = (row*W + col)*C + ch; partition.h converts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace lb::explain {

struct Masker {
  enum class Kind { Blur, Constant } kind = Kind::Blur;
  int kx = 28, ky = 28;  // blur kernel width (columns) and height (rows), cv2.blur's ksize order
  double fill = 0.0;     // constant fill value (model space), rounded to float32 when applied

  // "blur:28" (28x28), "blur:28x14" (kx=28 columns, ky=14 rows), "blur(28,28)" (shap's
  // spelling), "constant:0" / "constant:-1.5". Anything else is one clear error.
  static Masker parse(const std::string& spec);
  // The canonical spelling: "blur:28", "blur:28x14" or "constant:0.5" (parse(str()) == *this).
  std::string str() const;
  // image (N, C, H, W) float32 -> the fully masked images, same shape: blurred from the original
  // image, or filled with the constant.
  Tensor reference(const Tensor& image) const;
};

// cv2.blur per channel plane with a kx (columns) x ky (rows) window, reflect-101 border, anchor at
// (kx/2, ky/2), double accumulation then one multiply by 1/(kx*ky) and a round to float32.
// image: (C, H, W) or (N, C, H, W) float32 -> same shape. Kernels larger than twice the image
// reflect more than once, as OpenCV's borderInterpolate does.
Tensor box_blur(const Tensor& image, int kx, int ky);

// reflect-101 index: where coordinate i (any integer) reads inside [0, n).
int64_t reflect101(int64_t i, int64_t n);

// keep: one flag per element of image (NCHW flat order, image (1, C, H, W)); returns
// keep ? image : reference, element by element (a new tensor).
Tensor apply_mask(const Tensor& image, const Tensor& reference, const std::vector<uint8_t>& keep);

}  // namespace lb::explain
