// demo.cc: `lightbox demo`: the seed report's whole study on the shipped data, in one command.
//
//   1. baseline: the seed's recipe (SGD lr 0.01, momentum 0.9, batch 128, random init);
//   2. tuned: the design's reference recipe (SGD lr 0.05, momentum 0.9, weight decay 5e-4,
//      one-cycle schedule, light augmentation), with fewer epochs than its 10 by default;
//   3. each evaluated on test at a threshold chosen on val (metrics with bootstrap CIs, ROC,
//      confusion matrix), then compared (McNemar, DeLong, chi-squared);
//   4. both explained on the same TP/FP/FN/TN test images (chosen with the baseline) with
//      Gradient at the input, layer1 and layer4, Deep, Partition and Integrated Gradients, and
//      the two models' explanations compared (Spearman, top-10% overlap, difference maps);
//   5. report.html with all of it (tools/cli/report_html.h).
//
// Sized for a 2-core CPU (a few minutes): 3 epochs each, 4 images, modest sample counts. Scale up
// with --epochs, --tuned-epochs, --per-cell, --background, --nsamples, --max-evals, --steps.
//
//   lightbox demo                       # -> runs/demo/report.html
//   lightbox demo --epochs 5 --tuned-epochs 10 --per-cell 3 --out runs/full
#include <chrono>
#include <iostream>

#include "models/evaluate/evaluate_model.h"
#include "models/trainer.h"
#include "tools/cli/commands.h"
#include "tools/cli/compare_run.h"
#include "tools/cli/report_html.h"
#include "tools/cli/report_text.h"
#include "tools/cli/train_printer.h"

namespace lb::cli {

void add_train_flags(CLI::App* sub, models::TrainConfig& c);

namespace {

struct DemoOptions {
  models::TrainConfig cfg;
  int tuned_epochs = 3;
  std::string methods = "gradient,gradient@layer1,gradient@layer4,deep,partition,ig";
  int64_t per_cell = 1, background = 50, nsamples = 100, max_evals = 500, steps = 32;
  bool quiet = false;
  int threads = 0;
  DeviceOptions device;  // training, evaluation and the explanations all run there
};

std::string train_and_evaluate(const models::TrainConfig& cfg, const std::string& title, bool quiet) {
  std::cout << "\n== " << title << ": " << cfg.optimizer << " lr " << cfg.lr << ", " << cfg.epochs << " epochs -> "
            << cfg.out << "\n";
  TrainPrinter printer(!quiet);
  const models::TrainResult r = models::train_model(cfg, &printer);
  write_training_curves(cfg.out);
  models::Checkpoint ck = models::load_checkpoint(r.best_path);
  ck.model->to(parse_device(cfg.device));
  const data::Dataset ds = data::load_medmnist(cfg.data);
  eval::EvaluateOptions eo;
  eo.progress = !quiet;
  const eval::ModelEvaluation ev = eval::evaluate_checkpoint(ck, ds, eo);
  eval::write_evaluation(ev, ck.meta.class_names, cfg.out + "/eval-test", title);
  std::cout << "best epoch " << r.best_epoch << " (val AUC " << r.best_val_auc << ")\n";
  print_evaluation(ev, ck.meta.class_names, std::cout);
  return r.best_path;
}

int run_demo(DemoOptions& o) {
  apply_threads(o.threads);
  o.cfg.device = apply_device_options(o.device).str();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string root = o.cfg.out;
  std::cout << "lightbox demo: the seed's study on " << o.cfg.data << " -> " << root << "\n";
  models::TrainConfig base = o.cfg;
  base.out = root + "/baseline";
  models::TrainConfig tuned = base;
  tuned.out = root + "/tuned";
  tuned.epochs = o.tuned_epochs;
  tuned.lr = 0.05;
  tuned.momentum = 0.9;
  tuned.weight_decay = 5e-4;
  tuned.schedule = "onecycle";
  tuned.augment = "light";
  const std::string a = train_and_evaluate(base, "baseline (seed recipe)", o.quiet);
  const std::string b = train_and_evaluate(tuned, "tuned (reference recipe)", o.quiet);

  std::cout << "\n== comparison and explanations\n";
  CompareOptions c;
  c.a = a, c.b = b, c.data = o.cfg.data, c.out = root + "/compare", c.quiet = o.quiet, c.threads = o.threads;
  c.device = o.device;
  c.explain = o.methods, c.names = "baseline,tuned", c.explain_dir = root + "/explain";
  c.per_cell = o.per_cell, c.background = o.background, c.nsamples = o.nsamples, c.max_evals = o.max_evals,
  c.steps = o.steps;
  run_compare(c);

  const std::string report = write_report(root, o.cfg.data);
  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 60;
  std::cout << "\ndone in " << minutes << " min. The report: " << report << "\n";
  return 0;
}

}  // namespace

Command demo_command() {
  return {
      "demo", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<DemoOptions>();
        o->cfg.out = "runs/demo";
        o->cfg.epochs = 3;
        CLI::App* sub = app.add_subcommand(
            "demo", "the seed's study: baseline and tuned training, evaluation, comparison, explanations, report.html");
        add_train_flags(sub, o->cfg);
        sub->add_option("--tuned-epochs", o->tuned_epochs, "epochs of the tuned recipe")->capture_default_str();
        sub->add_option("--methods", o->methods, "explanations: METHOD[@LAYER],...")->capture_default_str();
        sub->add_option("--per-cell", o->per_cell, "test images per confusion cell")->capture_default_str();
        sub->add_option("--background", o->background, "background images (" + background_methods() + ")")
            ->capture_default_str();
        sub->add_option("--nsamples", o->nsamples, "gradient: samples per image")->capture_default_str();
        sub->add_option("--max-evals", o->max_evals, "partition: model evaluations per image")->capture_default_str();
        sub->add_option("--steps", o->steps, "ig: path steps")->capture_default_str();
        sub->add_flag("--quiet", o->quiet, "no progress bars");
        add_threads_option(sub, &o->threads);
        add_device_options(sub, &o->device);
        return [o] { return run_demo(*o); };
      }};
}

}  // namespace lb::cli
