// weight_average.cc: see weight_average.h.
#include "models/weight_average.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"

namespace lb::models {

WeightAverage::WeightAverage(const ResNet18& model, double decay) : decay_(decay) {
  LB_CHECK(decay > 0 && decay < 1, "--ema must be in (0, 1) (e.g. 0.998), got " << decay);
  Generator unused(0);  // the initial weights are overwritten at once
  avg_ = std::make_shared<ResNet18>(model.in_channels(), model.num_classes(), unused, model.width());
  avg_->to(model.parameters().front().device());
  avg_->load_state_dict(model.state_dict());
  avg_->set_requires_grad(false);
  avg_->eval();
}

double WeightAverage::next_decay() const {
  const auto t = static_cast<double>(updates_);
  return std::min(decay_, (1.0 + t) / (10.0 + t));
}

void WeightAverage::update(const ResNet18& model) {
  NoGradGuard no_grad;
  const double d = next_decay();
  const nn::StateDict cur = model.state_dict();
  nn::StateDict avg = avg_->state_dict();
  LB_CHECK(cur.size() == avg.size(),
           "WeightAverage: the model has " << cur.size() << " tensors, the average " << avg.size());
  for (size_t i = 0; i < cur.size(); ++i) {
    Tensor& a = avg[i].second;
    const Tensor& w = cur[i].second;
    if (is_floating(a.dtype()))
      add_(a, sub(w, a), 1.0 - d);
    else
      a.copy_(w);
  }
  ++updates_;
}

void WeightAverage::restore(const nn::StateDict& sd, int64_t updates) {
  LB_CHECK(updates >= 0, "WeightAverage: a negative update count " << updates << " in the resume state");
  avg_->load_state_dict(sd);
  updates_ = updates;
}

}  // namespace lb::models
