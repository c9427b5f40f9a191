// train.cc: `lightbox train`: trains (or fine-tunes) ResNet18 on a MedMNIST .npz.
//
//   lightbox train --data data/pneumoniamnist.npz --out runs/seed            # the seed's recipe
//   lightbox train --train-only fc,layer4 --lr 0.0033 --momentum 0.3 ...      # a freezing experiment
//   lightbox train --init imagenet:resnet18_imagenet.safetensors --train-only fc   # transfer learning
//   lightbox train --unfreeze-every 2 ...                                     # gradual unfreezing
//   lightbox train --out runs/seed --resume                                   # continue a run
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "models/trainer.h"
#include "tools/cli/commands.h"
#include "tools/cli/train_printer.h"

namespace lb::cli {

namespace {

struct TrainOptions {
  models::TrainConfig cfg;
  bool quiet = false;
  int threads = 0;
  DeviceOptions device;
};

// Ctrl-C asks the trainer to stop after the batch in flight and save a resumable state. The
// handler only sets this flag (an atomic store is async-signal-safe); SA_RESETHAND makes a second
// Ctrl-C kill at once, the usual escape when a save takes too long.
std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Installs on_sigint for the life of one training run.
class SigintScope {
 public:
  SigintScope() {
    struct sigaction sa {};
    sa.sa_handler = &on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintScope() { sigaction(SIGINT, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

int run_train(TrainOptions& o) {
  apply_threads(o.threads);
  o.cfg.device = apply_device_options(o.device).str();
  g_interrupted.store(false);
  o.cfg.stop_requested = &g_interrupted;
  SigintScope sigint;
  TrainPrinter printer(!o.quiet);
  const models::TrainResult r = models::train_model(o.cfg, &printer);
  if (r.interrupted) return 130;  // 128 + SIGINT, as a shell reports a Ctrl-C'd program
  std::printf("best epoch %lld: val AUC %.4f\nbest checkpoint: %s\nrun folder: %s\n", (long long)r.best_epoch,
              r.best_val_auc, r.best_path.c_str(), o.cfg.out.c_str());
  return 0;
}

}  // namespace

// Adds every TrainConfig field as a flag; shared by `train` and `demo`.
void add_train_flags(CLI::App* sub, models::TrainConfig& c) {
  sub->add_option("--data", c.data, "MedMNIST .npz file")->capture_default_str();
  sub->add_option("--out", c.out, "run folder")->capture_default_str();
  sub->add_option("--init", c.init, "random | checkpoint:PATH | imagenet:PATH (tools/convert_weights.py)")
      ->capture_default_str();
  sub->add_option("--conv1", c.conv1, "imagenet init on grey data: sum | mean | red | random (conv1's 3 -> 1 channel)")
      ->capture_default_str();
  sub->add_option("--epochs", c.epochs, "epochs")->capture_default_str();
  sub->add_option("--batch-size", c.batch_size, "batch size")->capture_default_str();
  sub->add_option("--optimizer", c.optimizer, "sgd | adamw")->capture_default_str();
  sub->add_option("--lr", c.lr, "learning rate (peak for onecycle)")->capture_default_str();
  sub->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  sub->add_option("--weight-decay", c.weight_decay, "weight decay")->capture_default_str();
  sub->add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  sub->add_option("--schedule", c.schedule,
                  "none | cosine | onecycle | onecycle:PCT (warm-up fraction, 0.3 alone) | step:EPOCHS:GAMMA")
      ->capture_default_str();
  sub->add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up epochs")->capture_default_str();
  sub->add_option("--train-only", c.train_only,
                  "comma-separated module prefixes to train (e.g. fc,layer4); others frozen");
  sub->add_option(
         "--unfreeze-every", c.unfreeze_every,
         "gradual unfreezing: start with --train-only (default fc), unfreeze one more stage backwards every K epochs")
      ->capture_default_str();
  sub->add_option("--augment", c.augment,
                  "none | light | shift=2,rotate=10,brightness=0.1,contrast=0.1,hflip=0; also translate, scale, gamma, "
                  "noise, fill=zero|border (docs/05)")
      ->capture_default_str();
  sub->add_option("--label-smoothing", c.label_smoothing,
                  "single-label tasks: train on (1 - e) one-hot + e / classes (torch's label_smoothing)")
      ->capture_default_str();
  sub->add_option("--mix", c.mix,
                  "batch blending: none | mixup:ALPHA | cutmix:ALPHA (lam ~ Beta(ALPHA, ALPHA); single-label tasks)")
      ->capture_default_str();
  sub->add_option("--ema", c.ema,
                  "validate and checkpoint an exponential moving average of the weights with this decay (e.g. 0.998; "
                  "0 = off)")
      ->capture_default_str();
  sub->add_option("--tta", c.tta,
                  "test-time augmentation when validating: 1 (off), 5 (one-pixel shifts) or 9 (with diagonals)")
      ->capture_default_str();
  sub->add_option("--select", c.select, "the best epoch: auc (highest val AUC) or loss (lowest val loss)")
      ->capture_default_str();
  sub->add_option("--norm-mean", c.norm_mean, "input normalisation mean (pixel/255 units)")->capture_default_str();
  sub->add_option("--norm-std", c.norm_std, "input normalisation std")->capture_default_str();
  sub->add_option("--seed", c.seed, "random seed (init, shuffling, augmentation)")->capture_default_str();
  sub->add_option("--patience", c.patience, "early stopping patience in epochs (0 = off)")->capture_default_str();
}

Command train_command() {
  return {"train", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<TrainOptions>();
            CLI::App* sub = app.add_subcommand("train", "train or fine-tune ResNet18 (freezing, unfreezing, resume)");
            add_train_flags(sub, o->cfg);
            sub->add_flag("--resume", o->cfg.resume, "continue the run in --out from its last finished epoch");
            sub->add_option("--stop-after", o->cfg.stop_after,
                            "leave after N epochs of this invocation (continue with --resume)");
            sub->add_flag("--quiet", o->quiet, "no progress bar");
            sub->add_flag("--graph", o->cfg.graph,
                          "record the training step once as a CUDA Graph and replay it per batch (--device cuda)");
            add_threads_option(sub, &o->threads);
            add_device_options(sub, &o->device);
            return [o] { return run_train(*o); };
          }};
}

}  // namespace lb::cli
