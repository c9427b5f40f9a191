// optim/sgd.h: stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.
//
// Follows torch.optim.SGD (maximize=False) exactly, per parameter p with gradient g:
//   d = g + weight_decay * p                        (coupled L2: decay goes through momentum)
//   if momentum != 0:
//     buf = d                                       on the parameter's first update
//     buf = momentum * buf + (1 - dampening) * d    afterwards
//     d   = d + momentum * buf   if nesterov,  else  d = buf
//   p = p - lr * d
// Sutskever et al. 2013 for the momentum form; the PyTorch docs of torch.optim.SGD.
// State: "<i>.momentum_buffer" (shaped like parameter i) once it exists.
#pragma once

#include "engine/optim/optimizer.h"
#include "kernels/shapes.h"

namespace lb::optim {

struct SGDOptions {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions opt);
  void step() override;
  void prepare_replay() override;
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& sd) override;

  const SGDOptions& options() const { return opt_; }
  // One-cycle schedules also cycle the momentum (torch OneCycleLR's cycle_momentum).
  double momentum() const { return opt_.momentum; }
  void set_momentum(double m);

 private:
  kernels::SgdParams cuda_scalars(bool first) const;  // rounded to float as sgd_update<float> rounds

  SGDOptions opt_;
  std::vector<Tensor> momentum_buffer_;  // per parameter; undefined until its first update
};

}  // namespace lb::optim
