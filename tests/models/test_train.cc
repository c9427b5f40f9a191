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
//   - early stopping stops after `patience` epochs without a better val AUC.
// Wall-clock seconds are the only field allowed to differ between two runs; they are removed
// before histories are compared.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "engine/io/file.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
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
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "augment",  "batch_size", "conv1",      "data",           "epochs",        "init",        "lr",
                "momentum", "nesterov",   "norm_mean",  "norm_std",       "optimizer",     "out",         "patience",
                "schedule", "seed",       "train_only", "unfreeze_every", "warmup_epochs", "weight_decay"}));
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
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.init = "imagenet"; }), "--init"));
  EXPECT_TRUE(contains(error_with([](TrainConfig& c) { c.augment = "zoom=2"; }), "--augment"));
  EXPECT_FALSE(fs::exists(dir + "/run/history.json"));
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
  const TrainResult r = train_model(c);
  EXPECT_TRUE(r.stopped_early);
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

}  // namespace
}  // namespace lb::models
