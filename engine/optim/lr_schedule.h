// optim/lr_schedule.h: learning-rate schedules as pure functions of the step count.
//
// lr_at(k) is the learning rate for the k-th scheduler step (0-based): the trainer calls
// opt.set_lr(schedule.lr_at(k)) before the k-th optimizer step (one-cycle, per batch) or epoch
// (step and cosine schedules). Being closed forms, they need no state to resume: a checkpoint
// only stores k. Each matches its torch.optim.lr_scheduler namesake's get_last_lr() after k calls
// of scheduler.step():
//   StepLR      base_lr * gamma^floor(k / step_size)
//   CosineLR    eta_min + (base_lr - eta_min) * (1 + cos(pi * k / t_max)) / 2
//               (CosineAnnealingLR's closed form; past t_max it keeps following the cosine, as
//               PyTorch's closed form does)
//   WarmupLR    a linear warmup from start_factor * inner(0) to inner(0) over warmup_steps, then
//               inner(k - warmup_steps) (LinearLR followed by the inner schedule, SequentialLR)
//   OneCycleLR  Smith & Topin 2017, torch's two-phase form with cosine annealing: from
//               max_lr / div_factor up to max_lr over the first pct_start of the steps, then down
//               to max_lr / div_factor / final_div_factor at step total_steps - 1.
#pragma once

#include <cstdint>
#include <memory>

namespace lb::optim {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr_at(int64_t step) const = 0;  // step >= 0
};

class StepLR : public LRSchedule {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma);
  double lr_at(int64_t step) const override;

 private:
  double base_lr_;
  int64_t step_size_;
  double gamma_;
};

class CosineLR : public LRSchedule {
 public:
  CosineLR(double base_lr, int64_t t_max, double eta_min = 0.0);
  double lr_at(int64_t step) const override;

 private:
  double base_lr_;
  int64_t t_max_;
  double eta_min_;
};

class WarmupLR : public LRSchedule {
 public:
  WarmupLR(std::shared_ptr<LRSchedule> inner, int64_t warmup_steps, double start_factor);
  double lr_at(int64_t step) const override;

 private:
  std::shared_ptr<LRSchedule> inner_;
  int64_t warmup_steps_;
  double start_factor_;
};

class OneCycleLR : public LRSchedule {
 public:
  OneCycleLR(double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25.0,
             double final_div_factor = 1e4);
  // Valid for 0 <= step <= total_steps (torch raises past total_steps).
  double lr_at(int64_t step) const override;
  // torch's cycle_momentum: momentum moves opposite to the lr, from max_momentum down to
  // base_momentum in phase one and back up in phase two. Feed it to SGD::set_momentum.
  double momentum_at(int64_t step, double base_momentum = 0.85, double max_momentum = 0.95) const;

 private:
  // Cosine interpolation between the two phase endpoints, torch's _annealing_cos.
  double interpolate(int64_t step, double a0, double a1, double b1) const;

  double max_lr_, initial_lr_, min_lr_;
  int64_t total_steps_;
  double phase1_end_;  // pct_start * total_steps - 1, a float as in torch
};

}  // namespace lb::optim
