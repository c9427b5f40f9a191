// capture.h: taps: capture named modules' inputs and outputs as a model runs, and their
// gradients afterwards. The explainers' layer attributions and `lightbox probe` build on this.
//
//   nn::Capture cap({"layer1", "layer4"});
//   Tensor logits = model(x);                      // every call of those modules is recorded
//   cap.at("layer4").output                        // the value at call time
//   auto g = cap.gradients(logits_k_sum);          // d(out)/d(input) and d(out)/d(output) per tap
//
// Values are cloned when recorded, so a later in-place op (torchvision's ReLU(inplace=True) right
// after a BatchNorm) cannot change what was captured. Gradients are taken with respect to the
// autograd handles *as they were at call time*: the gradient of "bn1"'s output is the one that
// arrives at bn1's node, before the in-place ReLU, exactly the tensor shap's layer hooks mean.
// A module called twice in one forward (the shared ReLU of a BasicBlock) keeps its last call.
// Scopes are per thread and nest; a module is matched by its dotted name (Module::assign_names).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace lb::nn {

struct Tap {
  Tensor input, output;                // values (clones)
  Tensor input_handle, output_handle;  // autograd handles at call time (undefined without grad)
};

struct TapGradients {
  Tensor input_grad, output_grad;  // undefined when that side needs no gradient
};

class Capture {
 public:
  explicit Capture(std::vector<std::string> names);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  bool has(const std::string& name) const { return taps_.count(name) > 0; }
  const Tap& at(const std::string& name) const;  // throws if the module never ran
  const std::vector<std::string>& names() const { return names_; }
  // d(output . grad_output)/d(tap input and output) for every captured module, in names() order.
  std::map<std::string, TapGradients> gradients(const Tensor& output, const Tensor& grad_output = Tensor(),
                                                bool retain_graph = false) const;

  // Called by Module::operator() around every module call while a Capture is alive in this
  // thread: the input before forward runs (so an in-place module cannot overwrite it first), the
  // output after.
  static void record_input(const std::string& module_name, const Tensor& input);
  static void record_output(const std::string& module_name, const Tensor& output);
  static bool active();
  // True when a Capture alive in this thread lists `module_name`: a fused op that would skip that
  // module's call (models/resnet.cc) must not run.
  static bool wants(const std::string& module_name);

 private:
  std::vector<std::string> names_;
  std::map<std::string, Tap> taps_;
};

}  // namespace lb::nn
