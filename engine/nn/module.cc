// nn/module.cc: the module tree, dotted names, state dicts and the PyTorch-style repr.
//
// Module trees are shallow (ResNet18 is four levels deep), so the walks here recurse; the autograd
// graph, which can be thousands of nodes deep, is walked iteratively elsewhere.
#include "engine/nn/module.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/nn/capture.h"

namespace lb::nn {

namespace {

// Indents every line after the first by two spaces (PyTorch's _addindent).
std::string add_indent(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

std::string py_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest decimal that reads back as v, as Python's repr() picks it.
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s(buf);
  const bool neg = s[0] == '-';
  if (neg) s = s.substr(1);
  const size_t epos = s.find('e');
  const int exp = std::atoi(s.c_str() + epos + 1);
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (s[i] != '.') digits += s[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 16) {  // Python switches to scientific notation outside [1e-4, 1e16)
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += e;
  } else if (exp >= 0) {
    std::string ip = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
    ip.append(exp + 1 - ip.size(), '0');
    const std::string fp = digits.size() > static_cast<size_t>(exp + 1) ? digits.substr(exp + 1) : "0";
    out = ip + "." + fp;
  } else {
    out = "0." + std::string(-exp - 1, '0') + digits;
  }
  return (neg ? "-" : "") + out;
}

// ---- registration ------------------------------------------------------------------------------

void Module::check_new_name(const std::string& name) const {
  LB_CHECK(!name.empty() && name.find('.') == std::string::npos,
           type_name() << ": invalid member name '" << name << "' (must be non-empty, without dots)");
  auto taken = [&](const auto& list) {
    for (const auto& kv : list)
      if (kv.first == name) return true;
    return false;
  };
  LB_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_),
           type_name() << ": the name '" << name << "' is already registered");
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name);
  LB_CHECK(t.defined(), type_name() << ": parameter '" << name << "' is undefined");
  LB_CHECK(t.is_leaf(), type_name() << ": parameter '" << name << "' must be a leaf; detach() it first");
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  LB_CHECK(t.defined(), type_name() << ": buffer '" << name << "' is undefined");
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name);
  LB_CHECK(m != nullptr, type_name() << ": child module '" << name << "' is null");
  children_.emplace_back(name, std::move(m));
}

Tensor Module::operator()(const Tensor& x) {
  // The input is recorded before forward runs: an in-place module (ReLU(inplace=True)) would
  // otherwise show its output as its input.
  const bool capture = Capture::active();
  if (capture) Capture::record_input(path_, x);
  Tensor y = forward(x);
  if (capture) Capture::record_output(path_, y);
  return y;
}

// ---- walking the tree --------------------------------------------------------------------------

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& [name, t] : m->params_)
      if (seen.insert(t.impl()).second) out.emplace_back(prefix.empty() ? name : prefix + "." + name, t);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& [name, t] : m->buffers_)
      if (seen.insert(t.impl()).second) out.emplace_back(prefix.empty() ? name : prefix + "." + name, t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  out.emplace_back("", const_cast<Module*>(this));
  for (const auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

Module* Module::find(const std::string& dotted_name) const {
  const Module* cur = this;
  std::stringstream ss(dotted_name);
  std::string part;
  while (!dotted_name.empty() && std::getline(ss, part, '.')) {
    const Module* next = nullptr;
    for (const auto& [name, child] : cur->children_)
      if (name == part) next = child.get();
    if (!next) return nullptr;
    cur = next;
  }
  return const_cast<Module*>(cur);
}

// ---- modes and parameters ------------------------------------------------------------------------

void Module::train(bool on) {
  for (auto& [name, m] : named_modules()) m->training_ = on;
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::set_requires_grad(bool on) {
  for (auto& p : parameters()) p.requires_grad_(on);
}

void Module::assign_names() {
  for (auto& [name, t] : named_parameters()) t.set_name(name);
  for (auto& [name, t] : named_buffers()) t.set_name(name);
  for (auto& [name, m] : named_modules()) m->path_ = name;
}

void Module::to(Device dev) {
  auto move = [&](Tensor& t) {
    Tensor moved = t.to(dev);
    if (moved.impl() == t.impl()) return;
    t.impl()->storage = moved.impl()->storage;
    t.impl()->offset = moved.impl()->offset;
    t.zero_grad();
  };
  for (auto& [name, t] : named_parameters()) move(t);
  // Integer buffers (BatchNorm's num_batches_tracked) stay on the CPU: they are host-side counters,
  // and reading one on the GPU every step would synchronise the host with the device.
  for (auto& [name, t] : named_buffers())
    if (is_floating(t.dtype()) || dev.is_cpu()) move(t);
}

// ---- state dicts ---------------------------------------------------------------------------------

void Module::collect_state(const std::string& prefix, std::vector<Entry>& out) const {
  for (const auto& [name, t] : params_) out.push_back({prefix + name, t, this, name});
  for (const auto& [name, t] : buffers_) out.push_back({prefix + name, t, this, name});
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

StateDict Module::state_dict() const {
  std::vector<Entry> entries;
  collect_state("", entries);
  StateDict sd;
  for (auto& e : entries) sd.emplace_back(e.key, e.tensor.detach());
  return sd;
}

LoadReport Module::load_state_dict(const StateDict& sd, bool strict) {
  std::vector<Entry> entries;
  collect_state("", entries);
  std::map<std::string, Tensor> file;
  for (const auto& [key, t] : sd) {
    LB_CHECK(t.defined(), "load_state_dict: the entry '" << key << "' is an undefined tensor");
    LB_CHECK(file.emplace(key, t).second, "load_state_dict: the key '" << key << "' appears twice");
  }
  LoadReport report;
  std::vector<std::string> mismatched;
  std::set<std::string> model_keys;
  for (const auto& e : entries) {
    model_keys.insert(e.key);
    auto it = file.find(e.key);
    if (it == file.end()) {
      if (!e.owner->is_optional_key(e.local)) report.missing.push_back(e.key);
    } else if (it->second.shape() != e.tensor.shape()) {
      mismatched.push_back(e.key + ": checkpoint has " + shape_str(it->second.shape()) + ", model has " +
                           shape_str(e.tensor.shape()));
    }
  }
  for (const auto& [key, t] : sd)
    if (!model_keys.count(key)) report.unexpected.push_back(key);
  LB_CHECK(mismatched.empty(), "load_state_dict: shape mismatch for " << join(mismatched, "; "));
  if (strict && (!report.missing.empty() || !report.unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict: ";
    if (!report.missing.empty()) os << "missing keys: " << join(report.missing, ", ");
    if (!report.missing.empty() && !report.unexpected.empty()) os << "; ";
    if (!report.unexpected.empty()) os << "unexpected keys: " << join(report.unexpected, ", ");
    os << " (load non-strictly to take only the keys that match)";
    throw Error(os.str());
  }
  NoGradGuard no_grad;
  for (auto& e : entries) {
    auto it = file.find(e.key);
    if (it == file.end()) continue;
    const Tensor& src = it->second;
    if (src.impl() == e.tensor.impl() ||
        (src.same_storage(e.tensor) && src.impl()->offset == e.tensor.impl()->offset)) {
      e.tensor.mark_modified();  // loading a model's own state: nothing to copy
      continue;
    }
    e.tensor.copy_(src.dtype() == e.tensor.dtype() ? src : src.to(e.tensor.dtype()));
  }
  return report;
}

// ---- repr ------------------------------------------------------------------------------------------

std::string Module::repr() const {
  std::vector<std::string> lines;
  const std::string extra = extra_repr();
  std::vector<std::string> extra_lines;
  if (!extra.empty()) {
    std::stringstream ss(extra);
    std::string line;
    while (std::getline(ss, line)) extra_lines.push_back(line);
  }
  lines = extra_lines;
  for (const auto& [name, child] : children_) lines.push_back("(" + name + "): " + add_indent(child->repr()));
  std::string out = type_name() + "(";
  if (extra_lines.size() == 1 && children_.empty()) {
    out += extra_lines[0];
  } else if (!lines.empty()) {
    out += "\n  " + join(lines, "\n  ") + "\n";
  }
  return out + ")";
}

}  // namespace lb::nn
