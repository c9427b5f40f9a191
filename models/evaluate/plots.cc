// evaluate/plots.cc: see plots.h. Layout is fixed per figure (a square ROC plot, a 2x2 grid,
// a wide curves panel with the legend outside the data) so the figures line up in the report.
#include "models/evaluate/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/common.h"
#include "engine/io/file.h"

namespace lb::eval {

namespace {

constexpr const char* kInk = "#1a1a1a";  // text and axes: near-black reads softer than #000
constexpr const char* kGrid = "#e6e6e6";
constexpr const char* kMuted = "#777777";  // chance line, marker line
// A white outline drawn under the glyphs keeps a label readable where it crosses a curve.
constexpr const char* kHalo = " stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"";

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "n/a");
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Rough width of sans-serif text: about 0.6 em per character, enough to size legend boxes.
double text_width(const std::string& s, double size) { return 0.6 * size * static_cast<double>(s.size()); }

// A tiny SVG writer: each method appends one element, attributes in a fixed order.
class Svg {
 public:
  Svg(double w, double h, const std::string& title) {
    os_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << num(w) << " " << num(h) << "\" width=\""
        << num(w) << "\" height=\"" << num(h) << "\" font-family=\"sans-serif\" role=\"img\">\n"
        << "<title>" << xml_escape(title) << "</title>\n";
    rect(0, 0, w, h, "#ffffff");
  }
  void raw(const std::string& s) { os_ << s; }
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& extra = "") {
    os_ << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(w) << "\" height=\"" << num(h)
        << "\" fill=\"" << fill << "\"" << extra << "/>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width,
            const std::string& extra = "") {
    os_ << "<line x1=\"" << num(x1) << "\" y1=\"" << num(y1) << "\" x2=\"" << num(x2) << "\" y2=\"" << num(y2)
        << "\" stroke=\"" << stroke << "\" stroke-width=\"" << num(width) << "\"" << extra << "/>\n";
  }
  void circle(double cx, double cy, double r, const std::string& fill, const std::string& extra = "") {
    os_ << "<circle cx=\"" << num(cx) << "\" cy=\"" << num(cy) << "\" r=\"" << num(r) << "\" fill=\"" << fill << "\""
        << extra << "/>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& pts, const std::string& stroke, double width,
                const std::string& extra = "") {
    os_ << "<polyline fill=\"none\" stroke=\"" << stroke << "\" stroke-width=\"" << num(width)
        << "\" stroke-linejoin=\"round\"" << extra << " points=\"";
    for (size_t i = 0; i < pts.size(); ++i) os_ << (i ? " " : "") << num(pts[i].first) << "," << num(pts[i].second);
    os_ << "\"/>\n";
  }
  // anchor: start | middle | end. rotate: degrees about (x, y).
  void text(double x, double y, const std::string& s, double size, const std::string& anchor = "start",
            const std::string& fill = kInk, const std::string& extra = "", double rotate = 0) {
    os_ << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" font-size=\"" << num(size) << "\" text-anchor=\""
        << anchor << "\" fill=\"" << fill << "\"";
    if (rotate != 0) os_ << " transform=\"rotate(" << num(rotate) << " " << num(x) << " " << num(y) << ")\"";
    os_ << extra << ">" << xml_escape(s) << "</text>\n";
  }
  std::string finish() {
    os_ << "</svg>\n";
    return os_.str();
  }

 private:
  std::ostringstream os_;
};

// A data-to-pixel map for one axis.
struct Scale {
  double d0, d1, p0, p1;
  double operator()(double v) const { return p0 + (v - d0) / (d1 - d0) * (p1 - p0); }
};

// Grid lines, tick labels and axis titles of a rectangular plot area.
void draw_axes(Svg& svg, const Scale& sx, const Scale& sy, const Ticks& tx, const Ticks& ty, const std::string& x_label,
               const std::string& y_label) {
  const double left = sx.p0, right = sx.p1, bottom = sy.p0, top = sy.p1;
  for (double v : tx.values) {
    svg.line(sx(v), top, sx(v), bottom, kGrid, 1);
    svg.text(sx(v), bottom + 18, fixed(v, tx.decimals), 11, "middle");
  }
  for (double v : ty.values) {
    svg.line(left, sy(v), right, sy(v), kGrid, 1);
    svg.text(left - 8, sy(v) + 4, fixed(v, ty.decimals), 11, "end");
  }
  svg.rect(left, top, right - left, bottom - top, "none", " stroke=\"" + std::string(kInk) + "\" stroke-width=\"1\"");
  svg.text(0.5 * (left + right), bottom + 40, x_label, 13, "middle");
  svg.text(left - 48, 0.5 * (top + bottom), y_label, 13, "middle", kInk, "", -90);
}

// ColorBrewer "Blues" (9 classes), interpolated linearly in sRGB for t in [0, 1].
std::array<double, 3> blues(double t) {
  static const int stops[9][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225}, {107, 174, 214},
                                  {66, 146, 198},  {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 8.0;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  std::array<double, 3> c{};
  for (int k = 0; k < 3; ++k) c[k] = stops[i][k] + f * (stops[i + 1][k] - stops[i][k]);
  return c;
}

std::string hex(const std::array<double, 3>& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c[0])),
                static_cast<int>(std::lround(c[1])), static_cast<int>(std::lround(c[2])));
  return buf;
}

// WCAG relative luminance: picks white text on dark cells, ink on light ones.
double luminance(const std::array<double, 3>& c) {
  double l[3];
  for (int k = 0; k < 3; ++k) {
    const double s = c[k] / 255.0;
    l[k] = s <= 0.03928 ? s / 12.92 : std::pow((s + 0.055) / 1.055, 2.4);
  }
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
}

// A legend box: rows of (line sample, text); `dash` is the sample's stroke-dasharray ("": solid).
struct LegendRow {
  std::string colour, text;
  std::string dash;
};

std::string dash_attr(const std::string& dash) { return dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\""; }

void draw_legend(Svg& svg, double x, double y, const std::vector<LegendRow>& rows) {
  double w = 0;
  for (const LegendRow& r : rows) w = std::max(w, text_width(r.text, 12));
  w += 44;
  const double h = 20.0 * static_cast<double>(rows.size()) + 8;
  svg.rect(x, y, w, h, "#ffffff", " fill-opacity=\"0.9\" stroke=\"#cccccc\" stroke-width=\"1\"");
  for (size_t i = 0; i < rows.size(); ++i) {
    const double cy = y + 14 + 20.0 * static_cast<double>(i);
    svg.line(x + 8, cy, x + 30, cy, rows[i].colour, 2.5, dash_attr(rows[i].dash));
    svg.text(x + 36, cy + 4, rows[i].text, 12);
  }
}

double legend_width(const std::vector<LegendRow>& rows) {
  double w = 0;
  for (const LegendRow& r : rows) w = std::max(w, text_width(r.text, 12));
  return w + 44;
}

}  // namespace

std::string okabe_ito(size_t i) {
  static const char* colours[] = {"#0072B2", "#D55E00", "#009E73", "#E69F00",
                                  "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
  return colours[i % 8];
}

std::string series_dash(size_t i) {
  static const char* dashes[] = {"", "9 3 2 3", "2 3", "12 4"};
  return dashes[(i / 8) % 4];
}

Ticks nice_ticks(double lo, double hi, int target) {
  LB_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi && target >= 2,
           "nice_ticks: need finite lo <= hi and target >= 2, got [" << lo << ", " << hi << "], " << target);
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {  // one value: open a window around it
    const double pad = lo != 0 ? 0.05 * std::fabs(lo) : 1.0;
    lo -= pad;
    hi += pad;
  }
  auto nice = [](double x, bool round) {
    const double e = std::floor(std::log10(x)), f = x / std::pow(10.0, e);
    double nf;
    if (round)
      nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
      nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * std::pow(10.0, e);
  };
  Ticks t;
  t.step = nice(nice(hi - lo, false) / (target - 1), true);
  t.lo = std::floor(lo / t.step + 1e-9) * t.step;  // 1e-9: a bound already on a tick stays there
  t.hi = std::ceil(hi / t.step - 1e-9) * t.step;
  t.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(t.step) + 1e-9)));
  const int n = static_cast<int>(std::lround((t.hi - t.lo) / t.step));
  for (int i = 0; i <= n; ++i) {
    const double v = t.lo + i * t.step;
    t.values.push_back(std::fabs(v) < 1e-12 * t.step ? 0.0 : v);  // no "-0.0" label
  }
  return t;
}

// ---- ROC ------------------------------------------------------------------------------------------------

std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title) {
  const double left = 76, top = 48, size = 400;
  std::vector<LegendRow> legend;
  for (size_t s = 0; s < series.size(); ++s)
    legend.push_back({okabe_ito(s), series[s].name + " (AUC " + fixed(series[s].auc, 3) + ")", series_dash(s)});
  legend.push_back({kMuted, "chance (AUC 0.500)", "6 4"});
  // Up to 4 curves the legend sits in the plot's empty lower right; more (per-class curves)
  // would cover the curves there, so it moves to the right of the plot and the figure widens.
  const bool outside = series.size() > 4;
  const double legend_h = 20.0 * static_cast<double>(legend.size()) + 8;
  const double width = outside ? left + size + 24 + legend_width(legend) + 16 : left + size + 28;
  Svg svg(width, std::max(top + size + 58, top + legend_h + 16), title);
  svg.text(left + 0.5 * size, 28, title, 16, "middle", kInk, " font-weight=\"bold\"");
  const Scale sx{0, 1, left, left + size}, sy{0, 1, top + size, top};
  const Ticks t = nice_ticks(0, 1, 6);
  draw_axes(svg, sx, sy, t, t, "false positive rate (1 - specificity)", "true positive rate (sensitivity)");
  svg.line(sx(0), sy(0), sx(1), sy(1), kMuted, 1.5, " stroke-dasharray=\"6 4\"");

  for (size_t s = 0; s < series.size(); ++s) {
    const RocSeries& r = series[s];
    LB_CHECK(r.roc.fpr.size() == r.roc.tpr.size() && !r.roc.fpr.empty(),
             "roc_svg: series '" << r.name << "' has " << r.roc.fpr.size() << " fpr and " << r.roc.tpr.size()
                                 << " tpr values; pass a RocCurve from roc_curve()");
    std::vector<std::pair<double, double>> pts;
    for (size_t k = 0; k < r.roc.fpr.size(); ++k) pts.emplace_back(sx(r.roc.fpr[k]), sy(r.roc.tpr[k]));
    svg.polyline(pts, okabe_ito(s), 2.2, dash_attr(series_dash(s)) + " class=\"curve\"");
  }

  // Operating points after all curves, so no curve is drawn over a dot or its label.
  for (size_t s = 0; s < series.size(); ++s) {
    if (!series[s].point) continue;
    const OperatingPoint& op = *series[s].point;
    const double px = sx(op.fpr), py = sy(op.tpr);
    svg.circle(px, py, 5.5, okabe_ito(s), " stroke=\"#ffffff\" stroke-width=\"1.5\" class=\"operating-point\"");
    const std::string label =
        "t=" + fixed(op.threshold, 2) + ": sens " + fixed(op.tpr, 2) + ", spec " + fixed(1.0 - op.fpr, 2);
    // Right of the dot unless that would leave the plot; below it, stacked per series.
    const bool flip = px + 10 + text_width(label, 12) > left + size;
    const double ly = std::clamp(py + 18 + 16.0 * static_cast<double>(s), top + 14, top + size - 6);
    svg.text(flip ? px - 10 : px + 10, ly, label, 12, flip ? "end" : "start", okabe_ito(s),
             std::string(" font-weight=\"bold\" class=\"operating-label\"") + kHalo);
  }
  if (outside)
    draw_legend(svg, left + size + 24, top, legend);
  else
    draw_legend(svg, left + size - legend_width(legend) - 10, top + size - 20.0 * legend.size() - 18, legend);
  return svg.finish();
}

// ---- confusion matrix ---------------------------------------------------------------------------------

std::string confusion_svg(const Confusion& cm, const std::string& title, const std::array<std::string, 2>& names) {
  const double left = 150, top = 64, cell = 150, bar_x = left + 2 * cell + 30;
  Svg svg(bar_x + 80, top + 2 * cell + 78, title);
  svg.text(left + cell, 34, title, 16, "middle", kInk, " font-weight=\"bold\"");

  const int64_t counts[2][2] = {{cm.tn, cm.fp}, {cm.fn, cm.tp}};  // [true][predicted]
  const char* roles[2][2] = {{"TN", "FP"}, {"FN", "TP"}};
  for (int r = 0; r < 2; ++r) {
    const int64_t row_total = counts[r][0] + counts[r][1];
    for (int c = 0; c < 2; ++c) {
      const double share = row_total > 0 ? static_cast<double>(counts[r][c]) / static_cast<double>(row_total) : 0.0;
      const auto colour = blues(share);
      const std::string ink = luminance(colour) < 0.35 ? "#ffffff" : kInk;
      const double x = left + c * cell, y = top + r * cell;
      svg.rect(x, y, cell, cell, hex(colour), " stroke=\"#ffffff\" stroke-width=\"2\" class=\"cell\"");
      svg.text(x + 8, y + 18, roles[r][c], 11, "start", ink);
      svg.text(x + 0.5 * cell, y + 0.5 * cell + 4, std::to_string(counts[r][c]), 28, "middle", ink,
               " font-weight=\"bold\" class=\"count\"");
      const std::string pct = row_total > 0 ? fixed(100.0 * share, 1) + "%" : "n/a";
      svg.text(x + 0.5 * cell, y + 0.5 * cell + 28, pct + " of row", 13, "middle", ink, " class=\"percent\"");
    }
    svg.text(left - 10, top + (r + 0.5) * cell + 4, names[r], 13, "end");
  }
  for (int c = 0; c < 2; ++c) svg.text(left + (c + 0.5) * cell, top + 2 * cell + 20, names[c], 13, "middle");
  svg.text(left + cell, top + 2 * cell + 48, "predicted", 14, "middle", kInk, " font-weight=\"bold\"");
  const double label_x = left - 10 - text_width(names[0].size() > names[1].size() ? names[0] : names[1], 13) - 18;
  svg.text(std::max(18.0, label_x), top + cell, "true", 14, "middle", kInk, " font-weight=\"bold\"", -90);

  // Colour bar: the shade is the row share, 0% (top is 100%) as in matplotlib's vertical bars.
  svg.raw("<defs><linearGradient id=\"lb-blues\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
  for (int i = 0; i <= 8; ++i) {
    svg.raw("<stop offset=\"" + num(i / 8.0) + "\" stop-color=\"" + hex(blues(i / 8.0)) + "\"/>");
  }
  svg.raw("</linearGradient></defs>\n");
  svg.rect(bar_x, top, 16, 2 * cell, "url(#lb-blues)", " stroke=\"#cccccc\" stroke-width=\"1\"");
  for (int i = 0; i <= 4; ++i) {
    const double y = top + 2 * cell * (1.0 - i / 4.0);
    svg.line(bar_x + 16, y, bar_x + 20, y, kInk, 1);
    svg.text(bar_x + 24, y + 4, std::to_string(25 * i) + "%", 11);
  }
  return svg.finish();
}

namespace {

void check_matrix(const std::vector<std::vector<int64_t>>& cm, const std::vector<std::string>& names) {
  const size_t k = cm.size();
  LB_CHECK(k >= 1, "confusion_matrix_svg: empty matrix");
  LB_CHECK(names.size() == k,
           "confusion_matrix_svg: " << names.size() << " class names for a " << k << " x " << k << " matrix");
  for (size_t r = 0; r < k; ++r) {
    LB_CHECK(cm[r].size() == k, "confusion_matrix_svg: row " << r << " has " << cm[r].size() << " counts, expected "
                                                             << k << " (a square matrix)");
    for (size_t c = 0; c < k; ++c)
      LB_CHECK(cm[r][c] >= 0, "confusion_matrix_svg: cell [" << r << "][" << c << "] = " << cm[r][c] << " < 0");
  }
}

// The vertical colour bar of the row share, 0% at the bottom (matplotlib's habit).
void draw_share_bar(Svg& svg, double x, double top, double height) {
  svg.raw("<defs><linearGradient id=\"lb-blues\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
  for (int i = 0; i <= 8; ++i)
    svg.raw("<stop offset=\"" + num(i / 8.0) + "\" stop-color=\"" + hex(blues(i / 8.0)) + "\"/>");
  svg.raw("</linearGradient></defs>\n");
  svg.rect(x, top, 16, height, "url(#lb-blues)", " stroke=\"#cccccc\" stroke-width=\"1\"");
  for (int i = 0; i <= 4; ++i) {
    const double y = top + height * (1.0 - i / 4.0);
    svg.line(x + 16, y, x + 20, y, kInk, 1);
    svg.text(x + 24, y + 4, std::to_string(25 * i) + "%", 11);
  }
}

}  // namespace

std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& cm, const std::vector<std::string>& names,
                                 const std::string& title) {
  check_matrix(cm, names);
  const size_t k = cm.size();
  const double kd = static_cast<double>(k);
  // The matrix is about 520 px wide whatever K is, with cells of 40 to 150 px; fonts follow the
  // cell so 14 classes still fit counts of 5 digits and "100.0%" inside their cells.
  const double cell = std::clamp(520.0 / kd, 40.0, 150.0);
  const double count_font = std::clamp(0.24 * cell, 11.0, 28.0), pct_font = std::clamp(0.17 * cell, 8.5, 13.0);
  const double name_font = k > 8 ? 11 : 13;
  double name_w = 0;
  for (const std::string& s : names) name_w = std::max(name_w, text_width(s, name_font));
  // Column names run horizontally when they fit their cell, else at -45 degrees below it.
  const bool slanted = name_w > cell - 6;
  const double left = 44 + name_w + 12, top = 76, side = kd * cell;
  const double names_h = slanted ? 0.71 * name_w + 20 : 24, bar_x = left + side + 24;
  Svg svg(bar_x + 64, top + side + names_h + 40, title);
  svg.text(left + 0.5 * side, 30, title, 16, "middle", kInk, " font-weight=\"bold\"");
  svg.text(left + 0.5 * side, 52, "each cell: count and % of its true class (row)", 12, "middle", kMuted);

  for (size_t r = 0; r < k; ++r) {
    int64_t row_total = 0;
    for (int64_t v : cm[r]) row_total += v;
    for (size_t c = 0; c < k; ++c) {
      const double share = row_total > 0 ? static_cast<double>(cm[r][c]) / static_cast<double>(row_total) : 0.0;
      const auto colour = blues(share);
      const std::string ink = luminance(colour) < 0.35 ? "#ffffff" : kInk;
      const double x = left + static_cast<double>(c) * cell, y = top + static_cast<double>(r) * cell;
      svg.rect(x, y, cell, cell, hex(colour), " stroke=\"#ffffff\" stroke-width=\"1.5\" class=\"cell\"");
      svg.text(x + 0.5 * cell, y + 0.5 * cell, std::to_string(cm[r][c]), count_font, "middle", ink,
               " font-weight=\"bold\" class=\"count\"");
      const std::string pct = row_total > 0 ? fixed(100.0 * share, 1) + "%" : "n/a";
      svg.text(x + 0.5 * cell, y + 0.5 * cell + pct_font + 4, pct, pct_font, "middle", ink, " class=\"percent\"");
    }
    svg.text(left - 8, top + (static_cast<double>(r) + 0.5) * cell + 4, names[r], name_font, "end", kInk,
             " class=\"row-name\"");
  }
  for (size_t c = 0; c < k; ++c) {
    const double x = left + (static_cast<double>(c) + 0.5) * cell, y = top + side + 16;
    if (slanted)
      svg.text(x + 4, y - 4, names[c], name_font, "end", kInk, " class=\"column-name\"", -45);
    else
      svg.text(x, y, names[c], name_font, "middle", kInk, " class=\"column-name\"");
  }
  svg.text(left + 0.5 * side, top + side + names_h + 22, "predicted", 14, "middle", kInk, " font-weight=\"bold\"");
  svg.text(20, top + 0.5 * side, "true", 14, "middle", kInk, " font-weight=\"bold\"", -90);
  draw_share_bar(svg, bar_x, top, side);
  return svg.finish();
}

std::vector<RocSeries> class_roc_series(const MultiEvaluation& ev, const std::vector<std::string>& names) {
  LB_CHECK(names.empty() || names.size() == ev.per_class.size(),
           "class_roc_series: " << names.size() << " class names for " << ev.per_class.size() << " classes");
  std::vector<RocSeries> out;
  for (size_t c = 0; c < ev.per_class.size(); ++c) {
    const PerClassResult& r = ev.per_class[c];
    if (std::isnan(r.auc)) continue;
    out.push_back({names.empty() ? "class " + std::to_string(c) : names[c], r.roc, r.auc, std::nullopt});
  }
  return out;
}

// ---- training curves ---------------------------------------------------------------------------------------

namespace {

double x_of(const CurveSeries& s, size_t i) { return s.x.empty() ? static_cast<double>(i + 1) : s.x[i]; }

// Data bounds over every finite point; `integral` when every x is a whole number (epochs).
void data_bounds(const std::vector<CurveSeries>& series, double b[4], bool& integral) {
  b[0] = b[2] = std::numeric_limits<double>::infinity();
  b[1] = b[3] = -std::numeric_limits<double>::infinity();
  integral = true;
  for (const CurveSeries& s : series) {
    LB_CHECK(s.x.empty() || s.x.size() == s.y.size(),
             "curves_svg: series '" << s.name << "' has " << s.x.size() << " x and " << s.y.size() << " y values");
    for (size_t i = 0; i < s.y.size(); ++i) {
      const double x = x_of(s, i), y = s.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      b[0] = std::min(b[0], x), b[1] = std::max(b[1], x), b[2] = std::min(b[2], y), b[3] = std::max(b[3], y);
      integral = integral && x == std::round(x);
    }
  }
  if (!(b[0] <= b[1])) b[0] = 1, b[1] = 2, b[2] = 0, b[3] = 1;  // nothing finite: an empty frame
}

}  // namespace

std::string curves_svg(const std::vector<CurveSeries>& series, const CurvesOptions& options) {
  const double left = 78, top = 48, width = 440, height = 280;
  std::vector<LegendRow> legend;
  for (size_t s = 0; s < series.size(); ++s) legend.push_back({okabe_ito(s), series[s].name, series_dash(s)});
  const double legend_w = legend.empty() ? 0 : legend_width(legend);
  Svg svg(left + width + 24 + legend_w + 16, top + height + 60,
          options.title.empty() ? "training curves" : options.title);
  if (!options.title.empty())
    svg.text(left + 0.5 * width, 28, options.title, 16, "middle", kInk, " font-weight=\"bold\"");

  double b[4];
  bool integral = true;
  data_bounds(series, b, integral);
  Ticks tx = nice_ticks(b[0], b[1], 6);
  if (integral && tx.step < 1) tx = nice_ticks(b[0], std::max(b[1], b[0] + 5), 6);  // no "epoch 1.5" ticks
  const Ticks ty = nice_ticks(b[2], b[3], 6);
  const Scale sx{tx.lo, tx.hi, left, left + width}, sy{ty.lo, ty.hi, top + height, top};
  draw_axes(svg, sx, sy, tx, ty, options.x_label, options.y_label);

  const double mx = options.marker_x;
  if (std::isfinite(mx) && mx >= tx.lo && mx <= tx.hi) {
    svg.line(sx(mx), top, sx(mx), top + height, kMuted, 1.5, " stroke-dasharray=\"5 4\" class=\"marker\"");
    const std::string label = options.marker_label + " " + fixed(mx, integral ? 0 : tx.decimals + 1);
    const bool flip = sx(mx) + 6 + text_width(label, 11) > left + width;
    svg.text(flip ? sx(mx) - 6 : sx(mx) + 6, top + 14, label, 11, flip ? "end" : "start", "#555555", kHalo);
  }
  for (size_t s = 0; s < series.size(); ++s) {
    const CurveSeries& c = series[s];
    std::vector<std::pair<double, double>> run;  // a NaN ends the current run of the line
    auto flush = [&] {
      if (run.size() >= 2) svg.polyline(run, okabe_ito(s), 2.2, dash_attr(series_dash(s)) + " class=\"curve\"");
      run.clear();
    };
    for (size_t i = 0; i < c.y.size(); ++i) {
      if (std::isfinite(c.y[i]) && std::isfinite(x_of(c, i)))
        run.emplace_back(sx(x_of(c, i)), sy(c.y[i]));
      else
        flush();
    }
    flush();
    if (c.y.size() <= 100) {
      for (size_t i = 0; i < c.y.size(); ++i)
        if (std::isfinite(c.y[i]) && std::isfinite(x_of(c, i)))
          svg.circle(sx(x_of(c, i)), sy(c.y[i]), 2.8, okabe_ito(s), " class=\"point\"");
    }
  }
  if (!legend.empty()) draw_legend(svg, left + width + 24, top, legend);
  return svg.finish();
}

void save_svg(const std::string& path, const std::string& svg) { io::write_file_atomic(path, svg); }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace lb::eval
