// train.h: what a training run is made of: its configuration (TrainConfig, saved as config.json),
// its per-epoch records (history.json), its result, and the parts of the recipe built from the
// configuration (schedule, optimizer, which stages train when). The loop itself, with freezing,
// gradual unfreezing, validation every epoch, best-by-val-AUC checkpoints, early stopping, resume
// and a NaN guard, is models/trainer.h; what it reports is models/train_observer.h.
//
// Defaults are the seed report's recipe: SGD lr 0.01, momentum 0.9, batch 128, 5 epochs, no
// augmentation, random init. Every field is a CLI flag of `lightbox train` and is written to the
// run's config.json, so a run folder says exactly how it was made.
//
// A run folder (cfg.out):
//   config.json                       this configuration
//   history.json                      one record per finished epoch
//   checkpoints/best.safetensors      the model with the best val AUC so far
//   checkpoints/resume.safetensors    model + optimizer + trainer state after the last finished
//                                     epoch (or the last batch, after a stop request), for --resume
// Every file is written atomically (io::write_file_atomic). Epoch e shuffles and augments from
// (seed, e) alone, so a run resumed from the end of epoch e (or from batch k of it) replays the
// rest exactly as an uninterrupted run would: bit for bit on the CPU with the same thread count.
// A run killed at any moment (SIGKILL included) resumes with --resume; docs/reliability.md.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/checkpoint.h"

namespace lb::optim {
class LRSchedule;
class Optimizer;
}  // namespace lb::optim

namespace lb::models {

struct TrainConfig {
  std::string data = "data/pneumoniamnist.npz";
  std::string out = "runs/train";
  std::string init = "random";  // random | checkpoint:PATH | imagenet:PATH (models/weights.h)
  std::string conv1 = "sum";    // imagenet init, grey data: sum | mean | red | random (weights.h)
  int64_t epochs = 5;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 0.0;
  bool nesterov = false;
  std::string schedule = "none";  // none | cosine | onecycle | step:EPOCHS:GAMMA
  int64_t warmup_epochs = 0;
  std::string train_only;        // comma-separated module prefixes ("fc,layer4"); empty = all
  int64_t unfreeze_every = 0;    // > 0: gradual unfreezing, one more stage backwards every k epochs
  std::string augment = "none";  // see engine/data/augment.h
  double label_smoothing = 0.0;  // single-label tasks: targets (1 - e) one-hot + e / classes
  std::string select = "auc";    // the best epoch: highest val "auc" or lowest val "loss"
  std::string mix = "none";      // none | mixup:ALPHA | cutmix:ALPHA (engine/data/mix.h)
  double ema = 0.0;              // > 0: validate and checkpoint a moving average of the weights
                                 // with this decay (models/weight_average.h)
  int64_t tta = 1;               // views averaged when validating and testing (models/predict.h)
  double norm_mean = 0.5, norm_std = 0.5;
  uint64_t seed = 0;
  int64_t patience = 0;    // early stopping after this many epochs without a better val AUC; 0 = off
  bool resume = false;     // continue the run in `out` from its last finished epoch
  int64_t stop_after = 0;  // > 0: leave after this many epochs of this invocation (resumable),
                           // for time-sliced runs; not part of the run's identity, not saved
  // Where to train: "cpu", "cuda" or "cuda:N". Like --threads, not part of the run's identity (not
  // saved): a run may be resumed on another device.
  std::string device = "cpu";
  // Record the training step once as a CUDA Graph and replay it per batch (models/graph_step.h);
  // needs a CUDA device. Not saved: it changes how a step is launched, not what it computes.
  bool graph = false;
  // When set and it becomes true (the CLI's SIGINT handler), training stops after the batch in
  // flight, saves a resumable state and returns with TrainResult::interrupted. Not saved.
  const std::atomic<bool>* stop_requested = nullptr;

  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double lr = 0, train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, val_auc = 0, seconds = 0;
  std::vector<std::string> trainable;  // stages with requires_grad this epoch
  // Where and how the epoch was computed (a run may resume on another device or math mode; none
  // of this is part of the run's identity): "cpu" or "cuda:N", "fp32" | "tf32" | "bf16", and
  // whether the step was replayed from a CUDA Graph. Empty / false in histories from before.
  std::string device, math;
  bool graph = false;
  nlohmann::json to_json() const;
  static EpochRecord from_json(const nlohmann::json& j);
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int64_t best_epoch = 0;
  double best_val_auc = 0;
  bool stopped_early = false;
  bool interrupted = false;  // stop_requested was seen: the state is saved, --resume continues
  std::string best_path, last_path;
};

// Reads a run's config.json text (what --resume trusts) into a validated configuration: bad JSON,
// a field of the wrong type or value is one lb::Error naming `what` and the field. Keys lightbox
// does not know are ignored (newer versions may add some).
TrainConfig parse_run_config(const std::string& text, const std::string& what);

// ---- the recipe's parts: what models/trainer.cc assembles a run from --------------------------------

// Throws lb::Error naming the flag unless every number of `c` is in range and every name is known.
void validate_config(const TrainConfig& c);
// The learning-rate schedule of c.schedule (with c.warmup_epochs of warm-up) over c.epochs epochs
// of `steps_per_epoch` steps.
std::shared_ptr<optim::LRSchedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch);
// Sets opt's lr to the schedule's value at global step `step` (epoch * steps_per_epoch + batch)
// and, for one-cycle driving SGD, the momentum torch's OneCycleLR cycles inversely to the lr
// (0.95 -> 0.85 -> 0.95, whatever --momentum says). Returns the lr. The trainer's step calls it
// before every batch; tests/models/test_train_parity.cc checks six steps against torch.
double apply_schedule(const optim::LRSchedule& s, optim::Optimizer& opt, int64_t step);
// c.optimizer over every parameter of `model` (frozen ones included: they have no gradient to step).
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, ResNet18& model);
// The module prefixes trainable in 0-based epoch `e`: c.train_only, plus one more stage of
// unfreeze_order() every c.unfreeze_every epochs.
std::vector<std::string> trainable_at(const TrainConfig& c, int64_t e);

// The stages in the order gradual unfreezing opens them: fc, layer4, layer3, layer2, layer1,
// then the stem (conv1, bn1).
const std::vector<std::string>& unfreeze_order();
// Sets requires_grad on every parameter: true iff its name starts with one of `prefixes`
// ("layer4" matches "layer4.0.conv1.weight"); empty prefixes = everything trainable. An unknown
// prefix is an error listing the valid ones. Returns the top-level stages left trainable.
std::vector<std::string> set_trainable(ResNet18& model, const std::vector<std::string>& prefixes);

}  // namespace lb::models
