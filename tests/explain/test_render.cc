// Attribution grids: layout, the shared symmetric scale, and the colormaps' basic shape.
#include <gtest/gtest.h>

#include <cmath>

#include "explain/render.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;

double luminance(Rgb c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// Lightness falls monotonically from the neutral middle to each end, so magnitude reads as
// darkness whatever the hue perception.
TEST(Render, BlueOrangeIsMonotoneInLightnessOnEachSide) {
  for (double t = 0; t < 1.0; t += 0.01) {
    EXPECT_GE(luminance(colormap_at(Colormap::BlueOrange, t)), luminance(colormap_at(Colormap::BlueOrange, t + 0.01)));
    EXPECT_GE(luminance(colormap_at(Colormap::BlueOrange, -t)), luminance(colormap_at(Colormap::BlueOrange, -t - 0.01)));
  }
  const Rgb neg = colormap_at(Colormap::BlueOrange, -1), pos = colormap_at(Colormap::BlueOrange, 1);
  EXPECT_GT(neg.b, neg.r);  // blue end
  EXPECT_GT(pos.r, pos.b);  // orange end
  const Rgb shap_pos = colormap_at(Colormap::ShapRedBlue, 5.0);  // clipped to +1
  EXPECT_EQ(shap_pos.r, 255);
  EXPECT_EQ(shap_pos.g, 13);
  EXPECT_EQ(shap_pos.b, 87);
}

TEST(Render, GridLayoutAndSharedScale) {
  const int64_t N = 2, K = 2, H = 4, W = 5;
  Tensor images = Tensor::zeros({N, 1, H, W});
  Tensor maps = Tensor::zeros({N, K, 1, H, W}, DType::Float64);
  maps.data<double>()[0] = 2.0;                          // image 0, output 0, pixel (0,0): +m
  maps.data<double>()[(1 * K + 1) * H * W + 7] = -2.0;   // image 1, output 1, pixel (1,2): -m
  GridOptions opt;
  opt.scale = 3;
  opt.vmax = 2.0;
  const Grid g = attribution_grid(images, maps, opt);
  const int s = 3, pad = 2 * s, bar = 3 * s;
  EXPECT_EQ(g.rgb.size(1), pad + 3 * (W * s + pad));
  EXPECT_EQ(g.rgb.size(0), pad + N * (H * s + pad) + bar + pad);
  EXPECT_DOUBLE_EQ(g.vmax, 2.0);
  auto px = [&](int64_t y, int64_t x) {
    const uint8_t* p = g.rgb.data<uint8_t>() + (y * g.rgb.size(1) + x) * 3;
    return Rgb{p[0], p[1], p[2]};
  };
  const Rgb hot = px(pad + 1, pad + (W * s + pad) + 1);  // row 0, column 1, pixel (0,0)
  EXPECT_GT(hot.r, hot.b + 60);
  const Rgb cold = px(pad + (H * s + pad) + 1 * s + 1, pad + 2 * (W * s + pad) + 2 * s + 1);
  EXPECT_GT(cold.b, cold.r + 60);
  const Rgb zero = px(pad + 2 * s, pad + (W * s + pad) + 3 * s);  // a zero attribution: grey
  EXPECT_EQ(zero.r, zero.g);
  EXPECT_EQ(zero.g, zero.b);
  // automatic scale: the 99.9th percentile of |values| over the whole grid
  opt.vmax = 0;
  EXPECT_DOUBLE_EQ(attribution_grid(images, maps, opt).vmax, 2.0);
}

TEST(Render, BadInput) {
  expect_error([] { attribution_grid(Tensor::zeros({1, 1, 4, 4}), Tensor::zeros({1, 2, 1, 5, 4}, DType::Float64)); },
               {"(N, K, 1, H, W)"});
  expect_error([] { parse_colormap("jet"); }, {"blue-orange, shap"});
}

}  // namespace
}  // namespace lb::explain
