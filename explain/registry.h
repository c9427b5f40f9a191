// registry.h: the table of explainers. Every part of lightbox that runs an explainer by name
// (`lightbox explain`, `assess`, `compare --explain`, `demo`, and explain/assess.cc) looks it up
// here, so the list of methods, their options and the dispatch from a name to a call exist once.
//
// An entry says what the method is called, what it does in one line, which options it reads
// (name, default, help: `lightbox explain` turns each into a flag --NAME), whether it can explain
// the input of a layer (layer1..layer4) or only the image, whether it needs a background set, and
// a runner: one signature for every method, taking the shared settings and the options by name.
//
// Adding an explainer is one file and one line: write foo.{h,cc} with the method and a function
// `Explainer foo_explainer()` that describes it (gradient.cc's gradient_explainer() is the model),
// then add that call to the table in registry.cc. The CLI gains its flags, the help texts and the
// error messages their name, and assess, compare and demo can run it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "explain/explain.h"

namespace lb::explain {

// One option value: an integer, a real number or text (CLI11 shows them as INT, FLOAT and TEXT).
using OptionValue = std::variant<int64_t, double, std::string>;

// An option an explainer reads. Two explainers that declare the same name share its value (the
// CLI has one flag per name), so they must declare it with the same type.
struct ExplainerOption {
  std::string name;           // the flag without its dashes: "nsamples" is --nsamples
  OptionValue default_value;  // what the explainer gets when nobody sets it
  std::string help;           // one line, as `lightbox explain --help` shows it
  // When set, `lightbox explain` also records the value at the top level of meta.json under this
  // key (ig's baseline spelling: its settings only say "one per image").
  std::string meta_key;
};

// What a caller hands every explainer: the settings all of them share, and the options by name.
struct ExplainerSettings {
  std::string layer = "input";                 // "input", or a module whose input is explained (layer1..layer4)
  int64_t batch_size = 0;                      // images per model call; 0 = the method's own default
  uint64_t seed = 0;                           // for methods that draw samples
  bool progress = false;                       // progress, to the installed renderer (engine/progress.h)
  std::map<std::string, OptionValue> options;  // by option name; a missing one takes its default

  // Typed reads of an option; they throw when it is missing or has another type.
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  const std::string& text(const std::string& name) const;
};

// f: the model and its output; x: (N, C, H, W) float32 images in model space; background:
// (B, C, H, W) for methods with needs_background (undefined otherwise). Every option the
// explainer declares is present in s.options.
using ExplainerRunner = std::function<Attribution(const Explained& f, const Tensor& x, const Tensor& background,
                                                  const ExplainerSettings& s)>;

struct Explainer {
  std::string name;         // what the user types: "ig"
  std::string title;        // the name in prose: "integrated gradients"
  std::string description;  // one line: what it computes
  bool layers = false;      // also explains the input of layer1..layer4 (else the image only)
  bool needs_background = false;
  std::vector<ExplainerOption> options;
  ExplainerRunner run;
};

// Every registered explainer, in the order help texts list them.
const std::vector<Explainer>& explainers();
// The one called `name`, or nullptr.
const Explainer* find_explainer(const std::string& name);

// The names of the registered explainers: all of them, or those with a property
// (explainer_names(&Explainer::layers) = {"gradient", "deep"}).
std::vector<std::string> explainer_names(bool Explainer::*property = nullptr);
// Words joined for a message: join_names({"a", "b", "c"}, ", ", " or ") = "a, b or c".
std::string join_names(const std::vector<std::string>& names, const std::string& sep, const std::string& last_sep);

// Every option of every explainer, each name once, in table order: the flags of `lightbox explain`.
std::vector<ExplainerOption> explainer_options();

// Runs explainer `name` (throwing, with the registered names, when there is none) after checking
// that it can explain s.layer and that every option in s.options is one some explainer declares,
// and filling in the defaults of the options s leaves out.
Attribution run_explainer(const std::string& name, const Explained& f, const Tensor& x, const Tensor& background,
                          const ExplainerSettings& s);

}  // namespace lb::explain
