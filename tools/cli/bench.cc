// bench.cc: `lightbox bench train`: throughput of the seed's model, end to end.
//
// Times full training steps (forward, cross-entropy, backward, SGD momentum update) and inference
// forwards of ResNet18 (1 channel, 2 classes) on random inputs of a fixed batch and size, after a
// few warm-up steps, and prints images per second as one JSON line. tools/bench/cpu_train.sh runs
// this beside the same loop in PyTorch on the same machine and threads and reports the ratio.
// The inference pass runs the model in eval mode under NoGradGuard, so batch norm is folded into
// the convolutions (engine/nn/fold.h; "bn_folded" in the JSON); --no-fold times it with
// BatchNorm2d as its own op (the fused batch_norm2d_relu), for comparison.
// The JSON names the CPU, the ISA path our GEMM took, the core OpenBLAS chose, the CPU backend
// (own or onednn) and the conv algorithm, so a run on a slow fallback says so (engine/cpu/cpu_info.h).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include <omp.h>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/cpu_info.h"
#include "engine/nn/fusion.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "kernels/runtime.cuh"
#include "models/graph_step.h"
#include "models/resnet.h"
#include "tools/cli/bench_kernels.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct BenchOptions {
  std::string what = "train";
  int64_t batch = 128, size = 28, steps = 10, warmup = 2;
  int threads = 0;
  bool graph = false;
  bool no_fold = false;
  DeviceOptions device;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// GPU work is asynchronous: wait for it before reading the clock.
void sync(Device dev) {
  if (dev.is_cuda()) kernels::synchronize("bench");
}

// Seconds for o.steps training steps after the warm-up ones. The CUDA allocator's malloc count
// when the timed steps begin is left in mallocs_before (the JSON reports the mallocs since).
double time_training(models::ResNet18& model, optim::SGD& opt, const Tensor& x, const Tensor& y, const BenchOptions& o,
                     Device dev, uint64_t& mallocs_before) {
  // --graph: the step `lightbox train --graph` runs (models/graph_step.h): recorded once as a CUDA
  // Graph, then one replay per step, after copying the batch into the graph's input buffers.
  // GraphStep refuses a CPU device and the cuDNN backend with one line each.
  std::unique_ptr<models::GraphStep> graph = o.graph ? std::make_unique<models::GraphStep>(model, opt) : nullptr;
  auto train_step = [&] {
    if (graph) {
      graph->step(x, y);
      return;
    }
    Tensor loss = cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  model.train();
  // A graph step runs its first batch eagerly and captures on the second.
  for (int64_t i = 0; i < std::max<int64_t>(o.warmup, o.graph ? 2 : 0); ++i) train_step();
  sync(dev);
  LB_CHECK(!graph || graph->captures() == 1, "bench --graph: the step was not captured");
  mallocs_before = dev.is_cuda() ? kernels::allocator_stats().cuda_mallocs : 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) train_step();
  sync(dev);
  return seconds_since(t0);
}

// Seconds for o.steps inference forwards (eval mode, no autograd) after the warm-up ones.
double time_inference(models::ResNet18& model, const Tensor& x, const BenchOptions& o, Device dev) {
  model.eval();
  // Only inference reads the switch (training never folds); restored so nothing else sees it.
  const bool folding_was = nn::folding_enabled();
  nn::set_folding(!o.no_fold);
  NoGradGuard g;
  for (int64_t i = 0; i < o.warmup; ++i) model(x);
  sync(dev);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) model(x);
  sync(dev);
  const double infer_s = seconds_since(t0);
  nn::set_folding(folding_was);
  return infer_s;
}

// The one JSON line: images per second, and what ran them (CPU, ISA path, backend, device state).
nlohmann::json bench_json(const BenchOptions& o, Device dev, double train_s, double infer_s, uint64_t mallocs_before) {
  const double imgs = static_cast<double>(o.batch * o.steps);
  nlohmann::json j = {{"engine", "lightbox"},
                      {"threads", omp_get_max_threads()},
                      {"batch", o.batch},
                      {"size", o.size},
                      {"steps", o.steps},
                      {"train_img_per_s", imgs / train_s},
                      {"infer_img_per_s", imgs / infer_s},
                      {"train_step_ms", 1e3 * train_s / o.steps},
                      {"device", dev.str()},
                      {"bn_folded", !o.no_fold}};
  j["cpu"] = cpu::cpu_info().model;
  j["isa"] = cpu::isa_name(cpu::active_isa());
  j["best_isa"] = cpu::isa_name(cpu::best_isa());
  j["openblas_core"] = cpu::openblas_core();
  if (dev.is_cpu()) {
    j["backend"] = cpu_backend_name(cpu_backend());
    j["conv_algo"] = cpu::conv_algo_name(cpu::conv_algo());
  }
  if (dev.is_cuda()) {
    const kernels::AllocatorStats a = kernels::allocator_stats();
    j["backend"] = cuda_backend_name(cuda_backend());
    j["tf32"] = cuda_math_mode() == kernels::MathMode::Tf32;
    j["math"] = math_mode_name(cuda_math_mode());
    j["cuda_graph"] = o.graph;
    j["cuda_mallocs_in_timed_steps"] = a.cuda_mallocs - mallocs_before;  // 0: the cache serves every step
    j["peak_allocated_mib"] = static_cast<double>(a.peak_allocated_bytes) / (1 << 20);
  }
  return j;
}

// ResNet18 (1 channel, 2 classes) on one fixed random batch: training steps, then inference.
int run_bench(const BenchOptions& o) {
  apply_threads(o.threads);
  const Device dev = apply_device_options(o.device);
  Generator gen(0);
  models::ResNet18 model(1, 2, gen);
  model.to(dev);
  Tensor x = Tensor::randn({o.batch, 1, o.size, o.size}, gen).to(dev);
  Tensor y = Tensor::empty({o.batch}, DType::Int64);
  for (int64_t i = 0; i < o.batch; ++i) y.data<int64_t>()[i] = i % 2;
  optim::SGDOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  optim::SGD opt(model.parameters(), so);
  uint64_t mallocs_before = 0;
  const double train_s = time_training(model, opt, x, y, o, dev, mallocs_before);
  const double infer_s = time_inference(model, x, o, dev);
  std::cout << bench_json(o, dev, train_s, infer_s, mallocs_before).dump() << std::endl;
  return 0;
}

}  // namespace

Command bench_command() {
  return {
      "bench", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<BenchOptions>();
        CLI::App* sub =
            app.add_subcommand("bench", "throughput benchmarks (train: ResNet18 training and inference img/s)");
        sub->add_option("what", o->what, "train")->check(CLI::IsMember({"train"}))->capture_default_str();
        sub->add_option("--batch", o->batch, "batch size")->check(CLI::Range(2, 4096))->capture_default_str();
        sub->add_option("--size", o->size, "image height and width")->check(CLI::Range(8, 512))->capture_default_str();
        sub->add_option("--steps", o->steps, "timed steps")->check(CLI::Range(1, 100000))->capture_default_str();
        sub->add_option("--warmup", o->warmup, "untimed steps first")
            ->check(CLI::Range(0, 1000))
            ->capture_default_str();
        sub->add_flag("--graph", o->graph,
                      "train: capture the training step in a CUDA Graph and replay it (--device cuda)");
        sub->add_flag("--no-fold", o->no_fold,
                      "inference without batch norm folded into the convolutions (for comparison)");
        add_threads_option(sub, &o->threads);
        add_device_options(sub, &o->device);
        auto kernels_run = std::make_shared<std::function<int()>>();  // `bench kernels` (bench_kernels.cc)
        CLI::App* kernels_sub = add_bench_kernels(sub, kernels_run.get());
        return [o, kernels_sub, kernels_run] { return kernels_sub->parsed() ? (*kernels_run)() : run_bench(*o); };
      }};
}

}  // namespace lb::cli
