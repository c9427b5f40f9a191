// Colour-vision checks of the attribution colormaps: the default blue-orange map must stay
// readable for dichromats (Machado et al. 2009, severity 1.0, applied in linear RGB), and its
// magnitude must read as lightness on each side. shap's red-blue map is measured too, to show
// why it is not the default (its two ends lose most of their difference under protanopia).
#include <gtest/gtest.h>

#include <cmath>

#include "explain/colorvision.h"
#include "explain/render.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;

const Deficiency kAll[] = {Deficiency::None, Deficiency::Protanopia, Deficiency::Deuteranopia, Deficiency::Tritanopia};

// Hand-checkable anchors: white is L* 100, black 0, and the simulations keep greys grey
// (each Machado matrix has rows summing to 1, so achromatic colours are fixed points).
TEST(ColorVision, LabAnchorsAndGreysAreFixed) {
  EXPECT_NEAR(srgb_to_lab({255, 255, 255})[0], 100.0, 1e-3);  // D65 white
  EXPECT_NEAR(srgb_to_lab({0, 0, 0})[0], 0.0, 1e-9);
  EXPECT_NEAR(srgb_to_lab({119, 119, 119})[0], 50.0, 0.5);  // mid grey is L* ~ 50
  for (Deficiency d : kAll)
    for (int v : {0, 60, 128, 200, 255}) {
      const Rgb g{static_cast<uint8_t>(v), static_cast<uint8_t>(v), static_cast<uint8_t>(v)};
      EXPECT_LE(delta_e76(simulate(g, d), g), 1.0) << to_string(d) << " grey " << v;
    }
  // Pure red and green, the pair a protanope and a deuteranope confuse, move close together.
  const Rgb red{200, 40, 40}, green{40, 140, 40};
  EXPECT_GT(delta_e76(red, green), 60.0);
  EXPECT_LT(delta_e76(simulate(red, Deficiency::Deuteranopia), simulate(green, Deficiency::Deuteranopia)),
            0.5 * delta_e76(red, green));
}

// Positive and negative attributions of the same size must look different to every reader. The
// thresholds: dE76 >= 40 between the two ends (a large, category-level difference: Sharma's JND is
// ~2.3) and >= 15 between +-0.5, under normal vision and all three dichromacies.
TEST(ColorVision, BlueOrangeEndsStayDistinguishableForDichromats) {
  for (Deficiency d : kAll) {
    const double ends = delta_e76(simulate(colormap_at(Colormap::BlueOrange, -1), d),
                                  simulate(colormap_at(Colormap::BlueOrange, 1), d));
    const double halves = delta_e76(simulate(colormap_at(Colormap::BlueOrange, -0.5), d),
                                    simulate(colormap_at(Colormap::BlueOrange, 0.5), d));
    EXPECT_GE(ends, 40.0) << to_string(d);
    EXPECT_GE(halves, 15.0) << to_string(d);
  }
}

// Magnitude reads as darkness: CIELAB L* falls monotonically from the middle to each end, with
// and without simulation (dichromats rely on lightness more than anyone). 1 L* unit of slack per
// 1% step absorbs the uint8 rounding.
TEST(ColorVision, BlueOrangeIsMonotoneInLabLightnessOnEachSide) {
  for (Deficiency d : kAll)
    for (int side : {-1, 1}) {
      double prev = srgb_to_lab(simulate(colormap_at(Colormap::BlueOrange, 0), d))[0];
      for (int i = 1; i <= 100; ++i) {
        const double L = srgb_to_lab(simulate(colormap_at(Colormap::BlueOrange, side * i / 100.0), d))[0];
        EXPECT_LE(L, prev + 1e-9) << to_string(d) << " t=" << side * i / 100.0;
        prev = L;
      }
      // and the ends are clearly darker than the middle
      EXPECT_LT(prev, srgb_to_lab(colormap_at(Colormap::BlueOrange, 0))[0] - 40) << to_string(d);
    }
}

// shap's pair is distinguishable at normal vision but loses much of its difference for
// protanopes: the reason the default is blue-orange.
TEST(ColorVision, ShapRedBlueLosesContrastUnderProtanopia) {
  const Rgb neg = colormap_at(Colormap::ShapRedBlue, -1), pos = colormap_at(Colormap::ShapRedBlue, 1);
  const double normal = delta_e76(neg, pos);
  const double protan = delta_e76(simulate(neg, Deficiency::Protanopia), simulate(pos, Deficiency::Protanopia));
  const double ours = delta_e76(simulate(colormap_at(Colormap::BlueOrange, -1), Deficiency::Protanopia),
                                simulate(colormap_at(Colormap::BlueOrange, 1), Deficiency::Protanopia));
  EXPECT_LT(protan, 0.7 * normal);
  EXPECT_GT(ours, protan);
}

TEST(ColorVision, SimulateImageAndBadInput) {
  Tensor img = Tensor::zeros({1, 2, 3}, DType::UInt8);
  img.data<uint8_t>()[0] = 200, img.data<uint8_t>()[1] = 40, img.data<uint8_t>()[2] = 40;
  const Tensor s = simulate_image(img, Deficiency::Deuteranopia);
  const Rgb want = simulate({200, 40, 40}, Deficiency::Deuteranopia);
  EXPECT_EQ(s.data<uint8_t>()[0], want.r);
  EXPECT_EQ(s.data<uint8_t>()[1], want.g);
  EXPECT_EQ(s.data<uint8_t>()[2], want.b);
  EXPECT_EQ(img.data<uint8_t>()[0], 200);  // input untouched
  expect_error([] { simulate_image(Tensor::zeros({2, 2}, DType::UInt8), Deficiency::Protanopia); }, {"(H, W, 3)"});
  expect_error([] { parse_deficiency("achromatopsia"); }, {"protanopia, deuteranopia, tritanopia"});
}

}  // namespace
}  // namespace lb::explain
