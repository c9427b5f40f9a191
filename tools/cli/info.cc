// info.cc: `lightbox info`: the layer table of ResNet18: every module's name, type, output shape
// for a given input size, parameter count and FLOPs.
//
// FLOPs count a multiply-add as 2: conv 2*K*C*R*S*P*Q per image, linear 2*IN*OUT; batch norm
// (eval) 2 per element, ReLU 1 per element, pooling one per window element read. Containers
// (layer1, a BasicBlock) show the sum of their children; the residual add counts 1 per element.
// The last lines name the CPU, the ISA path lightbox's GEMM took (and the best this CPU has), the
// core OpenBLAS chose for itself and the data caches (engine/cpu/cpu_info.h), so a slow fallback
// is visible, and say whether this build and machine can run `--device cuda`.
#include <cstdio>
#include <iostream>

#include "engine/autograd.h"
#include "engine/cpu/cpu_info.h"
#include "engine/nn/capture.h"
#include "engine/storage.h"
#include "models/checkpoint.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct InfoOptions {
  std::string weights;
  int64_t in_channels = 1, classes = 2, size = 28;
};

int64_t own_flops(nn::Module& m, const nn::Tap& t) {
  const int64_t out = t.output.numel(), in = t.input.numel();
  if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) return 2 * out * c->in_channels() * c->kernel() * c->kernel();
  if (dynamic_cast<nn::Linear*>(&m)) return 2 * out * t.input.size(1);
  if (dynamic_cast<nn::BatchNorm2d*>(&m)) return 2 * out;
  if (dynamic_cast<nn::ReLU*>(&m)) return out;
  if (auto* p = dynamic_cast<nn::MaxPool2d*>(&m)) return out * p->kernel() * p->kernel();
  if (dynamic_cast<nn::AdaptiveAvgPool2d*>(&m)) return in;
  if (dynamic_cast<models::BasicBlock*>(&m)) return out;  // the residual add; children add the rest
  return 0;
}

// "48 KiB", "2 MiB": cache sizes as lscpu prints them.
std::string size_str(int64_t bytes) {
  char buf[32];
  if (bytes >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%g MiB", static_cast<double>(bytes) / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%g KiB", static_cast<double>(bytes) / (1 << 10));
  return buf;
}

// CPU: <model>; ISA path avx512 (best avx512; LB_CPU_ISA forces one); OpenBLAS core SkylakeX;
// caches L1d 48 KiB, L2 2 MiB, L3 105 MiB.
std::string cpu_line() {
  const cpu::CpuInfo& c = cpu::cpu_info();
  std::string caches;
  for (const auto& [name, bytes] : {std::pair<const char*, int64_t>{"L1d", c.l1d}, {"L2", c.l2}, {"L3", c.l3}})
    if (bytes > 0) caches += std::string(caches.empty() ? "" : ", ") + name + " " + size_str(bytes);
  return "CPU: " + c.model + "; ISA path " + cpu::isa_name(cpu::active_isa()) + " (best " +
         cpu::isa_name(cpu::best_isa()) + "; LB_CPU_ISA forces one); OpenBLAS core " + cpu::openblas_core() +
         "; caches " + (caches.empty() ? "unknown" : caches);
}

int run_info(const InfoOptions& o) {
  std::shared_ptr<models::ResNet18> model;
  if (!o.weights.empty()) {
    model = models::load_checkpoint(o.weights).model;
  } else {
    Generator gen(0);
    model = std::make_shared<models::ResNet18>(o.in_channels, o.classes, gen);
  }
  model->eval();
  std::vector<std::string> names;
  for (const auto& [n, m] : model->named_modules())
    if (!n.empty()) names.push_back(n);
  nn::Capture cap(names);
  {
    NoGradGuard g;
    (*model)(Tensor::zeros({1, model->in_channels(), o.size, o.size}));
  }
  std::printf("ResNet18: %lld input channel(s), %lld classes, input %lldx%lld (batch 1)\n\n",
              (long long)model->in_channels(), (long long)model->num_classes(), (long long)o.size, (long long)o.size);
  std::printf("%-28s %-18s %-18s %12s %14s\n", "module", "type", "output", "params", "FLOPs");
  int64_t total_params = 0, total_flops = 0;
  for (const auto& [name, m] : model->named_modules()) {
    if (name.empty()) continue;
    int64_t params = 0, flops = 0;
    for (const auto& [pn, p] : m->named_parameters()) params += p.numel();
    for (const auto& [cn, c] : m->named_modules())
      if (cap.has(cn.empty() ? name : name + "." + cn))
        flops += own_flops(*c, cap.at(cn.empty() ? name : name + "." + cn));
    const int depth = static_cast<int>(std::count(name.begin(), name.end(), '.'));
    if (depth == 0) {
      total_params += params;
      total_flops += flops;
    }
    const std::string shown = std::string(2 * depth, ' ') + name;
    const std::string shape = cap.has(name) ? shape_str(cap.at(name).output.shape()) : "(not run)";
    std::printf("%-28s %-18s %-18s %12lld %14lld\n", shown.c_str(), m->type_name().c_str(), shape.c_str(),
                (long long)params, (long long)flops);
  }
  std::printf("\ntotal: %lld parameters, %.1f MFLOPs per image (forward)\n", (long long)total_params,
              total_flops / 1e6);
  // Where --device cuda would run (engine/storage.h; the device's name needs the CUDA runtime,
  // which tools/ does not link directly).
  std::printf("%s\n", cpu_line().c_str());
  std::printf("CUDA: %s\n", cuda_available() ? "available (--device cuda)" : "not available (CPU only)");
  return 0;
}

}  // namespace

Command info_command() {
  return {
      "info", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<InfoOptions>();
        CLI::App* sub = app.add_subcommand("info", "layer table: names, output shapes, parameters, FLOPs");
        sub->add_option("--weights", o->weights, "read the architecture from a checkpoint");
        sub->add_option("--in-channels", o->in_channels, "input channels")->capture_default_str();
        sub->add_option("--classes", o->classes, "output classes")->capture_default_str();
        sub->add_option("--size", o->size, "input height and width")->check(CLI::Range(8, 1024))->capture_default_str();
        return [o] { return run_info(*o); };
      }};
}

}  // namespace lb::cli
