// train_printer.h: how `lightbox train` (and demo, and assess's label randomisation) shows a
// training run: a TrainObserver (models/train_observer.h) that writes each event to stderr as a
// line of text and reports each epoch's batches to a progress bar (engine/progress.h), which
// `lightbox` draws on the terminal (tools/cli/progress_bar.h).
//
//   lightbox: data/pneumoniamnist.npz, 28x28x1, 2 classes
//     train: 4708 images (normal 1214, 25.8%; pneumonia 3494, 74.2%)
//     ...
//   epoch 1/5 [########################]   37/37  412.0 img/s  took 0:11  loss 0.3124
//   epoch 1/5  train loss 0.3124 acc 0.8710 | val loss 0.2351 acc 0.9141 auc 0.9650  (best)
//
// The trainer itself prints nothing; this is the one place its words live.
#pragma once

#include <memory>

#include "engine/progress.h"
#include "models/train_observer.h"

namespace lb::cli {

class TrainPrinter : public models::TrainObserver {
 public:
  // progress = false (--quiet): the notes and epoch lines only, no progress bar.
  explicit TrainPrinter(bool progress) : progress_(progress) {}

  void config_missing(const std::string& out) override;
  void imagenet_init(const models::InitReport& report, const std::string& conv1, int64_t in_channels) override;
  void run_start(const models::RunStart& start) override;
  void resumed(const std::string& out, int64_t epochs_done, int64_t batches_done) override;
  void nothing_to_resume(const std::string& out) override;
  void epoch_start(int64_t epoch, int64_t epochs, int64_t batches) override;
  void batch_end(int64_t images, double mean_loss) override;
  void batches_end() override;
  void epoch_end(const models::EpochRecord& record, int64_t epochs, bool improved) override;
  void stop_after(int64_t epochs) override;
  void interrupted(const models::Interruption& where) override;
  void early_stop(int64_t patience) override;

 private:
  bool progress_;
  // The epoch in flight. A bar still open when the printer goes (the run threw) draws its last
  // line then, as the trainer's own bar did when it lived inside the loop.
  std::unique_ptr<ProgressBar> bar_;
};

}  // namespace lb::cli
