// train.cc: see train.h. The configuration side of training: checking a TrainConfig, reading a
// run's config.json, and building the schedule, optimizer and trainable stages it describes.
#include "models/train.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "base/strings.h"
#include "engine/data/augment.h"
#include "engine/data/mix.h"
#include "engine/optim/optim.h"
#include "models/predict.h"
#include "models/weights.h"

namespace lb::models {

using nlohmann::json;

namespace {

// Counts past these are typos or corrupt files, and would overflow epoch * steps products.
constexpr int64_t kMaxEpochs = 1'000'000;
constexpr int64_t kMaxBatch = int64_t{1} << 24;

}  // namespace

void validate_config(const TrainConfig& c) {
  LB_CHECK(c.epochs > 0 && c.epochs <= kMaxEpochs, "--epochs must be in [1, " << kMaxEpochs << "], got " << c.epochs);
  LB_CHECK(c.batch_size > 1 && c.batch_size <= kMaxBatch,
           "--batch-size must be at least 2 (batch norm needs two samples) and at most " << kMaxBatch << ", got "
                                                                                         << c.batch_size);
  LB_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be a positive number, got " << c.lr);
  LB_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1), got " << c.momentum);
  LB_CHECK(c.weight_decay >= 0 && std::isfinite(c.weight_decay), "--weight-decay must be a non-negative number");
  LB_CHECK(c.optimizer == "sgd" || c.optimizer == "adamw", "--optimizer must be sgd or adamw, got " << c.optimizer);
  LB_CHECK(c.norm_std > 0 && std::isfinite(c.norm_std) && std::isfinite(c.norm_mean),
           "--norm-std must be a positive number and --norm-mean a number");
  check_conv1_mode(c.conv1);
  LB_CHECK(c.label_smoothing >= 0 && c.label_smoothing < 1,
           "--label-smoothing must be in [0, 1), got " << c.label_smoothing);
  LB_CHECK(c.select == "auc" || c.select == "loss",
           "--select must be auc (the highest val AUC) or loss (the lowest val loss), got " << c.select);
  data::parse_mix(c.mix);
  LB_CHECK(c.ema == 0 || (c.ema > 0 && c.ema < 1),
           "--ema must be 0 (off) or a decay in (0, 1) (e.g. 0.998), got " << c.ema);
  check_tta_views(static_cast<int>(std::clamp<int64_t>(c.tta, -1, 1000)));
  LB_CHECK(c.unfreeze_every >= 0 && c.patience >= 0 && c.warmup_epochs >= 0 && c.warmup_epochs <= kMaxEpochs,
           "--unfreeze-every, --patience and --warmup-epochs must be non-negative (warm-up at most " << kMaxEpochs
                                                                                                     << " epochs)");
}

std::shared_ptr<optim::LRSchedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch) {
  const int64_t total = c.epochs * steps_per_epoch;
  std::shared_ptr<optim::LRSchedule> s;
  if (c.schedule == "none")
    s = std::make_shared<optim::StepLR>(c.lr, total + 1, 1.0);
  else if (c.schedule == "cosine")
    s = std::make_shared<optim::CosineLR>(c.lr, total);
  else if (c.schedule == "onecycle")
    s = std::make_shared<optim::OneCycleLR>(c.lr, total);
  else if (c.schedule.rfind("onecycle:", 0) == 0) {
    // onecycle:PCT warms up over the fraction PCT of the run (torch's pct_start; 0.3 alone).
    const std::string v = c.schedule.substr(9);
    double pct = -1;
    try {
      size_t used = 0;
      pct = std::stod(v, &used);
      if (used != v.size()) pct = -1;
    } catch (const std::logic_error&) {
      pct = -1;
    }
    LB_CHECK(pct > 0 && pct < 1,
             "--schedule onecycle:PCT needs the warm-up fraction PCT in (0, 1) (e.g. "
             "onecycle:0.15; onecycle alone is 0.3), got "
                 << c.schedule);
    s = std::make_shared<optim::OneCycleLR>(c.lr, total, pct);
  } else if (c.schedule.rfind("step:", 0) == 0) {
    const auto parts = split(c.schedule.substr(5), ':', Empty::Skip);
    LB_CHECK(parts.size() == 2, "--schedule step needs step:EPOCHS:GAMMA (e.g. step:3:0.1), got " << c.schedule);
    int64_t every = 0;
    double gamma = 0;
    try {
      size_t used_e = 0, used_g = 0;
      every = std::stoll(parts[0], &used_e);
      gamma = std::stod(parts[1], &used_g);
      if (used_e != parts[0].size() || used_g != parts[1].size()) every = 0;
    } catch (const std::logic_error&) {
      every = 0;
    }
    LB_CHECK(every >= 1 && every <= kMaxEpochs && gamma > 0 && std::isfinite(gamma),
             "--schedule step needs step:EPOCHS:GAMMA with EPOCHS in [1, "
                 << kMaxEpochs << "] and GAMMA > 0 (e.g. step:3:0.1), got " << c.schedule);
    s = std::make_shared<optim::StepLR>(c.lr, every * steps_per_epoch, gamma);
  } else {
    LB_THROW("--schedule must be none, cosine, onecycle, onecycle:PCT or step:EPOCHS:GAMMA, got " << c.schedule);
  }
  if (c.warmup_epochs > 0) s = std::make_shared<optim::WarmupLR>(s, c.warmup_epochs * steps_per_epoch, 0.1);
  return s;
}

double apply_schedule(const optim::LRSchedule& s, optim::Optimizer& opt, int64_t step) {
  const double lr = s.lr_at(step);
  opt.set_lr(lr);
  if (const auto* oc = dynamic_cast<const optim::OneCycleLR*>(&s))
    if (auto* sgd = dynamic_cast<optim::SGD*>(&opt)) sgd->set_momentum(oc->momentum_at(step));
  return lr;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, ResNet18& model) {
  if (c.optimizer == "adamw") {
    optim::AdamWOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    return std::make_unique<optim::AdamW>(model.parameters(), o);
  }
  optim::SGDOptions o;
  o.lr = c.lr;
  o.momentum = c.momentum;
  o.weight_decay = c.weight_decay;
  o.nesterov = c.nesterov;
  return std::make_unique<optim::SGD>(model.parameters(), o);
}

std::vector<std::string> trainable_at(const TrainConfig& c, int64_t e) {
  std::vector<std::string> p = split(c.train_only, ',', Empty::Skip);
  if (c.unfreeze_every <= 0) return p;
  if (p.empty()) p.push_back("fc");
  int64_t extra = e / c.unfreeze_every;
  for (const std::string& stage : unfreeze_order()) {
    if (extra <= 0) break;
    bool have = false;
    for (const auto& q : p) have |= q == stage;
    if (!have) {
      p.push_back(stage);
      --extra;
    }
  }
  return p;
}

const std::vector<std::string>& unfreeze_order() {
  static const std::vector<std::string> order = {"fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"};
  return order;
}

std::vector<std::string> set_trainable(ResNet18& model, const std::vector<std::string>& prefixes) {
  const auto params = model.named_parameters();
  for (const std::string& p : prefixes) {
    bool found = false;
    for (const auto& [name, t] : params) found |= name == p || name.rfind(p + ".", 0) == 0;
    LB_CHECK(found, "--train-only: no parameters under '"
                        << p << "'; use module names such as fc, layer4, layer3, layer2, layer1, bn1, conv1, layer4.1");
  }
  std::vector<std::string> stages;
  for (const auto& [name, t] : params) {
    bool on = prefixes.empty();
    for (const std::string& p : prefixes) on |= name == p || name.rfind(p + ".", 0) == 0;
    Tensor handle = t;
    handle.requires_grad_(on);
    const std::string stage = name.substr(0, name.find('.'));
    if (on && (stages.empty() || stages.back() != stage)) stages.push_back(stage);
  }
  return stages;
}

TrainConfig parse_run_config(const std::string& text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    LB_THROW(what << " is not valid JSON (" << e.what() << "); fix it or start a new run without --resume");
  }
  LB_CHECK(j.is_object(), what << " holds " << j.type_name()
                               << ", not an object of settings; fix it or start a new run without --resume");
  try {
    TrainConfig c = TrainConfig::from_json(j);
    validate_config(c);
    data::parse_augment(c.augment);
    make_schedule(c, 1);
    return c;
  } catch (const Error& e) {
    LB_THROW(what << ": " << e.what());
  }
}

}  // namespace lb::models
