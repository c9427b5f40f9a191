// optim/adamw.h: Adam with decoupled weight decay (Loshchilov & Hutter 2019).
//
// Follows torch.optim.AdamW (amsgrad=False, maximize=False) exactly, per parameter p with
// gradient g and its own step count t (a parameter skipped in a step does not advance):
//   p  = p * (1 - lr * weight_decay)          decay first, and outside the moments
//   m  = lerp(m, g, 1 - beta1)                = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g * g
//   bc1 = 1 - beta1^t,  bc2 = 1 - beta2^t
//   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// State: "<i>.step" (int64 scalar), "<i>.exp_avg", "<i>.exp_avg_sq" once parameter i has moved.
#pragma once

#include "engine/optim/optimizer.h"
#include "kernels/shapes.h"

namespace lb::optim {

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions opt);
  void step() override;
  void prepare_replay() override;
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& sd) override;
  const AdamWOptions& options() const { return opt_; }

 private:
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq;  // shaped like the parameter; undefined until its first update
  };
  // This step's scalars for a parameter at step count t, rounded to float for the CUDA kernel.
  kernels::AdamWParams cuda_scalars(int64_t t) const;

  AdamWOptions opt_;
  std::vector<State> state_;
};

}  // namespace lb::optim
