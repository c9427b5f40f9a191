// explain_run.h: `lightbox explain` as a function, so that `compare --explain`, `demo` and the
// tests run the very code a user runs from the command line (tools/cli/explain.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "explain/registry.h"
#include "tools/cli/commands.h"

namespace lb::cli {

struct ExplainOptions {
  std::string method, weights, data, split = "test", select, select_order = "first", input, image, background_file,
                                     layer = "input", model_output = "logits", colormap = "blue-orange", out,
                                     background_spec = "100";
  int64_t per_cell = 1, background = 0, batch_size = 0;
  int64_t cls = -1;  // --class K: the cells are one-vs-rest for class K (-1: see explain.cc's class_of)
  double threshold = 0.5, opacity = 0.85;
  uint64_t seed = 0;
  bool quiet = false;
  int threads = 0;
  // The explainers' own options by name (--nsamples, --max-evals, --steps, ...: explain/registry.h);
  // one left out takes its registered default.
  std::map<std::string, explain::OptionValue> method_options;
  DeviceOptions device;      // where the network runs (--device, --backend, --tf32)
  std::string title;         // heads figure.svg (default: "<method> at <layer>")
  std::string simulate;      // "protanopia,deuteranopia,tritanopia": also grid-<type>.png as they see it
  std::string samples_from;  // a meta.json whose "samples" describe --input's images (compare --explain)
};

// Explains and writes every output file into o.out (see explain.cc's header); returns 0.
int run_explain(ExplainOptions o);

}  // namespace lb::cli
