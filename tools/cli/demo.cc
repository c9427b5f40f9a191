// demo.cc: `lightbox demo`: the seed report's study on the shipped data, in one command.
//
// Today it trains the seed's recipe (SGD lr 0.01, momentum 0.9, batch 128, 5 epochs, random init)
// on data/pneumoniamnist.npz, picks the best epoch on val, evaluates on test with a threshold
// chosen on val, and writes the run folder (checkpoints, history, metrics, figures).
#include <iostream>

#include "models/evaluate/evaluate_model.h"
#include "models/train.h"
#include "tools/cli/commands.h"
#include "tools/cli/report_text.h"

namespace lb::cli {

void add_train_flags(CLI::App* sub, models::TrainConfig& c);

namespace {

struct DemoOptions {
  models::TrainConfig cfg;
  bool quiet = false;
  int threads = 0;
};

int run_demo(DemoOptions& o) {
  apply_threads(o.threads);
  o.cfg.progress = !o.quiet;
  std::cout << "lightbox demo: the seed's recipe on " << o.cfg.data << " -> " << o.cfg.out << "\n";
  const models::TrainResult r = models::train_model(o.cfg);
  write_training_curves(o.cfg.out);
  models::Checkpoint ck = models::load_checkpoint(r.best_path);
  const data::Dataset ds = data::load_medmnist(o.cfg.data);
  eval::EvaluateOptions eo;
  eo.progress = !o.quiet;
  const eval::ModelEvaluation ev = eval::evaluate_checkpoint(ck, ds, eo);
  eval::write_evaluation(ev, ck.meta.class_names, o.cfg.out + "/eval-test", "seed recipe");
  std::cout << "\nbest epoch " << r.best_epoch << " (val AUC " << r.best_val_auc << ")\n";
  print_evaluation(ev, ck.meta.class_names, std::cout);
  std::cout << "\nrun folder: " << o.cfg.out << " (checkpoints/, history.json, figures/, eval-test/)\n";
  return 0;
}

}  // namespace

Command demo_command() {
  return {"demo", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<DemoOptions>();
            o->cfg.out = "runs/demo";
            CLI::App* sub = app.add_subcommand("demo", "the seed's study on the shipped PneumoniaMNIST: train, evaluate, figures");
            add_train_flags(sub, o->cfg);
            sub->add_flag("--quiet", o->quiet, "no progress bar");
            add_threads_option(sub, &o->threads);
            return [o] { return run_demo(*o); };
          }};
}

}  // namespace lb::cli
