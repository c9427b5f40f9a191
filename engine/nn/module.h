// nn/module.h: Module, the base of every layer and model, and its state dict.
//
// A Module owns named parameters (leaf tensors that require grad), named buffers (state that is
// saved but not trained: BatchNorm's running statistics) and named child modules. Everything that
// walks a model (the optimizer's parameter list, checkpoints, freezing, taps, `lightbox info`)
// goes through the dotted names built here, so they follow PyTorch exactly:
//
//   named_parameters  "conv1.weight", "layer1.0.bn1.bias", ... own entries first, then each child
//                     in registration order, depth first (torch.nn.Module.named_parameters)
//   state_dict        own parameters, own buffers, then each child recursively
//                     (torch.nn.Module.state_dict), so torchvision checkpoints map one to one
//   repr              the indented tree that print(model) shows in PyTorch
//
// Tensors are handles: a layer keeps a copy of the handle it registered, and every operation that
// changes a parameter (load_state_dict, to(Device), optimizer steps) writes into the same
// TensorImpl, so the layer's copy and the registry never disagree.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace lb::nn {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What a non-strict load_state_dict found: model keys absent from the file, file keys the model
// does not have.
struct LoadReport {
  std::vector<std::string> missing, unexpected;
};

class Module {
 public:
  virtual ~Module() = default;

  virtual Tensor forward(const Tensor& x) = 0;
  // The entry point models and tools call; forward is the part a layer writes. Keeping them apart
  // leaves room for activation taps without touching any layer.
  // Calls forward; while an nn::Capture scope is alive, records this module's input and output
  // under its dotted name (set by assign_names()).
  Tensor operator()(const Tensor& x);

  virtual std::string type_name() const = 0;             // "Conv2d"
  virtual std::string extra_repr() const { return ""; }  // what PyTorch prints inside the parens

  // ---- walking the tree ----------------------------------------------------------------------
  // Dotted names, own entries first, then children depth first in registration order. A tensor
  // registered twice (shared weights) appears once, under its first name, as in PyTorch.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // "" (this module) first, then every descendant with its dotted name, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  Module* find(const std::string& dotted_name) const;  // nullptr if absent; "" is this module

  // ---- modes -----------------------------------------------------------------------------------
  void train(bool on = true);  // this module and every descendant
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- state -----------------------------------------------------------------------------------
  // Detached aliases of every parameter and buffer (same storage, no autograd history).
  StateDict state_dict() const;
  // Copies values into the existing tensors (converting dtype, bumping versions). Checks
  // everything before writing anything, so a failed load leaves the model untouched:
  //   a shape mismatch always throws, naming the key and both shapes;
  //   strict: any missing or unexpected key throws, listing all of them in one message;
  //   non-strict: they are returned in the report.
  LoadReport load_state_dict(const StateDict& sd, bool strict = true);

  void zero_grad();                 // drops every parameter's .grad
  void set_requires_grad(bool on);  // freezes (false) or unfreezes (true) every parameter
  void assign_names();              // tensor names = dotted names (autograd::to_dot); module names (nn::Capture)
  const std::string& path() const { return path_; }  // the dotted name assign_names() gave; "" for the root
  // Moves every parameter and buffer to `dev` in place (the TensorImpl is kept, its storage is
  // replaced), so handles held by layers and optimizers stay valid. Drops gradients.
  void to(Device dev);

  std::string repr() const;  // PyTorch-style indented tree

 protected:
  // Registers a parameter (it is made a leaf that requires grad). Names are local ("weight"),
  // unique within the module and without dots. The returned reference stays valid (deque).
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // A buffer that may be absent from a loaded state dict without counting as missing (it keeps
  // its current value). BatchNorm2d's num_batches_tracked: checkpoints written before PyTorch
  // 0.4.1 and several converters drop it, and PyTorch itself fills it in for them.
  virtual bool is_optional_key(const std::string& local_name) const { return false; }

 private:
  std::string path_;  // dotted name from the root that called assign_names(); "" for the root
  void check_new_name(const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  // Every (dotted name, handle, owner, local name) of parameters then buffers, in state-dict order.
  struct Entry {
    std::string key;
    Tensor tensor;
    const Module* owner;
    std::string local;
  };
  void collect_state(const std::string& prefix, std::vector<Entry>& out) const;

  std::deque<std::pair<std::string, Tensor>> params_;
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A double as Python's repr() writes it ("0.1", "1e-05", "1.0"), so extra_repr matches PyTorch.
std::string py_float_repr(double v);

}  // namespace lb::nn
