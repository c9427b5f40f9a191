// render.h: attribution pictures as PNG grids.
//
// A grid has one row per explained image and 1 + K columns: the X-ray in grey, then one map per
// model output drawn over a faint copy of the X-ray. The colour scale is symmetric (-m .. +m) and
// SHARED by the whole grid, so "is this a deeper red?" has one answer across rows (shap scales
// every row separately yet draws one colourbar). A colourbar strip runs under the grid, from -m
// on the left through 0 to +m on the right; m is returned so that it can be printed beside it.
//
// Colormaps: `blue_orange` (the default) is a diverging map from dark blue through near-white to
// dark orange, after ColorBrewer's PuOr/BrBG family, chosen to stay distinguishable under the
// common colour-vision deficiencies; `shap_red_blue` is shap's #1E88E5 (negative) / #FF0D57
// (positive) pair, for readers who know shap's figures. Magnitude is carried by lightness and
// opacity, not hue alone.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace lb::explain {

enum class Colormap { BlueOrange, ShapRedBlue };
Colormap parse_colormap(const std::string& s);  // "blue-orange" | "shap"
const char* to_string(Colormap c);

struct Rgb {
  uint8_t r, g, b;
};
// t in [-1, 1] (clipped): -1 the negative end, 0 the neutral middle, +1 the positive end.
Rgb colormap_at(Colormap c, double t);

struct GridOptions {
  int scale = 6;           // each input pixel becomes scale x scale screen pixels
  double opacity = 0.85;   // of the attribution colour at |v| = m over the grey underlay
  double vmax = 0;         // m; 0 = the 99.9th percentile of |values| over the whole grid
  Colormap colormap = Colormap::BlueOrange;
};

struct Grid {
  Tensor rgb;      // uint8 (height, width, 3)
  double vmax;     // the m used
};

// images (N, C, H, W) float32 (shown as the channel mean, min-max scaled per image); maps
// (N, K, 1, H, W) float64 (input attributions summed over channels, or a layer's upsampled map).
Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt = {});

}  // namespace lb::explain
