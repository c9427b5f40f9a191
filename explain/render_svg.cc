// render_svg.cc: the labelled attribution figure (render.h): SVG text with the picture cells
// embedded as base64 PNG data URIs, so one .svg file (or one <img> in the HTML report) carries
// everything. The PNG bytes are the engine's (io::encode_png, stb's encoder). Cells are drawn at
// the image's own resolution and scaled by the viewer with image-rendering: pixelated, so every
// input pixel stays a crisp square.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/common.h"
#include "engine/io/png.h"
#include "explain/render.h"
#include "models/evaluate/plots.h"

namespace lb::explain {

namespace {

std::string esc(const std::string& s) { return eval::xml_escape(s); }

// 3 significant digits, a real minus sign, "+" on positives when asked.
std::string g3(double v, bool plus = false) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", std::fabs(v));
  return std::string(v < 0 ? "\u2212" : plus && v > 0 ? "+" : "") + b;
}

std::string hex(Rgb c) {
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c.r, c.g, c.b);
  return b;
}

}  // namespace

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t a = static_cast<uint8_t>(in[i]), b = i + 1 < in.size() ? static_cast<uint8_t>(in[i + 1]) : 0,
                   c = i + 2 < in.size() ? static_cast<uint8_t>(in[i + 2]) : 0;
    const uint32_t v = a << 16 | b << 8 | c;
    out += k[v >> 18 & 63];
    out += k[v >> 12 & 63];
    out += i + 1 < in.size() ? k[v >> 6 & 63] : '=';
    out += i + 2 < in.size() ? k[v & 63] : '=';
  }
  return out;
}

std::string png_data_uri(const Tensor& rgb) {
  LB_CHECK(rgb.dtype() == DType::UInt8 && rgb.dim() == 3 && rgb.size(2) == 3,
           "png_data_uri: expected uint8 (H, W, 3), got " << rgb.str());
  return "data:image/png;base64," + base64(io::encode_png(rgb));
}

namespace {

// The numbers under one attribution cell of width D whose bottom edge is at (x, y): for/against,
// net and gap, the lung share, and a force bar (against to the left of the middle, for to the
// right, a tick at the net) drawn on the figure's shared scale `force`.
void cell_numbers_svg(std::ostringstream& s, const CellNumbers& c, double x, double y, double D, double force,
                      Colormap cmap) {
  const Rgb pos = colormap_at(cmap, 0.8), neg = colormap_at(cmap, -0.8);
  s << "<text x=\"" << x << "\" y=\"" << y + 13 << "\" font-size=\"11\">for " << g3(c.positive, true)
    << " \u00b7 against " << g3(c.negative) << "</text>\n";
  s << "<text x=\"" << x << "\" y=\"" << y + 26 << "\" font-size=\"11\">net " << g3(c.net, true) << " \u00b7 gap "
    << g3(c.gap) << "</text>\n";
  s << "<text x=\"" << x << "\" y=\"" << y + 39 << "\" font-size=\"11\" fill=\"#333\">in lungs "
    << (std::isfinite(c.lung_share) ? std::to_string(std::lround(100 * c.lung_share)) + "%" : "n/a") << " (area "
    << std::lround(100 * c.lung_area) << "%)</text>\n";
  const double mid = x + D / 2, half = D / 2, by = y + 50, sc = force > 0 ? half / force : 0;
  s << "<rect x=\"" << x << "\" y=\"" << by << "\" width=\"" << D << "\" height=\"10\" fill=\"#f2f2f2\"/>\n";
  s << "<rect x=\"" << mid + c.negative * sc << "\" y=\"" << by << "\" width=\"" << -c.negative * sc
    << "\" height=\"10\" fill=\"" << hex(neg) << "\"><title>against " << g3(c.negative) << "</title></rect>\n";
  s << "<rect x=\"" << mid << "\" y=\"" << by << "\" width=\"" << c.positive * sc << "\" height=\"10\" fill=\""
    << hex(pos) << "\"><title>for " << g3(c.positive, true) << "</title></rect>\n";
  s << "<line x1=\"" << mid << "\" x2=\"" << mid << "\" y1=\"" << by - 2 << "\" y2=\"" << by + 12
    << "\" stroke=\"#666\"/>\n";
  s << "<path d=\"M" << mid + c.net * sc << " " << by - 3 << " l-4 -5 h8 z\" fill=\"black\"><title>net "
    << g3(c.net, true) << "</title></path>\n";
}

// The colourbar from x0 to x1 at height y: 64 colour steps over [-vmax, vmax], five numbered
// ticks, and a caption naming the colormap and the opacity.
void colourbar_svg(std::ostringstream& s, double x0, double x1, double y, double vmax, const GridOptions& opt) {
  const double steps = 64;
  for (int i = 0; i < steps; ++i) {
    const double t = -1 + 2 * (i + 0.5) / steps;
    s << "<rect x=\"" << x0 + (x1 - x0) * i / steps << "\" y=\"" << y << "\" width=\"" << (x1 - x0) / steps + 0.5
      << "\" height=\"14\" fill=\"" << hex(colormap_at(opt.colormap, t)) << "\"/>\n";
  }
  for (int i = 0; i <= 4; ++i) {
    const double t = -1 + 0.5 * i, x = x0 + (x1 - x0) * i / 4;
    s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << y << "\" y2=\"" << y + 18 << "\" stroke=\"#333\"/>\n";
    s << "<text x=\"" << x << "\" y=\"" << y + 30 << "\" text-anchor=\"middle\" font-size=\"11\">"
      << g3(t * vmax, i > 2) << "</text>\n";
  }
  s << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << y + 46
    << "\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">attribution (one symmetric scale for the whole "
       "figure; "
    << to_string(opt.colormap) << ", opacity " << opt.opacity << ")</text>\n";
}

}  // namespace

Figure attribution_figure(const Tensor& images, const Tensor& maps, const FigureSpec& spec, const GridOptions& opt) {
  (void)overlay_cell(images, maps, 0, -1, 1.0, opt);  // checks the shapes and options
  const int64_t N = images.size(0), K = maps.size(1);
  LB_CHECK(spec.row_labels.empty() || static_cast<int64_t>(spec.row_labels.size()) == N,
           "attribution_figure: " << spec.row_labels.size() << " row labels for " << N << " images");
  LB_CHECK(spec.output_names.empty() || static_cast<int64_t>(spec.output_names.size()) == K,
           "attribution_figure: " << spec.output_names.size() << " output names for " << K << " outputs");
  LB_CHECK(spec.numbers.empty() || static_cast<int64_t>(spec.numbers.size()) == N,
           "attribution_figure: numbers for " << spec.numbers.size() << " images, expected " << N);
  const double vmax = opt.vmax > 0 ? opt.vmax : shared_vmax(maps);
  const double D = 168, gap = 14, left = 132, top = 64, below = spec.numbers.empty() ? 10 : 70;
  const double row_h = D + below, width = left + (1 + K) * (D + gap) + 10;
  const double bar_y = top + N * row_h + 8, height = bar_y + 58;
  // one scale for every force bar: the largest positive + |negative| in the figure
  double force = 0;
  for (const auto& row : spec.numbers)
    for (const auto& c : row) force = std::max(force, c.positive - c.negative);
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
    << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">" << esc(spec.title) << "</text>\n";
  s << "<text x=\"10\" y=\"40\" fill=\"#444\">" << esc(spec.subtitle) << "</text>\n";
  auto col_x = [&](int64_t col) { return left + col * (D + gap); };
  s << "<text x=\"" << col_x(0) + D / 2 << "\" y=\"" << top - 8 << "\" text-anchor=\"middle\">X-ray"
    << (spec.lung_outline ? " (dashed: lung fields)" : "") << "</text>\n";
  for (int64_t k = 0; k < K; ++k) {
    const std::string name = spec.output_names.empty() ? "output " + std::to_string(k) : spec.output_names[k];
    s << "<text x=\"" << col_x(1 + k) + D / 2 << "\" y=\"" << top - 8 << "\" text-anchor=\"middle\">attribution to '"
      << esc(name) << "'</text>\n";
  }
  for (int64_t n = 0; n < N; ++n) {
    const double y = top + n * row_h;
    if (!spec.row_labels.empty()) {
      std::istringstream lines(spec.row_labels[n]);
      std::string line;
      for (int li = 0; std::getline(lines, line); ++li)
        s << "<text x=\"10\" y=\"" << y + 20 + li * 16 << "\""
          << (li == 0 ? " font-size=\"16\" font-weight=\"bold\"" : " font-size=\"11\"") << ">" << esc(line)
          << "</text>\n";
    }
    for (int64_t col = 0; col <= K; ++col) {
      const double x = col_x(col);
      s << "<image x=\"" << x << "\" y=\"" << y << "\" width=\"" << D << "\" height=\"" << D
        << "\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\""
        << png_data_uri(overlay_cell(images, maps, n, col - 1, vmax, opt)) << "\"/>\n";
      s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << D << "\" height=\"" << D
        << "\" fill=\"none\" stroke=\"#999\" stroke-width=\"0.5\"/>\n";
      if (col == 0 && spec.lung_outline)
        for (const Ellipse& e : lung_ellipses())
          s << "<ellipse cx=\"" << x + e.cx * D << "\" cy=\"" << y + e.cy * D << "\" rx=\"" << e.rx * D << "\" ry=\""
            << e.ry * D << "\" fill=\"none\" stroke=\"#ffd84d\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n";
      if (col == 0 || spec.numbers.empty()) continue;
      cell_numbers_svg(s, spec.numbers[n][col - 1], x, y + D, D, force, opt.colormap);
    }
  }
  colourbar_svg(s, col_x(1), col_x(K) + D, bar_y, vmax, opt);
  s << "</svg>\n";
  return {s.str(), vmax};
}

}  // namespace lb::explain
