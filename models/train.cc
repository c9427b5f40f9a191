// train.cc: see train.h.
#include "models/train.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "engine/autograd.h"
#include "engine/data/loader.h"
#include "engine/io/file.h"
#include "engine/io/safetensors.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "engine/progress.h"
#include "models/evaluate/metrics.h"
#include "models/predict.h"
#include "models/weights.h"

namespace lb::models {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- configuration ------------------------------------------------------------------------------

json TrainConfig::to_json() const {
  return {{"data", data},         {"out", out},           {"init", init},
          {"conv1", conv1},       {"epochs", epochs},     {"batch_size", batch_size}, {"optimizer", optimizer},
          {"lr", lr},             {"momentum", momentum}, {"weight_decay", weight_decay},
          {"nesterov", nesterov}, {"schedule", schedule}, {"warmup_epochs", warmup_epochs},
          {"train_only", train_only}, {"unfreeze_every", unfreeze_every}, {"augment", augment},
          {"norm_mean", norm_mean}, {"norm_std", norm_std}, {"seed", seed}, {"patience", patience}};
}

TrainConfig TrainConfig::from_json(const json& j) {
  TrainConfig c;
  auto get = [&](const char* k, auto& v) {
    if (j.contains(k)) v = j.at(k).get<std::decay_t<decltype(v)>>();
  };
  get("data", c.data); get("out", c.out); get("init", c.init); get("conv1", c.conv1); get("epochs", c.epochs);
  get("batch_size", c.batch_size); get("optimizer", c.optimizer); get("lr", c.lr); get("momentum", c.momentum);
  get("weight_decay", c.weight_decay); get("nesterov", c.nesterov); get("schedule", c.schedule);
  get("warmup_epochs", c.warmup_epochs); get("train_only", c.train_only); get("unfreeze_every", c.unfreeze_every);
  get("augment", c.augment); get("norm_mean", c.norm_mean); get("norm_std", c.norm_std); get("seed", c.seed);
  get("patience", c.patience);
  return c;
}

json EpochRecord::to_json() const {
  return {{"epoch", epoch},         {"lr", lr},           {"train_loss", train_loss}, {"train_acc", train_acc},
          {"val_loss", val_loss},   {"val_acc", val_acc}, {"val_auc", eval::number_or_null(val_auc)},
          {"seconds", seconds},     {"trainable", trainable}};
}

EpochRecord EpochRecord::from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch"); r.lr = j.at("lr"); r.train_loss = j.at("train_loss"); r.train_acc = j.at("train_acc");
  r.val_loss = j.at("val_loss"); r.val_acc = j.at("val_acc");
  r.val_auc = j.at("val_auc").is_null() ? NAN : j.at("val_auc").get<double>();
  r.seconds = j.at("seconds"); r.trainable = j.at("trainable").get<std::vector<std::string>>();
  return r;
}

namespace {

std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

void validate(const TrainConfig& c) {
  LB_CHECK(c.epochs > 0, "--epochs must be positive, got " << c.epochs);
  LB_CHECK(c.batch_size > 1, "--batch-size must be at least 2 (batch norm needs two samples), got " << c.batch_size);
  LB_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be a positive number, got " << c.lr);
  LB_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1), got " << c.momentum);
  LB_CHECK(c.weight_decay >= 0, "--weight-decay must be non-negative");
  LB_CHECK(c.optimizer == "sgd" || c.optimizer == "adamw", "--optimizer must be sgd or adamw, got " << c.optimizer);
  LB_CHECK(c.norm_std > 0, "--norm-std must be positive");
  check_conv1_mode(c.conv1);
  LB_CHECK(c.unfreeze_every >= 0 && c.patience >= 0 && c.warmup_epochs >= 0,
           "--unfreeze-every, --patience and --warmup-epochs must be non-negative");
}

std::shared_ptr<optim::LRSchedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch) {
  const int64_t total = c.epochs * steps_per_epoch;
  std::shared_ptr<optim::LRSchedule> s;
  if (c.schedule == "none") s = std::make_shared<optim::StepLR>(c.lr, total + 1, 1.0);
  else if (c.schedule == "cosine") s = std::make_shared<optim::CosineLR>(c.lr, total);
  else if (c.schedule == "onecycle") s = std::make_shared<optim::OneCycleLR>(c.lr, total);
  else if (c.schedule.rfind("step:", 0) == 0) {
    const auto parts = split_list(c.schedule.substr(5), ':');
    LB_CHECK(parts.size() == 2, "--schedule step needs step:EPOCHS:GAMMA (e.g. step:3:0.1), got " << c.schedule);
    try {
      s = std::make_shared<optim::StepLR>(c.lr, std::stoll(parts[0]) * steps_per_epoch, std::stod(parts[1]));
    } catch (const std::logic_error&) {
      LB_THROW("--schedule step needs step:EPOCHS:GAMMA (e.g. step:3:0.1), got " << c.schedule);
    }
  } else {
    LB_THROW("--schedule must be none, cosine, onecycle or step:EPOCHS:GAMMA, got " << c.schedule);
  }
  if (c.warmup_epochs > 0) s = std::make_shared<optim::WarmupLR>(s, c.warmup_epochs * steps_per_epoch, 0.1);
  return s;
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

// Trainable prefixes for 0-based epoch e: the configured ones, plus one more stage of
// unfreeze_order() every unfreeze_every epochs.
std::vector<std::string> trainable_at(const TrainConfig& c, int64_t e) {
  std::vector<std::string> p = split_list(c.train_only);
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

double accuracy_of(const Tensor& logits, const Tensor& y) {
  const int64_t n = logits.size(0), k = logits.size(1);
  const float* l = logits.data<float>();
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
      if (l[i * k + j] > l[i * k + arg]) arg = j;
    right += arg == y.data<int64_t>()[i];
  }
  return static_cast<double>(right) / n;
}

}  // namespace

const std::vector<std::string>& unfreeze_order() {
  static const std::vector<std::string> order = {"fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"};
  return order;
}

std::vector<std::string> set_trainable(ResNet18& model, const std::vector<std::string>& prefixes) {
  const auto params = model.named_parameters();
  for (const std::string& p : prefixes) {
    bool found = false;
    for (const auto& [name, t] : params) found |= name == p || name.rfind(p + ".", 0) == 0;
    LB_CHECK(found, "--train-only: no parameters under '" << p
                                                          << "'; use module names such as fc, layer4, layer3, layer2, layer1, bn1, conv1, layer4.1");
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

// ---- the loop -----------------------------------------------------------------------------------------

namespace {

// Everything --resume needs besides the config: where the run stands and what it has seen.
struct RunState {
  int64_t next_epoch = 0;  // 0-based index of the next epoch to run
  std::vector<EpochRecord> history;
  double best_auc = -1.0;
  int64_t best_epoch = 0;
  int64_t stale = 0;  // epochs since the best
};

constexpr const char* kOptimPrefix = "optimizer.";

// One file, written atomically, holds model, optimizer and trainer state, so a kill at any moment
// leaves either the previous epoch's state or this one's, never a mix.
void save_resume(const std::string& path, const ResNet18& model, const optim::Optimizer& opt, const RunState& st,
                 const ModelMeta& meta) {
  nn::StateDict all = model.state_dict();
  for (auto& [k, t] : opt.state_dict()) all.emplace_back(kOptimPrefix + k, t);
  json hist = json::array();
  for (const auto& r : st.history) hist.push_back(r.to_json());
  std::map<std::string, std::string> md{{"arch", meta.arch},
                                        {"config", meta.config.dump()},
                                        {"trainer", json{{"next_epoch", st.next_epoch},
                                                         {"best_auc", st.best_auc},
                                                         {"best_epoch", st.best_epoch},
                                                         {"stale", st.stale},
                                                         {"history", hist}}.dump()}};
  io::save_safetensors(path, all, md);
}

RunState load_resume(const std::string& path, ResNet18& model, optim::Optimizer& opt) {
  io::SafeTensors f = io::load_safetensors(path);
  nn::StateDict model_sd, opt_sd;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind(kOptimPrefix, 0) == 0) opt_sd.emplace_back(k.substr(std::string(kOptimPrefix).size()), t);
    else model_sd.emplace_back(k, t);
  }
  model.load_state_dict(model_sd, true);
  opt.load_state_dict(opt_sd);
  LB_CHECK(f.metadata.count("trainer"), path << ": no trainer state; it is not a lightbox resume file");
  const json j = json::parse(f.metadata.at("trainer"));
  RunState st;
  st.next_epoch = j.at("next_epoch");
  st.best_auc = j.at("best_auc");
  st.best_epoch = j.at("best_epoch");
  st.stale = j.at("stale");
  for (const auto& r : j.at("history")) st.history.push_back(EpochRecord::from_json(r));
  return st;
}

std::shared_ptr<ResNet18> init_model(const TrainConfig& c, const data::Dataset& ds, Generator& gen) {
  const int64_t classes = std::max<int64_t>(ds.num_classes, 2);
  if (c.init == "random") return std::make_shared<ResNet18>(ds.train.channels(), classes, gen);
  if (c.init.rfind("checkpoint:", 0) == 0) {
    Checkpoint ck = load_checkpoint(c.init.substr(11));
    LB_CHECK(ck.meta.in_channels == ds.train.channels() && ck.meta.num_classes == classes,
             "--init " << c.init << ": the checkpoint takes " << ck.meta.in_channels << " channel(s) and has "
                       << ck.meta.num_classes << " classes, the data has " << ds.train.channels() << " and "
                       << classes);
    ck.model->train();
    return ck.model;
  }
  if (c.init.rfind("imagenet:", 0) == 0) {
    auto model = std::make_shared<ResNet18>(ds.train.channels(), classes, gen);
    const InitReport r = load_imagenet(*model, c.init.substr(9), c.conv1, gen);
    for (const auto& name : r.adapted)
      std::cerr << "lightbox: " << name << " adapted from ImageNet (--conv1 " << c.conv1 << ", 3 -> "
                << model->in_channels() << " channel(s))\n";
    for (const auto& name : r.reinitialised)
      std::cerr << "lightbox: " << name << " re-initialised" << (name == "conv1.weight" ? " (--conv1 random)" : " (new classifier head)")
                << "\n";
    return model;
  }
  LB_THROW("--init must be random, checkpoint:PATH or imagenet:PATH, got '" << c.init << "'");
}

// NaN when AUC is undefined: more than two classes (macro one-vs-rest AUC arrives with
// multi-class evaluation) or a val split with one class; the trainer then ranks epochs by val ACC.
double val_auc(const Predictions& p) {
  const std::vector<int> labels = p.int_labels();
  const bool both = std::find(labels.begin(), labels.end(), 0) != labels.end() &&
                    std::find(labels.begin(), labels.end(), 1) != labels.end();
  if (p.probs.size(1) != 2 || !both) return NAN;
  return eval::roc_auc(p.positive_scores(), labels);
}

void print_counts(const data::Dataset& ds, const std::vector<std::string>& names) {
  for (const data::Split* s : {&ds.train, &ds.val, &ds.test}) {
    const auto counts = s->class_counts(ds.num_classes);
    std::cerr << "  " << s->name << ": " << s->size() << " images (";
    for (size_t k = 0; k < counts.size(); ++k)
      std::fprintf(stderr, "%s%s %lld, %.1f%%", k ? "; " : "", names[k].c_str(), (long long)counts[k],
                   100.0 * counts[k] / std::max<int64_t>(s->size(), 1));
    std::cerr << ")\n";
  }
}

void write_history(const std::string& out, const std::vector<EpochRecord>& history) {
  json h = json::array();
  for (const auto& r : history) h.push_back(r.to_json());
  io::write_file_atomic(out + "/history.json", h.dump(2) + "\n");
}

}  // namespace

TrainResult train_model(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  const std::string out = cfg.out;
  if (cfg.resume) {
    // The stored configuration wins: a resumed run must be the same run.
    cfg = TrainConfig::from_json(json::parse(io::read_file(out + "/config.json")));
    cfg.out = out;
    cfg.resume = true;
    cfg.progress = cfg_in.progress;
    cfg.stop_after = cfg_in.stop_after;
  }
  validate(cfg);
  const data::Dataset ds = data::load_medmnist(cfg.data);
  Generator gen(cfg.seed);
  std::shared_ptr<ResNet18> model = init_model(cfg, ds, gen);
  // Every remaining flag is checked before the first line of output, so bad input is one line.
  data::parse_augment(cfg.augment);
  make_schedule(cfg, 1);
  set_trainable(*model, trainable_at(cfg, cfg.epochs - 1));  // every prefix the run will open
  ModelMeta meta;
  meta.in_channels = model->in_channels();
  meta.num_classes = model->num_classes();
  meta.norm = {cfg.norm_mean, cfg.norm_std};
  meta.class_names = default_class_names(cfg.data, meta.num_classes);
  meta.image_size = ds.train.height();
  meta.config = cfg.to_json();
  std::cerr << "lightbox: " << cfg.data << ", " << ds.train.height() << "x" << ds.train.width() << "x"
            << ds.train.channels() << ", " << ds.num_classes << " classes\n";
  print_counts(ds, meta.class_names);

  fs::create_directories(out + "/checkpoints");
  const std::string best_path = out + "/checkpoints/best.safetensors", resume_path = out + "/checkpoints/resume.safetensors";
  auto opt = make_optimizer(cfg, *model);
  RunState st;
  if (cfg.resume) {
    st = load_resume(resume_path, *model, *opt);
    std::cerr << "lightbox: resuming " << out << " after epoch " << st.next_epoch << "\n";
  } else {
    io::write_file_atomic(out + "/config.json", cfg.to_json().dump(2) + "\n");
  }

  data::LoaderConfig lc;
  lc.batch_size = cfg.batch_size;
  lc.seed = cfg.seed;
  lc.norm = meta.norm;
  lc.augment = data::parse_augment(cfg.augment);
  lc.drop_last = ds.train.size() % cfg.batch_size == 1;  // a batch of one breaks batch norm
  data::Loader loader(ds.train, lc);
  const int64_t steps = loader.num_batches();
  auto sched = make_schedule(cfg, steps);

  // The NaN guard: one line that says where, where the last good state is, and what to change.
  // batch < 0: the value is the validation loss after epoch e.
  auto check_finite = [&](double v, int64_t e, int64_t batch) {
    LB_CHECK(std::isfinite(v), "training diverged: the " << (batch < 0 ? "validation " : "") << "loss is " << v
                                                         << (batch < 0 ? " after epoch " : " at epoch ") << e + 1
                                                         << (batch < 0 ? "" : ", batch " + std::to_string(batch + 1))
                                                         << (e > 0 ? "; the last good checkpoint is " + resume_path : std::string())
                                                         << "; lower --lr (now " << cfg.lr << ")");
  };
  TrainResult result;
  const int64_t first_epoch = st.next_epoch;
  for (int64_t e = st.next_epoch; e < cfg.epochs; ++e) {
    if (cfg.stop_after > 0 && e - first_epoch >= cfg.stop_after) {
      std::cerr << "lightbox: stopping after " << cfg.stop_after << " epoch(s) as asked; continue with --resume\n";
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord rec;
    rec.epoch = e + 1;
    rec.trainable = set_trainable(*model, trainable_at(cfg, e));
    model->train();
    loader.start_epoch(e);
    ProgressBar bar("epoch " + std::to_string(e + 1) + "/" + std::to_string(cfg.epochs), steps, "img", cfg.progress);
    data::Batch b;
    double loss_sum = 0, acc_sum = 0;
    int64_t seen = 0;
    for (int64_t i = 0; loader.next(b); ++i) {
      rec.lr = sched->lr_at(e * steps + i);
      opt->set_lr(rec.lr);
      // One-cycle also cycles SGD momentum inversely to the lr (0.95 -> 0.85 -> 0.95), as torch's
      // OneCycleLR does by default.
      if (auto* oc = dynamic_cast<optim::OneCycleLR*>(sched.get()))
        if (auto* sgd = dynamic_cast<optim::SGD*>(opt.get())) sgd->set_momentum(oc->momentum_at(e * steps + i));
      Tensor logits = (*model)(b.x);
      Tensor loss = cross_entropy(logits, b.y);
      const double lv = loss.item();
      check_finite(lv, e, i);
      opt->zero_grad();
      loss.backward();
      opt->step();
      const int64_t n = b.x.size(0);
      loss_sum += lv * n;
      acc_sum += accuracy_of(logits, b.y) * n;
      seen += n;
      char status[64];
      std::snprintf(status, sizeof status, "loss %.4f", loss_sum / seen);
      bar.update(1, static_cast<double>(n), status);
    }
    bar.finish();
    rec.train_loss = loss_sum / seen;
    rec.train_acc = acc_sum / seen;
    const Predictions val = predict(*model, ds.val, meta.norm);
    // A diverged model can pass every training batch with a finite loss and still predict NaN on
    // val (its running statistics overflowed during the epoch): same guard, before any save.
    check_finite(val.loss, e, -1);
    rec.val_loss = val.loss;
    rec.val_acc = accuracy_of(val.logits, val.labels);
    rec.val_auc = val_auc(val);
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.history.push_back(rec);
    st.next_epoch = e + 1;
    const double score = std::isnan(rec.val_auc) ? rec.val_acc : rec.val_auc;
    const bool improved = score > st.best_auc;
    if (improved) {
      st.best_auc = score;
      st.best_epoch = e + 1;
      st.stale = 0;
      save_checkpoint(best_path, *model, meta);
    } else {
      ++st.stale;
    }
    save_resume(resume_path, *model, *opt, st, meta);
    write_history(out, st.history);
    std::fprintf(stderr, "epoch %lld/%lld  train loss %.4f acc %.4f | val loss %.4f acc %.4f auc %.4f%s\n",
                 (long long)(e + 1), (long long)cfg.epochs, rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc,
                 rec.val_auc, improved ? "  (best)" : "");
    if (cfg.patience > 0 && st.stale >= cfg.patience) {
      std::cerr << "lightbox: early stop: no better val AUC for " << cfg.patience << " epochs\n";
      result.stopped_early = true;
      break;
    }
  }
  result.history = st.history;
  result.best_epoch = st.best_epoch;
  result.best_val_auc = st.best_auc;
  result.best_path = best_path;
  result.last_path = resume_path;
  return result;
}

}  // namespace lb::models
