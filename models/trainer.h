// trainer.h: the training loop, as an object with one method per part of a run.
//
//   Trainer t(cfg, &observer);   // set up: config, data, model, optimizer, resume or a fresh folder
//   TrainResult r = t.run();     // epochs until done, --stop-after, early stopping or a stop request
//
// Construction does everything that can fail on bad input (flags, config.json, the data, --init)
// before the run folder is touched; run() then repeats run_epoch(), which is begin_epoch(),
// train_batches() (step() per batch, losses read back and checked by drain()) and end_epoch()
// (validation, the best checkpoint, the resume state, history.json). save_state() and
// load_state() are the two halves of resume: one atomic file holds model, optimizer and the
// trainer's RunState, so a run killed at any moment continues from its last save (train.h).
//
// The trainer prints nothing: it reports through a TrainObserver (models/train_observer.h), which
// the CLI renders as text and a progress bar (tools/cli/train_printer.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/data/loader.h"
#include "engine/data/medmnist.h"
#include "engine/data/mix.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"
#include "models/graph_step.h"
#include "models/train.h"
#include "models/train_observer.h"
#include "models/weight_average.h"

namespace lb::models {

class Trainer {
 public:
  // Resolves the configuration (with --resume, the run's own config.json), loads the data, builds
  // the model, optimizer, loader and schedule, and either loads the run's saved state (--resume)
  // or writes its config.json. `observer` may be null (nothing is reported); it must outlive the
  // trainer. Throws lb::Error on a bad configuration, bad data or a damaged saved state.
  explicit Trainer(const TrainConfig& cfg, TrainObserver* observer = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains the remaining epochs. Throws on a non-finite loss (the last good state stays in
  // place). Call it once.
  TrainResult run();

  // The configuration in force (for --resume, the run's own).
  const TrainConfig& config() const { return cfg_; }
  int64_t steps_per_epoch() const { return steps_; }

 private:
  // Everything --resume needs besides the config: where the run stands and what it has seen.
  struct RunState {
    int64_t next_epoch = 0;  // 0-based index of the next epoch to run
    int64_t next_batch = 0;  // batches of epoch next_epoch already trained (a stop request mid-epoch)
    double loss_sum = 0, acc_sum = 0, seconds = 0;  // that partial epoch's sums so far
    int64_t seen = 0;
    std::vector<EpochRecord> history;
    double best_auc = -1.0;
    int64_t best_epoch = 0;
    int64_t stale = 0;  // epochs since the best
  };
  // A trained batch whose loss is not read back yet (see drain()). With --mix, y2 is the second
  // target and lam the first one's weight (its accuracy is weighted the same way).
  struct Pending {
    Tensor loss, logits, y, y2;
    double lam;
    int64_t batch;
  };
  enum class EpochEnd { Continue, EarlyStop, Interrupted };
  using Clock = std::chrono::steady_clock;

  // ---- setting up (the constructor, in order) ----
  void build_model();
  void report_run_start() const;
  void open_run_folder();
  void build_loader();

  // ---- the loop ----
  EpochEnd run_epoch(int64_t e);
  EpochRecord begin_epoch(int64_t e);
  // The batches of epoch e from st_.next_batch on; false when a stop request ended them (the
  // state is saved and reported).
  bool train_batches(int64_t e, EpochRecord& rec, Clock::time_point t0);
  // One optimizer step on batch i of epoch e; returns its lr. The loss joins pending_.
  double step(const data::Batch& b, int64_t e, int64_t i);
  // The model validation judges and the best checkpoint holds: the weight average with --ema.
  ResNet18& judged() { return ema_ ? ema_->model() : *model_; }
  // Reads back the pending losses, checks them (the NaN guard) and adds them to the epoch's sums.
  void drain(int64_t e);
  // Validation, the best checkpoint, the resume state and history.json; true if it is the best.
  bool end_epoch(int64_t e, EpochRecord& rec, Clock::time_point t0);
  void interrupt(int64_t e, int64_t i, Clock::time_point t0);
  // The NaN guard: one line that says where, where the last good state is, and what to change.
  // batch < 0: v is the validation loss after epoch e.
  void check_finite(double v, int64_t e, int64_t batch) const;
  TrainResult result() const;

  // ---- resume ----
  void save_state();
  void load_state();

  TrainObserver& obs_;
  TrainConfig cfg_;
  data::Dataset ds_;
  Device dev_;
  std::shared_ptr<ResNet18> model_;
  ModelMeta meta_;
  std::string best_path_, resume_path_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<WeightAverage> ema_;  // --ema; null when off
  data::MixConfig mix_;                 // --mix
  RunState st_;
  std::unique_ptr<GraphStep> graph_;  // after opt_: it holds references to the model and optimizer
  std::unique_ptr<data::Loader> loader_;
  int64_t steps_ = 0;
  std::shared_ptr<optim::LRSchedule> sched_;
  std::vector<Pending> pending_;
  size_t read_every_ = 1;
  bool stopped_early_ = false, interrupted_ = false, ran_ = false;
};

// Trains per cfg, reporting to `observer` (null: silently): Trainer(cfg, observer).run().
TrainResult train_model(const TrainConfig& cfg, TrainObserver* observer = nullptr);

}  // namespace lb::models
