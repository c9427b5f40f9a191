// train_observer.h: everything a training run reports, as events with typed arguments.
//
// Library code never prints (base/common.h). The trainer (models/trainer.h) tells a TrainObserver
// what happens instead, in this order:
//
//   config_missing / imagenet_init          notes on how the run was set up (either may be absent)
//   run_start                               the data: path, image shape, class counts per split
//   resumed | nothing_to_resume             only with --resume
//   per epoch:
//     stop_after                            (ends the run) --stop-after epochs are done
//     epoch_start, batch_end per batch, batches_end
//       a stop request mid-epoch instead:   batches_end, checkpoint_saved (resume), interrupted
//     checkpoint_saved (best, if improved), checkpoint_saved (resume), epoch_end
//     early_stop                            (ends the run) patience ran out
//
// Every method does nothing by default, so an observer overrides only what it shows. The CLI's
// observer (tools/cli/train_printer.h) renders these as the lines `lightbox train` prints and
// draws a progress bar per epoch; a Python binding could route batch_end to tqdm; the tests
// record them (tests/models/test_trainer_events.cc). An exception thrown by an observer stops
// the run and reaches the trainer's caller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/train.h"
#include "models/weights.h"

namespace lb::models {

// The dataset a run trains on, as run_start reports it.
struct RunStart {
  struct Split {
    std::string name;             // "train", "val", "test"
    int64_t size = 0;             // images
    std::vector<int64_t> counts;  // images per class (multi-label: images carrying each label)
  };
  std::string data;  // the .npz path
  int64_t height = 0, width = 0, channels = 0, num_classes = 0;
  std::string task;                      // data::task_name: "binary-class", "multi-class", ...
  std::vector<std::string> class_names;  // at least num_classes names
  std::vector<Split> splits;             // train, val, test
};

// Where a stop request left the run: the state saved after `batch` of `batches` batches of epoch
// `epoch` (1-based) to `path`, in the run folder `out`.
struct Interruption {
  int64_t epoch = 0, batch = 0, batches = 0;
  std::string path, out;
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;

  // ---- setting up ----
  // --resume on a folder `out` that holds no config.json yet: the flags given start the run.
  virtual void config_missing(const std::string& out) {}
  // --init imagenet:PATH loaded: which tensors were adapted (conv1 to `in_channels` channels by
  // the --conv1 `conv1` rule) and which were drawn afresh.
  virtual void imagenet_init(const InitReport& report, const std::string& conv1, int64_t in_channels) {}
  // Everything is checked and the run is about to touch its folder.
  virtual void run_start(const RunStart& start) {}
  // --resume found a saved state: `epochs_done` finished epochs, plus `batches_done` batches of
  // the next one (a stop request mid-epoch; 0 otherwise).
  virtual void resumed(const std::string& out, int64_t epochs_done, int64_t batches_done) {}
  // --resume on a run with a config.json but no saved state yet: it starts at epoch 1.
  virtual void nothing_to_resume(const std::string& out) {}

  // ---- each epoch ----
  // Epoch `epoch` (1-based) of `epochs` begins; `batches` batches remain in it.
  virtual void epoch_start(int64_t epoch, int64_t epochs, int64_t batches) {}
  // A batch of `images` images is trained; `mean_loss` is the epoch's mean training loss over the
  // batches read back so far (on a GPU they are read back in groups; 0 before the first).
  virtual void batch_end(int64_t images, double mean_loss) {}
  // The epoch's training batches are over (validation comes next, or a stop request was seen).
  virtual void batches_end() {}
  enum class CheckpointKind { Best, Resume };
  // A file was written atomically at `path`: the best model so far, or the resumable state.
  virtual void checkpoint_saved(CheckpointKind kind, const std::string& path) {}
  // Epoch record.epoch of `epochs` is finished, validated and saved; `improved`: it is the best.
  virtual void epoch_end(const EpochRecord& record, int64_t epochs, bool improved) {}

  // ---- how a run ends before its last epoch ----
  // --stop-after: this invocation ran its `epochs` epochs; --resume continues.
  virtual void stop_after(int64_t epochs) {}
  // A stop request (TrainConfig::stop_requested) was seen; the state is saved, --resume continues.
  virtual void interrupted(const Interruption& where) {}
  // No better val AUC for `patience` epochs.
  virtual void early_stop(int64_t patience) {}
};

}  // namespace lb::models
