// report_text.cc: see report_text.h.
#include "tools/cli/report_text.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>

#include "engine/io/file.h"
#include "models/evaluate/plots.h"
#include "models/train.h"

namespace lb::cli {

namespace {

std::string fmt(const char* f, double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string with_ci(const std::map<std::string, eval::Interval>& intervals, const std::string& key, double v) {
  auto it = intervals.find(key);
  std::string s = fmt("%.4f", v);
  if (it != intervals.end() && std::isfinite(it->second.lo))
    s += " [" + fmt("%.3f", it->second.lo) + ", " + fmt("%.3f", it->second.hi) + "]";
  return s;
}

std::string with_ci(const eval::Evaluation& e, const std::string& key, double v) {
  return with_ci(e.intervals, key, v);
}

// MedMNIST's ACC and AUC, then every class one-vs-rest; the K x K table of a multi-class model.
void print_multi_evaluation(const eval::ModelEvaluation& ev, const std::vector<std::string>& names, std::ostream& os) {
  const eval::MultiEvaluation& m = ev.multi;
  char line[256];
  std::snprintf(line, sizeof line, "%s: %lld images, %s, %lld %s; loss %.4f\n", ev.split.c_str(), (long long)m.n,
                data::task_name(ev.task), (long long)m.classes, m.multilabel ? "labels" : "classes",
                ev.predictions.loss);
  os << line << "accuracy  " << with_ci(m.intervals, "accuracy", m.accuracy)
     << (m.multilabel ? "  (mean over labels at p > 0.5)\n" : "  (argmax)\n");
  os << "auc       " << with_ci(m.intervals, "auc", m.auc) << "  (mean one-vs-rest"
     << (m.undefined_auc_classes > 0 ? ", " + std::to_string(m.undefined_auc_classes) +
                                           " class(es) left out: one side"
                                           " missing from this split"
                                     : std::string())
     << ")\n";
  std::snprintf(line, sizeof line, "%-28s %9s %9s %8s %11s %11s\n", "class", "positives", "negatives", "auc",
                "sensitivity", "specificity");
  os << line;
  for (size_t k = 0; k < m.per_class.size(); ++k) {
    const eval::PerClassResult& c = m.per_class[k];
    const std::string name = k < names.size() ? names[k] : "class " + std::to_string(k);
    std::snprintf(line, sizeof line, "%-28.28s %9lld %9lld %8s %11s %11s\n", name.c_str(), (long long)c.positives,
                  (long long)c.negatives, fmt("%.4f", c.auc).c_str(), fmt("%.4f", c.metrics.sensitivity).c_str(),
                  fmt("%.4f", c.metrics.specificity).c_str());
    os << line;
  }
  if (m.multilabel) return;
  os << "confusion (rows: true class, columns: predicted)\n";
  for (const auto& row : m.confusion) {
    for (int64_t v : row) os << " " << std::setw(6) << v;
    os << "\n";
  }
}

}  // namespace

void print_evaluation(const eval::ModelEvaluation& ev, const std::vector<std::string>& names, std::ostream& os) {
  if (!ev.binary()) return print_multi_evaluation(ev, names, os);
  const auto& a = ev.at_half;
  const auto& b = ev.at_val_threshold;
  char head[256];
  std::snprintf(head, sizeof head, "%s: %lld images (%s %lld, %s %lld); loss %.4f\n", ev.split.c_str(), (long long)a.n,
                names.size() > 1 ? names[1].c_str() : "1", (long long)a.positives,
                names.empty() ? "0" : names[0].c_str(), (long long)a.negatives, ev.predictions.loss);
  os << head;
  std::snprintf(head, sizeof head, "%-18s %-28s %-28s\n", "", "threshold 0.5",
                ("threshold " + fmt("%.3f", b.threshold) + " (Youden on val)").c_str());
  os << head;
  const std::vector<std::pair<std::string, std::pair<double, double>>> rows = {
      {"accuracy", {a.metrics.accuracy, b.metrics.accuracy}},
      {"auc", {a.auc, b.auc}},
      {"sensitivity", {a.metrics.sensitivity, b.metrics.sensitivity}},
      {"specificity", {a.metrics.specificity, b.metrics.specificity}},
      {"ppv", {a.metrics.ppv, b.metrics.ppv}},
      {"npv", {a.metrics.npv, b.metrics.npv}},
      {"f1", {a.metrics.f1, b.metrics.f1}},
      {"balanced_accuracy", {a.metrics.balanced_accuracy, b.metrics.balanced_accuracy}}};
  for (const auto& [k, v] : rows) {
    std::snprintf(head, sizeof head, "%-18s %-28s %-28s\n", k.c_str(), with_ci(a, k, v.first).c_str(),
                  with_ci(b, k, v.second).c_str());
    os << head;
  }
  for (const auto* e : {&a, &b}) {
    std::snprintf(head, sizeof head, "confusion at %.3f: TP %lld  FP %lld  FN %lld  TN %lld\n", e->threshold,
                  (long long)e->confusion.tp, (long long)e->confusion.fp, (long long)e->confusion.fn,
                  (long long)e->confusion.tn);
    os << head;
  }
}

void print_comparison(const eval::Comparison& c, const std::string& na, const std::string& nb, std::ostream& os) {
  char line[256];
  std::snprintf(line, sizeof line, "A = %s\nB = %s\n", na.c_str(), nb.c_str());
  os << line;
  std::snprintf(line, sizeof line, "McNemar exact (paired):   A right/B wrong %lld, A wrong/B right %lld, p = %s\n",
                (long long)c.mcnemar.b, (long long)c.mcnemar.c, fmt("%.4g", c.mcnemar.p_value).c_str());
  os << line;
  std::snprintf(line, sizeof line, "DeLong AUC difference:    %s - %s = %s (95%% CI %s..%s), p = %s\n",
                fmt("%.4f", c.delong.auc_a).c_str(), fmt("%.4f", c.delong.auc_b).c_str(),
                fmt("%+.4f", c.delong.diff).c_str(), fmt("%+.4f", c.delong.ci_lo).c_str(),
                fmt("%+.4f", c.delong.ci_hi).c_str(), fmt("%.4g", c.delong.p_value).c_str());
  os << line << (c.delong_error.empty() ? "" : "  (" + c.delong_error + ")\n");
  std::snprintf(line, sizeof line,
                "chi-squared, 2x4 confusion tables (the seed's test; not paired): chi2 = %s, dof %d, p = %s\n",
                fmt("%.4f", c.chi2_confusion.statistic).c_str(), c.chi2_confusion.dof,
                fmt("%.4g", c.chi2_confusion.p_value).c_str());
  os << line;
  std::snprintf(line, sizeof line, "chi-squared, 2x2 correct/incorrect (not paired): chi2 = %s, p = %s\n",
                fmt("%.4f", c.chi2_correct.statistic).c_str(), fmt("%.4g", c.chi2_correct.p_value).c_str());
  os << line;
}

void print_multi_comparison(const eval::MultiComparison& c, const std::vector<std::string>& names,
                            const std::string& na, const std::string& nb, std::ostream& os) {
  char line[256];
  std::snprintf(line, sizeof line, "A = %s\nB = %s\naccuracy: A %s, B %s\n", na.c_str(), nb.c_str(),
                fmt("%.4f", c.accuracy_a).c_str(), fmt("%.4f", c.accuracy_b).c_str());
  os << line;
  if (!c.multilabel) {
    std::snprintf(line, sizeof line,
                  "McNemar exact on correctness (argmax = label): A right/B wrong %lld, A wrong/B right %lld, p = %s\n",
                  (long long)c.mcnemar.b, (long long)c.mcnemar.c, fmt("%.4g", c.mcnemar.p_value).c_str());
    os << line;
  }
  std::snprintf(line, sizeof line, "%-28s %8s %8s %9s %10s%s\n", "DeLong per class", "AUC A", "AUC B", "diff", "p",
                c.multilabel ? "   McNemar per label (b/c, p)" : "");
  os << line;
  for (size_t k = 0; k < c.per_class.size(); ++k) {
    const eval::ClassComparison& cc = c.per_class[k];
    const std::string name = k < names.size() ? names[k] : "class " + std::to_string(k);
    std::snprintf(line, sizeof line, "%-28.28s %8s %8s %9s %10s", name.c_str(), fmt("%.4f", cc.delong.auc_a).c_str(),
                  fmt("%.4f", cc.delong.auc_b).c_str(), fmt("%+.4f", cc.delong.diff).c_str(),
                  fmt("%.4g", cc.delong.p_value).c_str());
    os << line;
    if (c.multilabel) os << "   " << cc.mcnemar.b << "/" << cc.mcnemar.c << ", p = " << fmt("%.4g", cc.mcnemar.p_value);
    os << (cc.delong_error.empty() ? "" : "  (" + cc.delong_error + ")") << "\n";
  }
}

void write_training_curves(const std::string& run) {
  const auto hist = nlohmann::json::parse(io::read_file(run + "/history.json"));
  std::vector<double> tl, vl, ta, va, vauc;
  for (const auto& r : hist) {
    const auto rec = models::EpochRecord::from_json(r);
    tl.push_back(rec.train_loss);
    vl.push_back(rec.val_loss);
    ta.push_back(rec.train_acc);
    va.push_back(rec.val_acc);
    vauc.push_back(rec.val_auc);
  }
  size_t best = 0;
  for (size_t i = 0; i < vauc.size(); ++i)
    if (vauc[i] > vauc[best]) best = i;
  std::filesystem::create_directories(run + "/figures");
  eval::CurvesOptions lo;
  lo.title = "Loss";
  lo.y_label = "cross-entropy";
  lo.marker_x = static_cast<double>(best + 1);
  eval::save_svg(run + "/figures/loss.svg", eval::curves_svg({{"train loss", tl, {}}, {"val loss", vl, {}}}, lo));
  eval::CurvesOptions mo = lo;
  mo.title = "Accuracy and AUC";
  mo.y_label = "";
  eval::save_svg(run + "/figures/val_metrics.svg",
                 eval::curves_svg({{"train ACC", ta, {}}, {"val ACC", va, {}}, {"val AUC", vauc, {}}}, mo));
}

}  // namespace lb::cli
