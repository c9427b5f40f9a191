// train.cc: training from Python (models/trainer.h). The configuration is a dict with the keys
// of a run's config.json (TrainConfig::to_json) plus the per-invocation ones (resume, stop_after,
// device); every event the trainer reports (models/train_observer.h) reaches a Python callback as
// callback(event, info). Ctrl-C stops after the batch in flight, saves the resumable state (the
// CLI's stop request) and raises KeyboardInterrupt; train(..., resume=True) continues the run.
#include <nanobind/stl/string.h>

#include <atomic>
#include <set>

#include "models/trainer.h"
#include "python/src/core.h"

namespace lbpy {

namespace {

namespace lm = lb::models;

// Reports to a Python callable, taking the GIL for each call; also turns a cancellation request
// (Ctrl-C, engine/progress.h) into the trainer's stop request at the next batch.
class PyObserver : public lm::TrainObserver {
 public:
  PyObserver(nb::object cb, std::atomic<bool>* stop) : cb_(std::move(cb)), stop_(stop) {}
  void run_start(const lm::RunStart& s) override {
    emit("run_start", {{"data", s.data}, {"num_classes", s.num_classes}, {"class_names", s.class_names}});
  }
  void resumed(const std::string& out, int64_t epochs, int64_t batches) override {
    emit("resumed", {{"out", out}, {"epochs_done", epochs}, {"batches_done", batches}});
  }
  void epoch_start(int64_t epoch, int64_t epochs, int64_t batches) override {
    emit("epoch_start", {{"epoch", epoch}, {"epochs", epochs}, {"batches", batches}});
  }
  void batch_end(int64_t images, double mean_loss) override {
    if (lb::cancel_requested()) stop_->store(true);
    emit("batch_end", {{"images", images}, {"mean_loss", mean_loss}});
  }
  void checkpoint_saved(CheckpointKind kind, const std::string& path) override {
    emit("checkpoint_saved", {{"kind", kind == CheckpointKind::Best ? "best" : "resume"}, {"path", path}});
  }
  void epoch_end(const lm::EpochRecord& r, int64_t epochs, bool improved) override {
    nlohmann::json j = r.to_json();
    j["epochs"] = epochs;
    j["improved"] = improved;
    emit("epoch_end", j);
  }
  void stop_after(int64_t epochs) override { emit("stop_after", {{"epochs", epochs}}); }
  void interrupted(const lm::Interruption& w) override {
    emit("interrupted", {{"epoch", w.epoch}, {"batch", w.batch}, {"path", w.path}});
  }
  void early_stop(int64_t patience) override { emit("early_stop", {{"patience", patience}}); }

 private:
  void emit(const char* event, const nlohmann::json& info) {
    nb::gil_scoped_acquire gil;
    if (cb_.is_valid() && !cb_.is_none()) cb_(event, json_to_python(info));
  }
  nb::object cb_;
  std::atomic<bool>* stop_;
};

// The dict as a TrainConfig: config.json's keys (validated as --resume validates that file) and
// resume, stop_after, device; any other key is an error naming the known ones.
lm::TrainConfig config_from(const nb::dict& d) {
  nlohmann::json j = python_to_json(d);
  LB_CHECK(j.is_object(), "train: the configuration must be a dict");
  const nlohmann::json saved = lm::TrainConfig().to_json();
  std::set<std::string> known{"resume", "stop_after", "device"};
  for (const auto& item : saved.items()) known.insert(item.key());
  std::string names;
  for (const std::string& k : known) names += (names.empty() ? "" : ", ") + k;
  for (const auto& item : j.items())
    LB_CHECK(known.count(item.key()), "train: unknown setting '" << item.key() << "'; the settings are " << names);
  nlohmann::json base = saved;
  for (const auto& item : j.items())
    if (saved.contains(item.key())) base[item.key()] = item.value();
  lm::TrainConfig c = lm::parse_run_config(base.dump(), "train config");
  c.resume = j.value("resume", false);
  c.stop_after = j.value("stop_after", int64_t{0});
  c.device = j.value("device", std::string("cpu"));
  return c;
}

nlohmann::json result_json(const lm::TrainResult& r) {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : r.history) h.push_back(e.to_json());
  return {{"history", h},
          {"best_epoch", r.best_epoch},
          {"best_val_auc", r.best_val_auc},
          {"stopped_early", r.stopped_early},
          {"interrupted", r.interrupted},
          {"best_path", r.best_path},
          {"last_path", r.last_path}};
}

nb::object train(const nb::dict& config, nb::object callback) {
  lm::TrainConfig cfg = config_from(config);
  std::atomic<bool> stop{false};
  cfg.stop_requested = &stop;
  PyObserver obs(callback, &stop);  // made and destroyed with the GIL held
  const lm::TrainResult r = compute([&] { return lm::train_model(cfg, &obs); });
  return json_to_python(result_json(r));
}

}  // namespace

void bind_train(nb::module_& m) {
  using namespace nb::literals;
  m.def("train", &train, "config"_a, "callback"_a = nb::none());
  m.def("default_train_config", [] { return json_to_python(lm::TrainConfig().to_json()); });
}

}  // namespace lbpy
