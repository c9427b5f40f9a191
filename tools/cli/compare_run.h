// compare_run.h: `lightbox compare` as a function, for `lightbox demo`.
#pragma once

#include <string>

#include "tools/cli/commands.h"

namespace lb::cli {

struct CompareOptions {
  std::string a, b, data, out, split = "test", threshold = "0.5";
  bool quiet = false;
  int threads = 0;
  DeviceOptions device;
  // --explain: explanations of the same images under A and B, and how alike they are
  std::string explain;                 // "gradient,gradient@layer1,deep,partition,ig" (METHOD[@LAYER])
  std::string names = "a,b";           // folder names of A's and B's explanations
  std::string explain_dir;             // where they go: DIR/<name>/<method>-<layer>/ (default OUT/explain-runs)
  std::string select = "tp,fp,fn,tn";  // cells, chosen with model A
  int64_t cls = -1;                    // --class K: cells one-vs-rest for K (explain's --class)
  int64_t per_cell = 1, background = 50, nsamples = 100, max_evals = 500, steps = 32;
  double top_fraction = 0.1;
};

int run_compare(const CompareOptions& o);

// The explainers that need a background set, "gradient, deep" (for help texts).
std::string background_methods();

}  // namespace lb::cli
