// train.cc: see train.h.
#include "models/train.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <type_traits>

#include "base/strings.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/data/loader.h"
#include "engine/io/file.h"
#include "engine/io/safetensors.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "engine/progress.h"
#include "models/evaluate/metrics.h"
#include "models/graph_step.h"
#include "models/predict.h"
#include "models/weights.h"

namespace lb::models {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Counts past these are typos or corrupt files, and would overflow epoch * steps products.
constexpr int64_t kMaxEpochs = 1'000'000;
constexpr int64_t kMaxBatch = int64_t{1} << 24;

void validate(const TrainConfig& c) {
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
  else if (c.schedule.rfind("step:", 0) == 0) {
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
    validate(c);
    data::parse_augment(c.augment);
    make_schedule(c, 1);
    return c;
  } catch (const Error& e) {
    LB_THROW(what << ": " << e.what());
  }
}

// ---- the loop -----------------------------------------------------------------------------------------

namespace {

// Everything --resume needs besides the config: where the run stands and what it has seen.
struct RunState {
  int64_t next_epoch = 0;  // 0-based index of the next epoch to run
  int64_t next_batch = 0;  // batches of epoch next_epoch already trained (a stop request mid-epoch)
  double loss_sum = 0, acc_sum = 0, seconds = 0;  // that partial epoch's sums so far
  int64_t seen = 0;
  std::vector<EpochRecord> history;
  double best_auc = -1.0;
  int64_t best_epoch = 0;
  int64_t stale = 0;  // epochs since the best
};

constexpr const char* kOptimPrefix = "optimizer.";

// One file, written atomically, holds model, optimizer and trainer state, so a kill at any moment
// leaves either the previous state or this one, never a mix. Doubles go through JSON, which
// nlohmann writes with enough digits to read back the same bits.
void save_resume(const std::string& path, const ResNet18& model, const optim::Optimizer& opt, const RunState& st,
                 const ModelMeta& meta) {
  nn::StateDict all = model.state_dict();
  for (auto& [k, t] : opt.state_dict()) all.emplace_back(kOptimPrefix + k, t);
  json hist = json::array();
  for (const auto& r : st.history) hist.push_back(r.to_json());
  const json trainer{{"next_epoch", st.next_epoch},
                     {"next_batch", st.next_batch},
                     {"loss_sum", st.loss_sum},
                     {"acc_sum", st.acc_sum},
                     {"seen", st.seen},
                     {"seconds", st.seconds},
                     {"best_auc", st.best_auc},
                     {"best_epoch", st.best_epoch},
                     {"stale", st.stale},
                     {"history", hist}};
  std::map<std::string, std::string> md{
      {"arch", meta.arch}, {"config", meta.config.dump()}, {"trainer", trainer.dump()}};
  io::save_safetensors(path, all, md);
}

RunState load_resume(const std::string& path, ResNet18& model, optim::Optimizer& opt) {
  io::SafeTensors f = io::load_safetensors(path);
  nn::StateDict model_sd, opt_sd;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind(kOptimPrefix, 0) == 0)
      opt_sd.emplace_back(k.substr(std::string(kOptimPrefix).size()), t);
    else
      model_sd.emplace_back(k, t);
  }
  model.load_state_dict(model_sd, true);
  opt.load_state_dict(opt_sd);
  LB_CHECK(f.metadata.count("trainer"), path << ": no trainer state; it is not a lightbox resume file");
  RunState st;
  try {
    const json j = json::parse(f.metadata.at("trainer"));
    st.next_epoch = j.at("next_epoch");
    st.best_auc = j.at("best_auc");
    st.best_epoch = j.at("best_epoch");
    st.stale = j.at("stale");
    // Written since stop requests save mid-epoch; absent in older files (epoch boundaries).
    st.next_batch = j.value("next_batch", int64_t{0});
    st.loss_sum = j.value("loss_sum", 0.0);
    st.acc_sum = j.value("acc_sum", 0.0);
    st.seen = j.value("seen", int64_t{0});
    st.seconds = j.value("seconds", 0.0);
    for (const auto& r : j.at("history")) st.history.push_back(EpochRecord::from_json(r));
  } catch (const json::exception& e) {
    LB_THROW(path << ": the trainer state is damaged (" << e.what() << "); start a new run without --resume");
  }
  LB_CHECK(st.next_epoch >= 0 && st.next_batch >= 0 && st.seen >= 0,
           path << ": the trainer state is damaged (negative counters); start a new run without --resume");
  return st;
}

// The configuration a run uses: the flags, or for --resume the run's own config.json (a resumed
// run must be the same run). A folder a killed run left before it wrote config.json holds
// nothing to resume: the flags given start it.
TrainConfig resolve_config(const TrainConfig& in) {
  if (!in.resume) return in;
  const std::string path = in.out + "/config.json";
  if (!fs::exists(path)) {
    std::cerr << "lightbox: " << in.out << " holds no run yet (no config.json); starting it from the flags given\n";
    return in;
  }
  TrainConfig cfg = parse_run_config(io::read_file(path), path);
  cfg.out = in.out;
  cfg.resume = true;
  cfg.progress = in.progress;
  cfg.stop_after = in.stop_after;
  cfg.stop_requested = in.stop_requested;
  return cfg;
}

bool stop_requested(const TrainConfig& c) { return c.stop_requested != nullptr && c.stop_requested->load(); }

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
      std::cerr << "lightbox: " << name << " re-initialised"
                << (name == "conv1.weight" ? " (--conv1 random)" : " (new classifier head)") << "\n";
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
  const TrainConfig cfg = resolve_config(cfg_in);
  const std::string out = cfg.out;
  validate(cfg);
  const data::Dataset ds = data::load_medmnist(cfg.data);
  Generator gen(cfg.seed);
  std::shared_ptr<ResNet18> model = init_model(cfg, ds, gen);
  const Device dev = parse_device(cfg.device);
  if (cfg.graph) check_graph_supported(dev);
  model->to(dev);  // before the optimizer's state exists: that state is made on the parameters' device
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
  // A run killed while writing leaves its temporary file behind (never a half-written final one).
  io::remove_stale_temp_files(out);
  io::remove_stale_temp_files(out + "/checkpoints");
  const std::string best_path = out + "/checkpoints/best.safetensors",
                    resume_path = out + "/checkpoints/resume.safetensors";
  auto opt = make_optimizer(cfg, *model);
  RunState st;
  if (cfg.resume && fs::exists(resume_path)) {
    st = load_resume(resume_path, *model, *opt);
    std::cerr << "lightbox: resuming " << out << " after epoch " << st.next_epoch
              << (st.next_batch ? ", batch " + std::to_string(st.next_batch) : std::string()) << "\n";
  } else {
    if (cfg.resume) std::cerr << "lightbox: " << out << " has no finished epoch yet; starting at epoch 1\n";
    io::write_file_atomic(out + "/config.json", cfg.to_json().dump(2) + "\n");
  }

  // After the optimizer's state is loaded: the graph's scalar table lives beside it.
  std::unique_ptr<GraphStep> graph = cfg.graph ? std::make_unique<GraphStep>(*model, *opt) : nullptr;

  data::LoaderConfig lc;
  lc.batch_size = cfg.batch_size;
  lc.seed = cfg.seed;
  lc.norm = meta.norm;
  lc.augment = data::parse_augment(cfg.augment);
  lc.drop_last = ds.train.size() % cfg.batch_size == 1;  // a batch of one breaks batch norm
  data::Loader loader(ds.train, lc);
  const int64_t steps = loader.num_batches();
  auto sched = make_schedule(cfg, steps);
  LB_CHECK(st.next_batch == 0 || st.next_batch < steps,
           resume_path << ": the trainer state stands at batch " << st.next_batch << " of an epoch of " << steps
                       << "; it is damaged, start a new run without --resume");

  // The NaN guard: one line that says where, where the last good state is, and what to change.
  // batch < 0: the value is the validation loss after epoch e.
  auto check_finite = [&](double v, int64_t e, int64_t batch) {
    LB_CHECK(std::isfinite(v), "training diverged: the "
                                   << (batch < 0 ? "validation " : "") << "loss is " << v
                                   << (batch < 0 ? " after epoch " : " at epoch ") << e + 1
                                   << (batch < 0 ? "" : ", batch " + std::to_string(batch + 1))
                                   << (e > 0 ? "; the last good checkpoint is " + resume_path : std::string())
                                   << "; lower --lr (now " << cfg.lr << ")");
  };
  TrainResult result;
  result.best_path = best_path;
  result.last_path = resume_path;
  const int64_t first_epoch = st.next_epoch;
  for (int64_t e = st.next_epoch; e < cfg.epochs; ++e) {
    if (cfg.stop_after > 0 && e - first_epoch >= cfg.stop_after) {
      std::cerr << "lightbox: stopping after " << cfg.stop_after << " epoch(s) as asked; continue with --resume\n";
      break;
    }
    // A run killed between saving its state and leaving on early stopping has nothing left to do.
    if (cfg.patience > 0 && st.stale >= cfg.patience) {
      result.stopped_early = true;
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord rec;
    rec.epoch = e + 1;
    rec.trainable = set_trainable(*model, trainable_at(cfg, e));
    rec.device = dev.str();
    rec.math = math_mode_name(cuda_math_mode());
    rec.graph = graph != nullptr;
    model->train();
    loader.start_epoch(e, st.next_batch);
    ProgressBar bar("epoch " + std::to_string(e + 1) + "/" + std::to_string(cfg.epochs), steps - st.next_batch, "img",
                    cfg.progress);
    data::Batch b;
    // Per-batch loss and accuracy are read back to the host in groups: on a GPU, reading a loss
    // waits for the step to finish, so reading every batch would stall the pipeline. On the CPU the
    // group is one batch. The NaN guard runs at each read.
    struct Pending {
      Tensor loss, logits, y;
      int64_t batch;
    };
    std::vector<Pending> pending;
    const size_t read_every = dev.is_cuda() ? 16 : 1;
    auto drain = [&] {
      for (const Pending& p : pending) {
        const double lv = p.loss.item();
        check_finite(lv, e, p.batch);
        const int64_t n = p.y.size(0);
        st.loss_sum += lv * n;
        st.acc_sum += accuracy_of(p.logits.to(Device::cpu()), p.y) * n;
        st.seen += n;
      }
      pending.clear();
    };
    for (int64_t i = st.next_batch; i < steps; ++i) {
      if (stop_requested(cfg)) {
        // Everything up to batch i is trained: save exactly that, so --resume continues at batch i.
        drain();  // the losses of the batches not yet read back belong to this state
        bar.finish();
        st.next_epoch = e;
        st.next_batch = i;
        st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        save_resume(resume_path, *model, *opt, st, meta);
        std::cerr << "lightbox: interrupted: saved the state at epoch " << e + 1 << ", batch " << i << " of " << steps
                  << " to " << resume_path << "; continue with: lightbox train --out " << out << " --resume\n";
        result.interrupted = true;
        result.history = st.history;
        result.best_epoch = st.best_epoch;
        result.best_val_auc = st.best_auc;
        return result;
      }
      LB_CHECK(loader.next(b), "training: the loader ended after " << i << " of " << steps << " batches");
      rec.lr = sched->lr_at(e * steps + i);
      opt->set_lr(rec.lr);
      // One-cycle also cycles SGD momentum inversely to the lr (0.95 -> 0.85 -> 0.95), as torch's
      // OneCycleLR does by default.
      if (auto* oc = dynamic_cast<optim::OneCycleLR*>(sched.get()))
        if (auto* sgd = dynamic_cast<optim::SGD*>(opt.get())) sgd->set_momentum(oc->momentum_at(e * steps + i));
      Tensor logits, loss;
      if (graph) {
        const GraphStep::Result r = graph->step(b.x, b.y);
        logits = r.logits;
        loss = r.loss;
      } else {
        logits = (*model)(b.x.to(dev));
        loss = cross_entropy(logits, b.y);
        if (dev.is_cpu()) check_finite(loss.item(), e, i);  // before the step: the state stays good
        opt->zero_grad();
        loss.backward();
        opt->step();
      }
      pending.push_back({loss.detach(), logits.detach(), b.y, i});
      if (pending.size() >= read_every) drain();
      char status[64];
      std::snprintf(status, sizeof status, "loss %.4f", st.seen ? st.loss_sum / st.seen : 0.0);
      bar.update(1, static_cast<double>(b.x.size(0)), status);
    }
    drain();
    bar.finish();
    rec.train_loss = st.loss_sum / st.seen;
    rec.train_acc = st.acc_sum / st.seen;
    const Predictions val = predict(*model, ds.val, meta.norm);
    // A diverged model can pass every training batch with a finite loss and still predict NaN on
    // val (its running statistics overflowed during the epoch): same guard, before any save.
    check_finite(val.loss, e, -1);
    rec.val_loss = val.loss;
    rec.val_acc = accuracy_of(val.logits, val.labels);
    rec.val_auc = val_auc(val);
    rec.seconds = st.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.history.push_back(rec);
    st.next_epoch = e + 1;
    st.next_batch = 0;
    st.loss_sum = st.acc_sum = st.seconds = 0;
    st.seen = 0;
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
  // history.json trails resume.safetensors by one write; a run killed between the two (or resumed
  // when it had already finished) writes it again here.
  write_history(out, st.history);
  result.history = st.history;
  result.best_epoch = st.best_epoch;
  result.best_val_auc = st.best_auc;
  return result;
}

}  // namespace lb::models
