// assess_report.cc: see assess_report.h.
#include "tools/cli/assess_report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace lb::cli {

namespace {

using nlohmann::json;

std::string cell(const json& v, int precision = 3) {
  if (v.is_null()) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v.get<double>();
  return os.str();
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

// ---- curves_svg's steps ---------------------------------------------------------------------------
// Two panels side by side, deletion and insertion, each w x h pixels, `left` of room for the
// y ticks before each, `top` above for the title, `gap` between them.
struct PanelGeometry {
  double w = 300, h = 220, left = 45, top = 30, gap = 60;
};
const PanelGeometry kPanel;

// One y range for both panels: the extent of every curve, real and random order, of every method.
void curves_range(const json& r, const std::vector<std::string>& methods, double& lo, double& hi) {
  lo = 1e300, hi = -1e300;
  for (const auto& m : methods)
    for (const char* key : {"deletion", "insertion", "deletion_random", "insertion_random"})
      for (double v : r["methods"][m]["curves"][key].get<std::vector<double>>())
        lo = std::min(lo, v), hi = std::max(hi, v);
  if (!(hi > lo)) lo -= 1, hi += 1;
}

// A panel's title, frame, x ticks and label (the fraction removed or inserted), and y ticks.
void panel_axes(std::ostream& s, const json& r, const std::string& kind, double x0, double lo, double hi) {
  const double pw = kPanel.w, ph = kPanel.h, y0 = kPanel.top;
  s << "<text x=\"" << x0 + pw / 2 << "\" y=\"18\" text-anchor=\"middle\">" << kind
    << " (mean over images; dashed: random order)</text>\n";
  s << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int t = 0; t <= 4; ++t) {
    const double v = t / 4.0;
    s << "<text x=\"" << x0 + v * pw << "\" y=\"" << y0 + ph + 15 << "\" text-anchor=\"middle\">" << v << "</text>\n";
  }
  s << "<text x=\"" << x0 + pw / 2 << "\" y=\"" << y0 + ph + 30 << "\" text-anchor=\"middle\">fraction of "
    << (r["layer"] == "input" ? "pixels" : "layer cells") << (kind == "deletion" ? " removed" : " inserted")
    << "</text>\n";
  for (int t = 0; t <= 4; ++t)
    s << "<text x=\"" << x0 - 5 << "\" y=\"" << y0 + ph - t / 4.0 * ph + 4 << "\" text-anchor=\"end\">"
      << lo + (hi - lo) * t / 4.0 << "</text>\n";
}

// Each method's mean curve of one kind (solid) and its random-order twin (dashed), in its colour.
void panel_curves(std::ostream& s, const json& r, const std::vector<std::string>& methods, const std::string& kind,
                  double x0, double lo, double hi) {
  const double pw = kPanel.w, ph = kPanel.h, y0 = kPanel.top;
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    const json& c = r["methods"][methods[mi]]["curves"];
    const auto fr = c["fraction"].get<std::vector<double>>();
    for (int rnd = 0; rnd < 2; ++rnd) {
      const auto y = c[kind + (rnd ? "_random" : "")].get<std::vector<double>>();
      s << "<polyline fill=\"none\" stroke=\"" << kColors[mi % 5] << "\" stroke-width=\"" << (rnd ? 1 : 2) << "\""
        << (rnd ? " stroke-dasharray=\"4,3\"" : "") << " points=\"";
      for (size_t i = 0; i < fr.size() && i < y.size(); ++i)
        s << x0 + fr[i] * pw << "," << y0 + ph - (y[i] - lo) / (hi - lo) * ph << " ";
      s << "\"/>\n";
    }
  }
}

}  // namespace

void print_assessment(const json& r, const std::vector<std::string>& methods, std::ostream& os) {
  os << "assess: " << r["images"] << " images of " << r["data"].get<std::string>() << " ("
     << r["split"].get<std::string>() << "), at " << r["layer"].get<std::string>() << "\n";
  os << std::left << std::setw(10) << "method" << std::right << std::setw(7) << "share" << std::setw(7) << "point"
     << std::setw(7) << "auc" << std::setw(16) << "deletion(rand)" << std::setw(17) << "insertion(rand)" << std::setw(8)
     << "gap" << std::setw(9) << "s/img"
     << "\n";
  for (const auto& m : methods) {
    const json& s = r["methods"][m];
    const json& l = s["localisation"];
    const json& f = s["faithfulness"];
    os << std::left << std::setw(10) << m << std::right << std::setw(7) << cell(l["share"]) << std::setw(7)
       << cell(l["pointing"]) << std::setw(7) << cell(l["auc"]) << std::setw(16)
       << (cell(f["deletion_auc"]) + " (" + cell(f["deletion_auc_random"]) + ")") << std::setw(17)
       << (cell(f["insertion_auc"]) + " (" + cell(f["insertion_auc_random"]) + ")") << std::setw(8)
       << cell(f["completeness_gap_rel"]) << std::setw(9) << cell(s["seconds_per_image"], 2) << "\n";
  }
  os << "share/point/auc: lesion localisation (" << r["methods"][methods[0]]["localisation"]["images"]
     << " images with masks); deletion: lower is better, insertion: higher; gap: median over images of |completeness "
        "gap| / |f(x) - expected|\n";
  const json& san = r["sanity"];
  if (san.contains("cascade") || san.contains("labels")) {
    os << "sanity (Spearman rho of |maps| vs the trained model's, SSIM in brackets; pass: rho < "
       << san["pass_below_spearman"].get<double>() << " at the end), " << san["images"] << " images\n";
    for (const auto& m : methods) {
      os << std::left << std::setw(10) << m << std::right;
      if (san.contains("cascade")) {
        for (const auto& st : san["cascade"][m]["steps"])
          os << "  " << st["stage"].get<std::string>() << " " << cell(st["spearman"], 2) << " (" << cell(st["ssim"], 2)
             << ")";
        os << (san["cascade"][m]["pass"].get<bool>() ? "  pass" : "  FAIL");
      }
      if (san.contains("labels")) {
        const json& l = san["labels"][m];
        os << "  labels " << cell(l["spearman"], 2) << " (" << cell(l["ssim"], 2) << ")"
           << (l["pass"].get<bool>() ? " pass" : " FAIL");
      }
      os << "\n";
    }
  }
}

std::string curves_svg(const json& r, const std::vector<std::string>& methods) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << 2 * kPanel.w + 2 * kPanel.left + kPanel.gap
    << "\" height=\"" << kPanel.h + kPanel.top + 70
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  double lo = 0, hi = 0;
  curves_range(r, methods, lo, hi);
  const char* kinds[2] = {"deletion", "insertion"};
  for (int p = 0; p < 2; ++p) {
    const double x0 = kPanel.left + p * (kPanel.w + kPanel.gap);
    panel_axes(s, r, kinds[p], x0, lo, hi);
    panel_curves(s, r, methods, kinds[p], x0, lo, hi);
  }
  for (size_t mi = 0; mi < methods.size(); ++mi)
    s << "<text x=\"" << kPanel.left + mi * 110 << "\" y=\"" << kPanel.h + kPanel.top + 60 << "\" fill=\""
      << kColors[mi % 5] << "\">" << methods[mi] << "</text>\n";
  s << "<text x=\"" << kPanel.left + methods.size() * 110 << "\" y=\"" << kPanel.h + kPanel.top + 60
    << "\">y: log-odds of the predicted class</text>\n</svg>\n";
  return s.str();
}

}  // namespace lb::cli
