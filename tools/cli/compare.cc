// compare.cc: `lightbox compare A B`: two checkpoints on the same split, tested statistically.
//
//   McNemar's exact test on the paired predictions (the right test: both models see the same
//   images), DeLong's test for the AUC difference, and the seed report's chi-squared test on the
//   two confusion tables (reported for comparison, with the reason it is not a paired test).
//   Each checkpoint is scored as its run was selected: with the test-time views of its run's
//   --tta (models/predict.h's run_tta_views).
//
// With --explain METHOD[@LAYER][,...] it also explains the same images (the TP/FP/FN/TN cells as
// model A sees them) under both checkpoints, with the same background, and measures how alike
// the two explanations are (explain/compare.h: Spearman rank correlation, top-10% pixel overlap),
// writing OUT/explain/<method>-<layer>/{agreement.json, difference.svg}: the seed's "tuned vs
// untuned" question answered with numbers.
//
//   lightbox compare runs/a/checkpoints/best.safetensors runs/b/checkpoints/best.safetensors
//     lightbox compare A.safetensors B.safetensors --out runs/ab --explain gradient,gradient@layer4,deep,partition,ig --names base,tuned
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "base/strings.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "explain/compare.h"
#include "explain/explain.h"
#include "explain/registry.h"
#include "explain/render.h"
#include "models/evaluate/compare_multi.h"
#include "models/evaluate/evaluate_model.h"
#include "models/evaluate/stats.h"
#include "tools/cli/commands.h"
#include "tools/cli/compare_run.h"
#include "tools/cli/explain_run.h"
#include "tools/cli/report_text.h"

namespace lb::cli {

namespace {

struct Scored {
  std::vector<double> score;
  std::vector<int> label;
  double threshold = 0.5;
};

Scored score_model(models::Checkpoint& ck, const std::string& weights, const data::Dataset& ds,
                   const CompareOptions& o) {
  eval::check_compatible(ck, ds, weights);
  Scored s;
  const int views = models::run_tta_views(ck.meta.config);  // as the run was selected
  const auto p = models::predict_tta(*ck.model, ds.split(o.split), ck.meta.norm, views, 256, !o.quiet);
  s.score = p.positive_scores();
  s.label = p.int_labels();
  if (o.threshold == "val") {
    const auto v = models::predict_tta(*ck.model, ds.val, ck.meta.norm, views, 256, !o.quiet);
    s.threshold = eval::youden_threshold(v.positive_scores(), v.int_labels()).threshold;
  } else {
    try {
      s.threshold = std::stod(o.threshold);
    } catch (const std::logic_error&) {
      LB_THROW("--threshold must be a number or 'val', got '" << o.threshold << "'");
    }
  }
  return s;
}

// One METHOD[@LAYER]: explain under A (selecting the cells), then B on A's images, then compare.
nlohmann::json explain_both(const CompareOptions& o, const std::string& spec, const std::string& data,
                            const std::vector<std::string>& names, const std::string& root) {
  const size_t at = spec.find('@');
  ExplainOptions e;
  e.method = spec.substr(0, at);
  e.layer = at == std::string::npos ? "input" : spec.substr(at + 1);
  LB_CHECK(explain::find_explainer(e.method) != nullptr,
           "compare --explain: '" << spec << "' is not METHOD[@LAYER] with METHOD "
                                  << explain::join_names(explain::explainer_names(), ", ", " or "));
  const std::string name = e.method + "-" + e.layer;
  e.data = data, e.split = o.split, e.per_cell = o.per_cell, e.quiet = o.quiet, e.threads = o.threads, e.cls = o.cls;
  e.device = o.device;  // the explainers run where the scoring ran (run_explain loads each model there)
  e.background_spec = std::to_string(o.background);
  e.method_options = {{"nsamples", o.nsamples}, {"max-evals", o.max_evals}, {"steps", o.steps}};
  ExplainOptions ea = e, eb = e;
  ea.weights = o.a, ea.select = o.select, ea.out = root + "/" + names[0] + "/" + name;
  ea.title = e.method + " at " + e.layer + " (" + names[0] + ")";
  if (!o.quiet) std::cout << "explaining with " << spec << " under " << names[0] << " and " << names[1] << "\n";
  run_explain(ea);
  eb.weights = o.b, eb.input = ea.out + "/inputs.npy", eb.samples_from = ea.out + "/meta.json",
  eb.out = root + "/" + names[1] + "/" + name;
  eb.title = e.method + " at " + e.layer + " (" + names[1] + ")";
  run_explain(eb);

  const Tensor x = io::load_npy(ea.out + "/inputs.npy");
  const Tensor va = io::load_npy(ea.out + "/values.npy"), vb = io::load_npy(eb.out + "/values.npy");
  const Tensor ma = explain::channel_sum_upsampled(va, x.size(2), x.size(3)),
               mb = explain::channel_sum_upsampled(vb, x.size(2), x.size(3));
  const auto agree = explain::compare_maps(ma, mb, o.top_fraction);
  const auto meta_a = nlohmann::json::parse(io::read_file(ea.out + "/meta.json"));
  const auto samples = meta_a["samples"];
  // The output each sample is summarised by: the class its cells are about (explain's "class":
  // --class K, class 1 of a binary model, else the sample's predicted class).
  const int64_t K = ma.size(1), k_default = K == 2 ? 1 : 0;
  const auto k_of = [&](size_t n) {
    const int64_t k = n < samples.size() ? samples[n].value("class", k_default) : k_default;
    return k >= 0 && k < K ? k : k_default;
  };
  const int64_t k_show = o.cls >= 0 && o.cls < K ? o.cls : k_default;
  nlohmann::json j = {{"name", name}, {"method", e.method}, {"layer", e.layer}, {"a", o.a},
                      {"b", o.b},     {"names", names},     {"output", k_show}, {"top_fraction", o.top_fraction}};
  j["samples"] = nlohmann::json::array();
  double sum_rho = 0, sum_top = 0;
  int64_t n_rho = 0;
  explain::FigureSpec fig;
  fig.title = names[1] + " minus " + names[0] + ": " + e.method + " at " + e.layer;
  fig.output_names = meta_a.value("output_names", std::vector<std::string>{});
  if (static_cast<int64_t>(fig.output_names.size()) != K) fig.output_names.clear();
  fig.subtitle =
      "difference of the two models' attributions on the same images (one symmetric scale); row numbers for " +
      (K > 2 && o.cls < 0         ? std::string("each image's class")
       : fig.output_names.empty() ? "output " + std::to_string(k_show)
                                  : "'" + fig.output_names[k_show] + "'");
  for (size_t n = 0; n < agree.size(); ++n) {
    nlohmann::json row = samples[n];
    row["per_output"] = nlohmann::json::array();
    for (const auto& m : agree[n]) row["per_output"].push_back(explain::to_json(m));
    row["output"] = k_of(n);
    const explain::MapAgreement& m = agree[n][k_of(n)];
    row["spearman"] = explain::to_json(m)["spearman"];
    row["top_k_overlap"] = m.top_k;
    if (std::isfinite(m.spearman)) sum_rho += m.spearman, ++n_rho;
    sum_top += m.top_k;
    j["samples"].push_back(row);
    char line[96];
    std::snprintf(line, sizeof line, "\nSpearman %.2f\ntop-10%% shared %.0f%%", m.spearman, 100 * m.top_k);
    std::string cell = row.value("cell", std::string("#"));
    for (char& c : cell) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    fig.row_labels.push_back(cell + " #" + std::to_string(row.value("index", 0)) + line);
  }
  j["mean_spearman"] = n_rho ? nlohmann::json(sum_rho / n_rho) : nlohmann::json(nullptr);
  j["mean_top_k_overlap"] = agree.empty() ? 0.0 : sum_top / static_cast<double>(agree.size());
  const std::string dir = o.out + "/explain/" + name;
  std::filesystem::create_directories(dir);
  io::write_file_atomic(dir + "/agreement.json", j.dump(2) + "\n");
  fig.lung_outline = true;
  io::write_file_atomic(dir + "/difference.svg",
                        explain::attribution_figure(x, explain::difference_maps(ma, mb), fig).svg);
  return j;
}

// A binary task: McNemar, DeLong and the seed's chi-squared tests at each model's threshold.
nlohmann::json compare_binary(models::Checkpoint& ck_a, models::Checkpoint& ck_b, const data::Dataset& ds,
                              const CompareOptions& o, const std::string& data_path) {
  const Scored a = score_model(ck_a, o.a, ds, o), b = score_model(ck_b, o.b, ds, o);
  const eval::Comparison c = eval::compare_models(a.score, b.score, a.label, a.threshold, b.threshold);
  std::cout << o.split << " split of " << data_path << " (" << a.label.size() << " images), thresholds " << a.threshold
            << " / " << b.threshold << "\n";
  print_comparison(c, o.a, o.b, std::cout);
  nlohmann::json j = eval::to_json(c);
  j["task"] = data::task_name(data::Task::Binary);
  j["thresholds"] = {a.threshold, b.threshold};
  return j;
}

// A multi-class or multi-label task: McNemar on correctness and DeLong per class
// (models/evaluate/compare_multi.h). The predictions are argmax or p > 0.5 per label: no threshold.
nlohmann::json compare_multi_task(models::Checkpoint& ck_a, models::Checkpoint& ck_b, const data::Dataset& ds,
                                  const CompareOptions& o, const std::string& data_path) {
  eval::check_compatible(ck_a, ds, o.a);
  eval::check_compatible(ck_b, ds, o.b);
  LB_CHECK(o.threshold == "0.5", "compare --threshold "
                                     << o.threshold << ": a " << data::task_name(ds.task) << " model predicts by "
                                     << (ds.task == data::Task::MultiLabel ? "p > 0.5 per label" : "argmax")
                                     << "; drop --threshold");
  const data::Split& split = ds.split(o.split);
  const auto pa =
      models::predict_tta(*ck_a.model, split, ck_a.meta.norm, models::run_tta_views(ck_a.meta.config), 256, !o.quiet);
  const auto pb =
      models::predict_tta(*ck_b.model, split, ck_b.meta.norm, models::run_tta_views(ck_b.meta.config), 256, !o.quiet);
  const eval::MultiComparison c = eval::compare_multi(pa, pb);
  std::cout << o.split << " split of " << data_path << " (" << c.n << " images), " << data::task_name(ds.task) << "\n";
  print_multi_comparison(c, ck_a.meta.class_names, o.a, o.b, std::cout);
  return eval::to_json(c, ck_a.meta.class_names);
}

}  // namespace

std::string background_methods() {
  return explain::join_names(explain::explainer_names(&explain::Explainer::needs_background), ", ", ", ");
}

int run_compare(const CompareOptions& o) {
  apply_threads(o.threads);
  const Device dev = apply_device_options(o.device);
  const auto names = split(o.names, ',', Empty::Skip);
  if (!o.explain.empty()) {
    LB_CHECK(!o.out.empty(), "compare --explain needs --out DIR for the explanations");
    LB_CHECK(names.size() == 2 && names[0] != names[1],
             "--names must be two different names, e.g. base,tuned; got '" << o.names << "'");
  }
  models::Checkpoint ck_a = models::load_checkpoint(o.a), ck_b = models::load_checkpoint(o.b);
  const std::string data =
      o.data.empty() ? ck_a.meta.config.value("data", std::string("data/pneumoniamnist.npz")) : o.data;
  const data::Dataset ds = data::load_medmnist(data);
  ck_a.model->to(dev);
  ck_b.model->to(dev);
  nlohmann::json j = eval::model_task(ck_a, ds) == data::Task::Binary ? compare_binary(ck_a, ck_b, ds, o, data)
                                                                      : compare_multi_task(ck_a, ck_b, ds, o, data);
  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    j["a"] = o.a;
    j["b"] = o.b;
    j["split"] = o.split;
    io::write_file_atomic(o.out + "/compare.json", j.dump(2) + "\n");
    std::cout << "wrote " << o.out << "/compare.json\n";
  }
  if (!o.explain.empty()) {
    const std::string root = o.explain_dir.empty() ? o.out + "/explain-runs" : o.explain_dir;
    std::cout << "\nexplanations, " << names[0] << " vs " << names[1] << " (output "
              << "positive class; Spearman / top-" << 100 * o.top_fraction << "% overlap, mean over images):\n";
    for (const auto& spec : split(o.explain, ',', Empty::Skip)) {
      const nlohmann::json j = explain_both(o, spec, data, names, root);
      std::printf("  %-20s Spearman %6.3f   top-k overlap %5.1f%%\n", j["name"].get<std::string>().c_str(),
                  j["mean_spearman"].is_number() ? j["mean_spearman"].get<double>() : NAN,
                  100 * j["mean_top_k_overlap"].get<double>());
      std::fflush(stdout);
    }
    std::cout << "wrote " << o.out << "/explain/*/agreement.json, difference.svg\n";
  }
  return 0;
}

Command compare_command() {
  return {
      "compare", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<CompareOptions>();
        CLI::App* sub = app.add_subcommand("compare", "McNemar, DeLong and chi-squared tests between two checkpoints");
        sub->add_option("A", o->a, "first checkpoint")->required();
        sub->add_option("B", o->b, "second checkpoint")->required();
        sub->add_option("--data", o->data, "MedMNIST .npz (default: the one A was trained on)");
        sub->add_option("--split", o->split, "split")
            ->check(CLI::IsMember({"train", "val", "test"}))
            ->capture_default_str();
        sub->add_option("--threshold", o->threshold,
                        "decision threshold: a number, or 'val' (each model's Youden threshold on val)")
            ->capture_default_str();
        sub->add_option("--out", o->out, "folder for compare.json (and explain/ with --explain)");
        sub->add_option(
            "--explain", o->explain,
            "also compare explanations: METHOD[@LAYER],... e.g. gradient,gradient@layer4,deep,partition,ig");
        sub->add_option("--names", o->names, "--explain: names of A and B")->capture_default_str();
        sub->add_option("--explain-dir", o->explain_dir,
                        "--explain: where the two models' explanations go (default OUT/explain-runs)");
        sub->add_option("--select", o->select, "--explain: confusion cells (as model A sees them)")
            ->capture_default_str();
        sub->add_option("--per-cell", o->per_cell, "--explain: images per cell")->capture_default_str();
        sub->add_option("--class", o->cls, "--explain: cells one-vs-rest for class K (as explain --class)")
            ->check(CLI::NonNegativeNumber);
        sub->add_option("--background", o->background, "--explain: background images (" + background_methods() + ")")
            ->capture_default_str();
        sub->add_option("--nsamples", o->nsamples, "--explain: gradient samples per image")->capture_default_str();
        sub->add_option("--max-evals", o->max_evals, "--explain: partition evaluations per image")
            ->capture_default_str();
        sub->add_option("--steps", o->steps, "--explain: ig steps")->capture_default_str();
        sub->add_option("--top-fraction", o->top_fraction, "--explain: share of pixels in the top-k overlap")
            ->capture_default_str();
        sub->add_flag("--quiet", o->quiet, "no progress bar");
        add_threads_option(sub, &o->threads);
        add_device_options(sub, &o->device);
        return [o] { return run_compare(*o); };
      }};
}

}  // namespace lb::cli
