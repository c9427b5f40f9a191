// render.cc: see render.h.
#include "explain/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/common.h"
#include "explain/pixel_font.h"

namespace lb::explain {

Colormap parse_colormap(const std::string& s) {
  if (s == "blue-orange") return Colormap::BlueOrange;
  if (s == "shap") return Colormap::ShapRedBlue;
  LB_THROW("colormap '" << s << "' is not one of: blue-orange, shap");
}

const char* to_string(Colormap c) { return c == Colormap::BlueOrange ? "blue-orange" : "shap"; }

namespace {

struct Anchor {
  double t, r, g, b;
};

Rgb interpolate(const std::vector<Anchor>& a, double t) {
  t = std::clamp(t, -1.0, 1.0);
  size_t i = 0;
  while (i + 2 < a.size() && t > a[i + 1].t) ++i;
  const double u = (t - a[i].t) / (a[i + 1].t - a[i].t);
  auto mix = [&](double x, double y) { return static_cast<uint8_t>(std::lround(x + (y - x) * u)); };
  return {mix(a[i].r, a[i + 1].r), mix(a[i].g, a[i + 1].g), mix(a[i].b, a[i + 1].b)};
}

}  // namespace

Rgb colormap_at(Colormap c, double t) {
  // Blue (negative) to orange (positive) through a light neutral; lightness falls monotonically
  // from the middle to each end, so magnitude reads as darkness at any colour vision.
  static const std::vector<Anchor> blue_orange = {
      {-1.0, 33, 76, 146}, {-0.5, 103, 153, 207}, {0.0, 242, 240, 236}, {0.5, 236, 153, 66}, {1.0, 150, 70, 8}};
  static const std::vector<Anchor> shap = {{-1.0, 30, 136, 229}, {0.0, 255, 255, 255}, {1.0, 255, 13, 87}};
  return interpolate(c == Colormap::BlueOrange ? blue_orange : shap, t);
}

double shared_vmax(const Tensor& maps) {
  const Tensor m = maps.to(DType::Float64);
  if (m.numel() == 0) return 1.0;
  std::vector<double> mags(m.numel());
  for (int64_t i = 0; i < m.numel(); ++i) mags[i] = std::fabs(m.data<double>()[i]);
  const size_t q = std::min(mags.size() - 1, static_cast<size_t>(std::floor(0.999 * (mags.size() - 1))));
  std::nth_element(mags.begin(), mags.begin() + q, mags.end());
  return mags[q] > 0 ? mags[q] : 1.0;
}

namespace {

void check_grid_inputs(const Tensor& images, const Tensor& maps, const GridOptions& opt) {
  LB_CHECK(images.dim() == 4 && images.dtype() == DType::Float32,
           "attribution_grid: images must be float32 (N, C, H, W)");
  LB_CHECK(maps.dim() == 5 && maps.size(2) == 1 && maps.size(0) == images.size(0) && maps.size(3) == images.size(2) &&
               maps.size(4) == images.size(3),
           "attribution_grid: maps " << shape_str(maps.shape()) << " must be (N, K, 1, H, W) for images "
                                     << shape_str(images.shape()));
  LB_CHECK(opt.scale >= 1 && opt.scale <= 64, "attribution_grid: scale must be 1..64");
  LB_CHECK(opt.opacity >= 0 && opt.opacity <= 1, "attribution_grid: opacity must be in [0, 1]");
}

}  // namespace

Tensor overlay_cell(const Tensor& images, const Tensor& maps, int64_t n, int64_t k, double vmax,
                    const GridOptions& opt) {
  check_grid_inputs(images, maps, opt);
  const int64_t C = images.size(1), H = images.size(2), W = images.size(3), K = maps.size(1);
  LB_CHECK(n >= 0 && n < images.size(0) && k < K, "overlay_cell: image " << n << " output " << k << " out of range");
  // grey: channel mean, min-max scaled per image
  std::vector<double> grey(H * W, 0.0);
  const float* img = images.data<float>() + n * C * H * W;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) grey[i] += img[c * H * W + i] / C;
  const auto [lo, hi] = std::minmax_element(grey.begin(), grey.end());
  const double range = *hi - *lo > 0 ? *hi - *lo : 1.0, glo = *lo;
  Tensor out = Tensor::empty({H, W, 3}, DType::UInt8);
  uint8_t* o = out.data<uint8_t>();
  const Tensor m = k >= 0 ? maps.to(DType::Float64) : Tensor();
  for (int64_t i = 0; i < H * W; ++i) {
    const double g = (grey[i] - glo) / range;
    if (k < 0) {
      o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = static_cast<uint8_t>(std::lround(255 * g));
      continue;
    }
    // faint X-ray underlay, attribution colour on top with opacity growing with |v|
    const double v = m.data<double>()[(n * K + k) * H * W + i] / vmax;
    const Rgb c = colormap_at(opt.colormap, v);
    const double under = 255 * (0.55 + 0.45 * g);
    const double a = opt.opacity * std::min(1.0, std::fabs(v));
    auto blend = [&](double cc) { return static_cast<uint8_t>(std::lround(under * (1 - a) + cc * a)); };
    o[3 * i] = blend(c.r), o[3 * i + 1] = blend(c.g), o[3 * i + 2] = blend(c.b);
  }
  return out;
}

namespace {

// Where everything of the unlabelled grid lies: cells of cell_w x cell_h screen pixels separated
// and surrounded by pad, the colourbar (bar high) under the attribution columns, from bar_x0 to
// bar_x1 (exclusive) at height bar_y.
struct GridGeometry {
  int s, pad, bar;
  int64_t cell_w, cell_h, cols, width, height, bar_y, bar_x0, bar_x1;
  int64_t col_x(int64_t c) const { return pad + c * (cell_w + pad); }
  int64_t row_y(int64_t n) const { return pad + n * (cell_h + pad); }
};

GridGeometry grid_geometry(const Tensor& images, const Tensor& maps, int scale) {
  GridGeometry g{};
  g.s = scale, g.pad = 2 * scale, g.bar = 3 * scale;
  g.cell_w = images.size(3) * scale, g.cell_h = images.size(2) * scale, g.cols = 1 + maps.size(1);
  g.width = g.col_x(g.cols);
  g.height = g.row_y(images.size(0)) + g.bar + g.pad;
  g.bar_y = g.height - g.pad - g.bar, g.bar_x0 = g.col_x(1), g.bar_x1 = g.width - g.pad;
  return g;
}

const Rgb kInk = {34, 34, 34}, kTick = {40, 40, 40};

}  // namespace

Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt) {
  check_grid_inputs(images, maps, opt);
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);
  const double vmax = opt.vmax > 0 ? opt.vmax : shared_vmax(maps);
  const GridGeometry g = grid_geometry(images, maps, opt.scale);
  const int s = g.s;
  Tensor out = Tensor::full({g.height, g.width, 3}, 255, DType::UInt8);
  uint8_t* o = out.data<uint8_t>();
  auto put = [&](int64_t y, int64_t x, Rgb c) {
    uint8_t* p = o + (y * g.width + x) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  };
  for (int64_t n = 0; n < N; ++n) {
    const int64_t y0 = g.row_y(n);
    for (int64_t col = 0; col < g.cols; ++col) {
      const Tensor px = overlay_cell(images, maps, n, col - 1, vmax, opt);
      const uint8_t* p = px.data<uint8_t>();
      const int64_t x0 = g.col_x(col);
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          const uint8_t* q = p + (i * W + j) * 3;
          for (int dy = 0; dy < s; ++dy)
            for (int dx = 0; dx < s; ++dx) put(y0 + i * s + dy, x0 + j * s + dx, {q[0], q[1], q[2]});
        }
    }
  }
  // colourbar under the attribution columns: -m .. +m, with a dark tick at 0
  for (int64_t x = g.bar_x0; x < g.bar_x1; ++x) {
    const double t = -1.0 + 2.0 * (x - g.bar_x0) / std::max<int64_t>(1, g.bar_x1 - g.bar_x0 - 1);
    const Rgb c = colormap_at(opt.colormap, t);
    for (int64_t y = g.bar_y; y < g.bar_y + g.bar; ++y) put(y, x, c);
  }
  for (int64_t y = g.bar_y - s; y < g.bar_y + g.bar + s; ++y) put(y, (g.bar_x0 + g.bar_x1) / 2, kTick);
  return {out, vmax};
}

std::string colourbar_number(double v) {
  if (!std::isfinite(v)) return "n/a";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  char b[32];
  if (a >= 0.01 && a < 10) {
    std::snprintf(b, sizeof b, "%.2g", a);
  } else {
    std::snprintf(b, sizeof b, "%.1e", a);  // "3.2e-03" -> "3.2e-3": the exponent without padding
    char* e = std::strchr(b, 'e');
    const int exponent = std::atoi(e + 1);
    std::snprintf(e, sizeof b - (e - b), "e%d", exponent);
  }
  return (v < 0 ? "-" : "+") + std::string(b);
}

namespace {

// The labelled grid's bands around the unlabelled one (GridGeometry g, placed at x0, y0): text
// scale ts, line height, and how far the picture grows right and down.
struct LabelLayout {
  int ts;
  int64_t line, x0, y0, right, bottom, numbers_y;
};

// The colourbar numbers: -m, -m/2, 0, +m/2, +m.
std::vector<std::string> tick_texts(double vmax) {
  std::vector<std::string> t;
  for (int i = 0; i <= 4; ++i) t.push_back(colourbar_number((-1 + 0.5 * i) * vmax));
  return t;
}

int64_t tick_x(const GridGeometry& g, int i) {
  return i == 4 ? g.bar_x1 - 1 : g.bar_x0 + (g.bar_x1 - g.bar_x0) * i / 4;
}

// The lines of a row label, each cut to 24 characters so that one long label cannot widen the
// band beyond reason.
std::vector<std::string> label_lines(const std::string& label) {
  std::vector<std::string> lines;
  size_t from = 0;
  for (size_t nl = label.find('\n'); nl != std::string::npos; from = nl + 1, nl = label.find('\n', from))
    lines.push_back(fit_text(label.substr(from, nl - from), 24));
  lines.push_back(fit_text(label.substr(from), 24));
  return lines;
}

LabelLayout label_layout(const GridGeometry& g, const GridLabels& labels, double vmax) {
  LabelLayout l{};
  l.ts = labels.text_scale > 0 ? labels.text_scale : std::max(1, g.s / 3);
  l.line = text_height(l.ts) + 3 * l.ts;
  // the title and the column titles from g.pad down, ending where the unlabelled grid (and its own
  // top margin) begins
  const int lines = (labels.title.empty() ? 0 : 1) + (labels.column_titles.empty() ? 0 : 1);
  l.y0 = lines > 0 ? g.pad + lines * l.line - 3 * l.ts : 0;
  int64_t widest = 0;
  for (const std::string& label : labels.row_labels)
    for (const std::string& line : label_lines(label)) widest = std::max(widest, text_width(line, l.ts));
  l.x0 = widest > 0 ? widest + g.pad : 0;
  if (labels.colourbar_numbers) {
    // numbers below the tick marks (g.s long) after a gap of 2 font pixels
    l.numbers_y = g.bar_y + g.bar + g.s + 2 * l.ts;
    l.bottom = l.numbers_y + text_height(l.ts) + g.pad - g.height;
    // room for +m centred on the bar's right end, and a margin of g.s after it
    l.right = std::max<int64_t>(0, text_width(tick_texts(vmax).back(), l.ts) / 2 + g.s - g.pad);
  }
  return l;
}

// Row labels left of the rows, centred on each row's height (as many lines as fit).
void draw_row_labels(Tensor& out, const GridGeometry& g, const LabelLayout& l, const GridLabels& labels) {
  for (size_t n = 0; n < labels.row_labels.size(); ++n) {
    std::vector<std::string> lines = label_lines(labels.row_labels[n]);
    const size_t fit = static_cast<size_t>(std::max<int64_t>(1, (g.cell_h + 3 * l.ts) / l.line));
    if (lines.size() > fit) lines.resize(fit);
    const int64_t block = static_cast<int64_t>(lines.size()) * l.line - 3 * l.ts;
    const int64_t top = l.y0 + g.row_y(static_cast<int64_t>(n)) + std::max<int64_t>(0, (g.cell_h - block) / 2);
    for (size_t i = 0; i < lines.size(); ++i)
      draw_text(out, g.pad, top + static_cast<int64_t>(i) * l.line, lines[i], kInk, l.ts);
  }
}

// The title line, then the column titles centred over their columns, cut to the column's width.
void draw_titles(Tensor& out, const GridGeometry& g, const LabelLayout& l, const GridLabels& labels) {
  const int64_t advance = kGlyphAdvance * l.ts;
  int64_t y = g.pad;
  if (!labels.title.empty()) {
    const std::string t = fit_text(labels.title, (out.size(1) - 2 * g.pad + l.ts) / advance);
    draw_text(out, g.pad, y, t, kInk, l.ts);
    y += l.line;
  }
  for (size_t c = 0; c < labels.column_titles.size(); ++c) {
    const std::string t = fit_text(labels.column_titles[c], (g.cell_w + l.ts) / advance);
    const int64_t centre = l.x0 + g.col_x(static_cast<int64_t>(c)) + g.cell_w / 2;
    draw_text(out, centre - text_width(t, l.ts) / 2, y, t, kInk, l.ts);
  }
}

// Tick marks under the colourbar at -m, -m/2, 0, +m/2, +m, and their numbers where each clears
// those already placed by two characters: first the ends, then 0, then both halves or neither.
void draw_colourbar_numbers(Tensor& out, const GridGeometry& g, const LabelLayout& l, double vmax) {
  const std::vector<std::string> texts = tick_texts(vmax);
  std::vector<int64_t> x(5), w(5);
  for (int i = 0; i <= 4; ++i) x[i] = l.x0 + tick_x(g, i), w[i] = text_width(texts[i], l.ts);
  std::vector<int> placed;
  auto clears = [&](int i) {
    for (int j : placed)
      if (std::abs(x[i] - x[j]) < (w[i] + w[j]) / 2 + 2 * kGlyphAdvance * l.ts) return false;
    return true;
  };
  for (int i : {0, 4, 2})
    if (clears(i)) placed.push_back(i);
  if (clears(1) && clears(3)) placed.insert(placed.end(), {1, 3});
  const int64_t bar_bottom = l.y0 + g.bar_y + g.bar;
  for (int i = 0; i <= 4; ++i)
    for (int64_t y = bar_bottom; y < bar_bottom + g.s; ++y) {
      uint8_t* p = out.data<uint8_t>() + (y * out.size(1) + x[i]) * 3;
      p[0] = kTick.r, p[1] = kTick.g, p[2] = kTick.b;
    }
  for (int i : placed) draw_text(out, x[i] - w[i] / 2, l.y0 + l.numbers_y, texts[i], kInk, l.ts);
}

}  // namespace

Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt, const GridLabels& labels) {
  const Grid plain = attribution_grid(images, maps, opt);
  const int64_t N = images.size(0), K = maps.size(1);
  LB_CHECK(labels.row_labels.empty() || static_cast<int64_t>(labels.row_labels.size()) == N,
           "attribution_grid: " << labels.row_labels.size() << " row labels for " << N << " images");
  LB_CHECK(labels.column_titles.empty() || static_cast<int64_t>(labels.column_titles.size()) == 1 + K,
           "attribution_grid: " << labels.column_titles.size() << " column titles for " << 1 + K
                                << " columns (the image, then " << K << " outputs)");
  LB_CHECK(labels.text_scale >= 0 && labels.text_scale <= 64, "attribution_grid: text_scale must be 0..64");
  const GridGeometry g = grid_geometry(images, maps, opt.scale);
  const LabelLayout l = label_layout(g, labels, plain.vmax);
  Tensor out = Tensor::full({l.y0 + g.height + l.bottom, l.x0 + g.width + l.right, 3}, 255, DType::UInt8);
  const uint8_t* p = plain.rgb.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t y = 0; y < g.height; ++y)
    std::copy(p + y * g.width * 3, p + (y + 1) * g.width * 3, o + ((l.y0 + y) * out.size(1) + l.x0) * 3);
  draw_titles(out, g, l, labels);
  draw_row_labels(out, g, l, labels);
  if (labels.colourbar_numbers) draw_colourbar_numbers(out, g, l, plain.vmax);
  return {out, plain.vmax, l.x0, l.y0};
}

}  // namespace lb::explain
