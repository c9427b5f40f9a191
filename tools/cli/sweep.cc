// sweep.cc: `lightbox sweep RECIPES.json`: recipes x seeds, each run trained, chosen on val and
// evaluated on test exactly once, then one table: mean +- std of val AUC, test ACC and test AUC
// per recipe, and the two recipes with the best mean val AUC tested against each other on test,
// seed by seed (McNemar, DeLong). The selection looks at val only; test is read once per run.
//
//   lightbox sweep recipes.json --seeds 0,1,2,3,4 --out runs/sweep
//   lightbox sweep recipes.json --seeds 0-4 --out runs/sweep --shard 1/2   # this half of the runs
//   lightbox sweep recipes.json --seeds 0-4 --out runs/sweep --shard 2/2   # ... the other half
//
// RECIPES.json names each recipe's `lightbox train` settings with config.json's keys:
//   {"seed":  {"epochs": 5, "lr": 0.01},
//    "tuned": {"epochs": 20, "lr": 0.05, "schedule": "onecycle", "weight_decay": 5e-4,
//              "augment": "light"}}
// A key config.json does not have is an error (a typo would silently train the default); `seed`
// and `out` are the sweep's to set.
//
// Run r of recipe R and seed s lives in OUT/R/seed-s (a `lightbox train` run folder) and is done
// when OUT/R/seed-s/eval-test/metrics.json exists. A sweep that stops (Ctrl-C, a killed job, a
// time limit) is continued by running it again: finished runs are skipped, an unfinished one
// resumes from its last epoch (--resume). --shard I/N takes runs I, I+N, I+2N, ... so N machines
// or jobs can share one sweep folder. A run folder made by a different recipe under the same name
// is refused. The table (OUT/sweep.json) covers every finished run, whichever invocation made it.
//
// --val-only is the search phase: runs are trained (or resumed) but test is never read, not even
// where an earlier invocation evaluated it; the table (OUT/sweep-val.json) shows the best epoch's
// val AUC, val ACC and val loss of every fully trained run. Running the same sweep later without
// the flag evaluates the chosen recipes on test, once per run, without training them again.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "engine/io/file.h"
#include "models/evaluate/compare_multi.h"
#include "models/evaluate/evaluate_model.h"
#include "models/evaluate/stats.h"
#include "models/trainer.h"
#include "tools/cli/commands.h"
#include "tools/cli/train_printer.h"

namespace lb::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

struct SweepOptions {
  std::string recipes, seeds = "0,1,2", out = "runs/sweep", data, shard;
  bool quiet = false, val_only = false;
  int threads = 0;
  DeviceOptions device;
};

struct Recipe {
  std::string name;
  json settings;
};

struct Run {
  const Recipe* recipe;
  uint64_t seed;
  std::string dir;
};

// RECIPES.json, in file order; every key must be one of config.json's, and not seed or out.
std::vector<Recipe> read_recipes(const std::string& path) {
  const ordered_json j = ordered_json::parse(io::read_file(path), nullptr, /*allow_exceptions=*/false);
  LB_CHECK(!j.is_discarded() && j.is_object() && !j.empty(),
           path << ": not a JSON object of recipes; write {\"name\": {\"epochs\": 5, \"lr\": 0.01}, ...}");
  const json known = models::TrainConfig().to_json();
  std::vector<Recipe> out;
  for (const auto& [name, settings] : j.items()) {
    LB_CHECK(settings.is_object(), path << ": recipe '" << name << "' is not an object of settings");
    LB_CHECK(!name.empty() && name.find_first_of("/\\") == std::string::npos && name != "." && name != "..",
             path << ": recipe name '" << name << "' cannot be a folder name; use letters, digits, - and _");
    for (const auto& [key, value] : settings.items()) {
      LB_CHECK(known.contains(key), path << ": recipe '" << name << "' sets '" << key
                                         << "', which is not a training setting (config.json's keys, e.g. lr, "
                                            "epochs, schedule, augment)");
      LB_CHECK(key != "seed" && key != "out",
               path << ": recipe '" << name << "' sets '" << key << "'; the sweep sets it (--seeds, --out)");
    }
    out.push_back({name, json::parse(settings.dump())});
  }
  return out;
}

// "0,1,2" or "0-4" or a mix ("0-2,7").
std::vector<uint64_t> parse_seeds(const std::string& spec) {
  std::vector<uint64_t> seeds;
  for (const std::string& part : split(spec, ',', Empty::Skip)) {
    const size_t dash = part.find('-');
    try {
      const uint64_t lo = std::stoull(part.substr(0, dash));
      const uint64_t hi = dash == std::string::npos ? lo : std::stoull(part.substr(dash + 1));
      LB_CHECK(lo <= hi && hi - lo < 1000, "");
      for (uint64_t s = lo; s <= hi; ++s) seeds.push_back(s);
    } catch (const std::exception&) {
      LB_THROW("--seeds: '" << part << "' is not a seed or a range like 0-4");
    }
  }
  LB_CHECK(!seeds.empty(), "--seeds: no seed given; e.g. --seeds 0,1,2 or --seeds 0-4");
  return seeds;
}

// "I/N" -> {I - 1, N}; empty -> {0, 1}.
std::pair<size_t, size_t> parse_shard(const std::string& spec) {
  if (spec.empty()) return {0, 1};
  const auto parts = split(spec, '/');
  size_t i = 0, n = 0;
  try {
    LB_CHECK(parts.size() == 2, "");
    i = std::stoul(parts[0]);
    n = std::stoul(parts[1]);
  } catch (const std::exception&) {
  }
  LB_CHECK(n >= 1 && i >= 1 && i <= n, "--shard '" << spec << "' is not I/N with 1 <= I <= N, e.g. 1/2");
  return {i - 1, n};
}

models::TrainConfig config_of(const Run& r, const SweepOptions& o) {
  json j = r.recipe->settings;
  if (!o.data.empty()) j["data"] = o.data;
  j["seed"] = r.seed;
  j["out"] = r.dir;
  return models::TrainConfig::from_json(j);
}

bool finished(const Run& r) { return fs::exists(r.dir + "/eval-test/metrics.json"); }

// Trains (or resumes) one run, then evaluates its best-by-val checkpoint on test, once.
void run_one(const Run& r, const SweepOptions& o, TrainPrinter& printer) {
  models::TrainConfig cfg = config_of(r, o);
  cfg.device = apply_device_options(o.device).str();
  if (fs::exists(r.dir + "/config.json")) {
    const json made = models::parse_run_config(io::read_file(r.dir + "/config.json"), r.dir + "/config.json").to_json();
    LB_CHECK(made == cfg.to_json(), r.dir << " was made by another recipe than '" << r.recipe->name
                                          << "' is now; delete the folder or give the changed recipe a new name");
    cfg.resume = true;
  }
  const models::TrainResult t = models::train_model(cfg, &printer);
  LB_CHECK(!t.interrupted, "sweep: interrupted during " << r.dir << "; run the sweep again to continue");
  if (o.val_only) return;
  models::Checkpoint ck = models::load_checkpoint(t.best_path);
  ck.model->to(parse_device(cfg.device));
  const data::Dataset ds = data::load_medmnist(cfg.data);
  eval::EvaluateOptions eo;
  eo.bootstrap = 0;
  eo.progress = !o.quiet;
  eo.tta = static_cast<int>(cfg.tta);  // test as the run validated
  eval::write_evaluation(eval::evaluate_checkpoint(ck, ds, eo), ck.meta.class_names, r.dir + "/eval-test",
                         r.recipe->name + " seed " + std::to_string(r.seed));
}

// ---- the table ----------------------------------------------------------------------------------------

struct Stat {
  std::vector<double> v;
  double mean() const {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? NAN : s / static_cast<double>(v.size());
  }
  double sd() const {  // the sample standard deviation (n - 1), 0 for one value
    if (v.size() < 2) return v.empty() ? NAN : 0.0;
    double m = mean(), s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
  }
  json to_json() const { return {{"mean", eval::number_or_null(mean())}, {"std", eval::number_or_null(sd())}}; }
};

struct Row {
  std::string recipe;
  std::vector<uint64_t> seeds;
  Stat val_auc, test_acc, test_auc;
  Stat val_acc, val_loss;  // at the best val AUC epoch; --val-only's table
};

// Every epoch of r is in its history.json (what --val-only needs before it tabulates a run).
bool trained(const Run& r, const SweepOptions& o) {
  if (!fs::exists(r.dir + "/history.json")) return false;
  return static_cast<int64_t>(json::parse(io::read_file(r.dir + "/history.json")).size()) >= config_of(r, o).epochs;
}

// The search phase's view of a run (--val-only): its best epoch by val AUC, from history.json
// alone, once every epoch is trained (or early stopping may have ended it). False otherwise.
bool add_val_run(Row& row, const Run& r, int64_t epochs, bool early_stopping) {
  if (!fs::exists(r.dir + "/history.json")) return false;
  const json h = json::parse(io::read_file(r.dir + "/history.json"));
  if (h.empty() || (static_cast<int64_t>(h.size()) < epochs && !early_stopping)) return false;
  const json* best = nullptr;
  for (const json& e : h)
    if (e.at("val_auc").is_number() && (!best || e["val_auc"].get<double>() > (*best)["val_auc"].get<double>()))
      best = &e;
  row.seeds.push_back(r.seed);
  row.val_auc.v.push_back(best ? (*best)["val_auc"].get<double>() : NAN);
  row.val_acc.v.push_back(best ? (*best)["val_acc"].get<double>() : NAN);
  row.val_loss.v.push_back(best ? (*best)["val_loss"].get<double>() : NAN);
  return true;
}

// A finished run's best val AUC (history.json) and test ACC and AUC (metrics.json; MedMNIST's
// numbers for any task).
void add_run(Row& row, const Run& r) {
  double best = -INFINITY;
  for (const json& e : json::parse(io::read_file(r.dir + "/history.json")))
    if (e.at("val_auc").is_number()) best = std::max(best, e["val_auc"].get<double>());
  const json m = json::parse(io::read_file(r.dir + "/eval-test/metrics.json"));
  const auto num = [](const json& v) { return v.is_number() ? v.get<double>() : NAN; };
  const bool multi = m.contains("multi");
  row.seeds.push_back(r.seed);
  row.val_auc.v.push_back(std::isfinite(best) ? best : NAN);
  row.test_acc.v.push_back(num(multi ? m["multi"]["accuracy"] : m["at_0.5"]["metrics"]["accuracy"]));
  row.test_auc.v.push_back(num(multi ? m["multi"]["auc"] : m["at_0.5"]["auc"]));
}

// Recipes A and B (the best two by mean val AUC) on the test split, for each seed both finished:
// McNemar's exact test on correctness and DeLong's test of the AUCs (class 1; binary tasks) or
// McNemar on argmax correctness (multi-class).
json compare_best_two(const Row& a, const Row& b, const std::string& out) {
  json seeds = json::array();
  std::unique_ptr<data::Dataset> ds;  // every run of a recipe trained on the same file: read it once
  for (uint64_t s : a.seeds) {
    if (std::find(b.seeds.begin(), b.seeds.end(), s) == b.seeds.end()) continue;
    const std::string pa = out + "/" + a.recipe + "/seed-" + std::to_string(s),
                      pb = out + "/" + b.recipe + "/seed-" + std::to_string(s);
    models::Checkpoint ca = models::load_checkpoint(pa + "/checkpoints/best.safetensors"),
                       cb = models::load_checkpoint(pb + "/checkpoints/best.safetensors");
    if (!ds) ds = std::make_unique<data::Dataset>(data::load_medmnist(ca.meta.config.value("data", std::string())));
    const auto xa = models::predict_tta(*ca.model, ds->test, ca.meta.norm, models::run_tta_views(ca.meta.config)),
               xb = models::predict_tta(*cb.model, ds->test, cb.meta.norm, models::run_tta_views(cb.meta.config));
    json row = {{"seed", s}};
    if (eval::model_task(ca, *ds) == data::Task::Binary) {
      const eval::Comparison c = eval::compare_models(xa.positive_scores(), xb.positive_scores(), xa.int_labels());
      row["mcnemar_p"] = c.mcnemar.p_value;
      row["delong_p"] = c.delong_error.empty() ? json(c.delong.p_value) : json(nullptr);
    } else {
      const eval::MultiComparison c = eval::compare_multi(xa, xb);
      row["mcnemar_p"] = c.multilabel ? json(nullptr) : json(c.mcnemar.p_value);
    }
    seeds.push_back(row);
  }
  return {{"a", a.recipe}, {"b", b.recipe}, {"per_seed", seeds}};
}

std::string pm(const Stat& s) {
  char b[48];
  std::snprintf(b, sizeof b, "%.4f +- %.4f", s.mean(), s.sd());
  return std::isfinite(s.mean()) ? b : "n/a";
}

void print_table(const std::vector<Row>& rows, const json& best_two, bool val_only, std::ostream& os) {
  char line[256];
  std::snprintf(line, sizeof line, "%-16s %5s  %-18s %-18s %-18s\n", "recipe", "runs", "val AUC (select)",
                val_only ? "val ACC" : "test ACC", val_only ? "val loss" : "test AUC");
  os << line;
  for (const Row& r : rows) {
    std::snprintf(line, sizeof line, "%-16.16s %5zu  %-18s %-18s %-18s\n", r.recipe.c_str(), r.seeds.size(),
                  pm(r.val_auc).c_str(), pm(val_only ? r.val_acc : r.test_acc).c_str(),
                  pm(val_only ? r.val_loss : r.test_auc).c_str());
    os << line;
  }
  if (best_two.is_null()) return;
  os << "best two by mean val AUC: " << best_two["a"].get<std::string>() << " vs " << best_two["b"].get<std::string>()
     << " on test, per seed:\n";
  for (const json& s : best_two["per_seed"])
    os << "  seed " << s["seed"] << ": McNemar p " << (s["mcnemar_p"].is_number() ? s["mcnemar_p"].dump() : "n/a")
       << ", DeLong p " << (s.contains("delong_p") && s["delong_p"].is_number() ? s["delong_p"].dump() : "n/a") << "\n";
}

// One recipe's row of sweep.json (test ACC and AUC) or of sweep-val.json (val ACC and loss).
json row_json(const Row& r, bool val_only) {
  json j = {{"recipe", r.recipe}, {"seeds", r.seeds}, {"val_auc", r.val_auc.to_json()}};
  if (val_only) {
    j["val_acc"] = r.val_acc.to_json();
    j["val_loss"] = r.val_loss.to_json();
  } else {
    j["test_acc"] = r.test_acc.to_json();
    j["test_auc"] = r.test_auc.to_json();
  }
  return j;
}

// --val-only's table: no test number is read, and no test comparison is made.
void write_val_table(const std::vector<Row>& rows, const SweepOptions& o) {
  json j = {{"recipes", json::array()}, {"split", "val"}};
  for (const Row& r : rows) j["recipes"].push_back(row_json(r, true));
  io::write_file_atomic(o.out + "/sweep-val.json", j.dump(2) + "\n");
  print_table(rows, json(), true, std::cout);
  std::cout << "wrote " << o.out << "/sweep-val.json (val only: test was not read)\n";
}

// The table over every finished run, printed and written to OUT/sweep.json.
void write_table(const std::vector<Recipe>& recipes, const std::vector<Run>& runs, const SweepOptions& o) {
  std::vector<Row> rows;
  for (const Recipe& rec : recipes) {
    Row row;
    row.recipe = rec.name;
    for (const Run& r : runs) {
      if (r.recipe != &rec) continue;
      if (o.val_only) {
        const models::TrainConfig c = config_of(r, o);
        add_val_run(row, r, c.epochs, c.patience > 0);
      } else if (finished(r)) {
        add_run(row, r);
      }
    }
    rows.push_back(row);
  }
  if (o.val_only) return write_val_table(rows, o);
  std::vector<const Row*> ranked;
  for (const Row& r : rows)
    if (!r.seeds.empty() && std::isfinite(r.val_auc.mean())) ranked.push_back(&r);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Row* x, const Row* y) { return x->val_auc.mean() > y->val_auc.mean(); });
  const json best_two = ranked.size() >= 2 ? compare_best_two(*ranked[0], *ranked[1], o.out) : json();
  json j = {{"recipes", json::array()}, {"best_two", best_two}};
  for (const Row& r : rows) j["recipes"].push_back(row_json(r, false));
  io::write_file_atomic(o.out + "/sweep.json", j.dump(2) + "\n");
  print_table(rows, best_two, false, std::cout);
  std::cout << "wrote " << o.out << "/sweep.json\n";
}

int run_sweep(const SweepOptions& o) {
  apply_threads(o.threads);
  const std::vector<Recipe> recipes = read_recipes(o.recipes);
  const std::vector<uint64_t> seeds = parse_seeds(o.seeds);
  const auto [shard, shards] = parse_shard(o.shard);
  std::vector<Run> runs;
  for (const Recipe& r : recipes)
    for (uint64_t s : seeds) runs.push_back({&r, s, o.out + "/" + r.name + "/seed-" + std::to_string(s)});
  for (const Run& r : runs) config_of(r, o);  // every recipe's values checked before any training
  fs::create_directories(o.out);
  TrainPrinter printer(!o.quiet);
  for (size_t i = shard; i < runs.size(); i += shards) {
    if (finished(runs[i])) continue;                  // also with --val-only: trained, and nothing of test is read here
    if (o.val_only && trained(runs[i], o)) continue;  // nothing to resume: no dataset load for nothing
    std::cout << "[" << i + 1 << "/" << runs.size() << "] " << runs[i].recipe->name << ", seed " << runs[i].seed
              << " -> " << runs[i].dir << "\n"
              << std::flush;
    run_one(runs[i], o, printer);
  }
  write_table(recipes, runs, o);
  return 0;
}

}  // namespace

Command sweep_command() {
  return {"sweep", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<SweepOptions>();
            CLI::App* sub =
                app.add_subcommand("sweep", "recipes x seeds: train, select on val, test once, one table (resumable)");
            sub->add_option("RECIPES", o->recipes, "JSON object: recipe name -> training settings (config.json keys)")
                ->required();
            sub->add_option("--seeds", o->seeds, "seeds, e.g. 0,1,2 or 0-4")->capture_default_str();
            sub->add_option("--out", o->out, "sweep folder: OUT/<recipe>/seed-<s>/ and OUT/sweep.json")
                ->capture_default_str();
            sub->add_option("--data", o->data,
                            "MedMNIST .npz for every recipe (default: each recipe's, else the shipped one)");
            sub->add_option("--shard", o->shard, "I/N: run only runs I, I+N, ... (share a sweep across jobs)");
            sub->add_flag("--val-only", o->val_only,
                          "search phase: train and tabulate val only; test is not evaluated or read");
            sub->add_flag("--quiet", o->quiet, "no progress bars");
            add_threads_option(sub, &o->threads);
            add_device_options(sub, &o->device);
            return [o] { return run_sweep(*o); };
          }};
}

}  // namespace lb::cli
