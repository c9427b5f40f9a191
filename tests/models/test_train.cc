// test_train.cc: the trainer (models/trainer.h) end to end on a tiny synthetic dataset
// (tests/support/tiny_dataset.h: 48/16/16 images of 16x16, a ResNet18 epoch in well under a
// second), checking the promises a run folder makes:
//   - CPU determinism: the same config gives the same history and bitwise the same weights;
//   - resume: 3 epochs in one go equal 2 epochs, a stop, and a --resume, bit for bit (the
//     loader and augmentation replay from (seed, epoch), the optimizer state is in the file);
//   - the NaN guard names the loss and --lr and leaves the last good resume state untouched;
//   - freezing (--train-only) leaves frozen weights bitwise unchanged even with momentum and
//     weight decay; gradual unfreezing opens fc, then layer4, then layer3;
//   - config.json holds every field of TrainConfig that defines the run, and reads back;
//   - early stopping stops after `patience` epochs without a better val AUC;
//   - what the trainer reports: every event of models/train_observer.h in its documented order,
//     with the numbers the run folder holds, and not one byte on stdout or stderr (library code
//     never prints; tools/cli/train_printer.cc does, and tests/cli/test_cli_train.cc checks it).
// Wall-clock seconds are the only field allowed to differ between two runs; they are removed
// before histories are compared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "engine/io/file.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "models/predict.h"
#include "models/trainer.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb::models {
namespace {
using test::same_tensors;

using lb::test::error_of;

using nlohmann::json;
namespace fs = std::filesystem;

// A small, fast run on a fresh tiny dataset in `dir`.
TrainConfig tiny_config(const std::string& dir, const std::string& run = "run") {
  TrainConfig c;
  c.data = dir + "/tiny.npz";
  if (!fs::exists(c.data)) test::write_tiny_dataset(c.data);
  c.out = dir + "/" + run;
  c.epochs = 2;
  c.batch_size = 16;
  c.lr = 0.05;
  c.seed = 3;
  return c;
}

// history.json without the wall-clock "seconds" of each epoch.
json history_of(const std::string& run) {
  json h = json::parse(io::read_file(run + "/history.json"));
  for (auto& r : h) r.erase("seconds");
  return h;
}

Tensor tensor_in(const std::string& path, const std::string& key) {
  for (const auto& [k, t] : io::load_safetensors(path).tensors)
    if (k == key) return t;
  ADD_FAILURE() << path << " has no " << key;
  return Tensor::zeros({1});
}

// The weights train_model starts from: ResNet18(channels, classes, Generator(seed)). Building a
// ResNet18 draws 11M random numbers (about a second), so each seed is built once per process.
Tensor initial(const std::string& key, uint64_t seed) {
  static std::map<uint64_t, nn::StateDict> cache;
  if (!cache.count(seed)) {
    Generator gen(seed);
    cache[seed] = ResNet18(1, 2, gen).state_dict();
  }
  for (const auto& [k, t] : cache.at(seed))
    if (k == key) return t;
  ADD_FAILURE() << "no " << key;
  return Tensor::zeros({1});
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Every event a trainer reports, one string each ("epoch_start 1/2 3"), for comparing sequences.
struct Recorder : TrainObserver {
  std::vector<std::string> events;
  RunStart start;
  std::vector<EpochRecord> records;
  std::vector<int64_t> images;  // batch_end's
  Interruption where;
  void add(const std::string& e) { events.push_back(e); }
  void config_missing(const std::string& out) override { add("config_missing"); }
  void imagenet_init(const InitReport&, const std::string&, int64_t) override { add("imagenet_init"); }
  void run_start(const RunStart& s) override {
    start = s;
    add("run_start");
  }
  void resumed(const std::string& out, int64_t epochs, int64_t batches) override {
    add("resumed " + std::to_string(epochs) + " " + std::to_string(batches));
  }
  void nothing_to_resume(const std::string& out) override { add("nothing_to_resume"); }
  void epoch_start(int64_t epoch, int64_t epochs, int64_t batches) override {
    add("epoch_start " + std::to_string(epoch) + "/" + std::to_string(epochs) + " " + std::to_string(batches));
  }
  void batch_end(int64_t n, double mean_loss) override {
    images.push_back(n);
    add(std::isfinite(mean_loss) && mean_loss > 0 ? "batch_end" : "batch_end with a bad loss");
  }
  void batches_end() override { add("batches_end"); }
  void checkpoint_saved(CheckpointKind kind, const std::string& path) override {
    add(kind == CheckpointKind::Best ? "saved best" : "saved resume");
  }
  void epoch_end(const EpochRecord& r, int64_t epochs, bool improved) override {
    records.push_back(r);
    add("epoch_end " + std::to_string(r.epoch) + "/" + std::to_string(epochs) + (improved ? " best" : ""));
  }
  void stop_after(int64_t epochs) override { add("stop_after " + std::to_string(epochs)); }
  void interrupted(const Interruption& w) override {
    where = w;
    add("interrupted");
  }
  void early_stop(int64_t patience) override { add("early_stop " + std::to_string(patience)); }
};

using Events = std::vector<std::string>;

// ---- determinism and resume ------------------------------------------------------------------------

TEST(Trainer, SameSeedGivesTheSameRunBitForBit) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir, "a");
  c.augment = "light";  // augmentation must replay too
  const TrainResult ra = train_model(c);
  c.out = dir + "/b";
  const TrainResult rb = train_model(c);
  ASSERT_EQ(ra.history.size(), 2u);
  EXPECT_EQ(history_of(dir + "/a"), history_of(dir + "/b"));
  EXPECT_TRUE(same_tensors(dir + "/a/checkpoints/best.safetensors", dir + "/b/checkpoints/best.safetensors"));
  EXPECT_TRUE(same_tensors(dir + "/a/checkpoints/resume.safetensors", dir + "/b/checkpoints/resume.safetensors"));
  EXPECT_EQ(ra.best_epoch, rb.best_epoch);
  // The run did something: the weights moved and the loss changed between epochs.
  EXPECT_FALSE(bitwise_equal(tensor_in(ra.last_path, "conv1.weight"), initial("conv1.weight", 3)));
  EXPECT_NE(ra.history[0].train_loss, ra.history[1].train_loss);
}

TEST(Trainer, StopAndResumeEqualsOneUninterruptedRun) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir, "whole");
  c.epochs = 3;
  c.schedule = "cosine";  // the schedule position must survive the stop too
  c.augment = "shift=1";
  train_model(c);
  c.out = dir + "/sliced";
  c.stop_after = 2;
  const TrainResult first = train_model(c);
  EXPECT_EQ(first.history.size(), 2u);
  EXPECT_EQ(history_of(dir + "/sliced").size(), 2u);
  TrainConfig r;
  r.out = dir + "/sliced";  // everything else comes from the run's config.json
  r.resume = true;
  const TrainResult second = train_model(r);
  EXPECT_EQ(second.history.size(), 3u);
  EXPECT_EQ(history_of(dir + "/whole"), history_of(dir + "/sliced"));
  EXPECT_TRUE(
      same_tensors(dir + "/whole/checkpoints/resume.safetensors", dir + "/sliced/checkpoints/resume.safetensors"));
  EXPECT_TRUE(same_tensors(dir + "/whole/checkpoints/best.safetensors", dir + "/sliced/checkpoints/best.safetensors"));
}

// Resumes the run in `out` after setting its config.json's lr; returns the error (empty if none).
std::string resume_with_lr(const std::string& out, double lr) {
  json cfg = json::parse(io::read_file(out + "/config.json"));
  cfg["lr"] = lr;
  io::write_file_atomic(out + "/config.json", cfg.dump(2));
  TrainConfig r;
  r.out = out;
  r.resume = true;
  return error_of([&] { train_model(r); });
}

TEST(Trainer, NanGuardNamesTheLossAndLrAndKeepsTheLastGoodState) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.stop_after = 1;
  train_model(c);
  const std::string resume = c.out + "/checkpoints/resume.safetensors";
  const std::string saved = dir + "/epoch1.safetensors";
  fs::copy_file(resume, saved);
  // Divergence is not monotonic in lr: batch norm rescales the conv weights, so at 1e15 or 1e30
  // the loss stays a finite ~1e29 in float32. These two values (deterministic for this seed and
  // data) reach NaN by the two routes the guard covers:
  //   1e10: a training batch's loss is NaN (epoch 2, batch 3);
  //   1e6:  every training loss is finite but the running statistics overflow, so val is NaN.
  for (const double lr : {1e10, 1e6}) {
    SCOPED_TRACE("lr " + std::to_string(lr));
    const std::string msg = resume_with_lr(c.out, lr);
    ASSERT_FALSE(msg.empty()) << "training did not stop";
    EXPECT_TRUE(contains(msg, "diverged")) << msg;
    EXPECT_TRUE(contains(msg, "loss is")) << msg;
    EXPECT_TRUE(contains(msg, "--lr")) << msg;
    EXPECT_TRUE(contains(msg, "epoch 2")) << msg;
    EXPECT_TRUE(contains(msg, resume)) << msg;
    // Nothing of the failed epoch was saved.
    EXPECT_TRUE(same_tensors(resume, saved));
    EXPECT_EQ(json::parse(io::load_safetensors(resume).metadata.at("trainer")).at("next_epoch"), 1);
    EXPECT_EQ(history_of(c.out).size(), 1u);
  }
}

// ---- freezing -------------------------------------------------------------------------------------

TEST(Trainer, TrainOnlyFcLeavesEverythingElseBitwiseUnchanged) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  c.train_only = "fc";
  c.weight_decay = 5e-4;  // decay and momentum must skip frozen weights, not shrink them
  const TrainResult r = train_model(c);
  EXPECT_EQ(r.history.at(0).trainable, (std::vector<std::string>{"fc"}));
  for (const char* k : {"conv1.weight", "bn1.weight", "layer2.0.downsample.0.weight", "layer4.1.conv2.weight"})
    EXPECT_TRUE(bitwise_equal(tensor_in(r.last_path, k), initial(k, c.seed))) << k << " moved while frozen";
  for (const char* k : {"fc.weight", "fc.bias"})
    EXPECT_FALSE(bitwise_equal(tensor_in(r.last_path, k), initial(k, c.seed))) << k << " did not train";
}

TEST(Trainer, GradualUnfreezingOpensOneStageBackwardsPerStep) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 3;
  c.unfreeze_every = 1;
  const TrainResult r = train_model(c);
  const json h = history_of(c.out);
  ASSERT_EQ(h.size(), 3u);
  // Stages are listed in the model's order (layer3, layer4, fc), the order of named_parameters.
  EXPECT_EQ(h[0]["trainable"], json({"fc"}));
  EXPECT_EQ(h[1]["trainable"], json({"layer4", "fc"}));
  EXPECT_EQ(h[2]["trainable"], json({"layer3", "layer4", "fc"}));
  EXPECT_TRUE(bitwise_equal(tensor_in(r.last_path, "layer2.1.conv2.weight"), initial("layer2.1.conv2.weight", c.seed)));
  EXPECT_FALSE(
      bitwise_equal(tensor_in(r.last_path, "layer3.0.conv1.weight"), initial("layer3.0.conv1.weight", c.seed)));
}

// Each epoch of history.json says where and how it was computed; a record from before those
// fields existed still loads (they are optional), and a wrong type there is an error, not a crash.
TEST(Trainer, HistoryRecordsTheDeviceAndMathOfEachEpoch) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  train_model(c);
  const json h = history_of(c.out);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0]["device"], "cpu");
  EXPECT_EQ(h[0]["math"], "fp32");
  EXPECT_EQ(h[0]["graph"], false);
  json old = h[0];
  old["seconds"] = 1.0;
  old.erase("device");
  old.erase("math");
  old.erase("graph");
  const EpochRecord r = EpochRecord::from_json(old);
  EXPECT_EQ(r.device, "");
  EXPECT_FALSE(r.graph);
  old["graph"] = "yes";
  EXPECT_THROW(EpochRecord::from_json(old), json::exception);
}

TEST(Trainer, UnknownTrainOnlyPrefixIsAnError) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.train_only = "fc,layer9";
  const std::string msg = error_of([&] { train_model(c); });
  EXPECT_TRUE(contains(msg, "--train-only")) << msg;
  EXPECT_TRUE(contains(msg, "'layer9'")) << msg;
  EXPECT_FALSE(fs::exists(c.out + "/config.json"));  // checked before anything is written
}

// ---- configuration --------------------------------------------------------------------------------

TEST(Trainer, ConfigJsonHoldsEveryFieldThatDefinesTheRun) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  c.optimizer = "adamw";
  c.conv1 = "mean";  // used only by an imagenet init, but part of the run's description
  c.lr = 0.002;
  c.momentum = 0.5;
  c.weight_decay = 0.01;
  c.nesterov = true;
  c.schedule = "step:1:0.5";
  c.warmup_epochs = 1;
  c.train_only = "layer4,fc";
  c.augment = "shift=1,hflip=1";
  c.label_smoothing = 0.05;
  c.select = "loss";
  c.mix = "cutmix:1";
  c.ema = 0.99;
  c.tta = 5;
  c.norm_mean = 0.4;
  c.norm_std = 0.25;
  c.seed = 17;
  c.patience = 3;
  train_model(c);
  const json j = json::parse(io::read_file(c.out + "/config.json"));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  // Every TrainConfig field except resume, stop_after, device, graph and stop_requested, which say
  // how this invocation runs, not what the run is.
  EXPECT_EQ(keys, (std::vector<std::string>{"augment",     "batch_size", "conv1",          "data",
                                            "ema",         "epochs",     "init",           "label_smoothing",
                                            "lr",          "mix",        "momentum",       "nesterov",
                                            "norm_mean",   "norm_std",   "optimizer",      "out",
                                            "patience",    "schedule",   "seed",           "select",
                                            "train_only",  "tta",        "unfreeze_every", "warmup_epochs",
                                            "weight_decay"}));
  const TrainConfig back = TrainConfig::from_json(j);
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.optimizer, "adamw");
  EXPECT_EQ(back.seed, 17u);
  EXPECT_EQ(back.norm_std, 0.25);
  // The best checkpoint carries the same configuration and the normalization it was trained with.
  const Checkpoint ck = load_checkpoint(c.out + "/checkpoints/best.safetensors");
  EXPECT_EQ(ck.meta.config, j);
  EXPECT_EQ(ck.meta.norm.mean, 0.4);
  EXPECT_EQ(ck.meta.image_size, 16);
}

TEST(Trainer, BadConfigurationsAreErrorsBeforeAnyWork) {
  const std::string dir = test::fresh_dir();
  auto error_with = [&](const std::function<void(TrainConfig&)>& change) {
    TrainConfig c = tiny_config(dir);
    change(c);
    return error_of([&] { train_model(c); });
  };
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.lr = -1; }), "--lr"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.batch_size = 1; }), "--batch-size"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.optimizer = "rmsprop"; }), "--optimizer"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.schedule = "step:x"; }), "--schedule"));
  for (const char* bad : {"onecycle:1.5", "onecycle:0", "onecycle:x", "onecycle:", "onecycle:0.2x"}) {
    const std::string msg = error_with([&](TrainConfig& c) { c.schedule = bad; });
    EXPECT_TRUE(contains(msg, "--schedule onecycle:PCT")) << bad << " gave: " << msg;
  }
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.init = "imagenet"; }), "--init"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.augment = "zoom=2"; }), "--augment"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.mix = "mixup"; }), "--mix"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.ema = 1.0; }), "--ema"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.ema = -0.5; }), "--ema"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.tta = 3; }), "--tta"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.tta = int64_t{1} << 40; }), "--tta"));
  EXPECT_FALSE(fs::exists(dir + "/run/history.json"));
}

// --select loss keeps the epoch of the lowest val loss (its checkpoint is best.safetensors), and
// --label-smoothing changes the loss trained on (the same seed's first-epoch train loss differs,
// and is higher: smoothed targets can never be fitted to zero loss).
TEST(Trainer, SelectByValLossAndLabelSmoothingChangeTheRun) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 4;
  c.select = "loss";
  const TrainResult r = train_model(c);
  size_t lowest = 0;
  for (size_t i = 1; i < r.history.size(); ++i)
    if (r.history[i].val_loss < r.history[lowest].val_loss) lowest = i;
  EXPECT_EQ(r.best_epoch, static_cast<int64_t>(lowest) + 1);
  EXPECT_EQ(r.best_val_auc, r.history[lowest].val_auc);
  c.out = dir + "/smoothed";
  c.epochs = 1;
  c.select = "auc";
  c.label_smoothing = 0.2;
  const TrainResult s = train_model(c);
  c.out = dir + "/plain";
  c.label_smoothing = 0;
  const TrainResult p = train_model(c);
  EXPECT_GT(s.history[0].train_loss, p.history[0].train_loss);
  c.select = "acc";
  EXPECT_TRUE(contains(error_of([&] { train_model(c); }), "--select"));
  c.select = "auc";
  c.label_smoothing = 1.0;
  EXPECT_TRUE(contains(error_of([&] { train_model(c); }), "--label-smoothing"));
}

// --ema: validation judges the moving average and best.safetensors holds it (not the trained
// weights); the resume file keeps both. Checked by loading the average back from the resume file
// and predicting val with it: the same loss the history recorded.
TEST(Trainer, EmaValidatesAndCheckpointsTheAverage) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;  // the only epoch is the best: best.safetensors is the average after it
  c.ema = 0.9;
  const TrainResult r = train_model(c);
  nn::StateDict trained, average;
  for (const auto& [k, t] : io::load_safetensors(r.last_path).tensors) {
    if (k.rfind("ema.", 0) == 0)
      average.emplace_back(k.substr(4), t);
    else if (k.rfind("optimizer.", 0) != 0)
      trained.emplace_back(k, t);
  }
  ASSERT_EQ(average.size(), trained.size());
  const auto best = io::load_safetensors(r.best_path).tensors;
  int64_t same_as_average = 0, same_as_trained = 0;
  for (size_t i = 0; i < best.size(); ++i) {
    same_as_average += bitwise_equal(best[i].second, average[i].second);
    same_as_trained +=
        bitwise_equal(best[i].second, trained[i].second) && best[i].first.find("num_batches") == std::string::npos;
  }
  EXPECT_EQ(same_as_average, static_cast<int64_t>(best.size()));
  EXPECT_LT(same_as_trained, static_cast<int64_t>(best.size()) / 2);  // frozen-free run: most tensors moved apart
  const Checkpoint ck = load_checkpoint(r.best_path);
  const data::Dataset ds = data::load_medmnist(c.data);
  EXPECT_NEAR(predict(*ck.model, ds.val, ck.meta.norm).loss, r.history[0].val_loss, 1e-9);
  Generator gen(0);
  ResNet18 plain(1, 2, gen);
  plain.load_state_dict(trained);
  EXPECT_GT(std::fabs(predict(plain, ds.val, ck.meta.norm).loss - r.history[0].val_loss), 1e-6);
}

// Every new part of a run replays: mixup's blends, the average and TTA validation survive a stop
// and --resume bit for bit; and blending changes what is trained (the first epoch's loss).
TEST(Trainer, StopAndResumeWithMixEmaAndTtaEqualsOneRun) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir, "whole");
  c.epochs = 3;
  c.mix = "mixup:0.4";
  c.ema = 0.9;
  c.tta = 5;
  const TrainResult whole = train_model(c);
  c.out = dir + "/sliced";
  c.stop_after = 2;
  train_model(c);
  TrainConfig r;
  r.out = dir + "/sliced";
  r.resume = true;
  train_model(r);
  EXPECT_EQ(history_of(dir + "/whole"), history_of(dir + "/sliced"));
  EXPECT_TRUE(
      same_tensors(dir + "/whole/checkpoints/resume.safetensors", dir + "/sliced/checkpoints/resume.safetensors"));
  EXPECT_TRUE(same_tensors(dir + "/whole/checkpoints/best.safetensors", dir + "/sliced/checkpoints/best.safetensors"));
  c.out = dir + "/plain";
  c.stop_after = 0;
  c.epochs = 1;
  c.mix = "none";
  const TrainResult plain = train_model(c);
  EXPECT_NE(plain.history[0].train_loss, whole.history[0].train_loss);
  EXPECT_NE(plain.history[0].train_acc, whole.history[0].train_acc);
}

TEST(Trainer, MixIsRefusedOnMultiLabelData) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  test::TinySpec spec;
  spec.multilabel = true;
  spec.num_classes = 3;
  c.data = test::write_tiny_dataset(dir + "/multi.npz", spec);
  c.mix = "mixup:0.2";
  EXPECT_TRUE(contains(error_of([&] { train_model(c); }), "--mix blends single-label targets"));
}

// The recipe files docs/results.md and docs/05 tell users to run hold valid runs: every key is a
// config.json key and every value passes validate_config (a typo would otherwise surface minutes
// into a sweep, or as a silently ignored key).
TEST(Trainer, ShippedRecipeFilesAreValidConfigurations) {
  const json known = TrainConfig().to_json();
  int64_t recipes = 0;
  for (const char* file : {"tools/results.json", "tools/search.json", "tools/parity/recipes.json"}) {
    const json j = json::parse(io::read_file(std::string(LB_SOURCE_DIR) + "/" + file));
    for (const auto& [name, settings] : j.items()) {
      for (const auto& [key, value] : settings.items())
        EXPECT_TRUE(known.contains(key)) << file << ": " << name << " sets unknown '" << key << "'";
      const json recipe = settings;  // C++17: a lambda cannot capture a structured binding
      EXPECT_EQ(error_of([&] { validate_config(TrainConfig::from_json(recipe)); }), "") << file << ": " << name;
      ++recipes;
    }
  }
  EXPECT_GE(recipes, 10);
}

// ---- early stopping ---------------------------------------------------------------------------------

TEST(Trainer, EarlyStoppingAfterPatienceEpochsWithoutBetterValAuc) {
  const std::string dir = test::fresh_dir();
  // A val split of 16 copies of one image with labels 0, 1, 0, 1, ...: every model scores them
  // alike, so val AUC is 0.5 every epoch and never improves after the first.
  auto arrays = test::tiny_arrays();
  Tensor val = arrays[2].second.clone();  // val_images (16, 16, 16)
  for (int64_t i = 1; i < 16; ++i)
    std::copy(val.data<uint8_t>(), val.data<uint8_t>() + 256, val.data<uint8_t>() + i * 256);
  arrays[2].second = val;
  io::save_npz(dir + "/tiny.npz", arrays);
  TrainConfig c = tiny_config(dir);
  c.epochs = 6;
  c.patience = 2;
  Recorder seen;
  const TrainResult r = train_model(c, &seen);
  EXPECT_TRUE(r.stopped_early);
  ASSERT_FALSE(seen.events.empty());
  EXPECT_EQ(seen.events.back(), "early_stop 2");
  EXPECT_EQ(seen.events.end()[-2], "epoch_end 3/6");
  ASSERT_EQ(r.history.size(), 3u);  // epoch 1 is best; epochs 2 and 3 are the two without gain
  for (const auto& e : r.history) EXPECT_EQ(e.val_auc, 0.5) << "epoch " << e.epoch;
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_EQ(history_of(c.out).size(), 3u);
  // Without patience the same run goes the distance.
  c.out = dir + "/patient";
  c.patience = 0;
  c.epochs = 3;
  const TrainResult full = train_model(c);
  EXPECT_FALSE(full.stopped_early);
  EXPECT_EQ(full.history.size(), 3u);
}

// ---- what the trainer reports ----------------------------------------------------------------------

TEST(TrainerEvents, OneEpochReportsEveryEventInOrderAndPrintsNothing) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  Recorder seen;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  const TrainResult r = train_model(c, &seen);
  const std::string err = testing::internal::GetCapturedStderr();
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(err, "");
  EXPECT_EQ(out, "");
  // 48 training images in batches of 16: three batches.
  EXPECT_EQ(seen.events, (Events{"run_start", "epoch_start 1/1 3", "batch_end", "batch_end", "batch_end", "batches_end",
                                 "saved best", "saved resume", "epoch_end 1/1 best"}));
  EXPECT_EQ(seen.images, (std::vector<int64_t>{16, 16, 16}));
  // run_start describes the data as the file holds it.
  EXPECT_EQ(seen.start.data, c.data);
  EXPECT_EQ(seen.start.height, 16);
  EXPECT_EQ(seen.start.width, 16);
  EXPECT_EQ(seen.start.channels, 1);
  EXPECT_EQ(seen.start.num_classes, 2);
  ASSERT_EQ(seen.start.splits.size(), 3u);
  EXPECT_EQ(seen.start.splits[0].name, "train");
  EXPECT_EQ(seen.start.splits[0].size, 48);
  EXPECT_EQ(seen.start.splits[0].counts, (std::vector<int64_t>{24, 24}));  // labels alternate 0, 1
  EXPECT_EQ(seen.start.splits[2].name, "test");
  EXPECT_EQ(seen.start.splits[2].size, 16);
  EXPECT_GE(seen.start.class_names.size(), 2u);
  // epoch_end's record is the one the result and history.json hold.
  ASSERT_EQ(seen.records.size(), 1u);
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_EQ(seen.records[0].to_json(), r.history[0].to_json());
  EXPECT_EQ(json::parse(io::read_file(c.out + "/history.json"))[0], r.history[0].to_json());
}

TEST(TrainerEvents, SilentWithoutAnObserver) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  train_model(c);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
}

TEST(TrainerEvents, StopAfterAndResumeAreReported) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.stop_after = 1;
  Recorder first;
  train_model(c, &first);
  ASSERT_GE(first.events.size(), 2u);
  EXPECT_EQ(first.events.end()[-2], "epoch_end 1/2 best");
  EXPECT_EQ(first.events.back(), "stop_after 1");
  TrainConfig r;
  r.out = c.out;
  r.resume = true;
  Recorder second;
  train_model(r, &second);
  ASSERT_GE(second.events.size(), 3u);
  EXPECT_EQ(second.events[0], "run_start");
  EXPECT_EQ(second.events[1], "resumed 1 0");
  EXPECT_EQ(second.events[2], "epoch_start 2/2 3");
  EXPECT_EQ(second.start.data, c.data);  // the run's own config.json, not the flags' default
}

TEST(TrainerEvents, ResumeWithNothingSavedIsReported) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  c.epochs = 1;
  c.resume = true;
  // No config.json: the flags start the run.
  Recorder fresh;
  train_model(c, &fresh);
  ASSERT_GE(fresh.events.size(), 3u);
  EXPECT_EQ(fresh.events[0], "config_missing");
  EXPECT_EQ(fresh.events[1], "run_start");
  EXPECT_EQ(fresh.events[2], "nothing_to_resume");
  // A config.json but no saved state (a run killed in its first epoch): it starts at epoch 1.
  fs::remove(c.out + "/checkpoints/resume.safetensors");
  Recorder again;
  train_model(c, &again);
  ASSERT_GE(again.events.size(), 3u);
  EXPECT_EQ(again.events[0], "run_start");
  EXPECT_EQ(again.events[1], "nothing_to_resume");
  EXPECT_EQ(again.events[2], "epoch_start 1/1 3");
}

TEST(TrainerEvents, AStopRequestSavesAndReportsWhere) {
  const std::string dir = test::fresh_dir();
  TrainConfig c = tiny_config(dir);
  const std::atomic<bool> stop{true};  // already asked: the run stops before its first batch
  c.stop_requested = &stop;
  Recorder seen;
  const TrainResult r = train_model(c, &seen);
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(seen.events, (Events{"run_start", "epoch_start 1/2 3", "batches_end", "saved resume", "interrupted"}));
  EXPECT_EQ(seen.where.epoch, 1);
  EXPECT_EQ(seen.where.batch, 0);
  EXPECT_EQ(seen.where.batches, 3);
  EXPECT_EQ(seen.where.path, r.last_path);
  EXPECT_EQ(seen.where.out, c.out);
  EXPECT_TRUE(fs::exists(r.last_path));
}

}  // namespace
}  // namespace lb::models
