// train_config.cc: the JSON forms of TrainConfig (config.json) and EpochRecord (history.json and
// the trainer state), split from train.cc. Both are parsers of files a user may edit or a crash
// may cut short: every wrong type is an lb::Error naming the field (LB_FUZZ instruments this file).
#include <cmath>
#include <string>
#include <type_traits>

#include "models/evaluate/metrics.h"
#include "models/train.h"

namespace lb::models {

using nlohmann::json;

// ---- configuration ------------------------------------------------------------------------------

json TrainConfig::to_json() const {
  return {{"data", data},
          {"out", out},
          {"init", init},
          {"conv1", conv1},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"optimizer", optimizer},
          {"lr", lr},
          {"momentum", momentum},
          {"weight_decay", weight_decay},
          {"nesterov", nesterov},
          {"schedule", schedule},
          {"warmup_epochs", warmup_epochs},
          {"train_only", train_only},
          {"unfreeze_every", unfreeze_every},
          {"augment", augment},
          {"label_smoothing", label_smoothing},
          {"select", select},
          {"mix", mix},
          {"ema", ema},
          {"tta", tta},
          {"norm_mean", norm_mean},
          {"norm_std", norm_std},
          {"seed", seed},
          {"patience", patience}};
}

namespace {

// A config.json value shown in a message, cut short: a corrupt file may hold megabytes there.
std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

// Reads field `k` of `j` into `v` when present; a value of the wrong JSON type is an lb::Error
// (nlohmann would throw its own type_error, or silently wrap -1 into a huge seed).
template <class T>
void read_field(const json& j, const char* k, T& v) {
  if (!j.contains(k)) return;
  const json& x = j.at(k);
  const char* want = "a number";
  bool ok = x.is_number();
  if constexpr (std::is_same_v<T, bool>) {
    want = "true or false";
    ok = x.is_boolean();
  } else if constexpr (std::is_same_v<T, std::string>) {
    want = "a string";
    ok = x.is_string();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    want = "a non-negative integer";
    ok = x.is_number_unsigned();
  } else if constexpr (std::is_integral_v<T>) {
    want = "an integer";
    ok = x.is_number_integer() &&
         (!x.is_number_unsigned() || x.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
  }
  LB_CHECK(ok, "config.json: \"" << k << "\" is " << shown(x) << ", not " << want
                                 << "; fix the file or start a new run without --resume");
  v = x.get<T>();
}

}  // namespace

TrainConfig TrainConfig::from_json(const json& j) {
  TrainConfig c;
  read_field(j, "data", c.data);
  read_field(j, "out", c.out);
  read_field(j, "init", c.init);
  read_field(j, "conv1", c.conv1);
  read_field(j, "epochs", c.epochs);
  read_field(j, "batch_size", c.batch_size);
  read_field(j, "optimizer", c.optimizer);
  read_field(j, "lr", c.lr);
  read_field(j, "momentum", c.momentum);
  read_field(j, "weight_decay", c.weight_decay);
  read_field(j, "nesterov", c.nesterov);
  read_field(j, "schedule", c.schedule);
  read_field(j, "warmup_epochs", c.warmup_epochs);
  read_field(j, "train_only", c.train_only);
  read_field(j, "unfreeze_every", c.unfreeze_every);
  read_field(j, "augment", c.augment);
  read_field(j, "label_smoothing", c.label_smoothing);
  read_field(j, "select", c.select);
  read_field(j, "mix", c.mix);
  read_field(j, "ema", c.ema);
  read_field(j, "tta", c.tta);
  read_field(j, "norm_mean", c.norm_mean);
  read_field(j, "norm_std", c.norm_std);
  read_field(j, "seed", c.seed);
  read_field(j, "patience", c.patience);
  return c;
}

json EpochRecord::to_json() const {
  return {{"epoch", epoch},
          {"lr", lr},
          {"train_loss", train_loss},
          {"train_acc", train_acc},
          {"val_loss", val_loss},
          {"val_acc", val_acc},
          {"val_auc", eval::number_or_null(val_auc)},
          {"seconds", seconds},
          {"trainable", trainable},
          {"device", device},
          {"math", math},
          {"graph", graph}};
}

EpochRecord EpochRecord::from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.lr = j.at("lr");
  r.train_loss = j.at("train_loss");
  r.train_acc = j.at("train_acc");
  r.val_loss = j.at("val_loss");
  r.val_acc = j.at("val_acc");
  r.val_auc = j.at("val_auc").is_null() ? NAN : j.at("val_auc").get<double>();
  r.seconds = j.at("seconds");
  r.trainable = j.at("trainable").get<std::vector<std::string>>();
  // Optional: histories written before these fields existed lack them.
  r.device = j.value("device", std::string());
  r.math = j.value("math", std::string());
  r.graph = j.value("graph", false);
  return r;
}

}  // namespace lb::models
