// report_html.cc: see report_html.h.
#include "tools/cli/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/common.h"
#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "explain/colorvision.h"
#include "explain/render.h"
#include "models/checkpoint.h"
#include "models/evaluate/plots.h"

namespace lb::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string esc(const std::string& s) { return eval::xml_escape(s); }

std::string fmt(const json& v, int decimals = 3) {
  if (!v.is_number()) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v.get<double>());
  return b;
}

std::string pct(double v) {
  if (!std::isfinite(v)) return "n/a";
  char b[16];
  std::snprintf(b, sizeof b, "%.0f%%", 100 * v);
  return b;
}

std::string sig(const json& v) {
  if (!v.is_number()) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v.get<double>());
  return b;
}

json read_json_if(const fs::path& p) { return fs::exists(p) ? json::parse(io::read_file(p.string())) : json(); }

// An SVG file as an <img> (inline, base64).
std::string svg_img(const fs::path& p, const std::string& alt, const std::string& cls = "fig") {
  if (!fs::exists(p)) return "<p class=\"missing\">(" + esc(p.string()) + " is missing)</p>";
  return "<img class=\"" + cls + "\" alt=\"" + esc(alt) + "\" src=\"data:image/svg+xml;base64," +
         explain::base64(io::read_file(p.string())) + "\">";
}

std::string png_img(const Tensor& rgb, const std::string& alt, int display) {
  return "<img class=\"px\" alt=\"" + esc(alt) + "\" width=\"" + std::to_string(display) + "\" src=\"" +
         explain::png_data_uri(rgb) + "\">";
}

// The runs in RUN_DIR: itself if it holds history.json, else its sub-folders that do.
std::vector<fs::path> find_runs(const fs::path& dir) {
  if (fs::exists(dir / "history.json")) return {dir};
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "history.json")) runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  return runs;
}

std::string run_name(const fs::path& run, const fs::path& dir) {
  return run == dir ? dir.filename().string() : run.filename().string();
}

// Samples per class (positives per label for a multi-label set) in each split.
void class_table(std::ostringstream& h, const data::Dataset& ds, const std::vector<std::string>& names) {
  h << "<table><tr><th>split</th>";
  for (int64_t k = 0; k < ds.num_classes; ++k) h << "<th>" << esc(names[k]) << " (" << k << ")</th>";
  h << "</tr>\n";
  for (const char* name : {"train", "val", "test"}) {
    const data::Split& s = ds.split(name);
    h << "<tr><td>" << name << "</td>";
    for (int64_t count : s.class_counts(ds.num_classes))
      h << "<td>" << count << " (" << pct(static_cast<double>(count) / std::max<int64_t>(1, s.size())) << ")</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
}

// Up to four training images of class (or with label) `cls`, as they are stored (grey or colour).
void example_row(std::ostringstream& h, const data::Split& tr, int64_t cls, const std::string& name) {
  h << "<div class=\"row\"><span class=\"lab\">" << esc(name) << "</span>";
  const int64_t H = tr.height(), W = tr.width(), C = tr.channels();
  const int64_t* y = tr.labels.data<int64_t>();
  int shown = 0;
  for (int64_t i = 0; i < tr.size() && shown < 4; ++i) {
    const bool member = tr.multilabel() ? y[i * tr.labels.size(1) + cls] == 1 : y[i] == cls;
    if (!member) continue;
    Tensor rgb = Tensor::empty({H, W, 3}, DType::UInt8);
    const uint8_t* src = tr.images.data<uint8_t>() + i * H * W * C;  // (H, W, C)
    for (int64_t p = 0; p < H * W; ++p)
      for (int c = 0; c < 3; ++c) rgb.data<uint8_t>()[3 * p + c] = src[p * C + (C == 3 ? c : 0)];
    h << png_img(rgb, name + " training image " + std::to_string(i), 112);
    ++shown;
  }
  h << "</div>\n";
}

void data_section(std::ostringstream& h, const std::string& data_path) {
  h << "<section id=\"data\"><h2>1. Data</h2>\n";
  if (data_path.empty() || !fs::exists(data_path)) {
    h << "<p class=\"missing\">The dataset (" << esc(data_path) << ") was not found; pass --data.</p></section>\n";
    return;
  }
  const data::Dataset ds = data::load_medmnist(data_path);
  const std::vector<std::string> names = models::default_class_names(data_path, ds.num_classes);
  h << "<p>" << esc(data_path) << ": " << esc(fs::path(data_path).stem().string()) << " (MedMNIST v2, CC BY 4.0), "
    << data::task_name(ds.task) << ", " << ds.train.size() << "/" << ds.val.size() << "/" << ds.test.size()
    << " train/val/test images of " << ds.train.height() << "x" << ds.train.width() << ", " << ds.train.channels()
    << " channel(s).</p>\n";
  class_table(h, ds, names);
  h << "<p>The first four training images of " << (ds.num_classes > 4 ? "the first four classes" : "each class")
    << (ds.task == data::Task::MultiLabel ? " (images carrying that label)" : "") << ":</p>\n";
  for (int64_t cls = 0; cls < std::min<int64_t>(ds.num_classes, 4); ++cls) example_row(h, ds.train, cls, names[cls]);
  h << "</section>\n";
}

void training_section(std::ostringstream& h, const std::vector<fs::path>& runs, const fs::path& dir) {
  h << "<section id=\"training\"><h2>2. Training</h2>\n";
  for (const auto& run : runs) {
    const json cfg = read_json_if(run / "config.json");
    h << "<h3>" << esc(run_name(run, dir)) << "</h3>\n<p class=\"cfg\">";
    for (const char* k : {"optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "schedule", "augment",
                          "init", "train_only", "seed"})
      if (cfg.contains(k))
        h << "<b>" << k << "</b> " << esc(cfg[k].is_string() ? cfg[k].get<std::string>() : cfg[k].dump()) << " &nbsp; ";
    h << "</p>\n<div class=\"row\">" << svg_img(run / "figures/loss.svg", "loss curves")
      << svg_img(run / "figures/val_metrics.svg", "accuracy and AUC curves") << "</div>\n";
  }
  h << "</section>\n";
}

std::string with_ci(const json& ev, const std::string& name, const json& value) {
  std::string s = fmt(value);
  if (ev.contains("intervals") && ev["intervals"].contains(name)) {
    const json& ci = ev["intervals"][name];
    s += " <span class=\"ci\">[" + fmt(ci["lo"]) + ", " + fmt(ci["hi"]) + "]</span>";
  }
  return s;
}

// A multi-class or multi-label model's classes, one-vs-rest (metrics.json's "multi").
void per_class_table(std::ostringstream& h, const json& m, const std::string& run) {
  if (m.is_null() || !m.contains("multi")) return;
  const json& mu = m["multi"];
  h << "<h3>" << esc(run) << ": per " << (mu.value("task", "") == "multi-label" ? "label" : "class (one-vs-rest)")
    << "</h3>\n<table><tr><th>class</th><th>positives</th><th>AUC</th><th>sensitivity</th><th>specificity</th>"
       "<th>PPV</th><th>F1</th></tr>\n";
  const json& pc = mu["per_class"];
  for (size_t k = 0; k < pc.size(); ++k) {
    const json& c = pc[k];
    const std::string name = m.contains("class_names") && k < m["class_names"].size()
                                 ? m["class_names"][k].get<std::string>()
                                 : "class " + std::to_string(k);
    h << "<tr><td>" << esc(name) << "</td><td>" << c.value("positives", 0) << "</td><td>" << fmt(c["auc"]) << "</td>";
    for (const char* key : {"sensitivity", "specificity", "ppv", "f1"})
      h << "<td>" << fmt(c["metrics"][key]) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
}

void metrics_section(std::ostringstream& h, const std::vector<fs::path>& runs, const fs::path& dir) {
  h << "<section id=\"metrics\"><h2>3. Test metrics</h2>\n<p>At the threshold chosen on val (Youden's J), never on "
       "test; "
       "95% bootstrap CIs in brackets where "
       "computed. Multi-class and multi-label models predict by argmax or p &gt; 0.5 per label; their threshold "
       "column names the task and their classes follow "
       "one-vs-rest.</p>\n<table><tr><th>model</th><th>threshold</th><th>AUC</th><th>accuracy</th>"
       "<th>sensitivity</th><th>specificity</th><th>PPV</th><th>NPV</th><th>F1</th><th>TP/FP/FN/TN</th></tr>\n";
  for (const auto& run : runs) {
    const json m = read_json_if(run / "eval-test/metrics.json");
    if (m.is_null()) {
      h << "<tr><td>" << esc(run_name(run, dir))
        << "</td><td colspan=\"9\" class=\"missing\">no eval-test/metrics.json: run lightbox eval --run</td></tr>\n";
      continue;
    }
    if (m.contains("multi")) {
      const json& mu = m["multi"];
      h << "<tr><td>" << esc(run_name(run, dir)) << "</td><td>" << esc(m.value("task", "")) << "</td><td>"
        << with_ci(mu, "auc", mu["auc"])
        << (mu.value("undefined_auc_classes", 0) > 0
                ? " <span class=\"ci\">(" + std::to_string(mu["undefined_auc_classes"].get<int64_t>()) +
                      " class(es) without both sides left out)</span>"
                : std::string())
        << "</td><td>" << with_ci(mu, "accuracy", mu["accuracy"])
        << "</td><td colspan=\"6\">per class below</td></tr>\n";
      continue;
    }
    const json& ev = m["at_val_threshold"];
    const json& cm = ev["confusion"];
    h << "<tr><td>" << esc(run_name(run, dir)) << "</td><td>" << fmt(ev["threshold"]) << "</td><td>"
      << with_ci(ev, "auc", ev["auc"]) << "</td>";
    for (const char* k : {"accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"})
      h << "<td>" << with_ci(ev, k, ev["metrics"][k]) << "</td>";
    h << "<td>" << cm["tp"] << "/" << cm["fp"] << "/" << cm["fn"] << "/" << cm["tn"] << "</td></tr>\n";
  }
  h << "</table>\n";
  for (const auto& run : runs) per_class_table(h, read_json_if(run / "eval-test/metrics.json"), run_name(run, dir));
  for (const auto& run : runs)
    h << "<h3>" << esc(run_name(run, dir)) << "</h3><div class=\"row\">"
      << svg_img(run / "eval-test/roc.svg", "ROC curve") << svg_img(run / "eval-test/confusion.svg", "confusion matrix")
      << "</div>\n";
  h << "</section>\n";
}

// compare.json of a binary task: McNemar, DeLong and the seed's chi-squared rows.
void binary_comparison_rows(std::ostringstream& h, const json& c) {
  const json& mc = c["mcnemar"];
  h << "<tr><td>McNemar (exact)</td><td>" << sig(mc["statistic"]) << "</td><td>" << sig(mc["p_value"])
    << "</td><td>A right, B wrong: " << mc["b_a_right_b_wrong"] << "; A wrong, B right: " << mc["c_a_wrong_b_right"]
    << "</td></tr>\n";
  const json& dl = c["delong"];
  h << "<tr><td>DeLong (AUC)</td><td>z = " << sig(dl["z"]) << "</td><td>" << sig(dl["p_value"]) << "</td><td>AUC "
    << fmt(dl["auc_a"]) << " vs " << fmt(dl["auc_b"]) << ", difference " << fmt(dl["diff"]);
  if (dl.contains("ci95") && dl["ci95"].is_array())
    h << " [" << fmt(dl["ci95"][0]) << ", " << fmt(dl["ci95"][1]) << "]";
  h << "</td></tr>\n";
  const json& ch = c["chi2_confusion_2x4"];
  h << "<tr><td>chi-squared (2x4 confusion tables)</td><td>" << sig(ch["statistic"]) << "</td><td>"
    << sig(ch["p_value"]) << "</td><td>dof " << ch.value("dof", 0) << "</td></tr>\n</table>\n";
}

// compare.json of a multi-class or multi-label task: McNemar on correctness and DeLong per class.
void multi_comparison_rows(std::ostringstream& h, const json& c) {
  if (c.contains("mcnemar")) {
    const json& mc = c["mcnemar"];
    h << "<tr><td>McNemar (exact, argmax = label)</td><td>" << sig(mc["statistic"]) << "</td><td>" << sig(mc["p_value"])
      << "</td><td>A right, B wrong: " << mc["b_a_right_b_wrong"] << "; A wrong, B right: " << mc["c_a_wrong_b_right"]
      << "</td></tr>\n";
  }
  for (const json& pc : c["per_class"]) {
    const json& dl = pc["delong"];
    h << "<tr><td>DeLong, " << esc(pc.value("name", "")) << "</td><td>z = " << sig(dl["z"]) << "</td><td>"
      << sig(dl["p_value"]) << "</td><td>AUC " << fmt(dl["auc_a"]) << " vs " << fmt(dl["auc_b"]);
    if (pc.contains("mcnemar")) h << "; McNemar on this label p = " << sig(pc["mcnemar"]["p_value"]);
    if (dl.contains("error")) h << " (" << esc(dl["error"].get<std::string>()) << ")";
    h << "</td></tr>\n";
  }
  h << "</table>\n";
}

void comparison_section(std::ostringstream& h, const fs::path& dir) {
  const json c = read_json_if(dir / "compare/compare.json");
  h << "<section id=\"comparison\"><h2>4. Comparison</h2>\n";
  if (c.is_null()) {
    h << "<p class=\"missing\">No compare/compare.json: run lightbox compare A B --out "
      << esc((dir / "compare").string()) << "</p>\n";
  } else {
    h << "<p>A = " << esc(c.value("a", "")) << ", B = " << esc(c.value("b", "")) << ", on the "
      << esc(c.value("split", "test"))
      << " split. McNemar's exact test is the paired test (both models see the same images); DeLong compares the AUCs; "
         "the seed report's chi-squared on the two confusion tables is shown for comparison, though it ignores the "
         "pairing.</p>\n"
         "<table><tr><th>test</th><th>statistic</th><th>p-value</th><th>detail</th></tr>\n";
    if (c.contains("per_class"))
      multi_comparison_rows(h, c);
    else
      binary_comparison_rows(h, c);
  }
  // explanation agreement (compare --explain)
  std::vector<fs::path> agree;
  if (fs::exists(dir / "compare/explain"))
    for (const auto& e : fs::directory_iterator(dir / "compare/explain"))
      if (fs::exists(e.path() / "agreement.json")) agree.push_back(e.path());
  std::sort(agree.begin(), agree.end());
  if (!agree.empty()) {
    h << "<h3>Do the two models look at the same pixels?</h3>\n<p>The same test images explained under both "
         "checkpoints. "
         "Spearman: rank correlation of the two attribution maps over the pixels (1 = same ordering). Top-10%: the "
         "share of "
         "the 10% most important pixels (by |attribution|) that both maps pick (chance is about 10%). Output: the "
         "positive class.</p>\n"
         "<table><tr><th>explanation</th><th>mean Spearman</th><th>mean top-10% overlap</th><th>per image (cell: "
         "Spearman / overlap)</th></tr>\n";
    for (const auto& p : agree) {
      const json a = read_json_if(p / "agreement.json");
      h << "<tr><td>" << esc(a.value("name", p.filename().string())) << "</td><td>" << fmt(a["mean_spearman"])
        << "</td><td>" << pct(a["mean_top_k_overlap"].is_number() ? a["mean_top_k_overlap"].get<double>() : NAN)
        << "</td><td>";
      for (const auto& s : a["samples"])
        h << esc(s.value("cell", "#" + std::to_string(s.value("index", 0)))) << ": " << fmt(s["spearman"], 2) << " / "
          << pct(s["top_k_overlap"].get<double>()) << " &nbsp; ";
      h << "</td></tr>\n";
    }
    h << "</table>\n";
    h << "<div class=\"row\">";
    for (const auto& p : agree)
      h << svg_img(p / "difference.svg", "difference of explanations " + p.filename().string(), "fig wide");
    h << "</div>\n";
  }
  h << "</section>\n";
}

void explanations_section(std::ostringstream& h, const fs::path& dir) {
  h << "<section id=\"explanations\"><h2>5. Explanations</h2>\n<p>Colour: blue-orange (blue = evidence against the "
       "output, "
       "orange = evidence for it; darker = stronger), chosen to stay readable with red-green and blue-yellow colour "
       "blindness. "
       "Under each map: the sum of positive and of negative attributions, their net, the completeness gap (how far an "
       "estimate "
       "is from f(x) - E f(x); about 0 for exact methods), and the share of |attribution| inside the dashed lung "
       "fields next to "
       "the share of the image they cover. The colourbar as readers with each colour-vision deficiency see it "
       "(Machado et al. 2009):</p>\n<div class=\"row\">";
  const int64_t w = 256, hh = 14;
  for (const char* d : {"none", "protanopia", "deuteranopia", "tritanopia"}) {
    Tensor strip = Tensor::empty({hh, w, 3}, DType::UInt8);
    for (int64_t j = 0; j < w; ++j) {
      const explain::Rgb c = explain::simulate(
          explain::colormap_at(explain::Colormap::BlueOrange, -1 + 2.0 * (j + 0.5) / w), explain::parse_deficiency(d));
      for (int64_t i = 0; i < hh; ++i) {
        uint8_t* p = strip.data<uint8_t>() + (i * w + j) * 3;
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
      }
    }
    h << "<figure class=\"strip\">" << png_img(strip, std::string("colourbar, ") + d, 256) << "<figcaption>"
      << (std::string(d) == "none" ? "normal vision" : d) << "</figcaption></figure>";
  }
  h << "</div>\n";
  std::vector<fs::path> found;
  if (fs::exists(dir / "explain"))
    for (const auto& e : fs::recursive_directory_iterator(dir / "explain"))
      if (e.path().filename() == "summary.json" && fs::exists(e.path().parent_path() / "figure.svg"))
        found.push_back(e.path().parent_path());
  // grouped by method (the folder name), the models side by side
  std::stable_sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename() != b.filename() ? a.filename() < b.filename() : a < b;
  });
  h << "<div class=\"exs\">";
  if (found.empty())
    h << "<p class=\"missing\">No explanations under " << esc((dir / "explain").string())
      << ": run lightbox explain --out there.</p>\n";
  for (const auto& p : found) {
    const json s = read_json_if(p / "summary.json");
    const std::string rel = fs::relative(p, dir / "explain").string();
    h << "<div class=\"ex\"><h3 id=\"ex-" << esc(rel) << "\">" << esc(rel) << ": " << esc(s.value("title", ""))
      << "</h3>\n"
      << svg_img(p / "figure.svg", "attributions " + rel, "full") << "\n";
    h << "<table "
         "class=\"small\"><tr><th>sample</th><th>output</th><th>f(x)</th><th>reference</th><th>for</th><th>against</"
         "th><th>net</th>"
         "<th>gap</th><th>in lungs</th></tr>\n";
    const auto names = s.value("output_names", std::vector<std::string>{});
    for (const auto& smp : s["samples"]) {
      const std::string who = smp.contains("cell")
                                  ? smp["cell"].get<std::string>() + " #" + std::to_string(smp["index"].get<int64_t>())
                                  : "#" + std::to_string(smp.value("index", 0));
      for (size_t k = 0; k < smp["numbers"].size(); ++k) {
        const json& c = smp["numbers"][k];
        h << "<tr><td>" << esc(who) << "</td><td>" << esc(k < names.size() ? names[k] : std::to_string(k))
          << "</td><td>" << sig(c["output"]) << "</td><td>" << sig(c["expected"]) << "</td><td>" << sig(c["positive"])
          << "</td><td>" << sig(c["negative"]) << "</td><td>" << sig(c["net"]) << "</td><td>" << sig(c["gap"])
          << "</td><td>" << pct(c["lung_share"].is_number() ? c["lung_share"].get<double>() : NAN) << " (area "
          << pct(c["lung_area"].get<double>()) << ")</td></tr>\n";
      }
    }
    h << "</table></div>\n";
  }
  h << "</div></section>\n";
}

const char* kStyle = R"(body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
h2{border-bottom:2px solid #0072b2;padding-bottom:.2em;margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}td:first-child,th:first-child{text-align:left}
th{background:#eef3f8}.ci{color:#555;font-size:90%}.missing{color:#a00}.row{display:flex;flex-wrap:wrap;gap:1em;align-items:center}
img.fig{max-width:calc(50% - 1em);height:auto}img.wide{max-width:calc(50% - 1em)}img.px{image-rendering:pixelated;border:1px solid #999}
.lab{width:6em;font-weight:bold}.cfg{font-size:90%}table.small{font-size:85%}figure.strip{margin:0}
figcaption{font-size:85%;text-align:center}.exs{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}.ex{min-width:0}img.full{width:100%;height:auto}nav a{margin-right:1em})";

// Marks <body> once everything has loaded: data-status "ok" or "broken:N", data-images, data-errors.
const char* kCheck = R"(<script>
var lbErrors=0;window.addEventListener('error',function(){lbErrors++;document.body.setAttribute('data-errors',lbErrors);},true);
window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);});
document.body.setAttribute('data-images',imgs.length);document.body.setAttribute('data-errors',lbErrors);
document.body.setAttribute('data-status',bad.length?'broken:'+bad.length:'ok');});
</script>)";

}  // namespace

std::string build_report_html(const std::string& run_dir, const std::string& data_override) {
  const fs::path dir = fs::path(run_dir).lexically_normal();
  LB_CHECK(fs::is_directory(dir),
           "report: " << run_dir << " is not a folder; give a run folder (lightbox train/demo --out)");
  const std::vector<fs::path> runs = find_runs(dir);
  LB_CHECK(!runs.empty(), "report: no history.json in " << run_dir << " or its sub-folders; train a model there first");
  std::string data = data_override;
  if (data.empty())
    data = read_json_if(runs.front() / "config.json").value("data", std::string("data/pneumoniamnist.npz"));
  std::ostringstream h;
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  h << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lightbox report: " << esc(dir.string())
    << "</title>\n<style>" << kStyle << "</style>\n"
    << kCheck << "</head>\n<body data-status=\"loading\">\n";
  h << "<h1>lightbox report: " << esc(dir.filename().string())
    << "</h1>\n<p>ResNet18 on PneumoniaMNIST, trained, evaluated and "
       "explained by lightbox 0.1.0; made "
    << when << " from " << esc(dir.string()) << ". Every number below is read from the run's files.</p>\n";
  h << "<nav><a href=\"#data\">data</a><a href=\"#training\">training</a><a href=\"#metrics\">metrics</a><a "
       "href=\"#comparison\">comparison</a>"
       "<a href=\"#explanations\">explanations</a></nav>\n";
  data_section(h, data);
  training_section(h, runs, dir);
  metrics_section(h, runs, dir);
  comparison_section(h, dir);
  explanations_section(h, dir);
  h << "</body></html>\n";
  return h.str();
}

std::string write_report(const std::string& run_dir, const std::string& data_override) {
  const std::string html = build_report_html(run_dir, data_override);
  const std::string path = (fs::path(run_dir) / "report.html").string();
  io::write_file_atomic(path, html);
  return path;
}

}  // namespace lb::cli
