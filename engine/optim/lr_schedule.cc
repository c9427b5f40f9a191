// optim/lr_schedule.cc: see lr_schedule.h. Formulas are those of torch.optim.lr_scheduler.
#include "engine/optim/lr_schedule.h"

#include <cmath>

#include "base/common.h"

namespace lb::optim {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_step(const char* who, int64_t step) { LB_CHECK(step >= 0, who << ": step must be >= 0, got " << step); }

}  // namespace

// ---- StepLR --------------------------------------------------------------------------------------

StepLR::StepLR(double base_lr, int64_t step_size, double gamma)
    : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
  LB_CHECK(step_size_ > 0, "StepLR: step_size must be positive, got " << step_size_);
}

double StepLR::lr_at(int64_t step) const {
  check_step("StepLR", step);
  return base_lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

// ---- CosineLR ------------------------------------------------------------------------------------

CosineLR::CosineLR(double base_lr, int64_t t_max, double eta_min)
    : base_lr_(base_lr), t_max_(t_max), eta_min_(eta_min) {
  LB_CHECK(t_max_ > 0, "CosineLR: t_max must be positive, got " << t_max_);
}

double CosineLR::lr_at(int64_t step) const {
  check_step("CosineLR", step);
  const double c = std::cos(kPi * static_cast<double>(step) / static_cast<double>(t_max_));
  return eta_min_ + (base_lr_ - eta_min_) * (1.0 + c) / 2.0;
}

// ---- WarmupLR ------------------------------------------------------------------------------------

WarmupLR::WarmupLR(std::shared_ptr<LRSchedule> inner, int64_t warmup_steps, double start_factor)
    : inner_(std::move(inner)), warmup_steps_(warmup_steps), start_factor_(start_factor) {
  LB_CHECK(inner_ != nullptr, "WarmupLR: the inner schedule is null");
  LB_CHECK(warmup_steps_ >= 0, "WarmupLR: warmup_steps must be >= 0, got " << warmup_steps_);
  LB_CHECK(start_factor_ > 0 && start_factor_ <= 1, "WarmupLR: start_factor must be in (0, 1], got " << start_factor_);
}

double WarmupLR::lr_at(int64_t step) const {
  check_step("WarmupLR", step);
  if (step >= warmup_steps_) return inner_->lr_at(step - warmup_steps_);
  const double frac = static_cast<double>(step) / static_cast<double>(warmup_steps_);
  return inner_->lr_at(0) * (start_factor_ + (1.0 - start_factor_) * frac);
}

// ---- OneCycleLR ----------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(double max_lr, int64_t total_steps, double pct_start, double div_factor, double final_div_factor)
    : max_lr_(max_lr),
      initial_lr_(max_lr / div_factor),
      min_lr_(max_lr / div_factor / final_div_factor),
      total_steps_(total_steps),
      phase1_end_(pct_start * static_cast<double>(total_steps) - 1.0) {
  LB_CHECK(total_steps_ > 0, "OneCycleLR: total_steps must be positive, got " << total_steps_);
  LB_CHECK(pct_start > 0 && pct_start < 1, "OneCycleLR: pct_start must be in (0, 1), got " << pct_start);
  LB_CHECK(div_factor > 0 && final_div_factor > 0, "OneCycleLR: div factors must be positive");
  // torch divides by each phase's length. A negative phase-one end (very few steps) is fine: step 0
  // then falls in phase two, as in torch. A zero length is torch's ZeroDivisionError.
  LB_CHECK(phase1_end_ != 0 && static_cast<double>(total_steps_ - 1) != phase1_end_,
           "OneCycleLR: " << total_steps_ << " steps with pct_start " << pct_start
                          << " make a phase of zero length; change pct_start or the step count");
}

// Phase one runs from step 0 to phase1_end_ (a0 -> a1), phase two from phase1_end_ to
// total_steps - 1 (a1 -> b1). A step past the end keeps extrapolating phase two, like torch.
double OneCycleLR::interpolate(int64_t step, double a0, double a1, double b1) const {
  const double k = static_cast<double>(step);
  const double end2 = static_cast<double>(total_steps_ - 1);
  double start, end, pct;
  if (k <= phase1_end_) {
    start = a0, end = a1, pct = k / phase1_end_;
  } else {
    start = a1, end = b1, pct = (k - phase1_end_) / (end2 - phase1_end_);
  }
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

double OneCycleLR::lr_at(int64_t step) const {
  check_step("OneCycleLR", step);
  LB_CHECK(step <= total_steps_, "OneCycleLR: step " << step << " is past total_steps " << total_steps_
                                                     << "; build the schedule with the run's real step count");
  return interpolate(step, initial_lr_, max_lr_, min_lr_);
}

double OneCycleLR::momentum_at(int64_t step, double base_momentum, double max_momentum) const {
  check_step("OneCycleLR", step);
  LB_CHECK(step <= total_steps_, "OneCycleLR: step " << step << " is past total_steps " << total_steps_);
  return interpolate(step, max_momentum, base_momentum, max_momentum);
}

}  // namespace lb::optim
