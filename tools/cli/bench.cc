// bench.cc: `lightbox bench train`: throughput of the seed's model, end to end.
//
// Times full training steps (forward, cross-entropy, backward, SGD momentum update) and inference
// forwards of ResNet18 (1 channel, 2 classes) on random inputs of a fixed batch and size, after a
// few warm-up steps, and prints images per second as one JSON line. tools/bench/cpu_train.sh runs
// this beside the same loop in PyTorch on the same machine and threads and reports the ratio.
#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "models/resnet.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct BenchOptions {
  std::string what = "train";
  int64_t batch = 128, size = 28, steps = 10, warmup = 2;
  int threads = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_bench(const BenchOptions& o) {
  apply_threads(o.threads);
  Generator gen(0);
  models::ResNet18 model(1, 2, gen);
  Tensor x = Tensor::randn({o.batch, 1, o.size, o.size}, gen);
  Tensor y = Tensor::empty({o.batch}, DType::Int64);
  for (int64_t i = 0; i < o.batch; ++i) y.data<int64_t>()[i] = i % 2;
  optim::SGDOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  optim::SGD opt(model.parameters(), so);
  auto train_step = [&] {
    Tensor loss = cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  model.train();
  for (int64_t i = 0; i < o.warmup; ++i) train_step();
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) train_step();
  const double train_s = seconds_since(t0);
  model.eval();
  double infer_s = 0;
  {
    NoGradGuard g;
    for (int64_t i = 0; i < o.warmup; ++i) model(x);
    t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.steps; ++i) model(x);
    infer_s = seconds_since(t0);
  }
  const double imgs = static_cast<double>(o.batch * o.steps);
  nlohmann::json j = {{"engine", "lightbox"},           {"threads", omp_get_max_threads()},
                      {"batch", o.batch},               {"size", o.size},
                      {"steps", o.steps},               {"train_img_per_s", imgs / train_s},
                      {"infer_img_per_s", imgs / infer_s}, {"train_step_ms", 1e3 * train_s / o.steps}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

Command bench_command() {
  return {"bench", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<BenchOptions>();
            CLI::App* sub = app.add_subcommand("bench", "throughput benchmarks (train: ResNet18 training and inference img/s)");
            sub->add_option("what", o->what, "train")->check(CLI::IsMember({"train"}))->capture_default_str();
            sub->add_option("--batch", o->batch, "batch size")->check(CLI::Range(2, 4096))->capture_default_str();
            sub->add_option("--size", o->size, "image height and width")->check(CLI::Range(8, 512))->capture_default_str();
            sub->add_option("--steps", o->steps, "timed steps")->check(CLI::Range(1, 100000))->capture_default_str();
            sub->add_option("--warmup", o->warmup, "untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
            add_threads_option(sub, &o->threads);
            return [o] { return run_bench(*o); };
          }};
}

}  // namespace lb::cli
