// test_plots.cc: the SVG figures (models/evaluate/plots.h).
//
// A figure cannot be compared to a golden image byte for byte without freezing its layout, so
// each is checked for what must hold whatever the layout: the text is well-formed XML (a small
// tag-balance and escaping checker below, itself tested on broken input), every coordinate is
// finite and inside the viewBox, the expected number of curves, points, cells and labels is
// there, and the legend carries each AUC with 3 decimals. The multi-class figures (a K x K matrix
// up to 14 classes, 14 per-class ROC curves) are checked the same way, plus what keeps them
// readable: text that fits its cell, a (colour, dash) style per curve, a legend beside the plot.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "base/common.h"
#include "engine/io/file.h"
#include "models/evaluate/multiclass.h"
#include "models/evaluate/plots.h"

namespace lb::eval {
namespace {

// One parsed element: its name, attributes, and the text right after its start tag.
struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;
};

// Checks that `svg` is one well-formed element tree: every start tag closed in order, quotes
// balanced, no duplicate attribute, and every '&' in text or attributes starting an entity.
// Fills `out` with the elements in document order.
::testing::AssertionResult parse_svg(const std::string& svg, std::vector<Element>* out) {
  static const std::regex attr_re("([A-Za-z_:][-A-Za-z0-9_:.]*)=\"([^\"]*)\"");
  static const std::regex entity_re("&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);");
  auto bad_amp = [](const std::string& s) {
    return std::regex_replace(s, entity_re, "").find('&') != std::string::npos;
  };
  std::vector<std::pair<std::string, size_t>> stack;  // open elements: name, index into out
  bool closed_root = false;
  for (size_t i = 0; i < svg.size();) {
    if (svg[i] != '<') {
      const size_t next = svg.find('<', i);
      const std::string text = svg.substr(i, next == std::string::npos ? std::string::npos : next - i);
      if (bad_amp(text) || text.find('>') != std::string::npos)
        return ::testing::AssertionFailure() << "unescaped text: " << text;
      if (stack.empty() && text.find_first_not_of(" \n\t") != std::string::npos)
        return ::testing::AssertionFailure() << "text outside the root: " << text;
      if (!stack.empty()) (*out)[stack.back().second].text += text;
      i = next == std::string::npos ? svg.size() : next;
      continue;
    }
    size_t end = i + 1;
    bool quoted = false;
    while (end < svg.size() && (quoted || svg[end] != '>')) quoted ^= svg[end++] == '"';
    if (end >= svg.size()) return ::testing::AssertionFailure() << "unterminated tag at " << i;
    const std::string tag = svg.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.rfind("/", 0) == 0) {
      if (stack.empty() || stack.back().first != tag.substr(1))
        return ::testing::AssertionFailure()
               << "</" << tag.substr(1) << "> closes <" << (stack.empty() ? "nothing" : stack.back().first) << ">";
      stack.pop_back();
      closed_root = stack.empty();
      continue;
    }
    if (closed_root) return ::testing::AssertionFailure() << "a second root element <" << tag << ">";
    Element e;
    e.name = tag.substr(0, tag.find_first_of(" \n/"));
    std::string rest = tag.substr(e.name.size());
    for (std::sregex_iterator it(rest.begin(), rest.end(), attr_re), stop; it != stop; ++it) {
      if (!e.attrs.emplace((*it)[1], (*it)[2]).second)
        return ::testing::AssertionFailure() << "duplicate attribute " << (*it)[1] << " in <" << e.name << ">";
      if (bad_amp((*it)[2])) return ::testing::AssertionFailure() << "unescaped & in " << (*it)[0];
    }
    const std::string leftover = std::regex_replace(rest, attr_re, "");
    if (leftover.find_first_not_of(" \n/") != std::string::npos)
      return ::testing::AssertionFailure() << "malformed attributes in <" << tag << ">";
    out->push_back(e);
    if (tag.back() != '/')
      stack.emplace_back(e.name, out->size() - 1);
    else if (stack.empty())
      closed_root = true;
  }
  if (!stack.empty()) return ::testing::AssertionFailure() << "<" << stack.back().first << "> never closed";
  if (out->empty() || out->front().name != "svg") return ::testing::AssertionFailure() << "the root is not <svg>";
  return ::testing::AssertionSuccess();
}

double parse_number(const std::string& s) {
  size_t used = 0;
  const double v = std::stod(s, &used);
  EXPECT_EQ(used, s.size()) << "not a plain number: '" << s << "'";
  return v;
}

// Every position attribute (and every polyline vertex) is finite and inside the viewBox.
void expect_inside_viewbox(const std::vector<Element>& els) {
  double vb[4];
  ASSERT_EQ(std::sscanf(els.front().attrs.at("viewBox").c_str(), "%lf %lf %lf %lf", &vb[0], &vb[1], &vb[2], &vb[3]), 4);
  const double w = vb[2], h = vb[3];
  auto in = [](double v, double hi) { return std::isfinite(v) && v >= 0 && v <= hi; };
  for (const Element& e : els) {
    if (e.name == "svg" || e.name == "stop" || e.name == "linearGradient") continue;
    for (const auto& [name, value] : e.attrs) {
      const bool is_x = name == "x" || name == "x1" || name == "x2" || name == "cx";
      const bool is_y = name == "y" || name == "y1" || name == "y2" || name == "cy";
      if (is_x || is_y) {
        EXPECT_TRUE(in(parse_number(value), is_x ? w : h)) << e.name << " " << name << "=" << value;
      }
    }
    if (e.name == "rect") {
      EXPECT_LE(parse_number(e.attrs.at("x")) + parse_number(e.attrs.at("width")), w);
      EXPECT_LE(parse_number(e.attrs.at("y")) + parse_number(e.attrs.at("height")), h);
    }
    if (e.attrs.count("points")) {
      std::istringstream ss(e.attrs.at("points"));
      std::string pair;
      while (ss >> pair) {
        double x, y;
        ASSERT_EQ(std::sscanf(pair.c_str(), "%lf,%lf", &x, &y), 2) << pair;
        EXPECT_TRUE(in(x, w) && in(y, h)) << "point " << pair;
      }
    }
  }
}

std::vector<const Element*> with_class(const std::vector<Element>& els, const std::string& cls) {
  std::vector<const Element*> out;
  for (const Element& e : els)
    if (e.attrs.count("class") && e.attrs.at("class") == cls) out.push_back(&e);
  return out;
}

size_t count_points(const Element& polyline) {
  std::istringstream ss(polyline.attrs.at("points"));
  std::string pair;
  size_t n = 0;
  while (ss >> pair) ++n;
  return n;
}

bool has_text(const std::vector<Element>& els, const std::string& want) {
  for (const Element& e : els)
    if (e.name == "text" && e.text == want) return true;
  return false;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---- Plots ---------------------------------------------------------------------------------------------

TEST(Plots, TagCheckerRejectsBrokenXml) {
  std::vector<Element> els;
  EXPECT_TRUE(parse_svg("<svg viewBox=\"0 0 1 1\"><g><text x=\"0\">a &amp; b</text></g></svg>", &els));
  for (const char* bad :
       {"<svg><g></svg>", "<svg><text>a & b</text></svg>", "<svg><text>x</svg>", "<svg a=\"1\" a=\"2\"/>",
        "<svg><rect x=\"1/></svg>", "<svg></svg><svg></svg>", "<svg><text>1 > 0</text></svg>", "<svg x=1></svg>"}) {
    els.clear();
    EXPECT_FALSE(parse_svg(bad, &els)) << bad;
  }
}

TEST(Plots, NiceTicks) {
  // DOUBLE_EQ (4 ulps) below: steps are 1, 2 or 5 times a power of ten from std::pow, one
  // rounding away from the decimal literal.
  const Ticks unit = nice_ticks(0, 1, 6);
  EXPECT_EQ(unit.values.size(), 6u);  // 0, 0.2, ..., 1
  EXPECT_DOUBLE_EQ(unit.step, 0.2);
  EXPECT_EQ(unit.decimals, 1);
  const Ticks acc = nice_ticks(0.8123, 0.9871, 6);  // range 0.17 -> step 0.05 over [0.8, 1.0]
  EXPECT_DOUBLE_EQ(acc.step, 0.05);
  EXPECT_DOUBLE_EQ(acc.lo, 0.8);
  EXPECT_DOUBLE_EQ(acc.hi, 1.0);
  EXPECT_EQ(acc.decimals, 2);
  const Ticks epochs = nice_ticks(1, 20, 6);
  EXPECT_EQ(epochs.values, (std::vector<double>{0, 5, 10, 15, 20}));
  const Ticks signs = nice_ticks(-0.3, 0.7, 6);
  bool zero = false;
  for (double v : signs.values) {
    zero = zero || v == 0.0;
    EXPECT_FALSE(v == 0.0 && std::signbit(v)) << "a -0 tick would print as -0.0";
    // 1e-9 relative: ticks are lo + i * step, a couple of roundings from the exact multiple.
    EXPECT_NEAR(v / signs.step, std::round(v / signs.step), 1e-9);
  }
  EXPECT_TRUE(zero);
  const Ticks flat = nice_ticks(0.9, 0.9, 6);  // one value still gets a window around it
  EXPECT_LT(flat.lo, 0.9);
  EXPECT_GT(flat.hi, 0.9);
}

RocSeries series_from(const std::string& name, const std::vector<double>& s, const std::vector<int>& l) {
  RocSeries r{name, roc_curve(s, l), 0, std::nullopt};
  r.auc = roc_auc(r.roc);
  r.point = youden_threshold(r.roc);
  return r;
}

TEST(Plots, RocCurvesLegendAndOperatingPoints) {
  const nlohmann::json g = nlohmann::json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/stats/random200.json"));
  const auto l = g["label"].get<std::vector<int>>();
  const auto a = series_from("untuned", g["score_a"].get<std::vector<double>>(), l);
  auto b = series_from("tuned", g["score_b"].get<std::vector<double>>(), l);
  const std::string svg = roc_svg({a, b}, "ROC: test split");
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(svg, &els));
  expect_inside_viewbox(els);
  EXPECT_EQ(els.front().attrs.at("font-family"), "sans-serif");

  const auto curves = with_class(els, "curve");
  ASSERT_EQ(curves.size(), 2u);
  EXPECT_EQ(count_points(*curves[0]), a.roc.fpr.size());
  EXPECT_EQ(count_points(*curves[1]), b.roc.fpr.size());
  EXPECT_TRUE(has_text(els, "untuned (AUC " + fmt("%.3f", a.auc) + ")"));
  EXPECT_TRUE(has_text(els, "tuned (AUC " + fmt("%.3f", b.auc) + ")"));
  EXPECT_TRUE(has_text(els, "chance (AUC 0.500)"));
  EXPECT_EQ(with_class(els, "operating-point").size(), 2u);
  const std::string label = "t=" + fmt("%.2f", a.point->threshold) + ": sens " + fmt("%.2f", a.point->tpr) + ", spec " +
                            fmt("%.2f", 1 - a.point->fpr);
  EXPECT_TRUE(has_text(els, label)) << label;

  int dashed_diagonals = 0;  // the chance line runs from (0, 0) to (1, 1): bottom-left to top-right
  for (const Element& e : els)
    if (e.name == "line" && e.attrs.count("stroke-dasharray") &&
        parse_number(e.attrs.at("x1")) < parse_number(e.attrs.at("x2")) &&
        parse_number(e.attrs.at("y1")) > parse_number(e.attrs.at("y2")))
      ++dashed_diagonals;
  EXPECT_EQ(dashed_diagonals, 1);
}

// An operating point near the right edge puts its label on the left, still inside the figure.
TEST(Plots, RocLabelStaysInsideNearTheEdge) {
  RocSeries r = series_from("m", {0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1});
  r.point = operating_point_at(r.roc, 0.05);  // everything positive: (fpr, tpr) = (1, 1)
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(roc_svg({r}), &els));
  expect_inside_viewbox(els);
  const auto labels = with_class(els, "operating-label");
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels[0]->attrs.at("text-anchor"), "end");
  EXPECT_EQ(labels[0]->text, "t=0.05: sens 1.00, spec 0.00");
}

TEST(Plots, ConfusionCountsPercentagesAndContrast) {
  const Confusion cm{380, 60, 10, 174};  // rows: normal 174 TN + 60 FP; pneumonia 10 FN + 380 TP
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(confusion_svg(cm, "test split"), &els));
  expect_inside_viewbox(els);
  EXPECT_EQ(with_class(els, "cell").size(), 4u);
  const auto counts = with_class(els, "count");
  ASSERT_EQ(counts.size(), 4u);
  // Row-major from the top-left: TN, FP, FN, TP.
  EXPECT_EQ(counts[0]->text, "174");
  EXPECT_EQ(counts[1]->text, "60");
  EXPECT_EQ(counts[2]->text, "10");
  EXPECT_EQ(counts[3]->text, "380");
  // Row percentages: 174/234 = 74.4%, 60/234 = 25.6%, 10/390 = 2.6%, 380/390 = 97.4%.
  const auto pct = with_class(els, "percent");
  ASSERT_EQ(pct.size(), 4u);
  EXPECT_EQ(pct[0]->text, "74.4% of row");
  EXPECT_EQ(pct[1]->text, "25.6% of row");
  EXPECT_EQ(pct[2]->text, "2.6% of row");
  EXPECT_EQ(pct[3]->text, "97.4% of row");
  // The dark TP cell (97%) gets white text, the pale FN cell (3%) dark text.
  EXPECT_EQ(counts[3]->attrs.at("fill"), "#ffffff");
  EXPECT_NE(counts[2]->attrs.at("fill"), "#ffffff");
  int normal = 0, pneumonia = 0;
  for (const Element& e : els) normal += e.text == "normal", pneumonia += e.text == "pneumonia";
  EXPECT_EQ(normal, 2);  // row and column
  EXPECT_EQ(pneumonia, 2);
  EXPECT_TRUE(has_text(els, "true"));
  EXPECT_TRUE(has_text(els, "predicted"));
}

TEST(Plots, ConfusionWithAnEmptyRowSaysNA) {
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(confusion_svg(Confusion{0, 3, 0, 7}, "no positives", {"healthy", "sick"}), &els));
  const auto pct = with_class(els, "percent");
  ASSERT_EQ(pct.size(), 4u);
  EXPECT_EQ(pct[2]->text, "n/a of row");
  EXPECT_TRUE(has_text(els, "sick"));
}

// ---- multi-class figures ---------------------------------------------------------------------------

// A K x K matrix of varied counts with one empty row; names long enough to slant at K = 14.
std::vector<std::vector<int64_t>> matrix(size_t k) {
  std::vector<std::vector<int64_t>> cm(k, std::vector<int64_t>(k));
  for (size_t r = 0; r < k; ++r)
    for (size_t c = 0; c < k; ++c) cm[r][c] = r == 1 ? 0 : static_cast<int64_t>(r == c ? 40 + 7 * r : (3 * r + c) % 5);
  return cm;
}

std::vector<std::string> chest_names() {
  return {"atelectasis",
          "cardiomegaly",
          "effusion",
          "infiltration",
          "mass",
          "nodule",
          "pneumonia",
          "pneumothorax",
          "consolidation",
          "edema",
          "emphysema",
          "fibrosis",
          "pleural & thickening",
          "hernia"};
}

TEST(Plots, ConfusionMatrixCellsCountsAndRowPercentages) {
  for (size_t k : {3u, 9u, 14u}) {
    SCOPED_TRACE("K = " + std::to_string(k));
    const auto cm = matrix(k);
    std::vector<std::string> names = chest_names();
    names.resize(k);
    const std::string svg = confusion_matrix_svg(cm, names, "test split");
    std::vector<Element> els;
    ASSERT_TRUE(parse_svg(svg, &els));
    expect_inside_viewbox(els);
    EXPECT_EQ(with_class(els, "cell").size(), k * k);
    const auto counts = with_class(els, "count");
    const auto pct = with_class(els, "percent");
    ASSERT_EQ(counts.size(), k * k);
    ASSERT_EQ(pct.size(), k * k);
    for (size_t r = 0; r < k; ++r) {
      int64_t row = 0;
      for (int64_t v : cm[r]) row += v;
      for (size_t c = 0; c < k; ++c) {
        const size_t i = r * k + c;  // row-major from the top-left
        EXPECT_EQ(counts[i]->text, std::to_string(cm[r][c]));
        EXPECT_EQ(pct[i]->text,
                  row > 0 ? fmt("%.1f%%", 100.0 * (static_cast<double>(cm[r][c]) / static_cast<double>(row))) : "n/a")
            << r << "," << c;
        // Text stays inside its cell: a count of up to 5 digits at this font size fits.
        const double cell = parse_number(with_class(els, "cell")[i]->attrs.at("width"));
        EXPECT_LE(0.6 * parse_number(counts[i]->attrs.at("font-size")) * 5, cell);
      }
    }
    // Each name once on a row and once on a column, escaped where it needs it.
    const auto rows = with_class(els, "row-name"), cols = with_class(els, "column-name");
    ASSERT_EQ(rows.size(), k);
    ASSERT_EQ(cols.size(), k);
    for (size_t i = 0; i < k; ++i) {
      EXPECT_EQ(rows[i]->text, xml_escape(names[i]));
      EXPECT_EQ(cols[i]->text, xml_escape(names[i]));
    }
    // Long names slant in the narrow cells of 9 and 14 classes; at 3 the cells are wide enough.
    EXPECT_EQ(cols[0]->attrs.count("transform"), k == 3 ? 0u : 1u);
    EXPECT_TRUE(has_text(els, "predicted"));
    EXPECT_TRUE(has_text(els, "true"));
    // The diagonal of a full row is darker than its off-diagonal cells: a single-hue scale.
    const auto cells = with_class(els, "cell");
    EXPECT_NE(cells[0]->attrs.at("fill"), cells[1]->attrs.at("fill"));
  }
}

TEST(Plots, ConfusionMatrixRejectsBadShapes) {
  EXPECT_THROW(confusion_matrix_svg({}, {}), Error);
  EXPECT_THROW(confusion_matrix_svg({{1, 2}, {3}}, {"a", "b"}), Error);
  EXPECT_THROW(confusion_matrix_svg({{1, 2}, {3, 4}}, {"a"}), Error);
  EXPECT_THROW(confusion_matrix_svg({{1, -2}, {3, 4}}, {"a", "b"}), Error);
}

// Fourteen per-class ROC curves (ChestMNIST-like labels): each drawn, each in the legend with its
// AUC, every (colour, dash) pair distinct, the legend beside the plot rather than over it.
TEST(Plots, FourteenRocCurvesStayDistinguishable) {
  const nlohmann::json g =
      nlohmann::json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/multiclass/fourteen_label.json"));
  const MultiEvaluation ev = evaluate_multilabel(g["probs"].get<std::vector<std::vector<double>>>(),
                                                 g["label"].get<std::vector<std::vector<int>>>(), {0, 0, 0.95});
  const auto series = class_roc_series(ev, chest_names());
  ASSERT_EQ(series.size(), 14u);
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(roc_svg(series, "ROC per label"), &els));
  expect_inside_viewbox(els);
  const auto curves = with_class(els, "curve");
  ASSERT_EQ(curves.size(), 14u);
  std::set<std::pair<std::string, std::string>> styles;
  for (size_t i = 0; i < 14; ++i) {
    EXPECT_EQ(count_points(*curves[i]), ev.per_class[i].roc.fpr.size());
    const std::string dash = curves[i]->attrs.count("stroke-dasharray") ? curves[i]->attrs.at("stroke-dasharray") : "";
    EXPECT_EQ(dash.empty(), i < 8) << "series " << i;
    EXPECT_NE(dash, "6 4") << "the chance line's pattern";
    styles.emplace(curves[i]->attrs.at("stroke"), dash);
    EXPECT_TRUE(has_text(els, xml_escape(chest_names()[i]) + " (AUC " + fmt("%.3f", ev.per_class[i].auc) + ")"));
  }
  EXPECT_EQ(styles.size(), 14u);
  // The legend's line samples repeat the curves' styles, and the legend box starts right of the plot.
  double plot_right = 0, legend_left = 1e9;
  for (const Element& e : els) {
    if (e.name == "rect" && e.attrs.count("stroke") && e.attrs.at("stroke") == "#1a1a1a")
      plot_right = parse_number(e.attrs.at("x")) + parse_number(e.attrs.at("width"));
    if (e.name == "rect" && e.attrs.count("fill-opacity")) legend_left = parse_number(e.attrs.at("x"));
  }
  EXPECT_GT(legend_left, plot_right);
}

TEST(Plots, ClassRocSeriesLeavesOutUndefinedClasses) {
  const nlohmann::json g =
      nlohmann::json::parse(io::read_file(std::string(LB_FIXTURES_DIR) + "/multiclass/multilabel_absent.json"));
  const MultiEvaluation ev = evaluate_multilabel(g["probs"].get<std::vector<std::vector<double>>>(),
                                                 g["label"].get<std::vector<std::vector<int>>>(), {0, 0, 0.95});
  const auto series = class_roc_series(ev);
  ASSERT_EQ(series.size(), ev.per_class.size() - static_cast<size_t>(ev.undefined_auc_classes));
  EXPECT_EQ(series[0].name, "class 0");
  EXPECT_EQ(series[0].auc, ev.per_class[0].auc);
  EXPECT_THROW(class_roc_series(ev, {"a", "b"}), Error);
}

TEST(Plots, CurvesPointsTicksMarkerAndGaps) {
  CurveSeries train{"train loss", {}, {}}, val{"val loss", {}, {}};
  for (int e = 1; e <= 20; ++e) {
    train.y.push_back(0.7 * std::exp(-0.15 * e) + 0.05);
    val.y.push_back(e == 5 ? std::numeric_limits<double>::quiet_NaN() : 0.6 * std::exp(-0.1 * e) + 0.15);
  }
  CurvesOptions opt;
  opt.title = "loss";
  opt.y_label = "cross-entropy";
  opt.marker_x = 12;
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(curves_svg({train, val}, opt), &els));
  expect_inside_viewbox(els);
  const auto curves = with_class(els, "curve");
  ASSERT_EQ(curves.size(), 3u);  // train; val split in two by the NaN at epoch 5
  EXPECT_EQ(count_points(*curves[0]), 20u);
  EXPECT_EQ(count_points(*curves[1]) + count_points(*curves[2]), 19u);
  EXPECT_EQ(with_class(els, "point").size(), 39u);
  EXPECT_EQ(with_class(els, "marker").size(), 1u);
  EXPECT_TRUE(has_text(els, "best 12"));
  EXPECT_TRUE(has_text(els, "train loss"));
  EXPECT_TRUE(has_text(els, "val loss"));
  for (const char* tick : {"0", "5", "10", "15", "20"}) EXPECT_TRUE(has_text(els, tick)) << tick;
}

TEST(Plots, ShortRunsGetWholeEpochTicksAndNamesAreEscaped) {
  CurveSeries s{"val <AUC> & \"ACC\"", {0.91, 0.93, 0.95}, {}};
  const std::string svg = curves_svg({s});
  std::vector<Element> els;
  ASSERT_TRUE(parse_svg(svg, &els));
  EXPECT_NE(svg.find("val &lt;AUC&gt; &amp; &quot;ACC&quot;"), std::string::npos);
  EXPECT_FALSE(has_text(els, "1.5"));            // 3 epochs must not produce half-epoch ticks
  EXPECT_TRUE(parse_svg(curves_svg({}), &els));  // no series: an empty frame, still valid
}

TEST(Plots, SaveSvgWritesTheWholeFile) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("lb_plot_" + std::to_string(::getpid()) + ".svg")).string();
  const std::string svg = confusion_svg(Confusion{5, 1, 2, 7});
  save_svg(path, svg);
  EXPECT_EQ(io::read_file(path), svg);
  std::filesystem::remove(path);
  EXPECT_THROW(save_svg("/nonexistent-folder/x.svg", svg), Error);
}

}  // namespace
}  // namespace lb::eval
