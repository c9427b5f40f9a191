// commands.cc: the table of subcommands, in the order `lightbox --help` lists them.
#include "tools/cli/commands.h"

#include "engine/backend.h"
#include "engine/storage.h"

#include <omp.h>

namespace lb::cli {

std::vector<Command> all_commands() {
  return {demo_command(),    train_command(),  eval_command(),  compare_command(), explain_command(),
          report_command(),  info_command(),   probe_command(), graph_command(),   bench_command(),
          phantom_command(), assess_command(), sweep_command(), augment_command()};
}

void add_threads_option(CLI::App* sub, int* threads) {
  sub->add_option("--threads", *threads, "CPU threads (0 = all cores)")->check(CLI::Range(0, 1024));
}

void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

void add_device_options(CLI::App* sub, DeviceOptions* o) {
  sub->add_option("--device", o->device, "where to compute: cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--backend", o->backend,
                  "implementation: custom (lightbox's own, either device), cudnn (cuDNN/cuBLAS, --device cuda) or "
                  "onednn (oneDNN, --device cpu)")
      ->check(CLI::IsMember({"custom", "cudnn", "onednn"}))
      ->capture_default_str();
  sub->add_flag("--tf32", o->tf32, "CUDA conv and linear on TF32 tensor cores (fp32 accumulation)");
  sub->add_flag("--bf16", o->bf16,
                "conv and linear operands rounded to bfloat16, fp32 accumulation and fp32 master weights "
                "(bf16 tensor cores on CUDA, an exact emulation on the CPU)");
}

namespace {

// Each vendor backend belongs to one device: custom means lightbox's own code on both.
void set_backends(const std::string& backend, const Device& d) {
  LB_CHECK(!(backend == "cudnn" && !d.is_cuda()),
           "--backend cudnn runs on CUDA; use --device cuda, or on the CPU --backend onednn (oneDNN) or custom");
  LB_CHECK(!(backend == "onednn" && d.is_cuda()),
           "--backend onednn runs on the CPU; use --device cpu, or on CUDA --backend cudnn or custom");
  set_cuda_backend(backend == "cudnn" ? CudaBackend::Cudnn : CudaBackend::Custom);
  set_cpu_backend(backend == "onednn" ? CpuBackend::Onednn : CpuBackend::Own);
}

}  // namespace

Device apply_device_options(const DeviceOptions& o) {
  const Device d = parse_device(o.device);
  LB_CHECK(!(o.tf32 && o.bf16), "--tf32 and --bf16 are two math modes; pick one");
  // Refused here, before any work, rather than at the first convolution of a run.
  LB_CHECK(!(o.bf16 && o.backend == "cudnn"),
           "--bf16 runs on lightbox's kernels; cuDNN's conv needs bfloat16 tensors: use --backend custom");
  LB_CHECK(!(o.bf16 && o.backend == "onednn"),
           "--bf16 runs on lightbox's kernels (an exact emulation on the CPU); use --backend custom");
  set_backends(o.backend, d);
  set_cuda_math_mode(o.tf32 ? kernels::MathMode::Tf32 : o.bf16 ? kernels::MathMode::Bf16 : kernels::MathMode::Fp32);
  if (d.is_cuda())
    LB_CHECK(cuda_available(), "--device " << o.device << ": no CUDA device here (or this lightbox was built without "
                                           << "CUDA); use --device cpu");
  return d;
}

}  // namespace lb::cli
