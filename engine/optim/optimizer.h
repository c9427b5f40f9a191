// optim/optimizer.h: the Optimizer base class that SGD and AdamW share.
//
// An optimizer holds handles to the parameters it updates (the same TensorImpls the model holds)
// and per-parameter state (momentum buffers, Adam moments). step() follows the torch.optim rules:
//   - a parameter whose .grad is undefined (unused in this forward, or frozen) is skipped, and so
//     is a parameter with requires_grad false, so that freezing is absolute even if a stale
//     gradient is left over from before the freeze;
//   - updates run with grad mode off and write the parameter in place, bumping its version, so a
//     backward through a graph recorded before the step fails loudly instead of using new values.
// The element loops run on the CPU. A parameter on a GPU is staged through host copies (correct,
// slow); fused device updates belong in kernels/ next to the other CUDA ops.
//
// state_dict() names each state tensor "<parameter index>.<field>" ("3.momentum_buffer",
// "3.exp_avg", "3.step") plus "lr", so a checkpoint can resume training exactly (--resume).
#pragma once

#include <vector>

#include "engine/nn/module.h"
#include "engine/tensor.h"

namespace lb::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;

  virtual void step() = 0;
  void zero_grad();  // drops every parameter's grad (PyTorch's set_to_none=True)
  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }

  virtual nn::StateDict state_dict() const = 0;
  // Replaces the whole optimizer state with `sd` (a parameter with no entries starts fresh).
  // Throws on unknown keys, bad indices and shapes that do not match the parameter.
  virtual void load_state_dict(const nn::StateDict& sd) = 0;

 protected:
  // True when step() should update parameter i (see the file comment).
  bool has_update(size_t i) const;
  // A CPU tensor with t's values: t itself on the CPU, a copy otherwise.
  static Tensor host(const Tensor& t);
  // Copies a staged host tensor back into dst when host() had to copy.
  static void write_back(Tensor& dst, const Tensor& staged);
  // Converts a loaded state tensor to parameter i's dtype, shape-checks it, and returns a private
  // copy on the parameter's device.
  Tensor adopt_state(size_t i, const std::string& key, const Tensor& t, const Shape& want) const;
  // Splits "<index>.<field>" and checks the index; "lr" returns false (handled by the caller).
  bool parse_key(const std::string& key, size_t& index, std::string& field) const;

  std::vector<Tensor> params_;
  double lr_;
};

}  // namespace lb::optim
