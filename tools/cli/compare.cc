// compare.cc: `lightbox compare A B`: two checkpoints on the same split, tested statistically.
//
//   McNemar's exact test on the paired predictions (the right test: both models see the same
//   images), DeLong's test for the AUC difference, and the seed report's chi-squared test on the
//   two confusion tables (reported for comparison, with the reason it is not a paired test).
#include <filesystem>
#include <iostream>

#include "engine/io/file.h"
#include "models/evaluate/evaluate_model.h"
#include "models/evaluate/stats.h"
#include "tools/cli/commands.h"
#include "tools/cli/report_text.h"

namespace lb::cli {

namespace {

struct CompareOptions {
  std::string a, b, data, out, split = "test", threshold = "0.5";
  bool quiet = false;
  int threads = 0;
};

struct Scored {
  std::vector<double> score;
  std::vector<int> label;
  double threshold = 0.5;
};

Scored score_model(models::Checkpoint& ck, const std::string& weights, const data::Dataset& ds,
                   const CompareOptions& o) {
  eval::check_compatible(ck, ds, weights);
  Scored s;
  const auto p = models::predict(*ck.model, ds.split(o.split), ck.meta.norm, 256, !o.quiet);
  s.score = p.positive_scores();
  s.label = p.int_labels();
  if (o.threshold == "val") {
    const auto v = models::predict(*ck.model, ds.val, ck.meta.norm, 256, !o.quiet);
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

int run_compare(const CompareOptions& o) {
  apply_threads(o.threads);
  models::Checkpoint ck_a = models::load_checkpoint(o.a), ck_b = models::load_checkpoint(o.b);
  const std::string data =
      o.data.empty() ? ck_a.meta.config.value("data", std::string("data/pneumoniamnist.npz")) : o.data;
  const data::Dataset ds = data::load_medmnist(data);
  const Scored a = score_model(ck_a, o.a, ds, o), b = score_model(ck_b, o.b, ds, o);
  const eval::Comparison c = eval::compare_models(a.score, b.score, a.label, a.threshold, b.threshold);
  std::cout << o.split << " split of " << data << " (" << a.label.size() << " images), thresholds "
            << a.threshold << " / " << b.threshold << "\n";
  print_comparison(c, o.a, o.b, std::cout);
  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    nlohmann::json j = eval::to_json(c);
    j["a"] = o.a;
    j["b"] = o.b;
    j["split"] = o.split;
    j["thresholds"] = {a.threshold, b.threshold};
    io::write_file_atomic(o.out + "/compare.json", j.dump(2) + "\n");
    std::cout << "wrote " << o.out << "/compare.json\n";
  }
  return 0;
}

}  // namespace

Command compare_command() {
  return {"compare", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<CompareOptions>();
            CLI::App* sub = app.add_subcommand("compare", "McNemar, DeLong and chi-squared tests between two checkpoints");
            sub->add_option("A", o->a, "first checkpoint")->required();
            sub->add_option("B", o->b, "second checkpoint")->required();
            sub->add_option("--data", o->data, "MedMNIST .npz (default: the one A was trained on)");
            sub->add_option("--split", o->split, "split")->check(CLI::IsMember({"train", "val", "test"}))->capture_default_str();
            sub->add_option("--threshold", o->threshold, "decision threshold: a number, or 'val' (each model's Youden threshold on val)")
                ->capture_default_str();
            sub->add_option("--out", o->out, "folder for compare.json");
            sub->add_flag("--quiet", o->quiet, "no progress bar");
            add_threads_option(sub, &o->threads);
            return [o] { return run_compare(*o); };
          }};
}

}  // namespace lb::cli
