// explain.cc: the explainers from Python. explain() runs a registered explainer (explain/registry.h)
// exactly as `lightbox explain` does (same settings, same defaults, same checks) on arrays given by
// the caller, and returns the Attribution's tensors as numpy arrays; explainers() describes the
// table, so the Python layer's help and errors list the same methods and options as the CLI's.
// set_progress() routes every engine progress bar (engine/progress.h) to a Python callable.
#include <nanobind/stl/string.h>

#include <chrono>
#include <memory>
#include <variant>

#include "explain/registry.h"
#include "models/checkpoint.h"
#include "python/src/core.h"

namespace lbpy {

namespace {

namespace ex = lb::explain;

// Python spells the CLI's option names with underscores (max_evals for --max-evals).
std::string python_name(std::string n) {
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

nb::object option_value(const ex::OptionValue& v) {
  return std::visit([](const auto& x) { return nb::cast(x); }, v);
}

// A Python option value in the type its explainer declares (an int where a float is declared is
// fine; text where a number is declared is the registry's error).
ex::OptionValue to_option(const std::string& name, const nb::handle& v) {
  for (const ex::ExplainerOption& o : ex::explainer_options()) {
    if (python_name(o.name) != name) continue;
    try {
      if (std::holds_alternative<int64_t>(o.default_value)) return nb::cast<int64_t>(v);
      if (std::holds_alternative<double>(o.default_value)) return nb::cast<double>(v);
      return nb::cast<std::string>(v);
    } catch (const nb::cast_error&) {
      LB_THROW("explain: option " << name << " takes "
                                  << (std::holds_alternative<std::string>(o.default_value) ? "text" : "a number")
                                  << ", got " << nb::cast<std::string>(nb::str(v.type().attr("__name__"))));
    }
  }
  std::vector<std::string> names;
  for (const ex::ExplainerOption& o : ex::explainer_options()) names.push_back(python_name(o.name));
  LB_THROW("explain: no explainer has an option '" << name << "'; the options are "
                                                   << ex::join_names(names, ", ", " and "));
}

nb::dict attribution_dict(const ex::Attribution& a) {
  nb::dict d;
  d["method"] = a.method;
  d["layer"] = a.layer;
  d["values"] = to_numpy(a.values);
  d["expected"] = to_numpy_or_none(a.expected);
  d["outputs"] = to_numpy_or_none(a.outputs);
  d["gaps"] = to_numpy_or_none(a.gaps);
  d["variances"] = to_numpy_or_none(a.variances);
  d["settings"] = json_to_python(a.settings);
  return d;
}

// One explain() call, checked and converted: what run() hands the registry.
struct Call {
  const ex::Explainer* method = nullptr;
  lb::Tensor x, background;
  ex::ExplainerSettings settings;
  ex::ModelOutput output = ex::ModelOutput::Logits;

  ex::Attribution run(lb::models::Checkpoint& ck) const {
    ck.model->eval();
    const ex::Explained f{*ck.model, output};
    return ex::run_explainer(method->name, f, x, background, settings);
  }
};

Call prepare(lb::models::Checkpoint& ck, nb::ndarray<> x, const std::string& method, nb::object background,
             const std::string& layer, const std::string& model_output, int64_t batch_size, uint64_t seed,
             const nb::dict& options, bool progress) {
  Call c;
  c.method = ex::find_explainer(method);
  LB_CHECK(c.method != nullptr, "explain: method must be " << ex::join_names(ex::explainer_names(), ", ", " or ")
                                                           << ", got '" << method << "'");
  LB_CHECK(c.method->layers || layer == "input",
           "explain: method " << c.method->name << " explains the input only; drop layer=");
  c.x = images_from_array(x, "x", ck.meta.in_channels);
  if (c.method->needs_background) {
    LB_CHECK(!background.is_none(),
             "explain: method " << c.method->name << " needs a background set: background=(B, C, H, W) float32");
    c.background = images_from_array(nb::cast<nb::ndarray<>>(background), "background", ck.meta.in_channels);
  }
  c.settings.layer = layer;
  c.settings.batch_size = batch_size;
  c.settings.seed = seed;
  c.settings.progress = progress;
  for (auto [k, v] : options) {
    const std::string name = nb::cast<std::string>(k);
    std::string cli_name = name;
    for (char& ch : cli_name)
      if (ch == '_') ch = '-';
    c.settings.options[cli_name] = to_option(name, v);
  }
  c.output = ex::parse_model_output(model_output);
  return c;
}

nb::dict explain(lb::models::Checkpoint& ck, nb::ndarray<> x, const std::string& method, nb::object background,
                 const std::string& layer, const std::string& model_output, int64_t batch_size, uint64_t seed,
                 const nb::dict& options, bool progress) {
  const Call c = prepare(ck, x, method, background, layer, model_output, batch_size, seed, options, progress);
  return attribution_dict(compute([&] { return c.run(ck); }));
}

// The benchmark's yardstick (tools/bench/python_overhead.py): seconds per explain call timed inside
// C++, the same call explain() makes, with no Python in the loop.
double bench_explain(lb::models::Checkpoint& ck, nb::ndarray<> x, const std::string& method, nb::object background,
                     const nb::dict& options, int64_t reps) {
  const Call c = prepare(ck, x, method, background, "input", "logits", 0, 0, options, false);
  return compute([&] {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < reps; ++i) c.run(ck);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(reps);
  });
}

nb::list explainers_list() {
  nb::list l;
  for (const ex::Explainer& e : ex::explainers()) {
    nb::dict d, opts;
    d["name"] = e.name;
    d["title"] = e.title;
    d["description"] = e.description;
    d["layers"] = e.layers;
    d["needs_background"] = e.needs_background;
    for (const ex::ExplainerOption& o : e.options)
      opts[python_name(o.name).c_str()] = nb::make_tuple(option_value(o.default_value), o.help);
    d["options"] = opts;
    l.append(d);
  }
  return l;
}

// A renderer whose views call back into Python (with the GIL) as callback(event, ...):
//   ("start", label, total, unit), ("update", steps, units, status), ("finish", status).
class PyView : public lb::ProgressView {
 public:
  PyView(std::shared_ptr<nb::object> cb, const std::string& label, int64_t total, const std::string& unit) : cb_(cb) {
    nb::gil_scoped_acquire gil;
    (*cb_)("start", label, total, unit);
  }
  void update(int64_t steps, double units, const std::string& status) override {
    nb::gil_scoped_acquire gil;
    (*cb_)("update", steps, units, status);
  }
  void finish(const std::string& status) override {
    nb::gil_scoped_acquire gil;
    (*cb_)("finish", status);
  }

 private:
  std::shared_ptr<nb::object> cb_;
};

void set_progress(nb::object callback) {
  if (callback.is_none()) {
    lb::set_progress_renderer(nullptr);
    return;
  }
  // Released with the GIL held: the renderer is replaced only from Python (set_progress).
  auto cb = std::shared_ptr<nb::object>(new nb::object(callback), [](nb::object* p) {
    nb::gil_scoped_acquire gil;
    delete p;
  });
  lb::set_progress_renderer([cb](const std::string& label, int64_t total, const std::string& unit) {
    return std::unique_ptr<lb::ProgressView>(new PyView(cb, label, total, unit));
  });
}

}  // namespace

void bind_explain(nb::module_& m) {
  using namespace nb::literals;
  m.def("explain", &explain, "model"_a, "x"_a, "method"_a, "background"_a = nb::none(), "layer"_a = "input",
        "model_output"_a = "logits", "batch_size"_a = 0, "seed"_a = 0, "options"_a = nb::dict(), "progress"_a = false);
  m.def("explainers", &explainers_list);
  m.def("_bench_explain", &bench_explain, "model"_a, "x"_a, "method"_a, "background"_a = nb::none(),
        "options"_a = nb::dict(), "reps"_a = 10);
  m.def("set_progress", &set_progress, "callback"_a.none());
}

}  // namespace lbpy
