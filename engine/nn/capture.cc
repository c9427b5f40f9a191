// capture.cc: see capture.h.
#include "engine/nn/capture.h"

#include <algorithm>

#include "engine/autograd.h"

namespace lb::nn {

namespace {
thread_local std::vector<Capture*> t_captures;

// A new handle sharing t's storage and its autograd history *now*: later in-place ops rebase t's
// grad_fn, not this handle's.
Tensor snapshot(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return Tensor();
  return Tensor(std::make_shared<TensorImpl>(*t.impl()));
}
}  // namespace

Capture::Capture(std::vector<std::string> names) : names_(std::move(names)) { t_captures.push_back(this); }

Capture::~Capture() { t_captures.erase(std::find(t_captures.begin(), t_captures.end(), this)); }

bool Capture::active() { return !t_captures.empty(); }

bool Capture::wants(const std::string& module_name) {
  for (const Capture* c : t_captures)
    if (std::find(c->names().begin(), c->names().end(), module_name) != c->names().end()) return true;
  return false;
}

namespace {
// The captures in this thread that want `name`.
template <class F>
void for_each_wanting(const std::string& name, F&& f) {
  for (Capture* c : t_captures)
    if (std::find(c->names().begin(), c->names().end(), name) != c->names().end()) f(*c);
}
}  // namespace

void Capture::record_input(const std::string& module_name, const Tensor& input) {
  for_each_wanting(module_name, [&](Capture& c) {
    Tap& tap = c.taps_[module_name];
    tap.input = input.clone();
    tap.input_handle = snapshot(input);
  });
}

void Capture::record_output(const std::string& module_name, const Tensor& output) {
  for_each_wanting(module_name, [&](Capture& c) {
    Tap& tap = c.taps_[module_name];
    tap.output = output.clone();
    tap.output_handle = snapshot(output);
  });
}

const Tap& Capture::at(const std::string& name) const {
  auto it = taps_.find(name);
  LB_CHECK(it != taps_.end(), "capture: module '" << name << "' did not run in the captured forward pass; "
                                                  << "check the name (e.g. layer1, layer4.1.conv2)");
  return it->second;
}

std::map<std::string, TapGradients> Capture::gradients(const Tensor& output, const Tensor& grad_output,
                                                       bool retain_graph) const {
  std::vector<Tensor> inputs;
  std::vector<std::pair<std::string, bool>> slots;  // (name, is_input) per entry of `inputs`
  for (const std::string& n : names_) {
    const Tap& t = at(n);
    if (t.input_handle.defined()) {
      inputs.push_back(t.input_handle);
      slots.emplace_back(n, true);
    }
    if (t.output_handle.defined()) {
      inputs.push_back(t.output_handle);
      slots.emplace_back(n, false);
    }
  }
  std::map<std::string, TapGradients> out;
  for (const std::string& n : names_) out[n];
  if (inputs.empty()) return out;
  const auto g = autograd::grad({output}, inputs, {grad_output}, retain_graph, /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i) {
    TapGradients& tg = out[slots[i].first];
    (slots[i].second ? tg.input_grad : tg.output_grad) = g[i];
  }
  return out;
}

}  // namespace lb::nn
