// eval.cc: `lightbox eval`: clinical metrics of a checkpoint on a split, with figures.
//
//   lightbox eval --weights runs/seed/checkpoints/best.safetensors --split test --out runs/seed/eval
//   lightbox eval --run runs/seed          # the run's best checkpoint; also draws its training curves
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/io/file.h"
#include "models/evaluate/evaluate_model.h"
#include "models/evaluate/plots.h"
#include "models/train.h"
#include "tools/cli/commands.h"
#include "tools/cli/report_text.h"

namespace lb::cli {

namespace {

struct EvalOptions {
  std::string weights, data, run, out, split = "test";
  int bootstrap = 1000;
  int tta = 0;  // 0: the views the checkpoint's run validated with (its config's tta), else 1
  uint64_t seed = 0;
  bool quiet = false;
  int threads = 0;
  DeviceOptions device;
};

int run_eval(EvalOptions o) {
  apply_threads(o.threads);
  const Device dev = apply_device_options(o.device);
  if (!o.run.empty()) {
    if (o.weights.empty()) o.weights = o.run + "/checkpoints/best.safetensors";
    if (o.out.empty()) o.out = o.run + "/eval-" + o.split;
    write_training_curves(o.run);
  }
  LB_CHECK(!o.weights.empty(), "eval: give --weights W.safetensors or --run RUN_DIR");
  models::Checkpoint ck = models::load_checkpoint(o.weights);
  ck.model->to(dev);
  if (o.data.empty()) o.data = ck.meta.config.value("data", std::string("data/pneumoniamnist.npz"));
  const data::Dataset ds = data::load_medmnist(o.data);
  eval::check_compatible(ck, ds, o.weights);
  eval::EvaluateOptions eo;
  eo.split = o.split;
  eo.bootstrap = o.bootstrap;
  eo.seed = o.seed;
  eo.progress = !o.quiet;
  eo.tta = o.tta != 0 ? o.tta : models::run_tta_views(ck.meta.config);  // predict_tta checks it
  const eval::ModelEvaluation ev = eval::evaluate_checkpoint(ck, ds, eo);
  print_evaluation(ev, ck.meta.class_names, std::cout);
  if (!o.out.empty()) {
    eval::write_evaluation(ev, ck.meta.class_names, o.out, std::filesystem::path(o.weights).stem().string());
    std::cout << "wrote " << o.out << "/metrics.json, roc.svg"
              << (ev.task == data::Task::MultiLabel ? "" : ", confusion.svg") << "\n";
  }
  return 0;
}

}  // namespace

Command eval_command() {
  return {"eval", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<EvalOptions>();
            CLI::App* sub = app.add_subcommand("eval", "metrics, ROC, confusion matrix and a val-chosen threshold");
            sub->add_option("--weights", o->weights, "checkpoint (.safetensors)");
            sub->add_option("--run", o->run, "run folder: uses its best checkpoint and draws its training curves");
            sub->add_option("--data", o->data, "MedMNIST .npz (default: the one the checkpoint was trained on)");
            sub->add_option("--split", o->split, "split to report")
                ->check(CLI::IsMember({"train", "val", "test"}))
                ->capture_default_str();
            sub->add_option("--out", o->out, "folder for metrics.json and figures");
            sub->add_option("--bootstrap", o->bootstrap, "bootstrap resamples for 95% CIs (0 = none)")
                ->capture_default_str();
            sub->add_option("--seed", o->seed, "bootstrap seed")->capture_default_str();
            sub->add_option("--tta", o->tta,
                            "test-time augmentation: 1 (off), 5 (one-pixel shifts) or 9 (with diagonals); default: "
                            "what the checkpoint's run validated with");
            sub->add_flag("--quiet", o->quiet, "no progress bar");
            add_threads_option(sub, &o->threads);
            add_device_options(sub, &o->device);
            return [o] { return run_eval(*o); };
          }};
}

}  // namespace lb::cli
