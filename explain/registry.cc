// registry.cc: the table of explainers (registry.h) and the checks every run goes through. Each
// entry is built in its explainer's own file, next to the method it describes.
#include "explain/registry.h"

#include <algorithm>

#include "explain/deep.h"
#include "explain/gradient.h"
#include "explain/integrated_gradients.h"
#include "explain/partition.h"

namespace lb::explain {

const std::vector<Explainer>& explainers() {
  // The table: one line per explainer, in the order help texts and messages list them.
  static const std::vector<Explainer> table = {
      gradient_explainer(),
      deep_explainer(),
      partition_explainer(),
      integrated_gradients_explainer(),
  };
  return table;
}

const Explainer* find_explainer(const std::string& name) {
  for (const Explainer& e : explainers())
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> explainer_names(bool Explainer::*property) {
  std::vector<std::string> names;
  for (const Explainer& e : explainers())
    if (property == nullptr || e.*property) names.push_back(e.name);
  return names;
}

std::string join_names(const std::vector<std::string>& names, const std::string& sep, const std::string& last_sep) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? last_sep : sep;
    out += names[i];
  }
  return out;
}

std::vector<ExplainerOption> explainer_options() {
  std::vector<ExplainerOption> all;
  for (const Explainer& e : explainers())
    for (const ExplainerOption& o : e.options) {
      const auto same =
          std::find_if(all.begin(), all.end(), [&](const ExplainerOption& a) { return a.name == o.name; });
      if (same == all.end()) all.push_back(o);
    }
  return all;
}

namespace {

const char* type_name(const OptionValue& v) {
  return std::holds_alternative<int64_t>(v) ? "an integer" : std::holds_alternative<double>(v) ? "a number" : "text";
}

// The option `name` of type T, or a clear error.
template <typename T>
const T& option_of(const std::map<std::string, OptionValue>& options, const std::string& name) {
  const auto it = options.find(name);
  LB_CHECK(it != options.end(), "explainer option '" << name << "' is not set");
  const T* v = std::get_if<T>(&it->second);
  LB_CHECK(v != nullptr, "explainer option '" << name << "' is " << type_name(it->second) << " here");
  return *v;
}

}  // namespace

int64_t ExplainerSettings::integer(const std::string& name) const { return option_of<int64_t>(options, name); }
double ExplainerSettings::real(const std::string& name) const { return option_of<double>(options, name); }
const std::string& ExplainerSettings::text(const std::string& name) const {
  return option_of<std::string>(options, name);
}

Attribution run_explainer(const std::string& name, const Explained& f, const Tensor& x, const Tensor& background,
                          const ExplainerSettings& s) {
  const Explainer* e = find_explainer(name);
  LB_CHECK(e != nullptr, "unknown method '" << name << "'; use " << join_names(explainer_names(), ", ", " or "));
  LB_CHECK(e->layers || s.layer == "input", name << " explains the input only; layers need "
                                                 << join_names(explainer_names(&Explainer::layers), ", ", " or "));
  const std::vector<ExplainerOption> known = explainer_options();
  for (const auto& entry : s.options) {
    const std::string& key = entry.first;  // a plain reference: C++17 lambdas cannot capture a binding
    const auto& value = entry.second;
    const auto o = std::find_if(known.begin(), known.end(), [&](const ExplainerOption& k) { return k.name == key; });
    LB_CHECK(o != known.end(), "no explainer has an option '" << key << "'");
    LB_CHECK(o->default_value.index() == value.index(), "explainer option '" << key << "' must be "
                                                                             << type_name(o->default_value) << ", got "
                                                                             << type_name(value));
  }
  ExplainerSettings full = s;
  for (const ExplainerOption& o : e->options) full.options.emplace(o.name, o.default_value);
  return e->run(f, x, background, full);
}

}  // namespace lb::explain
