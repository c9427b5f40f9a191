// trainer.cc: see trainer.h. Read it top to bottom: the helpers, the set-up (the constructor and
// the four steps it calls), the loop (run, run_epoch and its parts), then resume.
#include "models/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/io/file.h"
#include "engine/io/safetensors.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "models/evaluate/metrics.h"
#include "models/predict.h"

namespace lb::models {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The observer of a trainer given none: every event does nothing.
TrainObserver& silent() {
  static TrainObserver none;
  return none;
}

// The configuration a run uses: the flags, or for --resume the run's own config.json (a resumed
// run must be the same run). A folder a killed run left before it wrote config.json holds
// nothing to resume: the flags given start it.
TrainConfig resolve_config(const TrainConfig& in, TrainObserver& obs) {
  if (!in.resume) return in;
  const std::string path = in.out + "/config.json";
  if (!fs::exists(path)) {
    obs.config_missing(in.out);
    return in;
  }
  TrainConfig cfg = parse_run_config(io::read_file(path), path);
  cfg.out = in.out;
  cfg.resume = true;
  cfg.stop_after = in.stop_after;
  cfg.stop_requested = in.stop_requested;
  return cfg;
}

bool stop_requested(const TrainConfig& c) { return c.stop_requested != nullptr && c.stop_requested->load(); }

std::shared_ptr<ResNet18> init_model(const TrainConfig& c, const data::Dataset& ds, Generator& gen,
                                     TrainObserver& obs) {
  const int64_t classes = std::max<int64_t>(ds.num_classes, 2);
  if (c.init == "random") return std::make_shared<ResNet18>(ds.train.channels(), classes, gen);
  if (c.init.rfind("checkpoint:", 0) == 0) {
    Checkpoint ck = load_checkpoint(c.init.substr(11));
    LB_CHECK(!ck.meta.task_stored || ck.meta.task == ds.task,
             "--init " << c.init << ": the checkpoint was trained for a " << data::task_name(ck.meta.task) << " task, "
                       << c.data << " is " << data::task_name(ds.task));
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
    obs.imagenet_init(r, c.conv1, model->in_channels());
    return model;
  }
  LB_THROW("--init must be random, checkpoint:PATH or imagenet:PATH, got '" << c.init << "'");
}

// MedMNIST's ACC: argmax == label for single-label tasks; for multi-label, the fraction of
// (sample, label) entries right at sigmoid > 0.5, i.e. logit > 0 (the mean of per-label accuracies).
double accuracy_of(const Tensor& logits, const Tensor& y) {
  const int64_t n = logits.size(0), k = logits.size(1);
  const float* l = logits.data<float>();
  const int64_t* t = y.data<int64_t>();
  int64_t right = 0;
  if (y.dim() == 2) {
    for (int64_t i = 0; i < n * k; ++i) right += (l[i] > 0.0f) == (t[i] == 1);
    return static_cast<double>(right) / static_cast<double>(n * k);
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
      if (l[i * k + j] > l[i * k + arg]) arg = j;
    right += arg == t[i];
  }
  return static_cast<double>(right) / n;
}

// MedMNIST's AUC: class 1's AUC for a binary model, else the mean one-vs-rest (per-label) AUC
// over the classes val has both sides of. NaN when no class has both (e.g. a one-class val
// split); the trainer then ranks epochs by val ACC.
double val_auc(const Predictions& p) {
  const int64_t k = p.probs.size(1);
  double sum = 0.0;
  int64_t defined = 0;
  for (int64_t c = (k == 2 && !p.multilabel) ? 1 : 0; c < k; ++c) {
    const std::vector<int> labels = p.one_vs_rest_labels(c);
    const int64_t pos = std::count(labels.begin(), labels.end(), 1);
    if (pos == 0 || pos == static_cast<int64_t>(labels.size())) continue;
    sum += eval::roc_auc(p.scores_of(c), labels);
    ++defined;
  }
  return defined > 0 ? sum / static_cast<double>(defined) : NAN;
}

void write_history(const std::string& out, const std::vector<EpochRecord>& history) {
  json h = json::array();
  for (const auto& r : history) h.push_back(r.to_json());
  io::write_file_atomic(out + "/history.json", h.dump(2) + "\n");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr const char* kOptimPrefix = "optimizer.";
constexpr const char* kEmaPrefix = "ema.";
// Mixes into the run's seed for the --mix generator, so its draws are not the augmentation's.
constexpr uint64_t kMixSalt = 0x6d69787570ULL;  // "mixup"

}  // namespace

// ---- setting up ---------------------------------------------------------------------------------------

Trainer::Trainer(const TrainConfig& cfg, TrainObserver* observer)
    : obs_(observer ? *observer : silent()), cfg_(resolve_config(cfg, obs_)) {
  validate_config(cfg_);
  ds_ = data::load_medmnist(cfg_.data);
  build_model();
  report_run_start();
  open_run_folder();
  // After the optimizer's state is loaded: the graph's scalar table lives beside it.
  if (cfg_.graph) graph_ = std::make_unique<GraphStep>(*model_, *opt_);
  build_loader();
}

Trainer::~Trainer() = default;

// The model on its device with every stage the run will open trainable, and the metadata its
// checkpoints carry. Every remaining flag is checked here, before run_start, so bad input is one
// line.
void Trainer::build_model() {
  Generator gen(cfg_.seed);
  model_ = init_model(cfg_, ds_, gen, obs_);
  dev_ = parse_device(cfg_.device);
  if (cfg_.graph) check_graph_supported(dev_);
  LB_CHECK(!cfg_.graph || ds_.task != data::Task::MultiLabel,
           "--graph captures the single-label cross-entropy step; train the multi-label " << cfg_.data
                                                                                          << " without --graph");
  LB_CHECK(!cfg_.graph || cfg_.label_smoothing == 0,
           "--graph captures the plain cross-entropy step; train with --label-smoothing without --graph");
  LB_CHECK(cfg_.label_smoothing == 0 || ds_.task != data::Task::MultiLabel,
           "--label-smoothing applies to single-label tasks; " << cfg_.data << " is multi-label");
  mix_ = data::parse_mix(cfg_.mix);
  LB_CHECK(!mix_.enabled() || ds_.task != data::Task::MultiLabel,
           "--mix blends single-label targets; " << cfg_.data << " is multi-label: train it with --mix none");
  LB_CHECK(!cfg_.graph || !mix_.enabled(), "--graph captures the plain step; train with --mix without --graph");
  model_->to(dev_);  // before the optimizer's state exists: that state is made on the parameters' device
  if (cfg_.ema > 0) ema_ = std::make_unique<WeightAverage>(*model_, cfg_.ema);
  data::parse_augment(cfg_.augment);
  make_schedule(cfg_, 1);
  set_trainable(*model_, trainable_at(cfg_, cfg_.epochs - 1));  // every prefix the run will open
  meta_.in_channels = model_->in_channels();
  meta_.num_classes = model_->num_classes();
  meta_.task = ds_.task;
  meta_.task_stored = true;
  meta_.norm = {cfg_.norm_mean, cfg_.norm_std};
  meta_.class_names = default_class_names(cfg_.data, meta_.num_classes);
  meta_.image_size = ds_.train.height();
  meta_.config = cfg_.to_json();
}

void Trainer::report_run_start() const {
  RunStart s;
  s.data = cfg_.data;
  s.height = ds_.train.height();
  s.width = ds_.train.width();
  s.channels = ds_.train.channels();
  s.num_classes = ds_.num_classes;
  s.task = data::task_name(ds_.task);
  s.class_names = meta_.class_names;
  for (const data::Split* split : {&ds_.train, &ds_.val, &ds_.test})
    s.splits.push_back({split->name, split->size(), split->class_counts(ds_.num_classes)});
  obs_.run_start(s);
}

// The run folder and the optimizer: the saved state loaded (--resume), or config.json written.
void Trainer::open_run_folder() {
  const std::string& out = cfg_.out;
  fs::create_directories(out + "/checkpoints");
  // A run killed while writing leaves its temporary file behind (never a half-written final one).
  io::remove_stale_temp_files(out);
  io::remove_stale_temp_files(out + "/checkpoints");
  best_path_ = out + "/checkpoints/best.safetensors";
  resume_path_ = out + "/checkpoints/resume.safetensors";
  opt_ = make_optimizer(cfg_, *model_);
  if (cfg_.resume && fs::exists(resume_path_)) {
    load_state();
    obs_.resumed(out, st_.next_epoch, st_.next_batch);
  } else {
    if (cfg_.resume) obs_.nothing_to_resume(out);
    io::write_file_atomic(out + "/config.json", cfg_.to_json().dump(2) + "\n");
  }
}

void Trainer::build_loader() {
  data::LoaderConfig lc;
  lc.batch_size = cfg_.batch_size;
  lc.seed = cfg_.seed;
  lc.norm = meta_.norm;
  lc.augment = data::parse_augment(cfg_.augment);
  lc.drop_last = ds_.train.size() % cfg_.batch_size == 1;  // a batch of one breaks batch norm
  loader_ = std::make_unique<data::Loader>(ds_.train, lc);
  steps_ = loader_->num_batches();
  sched_ = make_schedule(cfg_, steps_);
  LB_CHECK(st_.next_batch == 0 || st_.next_batch < steps_,
           resume_path_ << ": the trainer state stands at batch " << st_.next_batch << " of an epoch of " << steps_
                        << "; it is damaged, start a new run without --resume");
  // Per-batch loss and accuracy are read back to the host in groups: on a GPU, reading a loss
  // waits for the step to finish, so reading every batch would stall the pipeline. On the CPU the
  // group is one batch. The NaN guard runs at each read.
  read_every_ = dev_.is_cuda() ? 16 : 1;
}

// ---- the loop -----------------------------------------------------------------------------------------

TrainResult Trainer::run() {
  LB_CHECK(!ran_, "Trainer::run: a trainer runs once; a new one with --resume continues its run");
  ran_ = true;
  const int64_t first_epoch = st_.next_epoch;
  for (int64_t e = st_.next_epoch; e < cfg_.epochs; ++e) {
    if (cfg_.stop_after > 0 && e - first_epoch >= cfg_.stop_after) {
      obs_.stop_after(cfg_.stop_after);
      break;
    }
    // A run killed between saving its state and leaving on early stopping has nothing left to do.
    if (cfg_.patience > 0 && st_.stale >= cfg_.patience) {
      stopped_early_ = true;
      break;
    }
    const EpochEnd end = run_epoch(e);
    if (end == EpochEnd::Interrupted) return result();
    if (end == EpochEnd::EarlyStop) break;
  }
  // history.json trails resume.safetensors by one write; a run killed between the two (or resumed
  // when it had already finished) writes it again here.
  write_history(cfg_.out, st_.history);
  return result();
}

Trainer::EpochEnd Trainer::run_epoch(int64_t e) {
  const auto t0 = Clock::now();
  EpochRecord rec = begin_epoch(e);
  if (!train_batches(e, rec, t0)) return EpochEnd::Interrupted;
  const bool improved = end_epoch(e, rec, t0);
  obs_.epoch_end(rec, cfg_.epochs, improved);
  if (cfg_.patience > 0 && st_.stale >= cfg_.patience) {
    obs_.early_stop(cfg_.patience);
    stopped_early_ = true;
    return EpochEnd::EarlyStop;
  }
  return EpochEnd::Continue;
}

EpochRecord Trainer::begin_epoch(int64_t e) {
  EpochRecord rec;
  rec.epoch = e + 1;
  rec.trainable = set_trainable(*model_, trainable_at(cfg_, e));
  rec.device = dev_.str();
  rec.math = math_mode_name(cuda_math_mode());
  rec.graph = graph_ != nullptr;
  model_->train();
  loader_->start_epoch(e, st_.next_batch);
  obs_.epoch_start(e + 1, cfg_.epochs, steps_ - st_.next_batch);
  return rec;
}

bool Trainer::train_batches(int64_t e, EpochRecord& rec, Clock::time_point t0) {
  data::Batch b;
  for (int64_t i = st_.next_batch; i < steps_; ++i) {
    if (stop_requested(cfg_)) {
      interrupt(e, i, t0);
      return false;
    }
    LB_CHECK(loader_->next(b), "training: the loader ended after " << i << " of " << steps_ << " batches");
    rec.lr = step(b, e, i);
    obs_.batch_end(b.x.size(0), st_.seen ? st_.loss_sum / st_.seen : 0.0);
  }
  drain(e);
  obs_.batches_end();
  return true;
}

double Trainer::step(const data::Batch& b, int64_t e, int64_t i) {
  const double lr = apply_schedule(*sched_, *opt_, e * steps_ + i);
  Tensor logits, loss;
  data::Mixed mixed;
  if (graph_) {
    const GraphStep::Result r = graph_->step(b.x, b.y);
    logits = r.logits;
    loss = r.loss;
  } else {
    Tensor x = b.x;
    if (mix_.enabled()) {
      // Seeded from (seed, epoch, batch) alone, like the augmentation: a resumed run blends alike.
      Generator g(data::sample_seed(cfg_.seed ^ kMixSalt, e, i));
      x = b.x.clone();
      mixed = data::mix_batch(x, b.y, mix_, g);
    }
    logits = (*model_)(x.to(dev_));
    const auto ce = [&](const Tensor& y) {
      return ds_.task == data::Task::MultiLabel ? binary_cross_entropy_with_logits(logits, y)
                                                : cross_entropy_smoothed(logits, y, cfg_.label_smoothing);
    };
    loss = ce(b.y);
    if (mix_.enabled()) loss = add(scale(loss, mixed.lam), ce(mixed.y2), 1.0 - mixed.lam);
    if (dev_.is_cpu()) check_finite(loss.item(), e, i);  // before the step: the state stays good
    opt_->zero_grad();
    loss.backward();
    opt_->step();
  }
  if (ema_) ema_->update(*model_);
  pending_.push_back({loss.detach(), logits.detach(), b.y, mixed.y2, mixed.lam, i});
  if (pending_.size() >= read_every_) drain(e);
  return lr;
}

void Trainer::drain(int64_t e) {
  for (const Pending& p : pending_) {
    const double lv = p.loss.item();
    check_finite(lv, e, p.batch);
    const int64_t n = p.y.size(0);
    st_.loss_sum += lv * n;
    const Tensor logits = p.logits.to(Device::cpu());
    double acc = accuracy_of(logits, p.y);
    if (p.lam < 1.0) acc = p.lam * acc + (1.0 - p.lam) * accuracy_of(logits, p.y2);
    st_.acc_sum += acc * n;
    st_.seen += n;
  }
  pending_.clear();
}

bool Trainer::end_epoch(int64_t e, EpochRecord& rec, Clock::time_point t0) {
  rec.train_loss = st_.loss_sum / st_.seen;
  rec.train_acc = st_.acc_sum / st_.seen;
  const Predictions val = predict_tta(judged(), ds_.val, meta_.norm, static_cast<int>(cfg_.tta));
  // A diverged model can pass every training batch with a finite loss and still predict NaN on
  // val (its running statistics overflowed during the epoch): same guard, before any save.
  check_finite(val.loss, e, -1);
  rec.val_loss = val.loss;
  rec.val_acc = accuracy_of(val.logits, val.labels);
  rec.val_auc = val_auc(val);
  rec.seconds = st_.seconds + seconds_since(t0);
  st_.history.push_back(rec);
  st_.next_epoch = e + 1;
  st_.next_batch = 0;
  st_.loss_sum = st_.acc_sum = st_.seconds = 0;
  st_.seen = 0;
  // --select loss ranks by 1 / (1 + val loss): lower loss, higher score, always above the -1 a
  // fresh state starts from (and finite in the state's JSON, which -inf would not be).
  const double score = cfg_.select == "loss"     ? 1.0 / (1.0 + rec.val_loss)
                       : std::isnan(rec.val_auc) ? rec.val_acc
                                                 : rec.val_auc;
  const bool improved = score > st_.best_auc;
  if (improved) {
    st_.best_auc = score;
    st_.best_epoch = e + 1;
    st_.stale = 0;
    save_checkpoint(best_path_, judged(), meta_);
    obs_.checkpoint_saved(TrainObserver::CheckpointKind::Best, best_path_);
  } else {
    ++st_.stale;
  }
  save_state();
  write_history(cfg_.out, st_.history);
  return improved;
}

// Everything up to batch i is trained: save exactly that, so --resume continues at batch i.
void Trainer::interrupt(int64_t e, int64_t i, Clock::time_point t0) {
  drain(e);  // the losses of the batches not yet read back belong to this state
  obs_.batches_end();
  st_.next_epoch = e;
  st_.next_batch = i;
  st_.seconds += seconds_since(t0);
  save_state();
  obs_.interrupted({e + 1, i, steps_, resume_path_, cfg_.out});
  interrupted_ = true;
}

void Trainer::check_finite(double v, int64_t e, int64_t batch) const {
  LB_CHECK(std::isfinite(v), "training diverged: the "
                                 << (batch < 0 ? "validation " : "") << "loss is " << v
                                 << (batch < 0 ? " after epoch " : " at epoch ") << e + 1
                                 << (batch < 0 ? "" : ", batch " + std::to_string(batch + 1))
                                 << (e > 0 ? "; the last good checkpoint is " + resume_path_ : std::string())
                                 << "; lower --lr (now " << cfg_.lr << ")");
}

TrainResult Trainer::result() const {
  TrainResult r;
  r.history = st_.history;
  r.best_epoch = st_.best_epoch;
  r.best_val_auc = st_.best_epoch > 0 ? st_.history[st_.best_epoch - 1].val_auc : st_.best_auc;
  r.stopped_early = stopped_early_;
  r.interrupted = interrupted_;
  r.best_path = best_path_;
  r.last_path = resume_path_;
  return r;
}

// ---- resume -------------------------------------------------------------------------------------------

// One file, written atomically, holds model, optimizer and trainer state, so a kill at any moment
// leaves either the previous state or this one, never a mix. Doubles go through JSON, which
// nlohmann writes with enough digits to read back the same bits.
void Trainer::save_state() {
  nn::StateDict all = model_->state_dict();
  for (auto& [k, t] : opt_->state_dict()) all.emplace_back(kOptimPrefix + k, t);
  if (ema_)
    for (auto& [k, t] : ema_->model().state_dict()) all.emplace_back(kEmaPrefix + k, t);
  json hist = json::array();
  for (const auto& r : st_.history) hist.push_back(r.to_json());
  const json trainer{{"next_epoch", st_.next_epoch},
                     {"next_batch", st_.next_batch},
                     {"loss_sum", st_.loss_sum},
                     {"acc_sum", st_.acc_sum},
                     {"seen", st_.seen},
                     {"seconds", st_.seconds},
                     {"best_auc", st_.best_auc},
                     {"best_epoch", st_.best_epoch},
                     {"stale", st_.stale},
                     {"ema_updates", ema_ ? ema_->updates() : 0},
                     {"history", hist}};
  std::map<std::string, std::string> md{
      {"arch", meta_.arch}, {"config", meta_.config.dump()}, {"trainer", trainer.dump()}};
  io::save_safetensors(resume_path_, all, md);
  obs_.checkpoint_saved(TrainObserver::CheckpointKind::Resume, resume_path_);
}

void Trainer::load_state() {
  const std::string& path = resume_path_;
  io::SafeTensors f = io::load_safetensors(path);
  nn::StateDict model_sd, opt_sd, ema_sd;
  for (auto& [k, t] : f.tensors) {
    if (k.rfind(kOptimPrefix, 0) == 0)
      opt_sd.emplace_back(k.substr(std::string(kOptimPrefix).size()), t);
    else if (k.rfind(kEmaPrefix, 0) == 0)
      ema_sd.emplace_back(k.substr(std::string(kEmaPrefix).size()), t);
    else
      model_sd.emplace_back(k, t);
  }
  model_->load_state_dict(model_sd, true);
  opt_->load_state_dict(opt_sd);
  LB_CHECK(!ema_ || !ema_sd.empty(), path << ": the run averages weights (--ema) but the file holds no average; it is "
                                             "damaged, start a new run without --resume");
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
    if (ema_) ema_->restore(ema_sd, j.at("ema_updates").get<int64_t>());
  } catch (const json::exception& e) {
    LB_THROW(path << ": the trainer state is damaged (" << e.what() << "); start a new run without --resume");
  }
  LB_CHECK(st.next_epoch >= 0 && st.next_batch >= 0 && st.seen >= 0,
           path << ": the trainer state is damaged (negative counters); start a new run without --resume");
  st_ = st;
}

TrainResult train_model(const TrainConfig& cfg, TrainObserver* observer) { return Trainer(cfg, observer).run(); }

}  // namespace lb::models
