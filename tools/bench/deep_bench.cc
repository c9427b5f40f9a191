// tools/bench/deep_bench.cc: lb_bench_deep, seconds per image of DeepExplainer (explain/deep.h)
// at two background sizes, B = 20 and B = 100.
//
// The model and images are the explain fixture (tests/fixtures/explain/, made by make_model.py):
// a width-8 ResNet18, 1x28x28, 2 logits; x.npy (6 images) explained against bg.npy (20 background
// images), then against the same 20 tiled five times (100). DeepLIFT runs one forward and one
// backward pass per image over the whole background, so the time per image grows with B; the two
// lines show by how much. Whole-model timings with real weights against the shap library are
// tools/bench/explain.sh's job; this one isolates the explainer on a model small enough to run in
// seconds, so a change to the rules (explain/deep_rules.h) can be timed before and after.
//
// Usage: build/bin/lb_bench_deep [FIXTURE_DIR]
// FIXTURE_DIR holds model.safetensors, x.npy and bg.npy (default: this source tree's
// tests/fixtures/explain). Prints one line per background size. Set OMP_NUM_THREADS to pin threads.
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "engine/io/npy.h"
#include "explain/deep.h"
#include "models/checkpoint.h"

namespace {

// Seconds per image of one deep_explain call over all of x against background bg.
double seconds_per_image(lb::models::ResNet18& model, const lb::Tensor& x, const lb::Tensor& bg) {
  const auto t0 = std::chrono::steady_clock::now();
  lb::explain::deep_explain(lb::explain::Explained{model}, x, bg, {});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s / static_cast<double>(x.size(0));
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string dir = argc > 1 ? argv[1] : LB_EXPLAIN_FIXTURES;
  const lb::models::Checkpoint ck = lb::models::load_checkpoint(dir + "/model.safetensors");  // eval mode
  const lb::Tensor x = lb::io::load_npy(dir + "/x.npy"), bg20 = lb::io::load_npy(dir + "/bg.npy");
  lb::Tensor bg100 = lb::Tensor::empty({100, bg20.size(1), bg20.size(2), bg20.size(3)});
  for (int64_t r = 0; r < 5; ++r) bg100.slice0(r * 20, 20).copy_(bg20);
  for (const lb::Tensor* bg : std::vector<const lb::Tensor*>{&bg20, &bg100})
    std::cout << "B=" << bg->size(0) << ": " << seconds_per_image(*ck.model, x, *bg) << " s per image (" << x.size(0)
              << " images)\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "lb_bench_deep: " << e.what() << "\n";
  return 1;
}
