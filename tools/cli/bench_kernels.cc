// bench_kernels.cc: `lightbox bench kernels`: every ResNet18 layer shape through every kernel
// variant of the lab (lab/lab.cuh), checked against the CPU backend, then timed.
//
// For each layer shape of ResNet18 (1-channel stem; conv2d, batchnorm2d, relu, max-pool, average
// pool, fc, cross-entropy, and the SGD / AdamW updates of three parameter tensors) at 28x28 (batch
// 128) and/or 224x224 (batch 256), and each direction, one table: variant, check (relative L2
// error against the CPU backend and its tolerance), median ms, GFLOP/s (conv, linear: 2 * MACs)
// or GB/s (the rest: napkin bytes), the share of the card's peak (fp32 or TF32 FLOP/s, or memory
// bandwidth), and our time over cuDNN's (cuBLAS's for linear) for the same math. 224x224 layers are checked on 2 images
// of the same layer shape (the CPU reference of a full batch takes minutes) and timed on the full
// batch. --out (or --json) writes every row as JSON (atomically). Exits 1 if any variant fails its check.
// `--device cpu` runs the CPU bench instead (bench_kernels_cpu.cc); the options below that only one
// of the two takes are refused on the other with one line.
#include "tools/cli/bench_kernels.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/common.h"
#include "engine/cpu/cpu_info.h"
#include "engine/io/file.h"
#include "engine/storage.h"
#include "lab/lab.cuh"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct KernelBenchOptions {
  std::string shapes = "28";
  int reps = 20;
  bool no_cpu_time = false;
  std::string out;
  int threads = 0;
  std::string device = "cuda";
  CpuKernelBenchOptions cpu;  // --batch, --warmup and --reps as given (--device cpu)
};

using kernels::lab::LabResult;

// Our time over the vendor library's with the same math (custom-tf32 vs cudnn-tf32 or
// cublas-tf32; fp32 and the naive variant vs the fp32 one); < 0 when either was not timed.
double vs_cudnn(const LabResult& r, const std::vector<LabResult>& rows) {
  auto vendor = [](const std::string& v) { return v.rfind("cudnn", 0) == 0 || v.rfind("cublas", 0) == 0; };
  if (r.ms <= 0 || vendor(r.variant)) return -1;
  const std::string math = r.variant.find("tf32") != std::string::npos ? "-tf32" : "-fp32";
  for (const LabResult& o : rows)
    if (o.direction == r.direction && vendor(o.variant) && o.variant.find(math) != std::string::npos && o.ms > 0)
      return r.ms / o.ms;
  return -1;
}

std::string fmt(const char* f, double v) {
  if (v < 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_case(const kernels::lab::LabCase& c, const std::vector<LabResult>& rows) {
  std::printf("\n== %s %s  %s\n", kernels::lab::op_name(c.op), c.layer.c_str(), kernels::lab::describe(c).c_str());
  const bool conv = c.op == kernels::lab::OpKind::Conv2d || c.op == kernels::lab::OpKind::Linear;  // FLOP-bound
  if (conv && !rows.empty()) std::printf("   %.3f GFLOP per direction\n", rows[0].flops * 1e-9);
  std::printf("   %-16s %-12s %-22s %10s %10s %8s %9s  %s\n", "direction", "variant", "check (rel err / tol)", "ms",
              conv ? "GFLOP/s" : "GB/s", "% peak", "/cuDNN", "note");
  for (const LabResult& r : rows) {
    std::string check = "-";
    if (r.variant == "cpu")
      check = "(reference)";
    else if (!r.checked)
      check = "ERROR";
    else
      check = std::string(r.pass ? "ok " : "FAIL ") + fmt("%.1e", r.rel_err) + " / " + fmt("%.0e", r.tol);
    std::printf("   %-16s %-12s %-22s %10s %10s %8s %9s  %s\n", r.direction.c_str(), r.variant.c_str(), check.c_str(),
                fmt("%.4f", r.ms).c_str(), fmt("%.1f", conv ? r.gflops : r.gbps).c_str(),
                fmt("%.1f", r.pct_peak).c_str(), fmt("%.2f", vs_cudnn(r, rows)).c_str(), r.note.c_str());
  }
  std::fflush(stdout);
}

nlohmann::json to_json(const LabResult& r, const std::vector<LabResult>& rows, int64_t size) {
  auto num = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"input_size", size},
          {"layer", r.layer},
          {"op", r.op},
          {"direction", r.direction},
          {"variant", r.variant},
          {"shape", r.shape},
          {"checked", r.checked},
          {"pass", r.pass},
          {"rel_err", num(r.rel_err)},
          {"tol", r.tol},
          {"check_batch", r.check_batch},
          {"ms", num(r.ms)},
          {"reps", r.reps},
          {"flops", r.flops},
          {"bytes", r.bytes},
          {"gflops", num(r.gflops)},
          {"gbps", num(r.gbps)},
          {"pct_peak", num(r.pct_peak)},
          {"vs_cudnn", num(vs_cudnn(r, rows))},
          {"note", r.note}};
}

int run_bench_kernels(const KernelBenchOptions& o) {
  LB_CHECK(cuda_available(),
           "bench kernels needs a CUDA GPU, and this build has no CUDA or no device is visible; "
           "run it on a machine with an NVIDIA GPU and a CUDA build (-DLB_CUDA=ON)");
  apply_threads(o.threads);
  const kernels::lab::DeviceInfo dev = kernels::lab::device_info();
  std::printf("device: %s (sm_%d%d), %d SMs at %.2f GHz, L2 %.0f MiB\n", dev.name.c_str(), dev.cc_major, dev.cc_minor,
              dev.sm_count, dev.clock_ghz, dev.l2_bytes / 1048576.0);
  std::printf(
      "peaks: fp32 %.1f TFLOP/s (SMs x 128 FMA x 2 x clock), TF32 dense %.1f TFLOP/s, bf16 dense %.1f "
      "TFLOP/s, memory %.0f GB/s\n",
      dev.peak_fp32_gflops * 1e-3, dev.peak_tf32_gflops * 1e-3, dev.peak_bf16_gflops * 1e-3, dev.peak_gbps);
  std::vector<int64_t> sizes;
  if (o.shapes == "28" || o.shapes == "all") sizes.push_back(28);
  if (o.shapes == "224" || o.shapes == "all") sizes.push_back(224);
  nlohmann::json rows_json = nlohmann::json::array();
  int failed = 0;
  for (int64_t size : sizes) {
    const int64_t batch = size == 28 ? 128 : 256;
    kernels::lab::LabOptions lo;
    lo.reps = o.reps;
    lo.cpu_time = size == 28 || !o.no_cpu_time;
    lo.check_batch = size == 224 ? 2 : 0;
    std::printf("\n#### input %lldx%lld, batch %lld%s\n", (long long)size, (long long)size, (long long)batch,
                size == 224 ? " (each layer checked on N=2, timed on the full batch)" : "");
    for (const kernels::lab::LabCase& c : kernels::lab::resnet18_cases(size, batch)) {
      std::vector<LabResult> rows = kernels::lab::run_case(c, lo);
      print_case(c, rows);
      for (const LabResult& r : rows) {
        if (r.variant != "cpu" && !r.pass) ++failed;
        rows_json.push_back(to_json(r, rows, size));
      }
    }
  }
  if (!o.out.empty()) {
    nlohmann::json j = {{"device",
                         {{"name", dev.name},
                          {"sm_count", dev.sm_count},
                          {"clock_ghz", dev.clock_ghz},
                          {"l2_bytes", dev.l2_bytes},
                          {"peak_fp32_gflops", dev.peak_fp32_gflops},
                          {"peak_tf32_gflops", dev.peak_tf32_gflops},
                          {"peak_bf16_gflops", dev.peak_bf16_gflops},
                          {"peak_gbps", dev.peak_gbps}}},
                        {"reps", o.reps},
                        {"cpu", cpu::cpu_info().model},  // the host: the CPU reference ran there
                        {"isa", cpu::isa_name(cpu::active_isa())},
                        {"openblas_core", cpu::openblas_core()},
                        {"rows", rows_json}};
    io::write_file_atomic(o.out, j.dump(2) + "\n");
    std::printf("\nwrote %s\n", o.out.c_str());
  }
  LB_CHECK(failed == 0,
           failed << " kernel variant(s) failed their check against the CPU backend (see FAIL/ERROR above)");
  return 0;
}

}  // namespace

CLI::App* add_bench_kernels(CLI::App* bench, std::function<int()>* run) {
  auto o = std::make_shared<KernelBenchOptions>();
  CLI::App* sub = bench->add_subcommand(
      "kernels", "kernel lab: every ResNet18 layer shape, each kernel variant checked against the CPU, then timed");
  sub->add_option("--shapes", o->shapes, "input size of the layer shapes: 28 (batch 128), 224 (batch 256) or all")
      ->check(CLI::IsMember({"28", "224", "all"}))
      ->capture_default_str();
  CLI::Option* reps =
      sub->add_option("--reps", o->reps, "timed runs per variant (median); default 20, 5 with --device cpu")
          ->check(CLI::Range(1, 1000));
  sub->add_flag("--no-cpu-time", o->no_cpu_time, "do not time the CPU backend on 224x224 shapes (it is still checked)");
  sub->add_option("--out,--json", o->out, "also write every row as JSON to this file");
  sub->add_option("--device", o->device, "cuda: the kernel lab; cpu: our CPU backend vs oneDNN vs OpenBLAS im2col")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  CLI::Option* batch =
      sub->add_option("--batch", o->cpu.batch, "batch of every layer shape (--device cpu; default 128)")
          ->check(CLI::Range(1, 4096));
  CLI::Option* warmup =
      sub->add_option("--warmup", o->cpu.warmup, "untimed runs before timing (--device cpu; default 1)")
          ->check(CLI::Range(1, 100));
  add_threads_option(sub, &o->threads);
  *run = [o, reps, batch, warmup] {
    if (o->device == "cpu") {
      LB_CHECK(!o->no_cpu_time, "--no-cpu-time is for --device cuda (it skips the CPU reference timing there)");
      CpuKernelBenchOptions c = o->cpu;
      c.shapes = o->shapes;
      c.threads = o->threads;
      c.json = o->out;
      if (reps->count() > 0) c.reps = o->reps;
      return run_bench_kernels_cpu(c);
    }
    LB_CHECK(batch->count() == 0 && warmup->count() == 0,
             "--batch and --warmup are for --device cpu; the CUDA lab uses batch 128 at 28x28 and 256 at 224x224");
    return run_bench_kernels(*o);
  };
  return sub;
}

}  // namespace lb::cli
