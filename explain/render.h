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
#include <vector>

#include "engine/tensor.h"
#include "explain/summary.h"

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
  int scale = 6;          // each input pixel becomes scale x scale screen pixels
  double opacity = 0.85;  // of the attribution colour at |v| = m over the grey underlay
  double vmax = 0;        // m; 0 = the 99.9th percentile of |values| over the whole grid
  Colormap colormap = Colormap::BlueOrange;
};

struct Grid {
  Tensor rgb;      // uint8 (height, width, 3)
  double vmax;     // the m used
  int64_t x0 = 0;  // where the unlabelled grid's top-left corner lies in rgb: the width of the
  int64_t y0 = 0;  // row-label band on the left and the height of the title band above (0, 0 unlabelled)
};

// images (N, C, H, W) float32 (shown as the channel mean, min-max scaled per image); maps
// (N, K, 1, H, W) float64 (input attributions summed over channels, or a layer's upsampled map).
// This one draws no text: pixels only, as tests and other pictures that embed cells want them.
Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt = {});

// ---- grid.png with its words and numbers --------------------------------------------------------
// A PNG gets pasted into slides without the SVG beside it, so the labelled grid carries in its own
// pixels (explain/pixel_font.h) what figure.svg says in text: a title line at the top, a title
// above each column ("image", then each output's name, cut to the column's width), a label left of
// each row ("TP #12"; "\n" starts a new line), and under the colourbar tick marks at -m, -m/2, 0,
// +m/2, +m with the numbers at -m, 0, +m, and at the halves too where they fit (colourbar_number).
// m is the grid's one shared scale, chosen exactly as in the unlabelled grid and the SVG figure.
// The labels sit in bands around the unlabelled grid, which appears in the labelled one unchanged
// from its top down to the colourbar's lower edge, with its top-left corner at (Grid::x0, y0).
struct GridLabels {
  std::string title;                       // "" = no title line
  std::vector<std::string> row_labels;     // empty, or one per image
  std::vector<std::string> column_titles;  // empty, or 1 + K: the image column's, then one per output
  bool colourbar_numbers = true;           // ticks and numbers under the colourbar
  int text_scale = 0;                      // screen pixels per font pixel; 0 = max(1, scale / 3)
};
Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt, const GridLabels& labels);

// A colourbar number, compact and in ASCII: "0", "+0.25", "-1.5", "+3.2e-3" (two significant
// digits; exponent form outside 0.01 <= |v| < 10), "n/a" when not finite.
std::string colourbar_number(double v);

// 0 -> the 99.9th percentile of |maps| (what attribution_grid uses when opt.vmax is 0).
double shared_vmax(const Tensor& maps);

// One picture at the image's own resolution: uint8 (H, W, 3). k < 0: the grey X-ray alone;
// otherwise map k of image n drawn over the grey image with the grid's colours and opacity.
Tensor overlay_cell(const Tensor& images, const Tensor& maps, int64_t n, int64_t k, double vmax,
                    const GridOptions& opt);

// A PNG (io::encode_png) of a uint8 (H, W, 3) tensor, as a "data:image/png;base64,..." URI; and
// base64 of any bytes (RFC 4648).
std::string png_data_uri(const Tensor& rgb);
std::string base64(const std::string& bytes);

// ---- the labelled figure (SVG) ---------------------------------------------------------------------
// Like shap.image_plot, with words and numbers: rows (e.g. TP, FP, FN, TN) and columns (the X-ray,
// then one attribution per output), a labelled colourbar with the shared symmetric scale, the
// lung-field outline on the X-ray, and under every attribution its numbers (summary.h) drawn as
// text and as a force-plot-style bar: evidence for (positive, to the right of the middle) and
// against (negative, to the left), one scale across the figure, a tick at the net.
struct FigureSpec {
  std::string title, subtitle;                    // e.g. "deep at the input", "2x2 -> 28x28, nearest"
  std::vector<std::string> row_labels;            // one per image, first line in bold ("TP"), "\n" splits
  std::vector<std::string> output_names;          // one per output k
  std::vector<std::vector<CellNumbers>> numbers;  // [n][k]; empty: no numbers
  bool lung_outline = true;
};
struct Figure {
  std::string svg;
  double vmax;
};
Figure attribution_figure(const Tensor& images, const Tensor& maps, const FigureSpec& spec,
                          const GridOptions& opt = {});

}  // namespace lb::explain
