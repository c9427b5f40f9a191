// optim/optimizer.h: the Optimizer base class that SGD and AdamW share.
//
// An optimizer holds handles to the parameters it updates (the same TensorImpls the model holds)
// and per-parameter state (momentum buffers, Adam moments). step() follows the torch.optim rules:
//   - a parameter whose .grad is undefined (unused in this forward, or frozen) is skipped, and so
//     is a parameter with requires_grad false, so that freezing is absolute even if a stale
//     gradient is left over from before the freeze;
//   - updates run with grad mode off and write the parameter in place, bumping its version, so a
//     backward through a graph recorded before the step fails loudly instead of using new values.
// The element loops run on the CPU; a parameter on a GPU is updated by one fused kernel
// (kernels/optim.cuh), with no host round trip.
//
// CUDA Graphs (models/graph_step.h). A captured step() has its kernel arguments baked in, but the
// learning rate (and AdamW's bias corrections) change every step. After use_device_scalars(), a
// step() issued while the stream is being captured records update kernels that read their scalars
// from a per-parameter table in device memory, and changes no host state; prepare_replay() then
// does the host half of a step (AdamW's step counts, this step's scalars from the current lr) and
// writes the table, stream-ordered, before each replay. Outside a capture step() works as always,
// so eager steps and replays mix freely (an odd-sized last batch runs eagerly).
//
// state_dict() names each state tensor "<parameter index>.<field>" ("3.momentum_buffer",
// "3.exp_avg", "3.step") plus "lr", so a checkpoint can resume training exactly (--resume).
#pragma once

#include <cstring>
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

  // See the file comment. use_device_scalars() needs every parameter on one CUDA device.
  void use_device_scalars();
  bool has_device_scalars() const { return scalar_table_.defined(); }
  virtual void prepare_replay() = 0;

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

  // True when a step() should record table-reading kernels: use_device_scalars() was called and
  // the compute stream is being captured. Throws if capturing without a table (the lr would be
  // frozen into the graph).
  bool recording_for_replay() const;
  // Parameter i's table entry, as a device pointer (entries are kTableStride floats apart).
  template <class T>
  const T* table_entry(size_t i) const {
    static_assert(sizeof(T) <= kTableStride * sizeof(float) && alignof(T) <= alignof(float), "table entry too big");
    return reinterpret_cast<const T*>(scalar_table_.data_ptr<float>() + i * kTableStride);
  }
  // Writes one entry per parameter (entries of parameters without an update are ignored).
  template <class T>
  void upload_table(const std::vector<T>& entries) {
    std::vector<float> raw(params_.size() * kTableStride, 0.f);
    for (size_t i = 0; i < entries.size(); ++i) std::memcpy(raw.data() + i * kTableStride, &entries[i], sizeof(T));
    upload_table_bytes(raw);
  }

  std::vector<Tensor> params_;
  double lr_;

 private:
  static constexpr size_t kTableStride = 8;
  void upload_table_bytes(const std::vector<float>& raw);
  Tensor scalar_table_;  // float32 (params * kTableStride) on the parameters' CUDA device
};

}  // namespace lb::optim
