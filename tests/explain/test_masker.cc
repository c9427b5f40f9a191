// The Image masker: spec parsing, the box blur against cv2.blur (golden files from
// tests/fixtures/explain/make_partition_golden.py) and the closed form of explainers.md 3.2, and
// the keep / replace semantics against shap.maskers.Image.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/io/npy.h"
#include "explain/masker.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {

using test::all_close;
using test::expect_error;
using test::random_tensor;

Tensor golden(const std::string& name) {
  return io::load_npy(std::string(LB_FIXTURES_DIR) + "/explain/partition/" + name);
}

// (H, W, C) channels-last (shap, cv2) -> (1, C, H, W).
Tensor to_nchw(const Tensor& hwc) {
  const int64_t H = hwc.size(0), W = hwc.size(1), C = hwc.dim() == 3 ? hwc.size(2) : 1;
  Tensor out = Tensor::empty({1, C, H, W});
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < W; ++c)
      for (int64_t z = 0; z < C; ++z) out.data<float>()[(z * H + r) * W + c] = hwc.data<float>()[(r * W + c) * C + z];
  return out;
}

TEST(MaskerSpec, ParsesEverySpellingAndRoundTrips) {
  const Masker a = Masker::parse("blur:28");
  EXPECT_EQ(a.kind, Masker::Kind::Blur);
  EXPECT_EQ(a.kx, 28);
  EXPECT_EQ(a.ky, 28);
  const Masker b = Masker::parse("blur:28x14");  // kx (columns) x ky (rows)
  EXPECT_EQ(b.kx, 28);
  EXPECT_EQ(b.ky, 14);
  const Masker c = Masker::parse("blur(5,7)");  // shap's spelling: cv2 ksize = (width, height)
  EXPECT_EQ(c.kx, 5);
  EXPECT_EQ(c.ky, 7);
  EXPECT_EQ(Masker::parse("blur(5, 7)").ky, 7);
  const Masker d = Masker::parse("constant:-0.25");
  EXPECT_EQ(d.kind, Masker::Kind::Constant);
  EXPECT_EQ(d.fill, -0.25);
  EXPECT_EQ(a.str(), "blur:28");
  EXPECT_EQ(b.str(), "blur:28x14");
  EXPECT_EQ(c.str(), "blur:5x7");
  EXPECT_EQ(d.str(), "constant:-0.25");
  EXPECT_EQ(Masker::parse("constant:0").str(), "constant:0");
  for (const Masker& m : {a, b, c, d}) {
    const Masker r = Masker::parse(m.str());
    EXPECT_EQ(r.kind, m.kind);
    EXPECT_EQ(r.kx, m.kx);
    EXPECT_EQ(r.ky, m.ky);
    EXPECT_EQ(r.fill, m.fill);
  }
}

TEST(MaskerSpec, RejectsBadSpellingsWithOneLine) {
  expect_error([] { Masker::parse("gauss:3"); }, {"unknown masker 'gauss:3'", "blur:K"});
  expect_error([] { Masker::parse("blur:0"); }, {"blur:0", "positive whole numbers"});
  expect_error([] { Masker::parse("blur:3x"); }, {"positive whole numbers"});
  expect_error([] { Masker::parse("blur(28)"); }, {"two kernel sizes"});
  expect_error([] { Masker::parse("blur(5,7,9)"); }, {"two kernel sizes"});
  expect_error([] { Masker::parse("constant:abc"); }, {"finite number"});
  expect_error([] { Masker::parse("constant:nan"); }, {"finite number"});
  expect_error([] { Masker::parse("inpaint_telea"); }, {"unknown masker"});
}

TEST(MaskerBlur, Reflect101FoldsWithoutRepeatingTheEdge) {
  // gfedcb|abcdefgh|gfedcba
  EXPECT_EQ(reflect101(-1, 8), 1);
  EXPECT_EQ(reflect101(-7, 8), 7);
  EXPECT_EQ(reflect101(8, 8), 6);
  EXPECT_EQ(reflect101(14, 8), 0);
  EXPECT_EQ(reflect101(15, 8), 1);  // folded twice (kernels wider than twice the image)
  EXPECT_EQ(reflect101(-14, 28), 14);
  EXPECT_EQ(reflect101(5, 1), 0);
}

// cv2.blur on float32: double sums, one multiply, round to float32. OpenCV keeps running sums
// (add the entering row, subtract the leaving one) where lightbox sums each window afresh, so the
// doubles differ by ~1e-16 and a float32 rounding can flip by one ulp (6e-8 relative): 1e-6 is
// the spec's allowance for that and for a possible IPP path.
TEST(MaskerBlur, MatchesCv2BlurForBothKernelsAndThreeChannels) {
  const Tensor gray = to_nchw(golden("blur_in_28x28.npy"));
  const Tensor rgb = to_nchw(golden("blur_in_28x28x3.npy"));
  LB_EXPECT_CLOSE(box_blur(gray, 28, 28), to_nchw(golden("blur_28x28_k28x28.npy")), 1e-7, 1e-6);
  LB_EXPECT_CLOSE(box_blur(gray, 5, 7), to_nchw(golden("blur_28x28_k5x7.npy")), 1e-7, 1e-6);
  LB_EXPECT_CLOSE(box_blur(rgb, 28, 28), to_nchw(golden("blur_28x28x3_k28x28.npy")), 1e-7, 1e-6);
  LB_EXPECT_CLOSE(box_blur(rgb, 5, 7), to_nchw(golden("blur_28x28x3_k5x7.npy")), 1e-7, 1e-6);
  // (5, 7) is not symmetric: swapping the kernel must change the answer (catches kx/ky mix-ups).
  EXPECT_FALSE(all_close(box_blur(gray, 7, 5), to_nchw(golden("blur_28x28_k5x7.npy")), 1e-5, 1e-4));
  // A (C, H, W) image is blurred the same way.
  LB_EXPECT_CLOSE(box_blur(rgb.view({3, 28, 28}), 5, 7).view({1, 3, 28, 28}), box_blur(rgb, 5, 7), 0.0, 0.0);
}

// explainers.md 3.2: for 28x28 and a 28x28 kernel, source row s counts cnt_i(s) times in output
// row i: once inside the window, once more for each reflection that lands in it.
int cnt(int i, int s) {
  int n = (i - 14 <= s && s <= i + 13);
  n += (s > 0 && i - 14 <= -s && -s <= i + 13);
  n += (s < 27 && i - 14 <= 54 - s && 54 - s <= i + 13);
  return n;
}

TEST(MaskerBlur, ClosedFormOfTheNearGlobalBlur) {
  const Tensor x = to_nchw(golden("blur_in_28x28.npy"));
  const Tensor y = box_blur(x, 28, 28);
  for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 0}, {14, 14}, {0, 27}, {27, 5}, {13, 20}}) {
    double s = 0;
    for (int a = 0; a < 28; ++a)
      for (int b = 0; b < 28; ++b) s += cnt(i, a) * cnt(j, b) * double(x.data<float>()[a * 28 + b]);
    // float32 output of a double sum: within one float32 rounding (plus the sum's own 1e-15).
    EXPECT_NEAR(y.data<float>()[i * 28 + j], s / 784, 1e-7 * std::abs(s / 784) + 1e-9) << i << "," << j;
  }
  // Row 14 uses every source row once; row 0 uses rows 1..13 twice and rows 0 and 14 once.
  for (int s = 0; s < 28; ++s) EXPECT_EQ(cnt(14, s), 1);
  for (int s = 0; s < 28; ++s) EXPECT_EQ(cnt(0, s), (s >= 1 && s <= 13) ? 2 : (s == 0 || s == 14) ? 1 : 0);
}

// shap.maskers.Image(mask_value, (4, 5, 3))(mask, x): masked[p] = mask[p] ? x[p] : reference[p],
// with mask over shap's channels-last features p = (row*W + col)*C + ch. Masks 0 and 1 are all
// False (the reference) and all True (x). The replace step is exact: compared bit for bit.
void check_masks(const Masker& m, const std::string& file) {
  const Tensor x = to_nchw(golden("mask_x_4x5x3.npy"));
  const Tensor masks = golden("mask_masks.npy");  // (5, 60) uint8
  const Tensor want = golden(file);               // (5, 4, 5, 3) float32
  const int64_t H = 4, W = 5, C = 3, F = 60;
  const Tensor shap_ref = to_nchw(want.slice0(0, 1).view({H, W, C}));
  // Our reference equals shap's (the blur to float32 rounding, the constant exactly).
  LB_EXPECT_CLOSE(m.reference(x), shap_ref, 1e-7, 1e-6);
  for (int64_t i = 0; i < masks.size(0); ++i) {
    std::vector<uint8_t> keep(F);
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c)
        for (int64_t z = 0; z < C; ++z) keep[(z * H + r) * W + c] = masks.data<uint8_t>()[i * F + (r * W + c) * C + z];
    const Tensor got = apply_mask(x, shap_ref, keep);
    LB_EXPECT_CLOSE(got, to_nchw(want.slice0(i, 1).view({H, W, C})), 0.0, 0.0) << "mask " << i;
  }
}

TEST(MaskerApply, KeepOrReplaceMatchesShapForBlurAndConstant) {
  check_masks(Masker::parse("blur(3,2)"), "mask_blur3x2.npy");
  check_masks(Masker::parse("constant:0.25"), "mask_constant.npy");
}

TEST(MaskerApply, RejectsMismatchedMasks) {
  const Tensor x = Tensor::zeros({1, 1, 2, 2});
  expect_error([&] { apply_mask(x, x, std::vector<uint8_t>(3)); }, {"3 mask flags", "4 elements"});
  expect_error([&] { Masker().reference(Tensor::zeros({2, 2})); }, {"(N, C, H, W) float32"});
}

}  // namespace
}  // namespace lb::explain
