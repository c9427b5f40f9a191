// bench_kernels.h: `lightbox bench kernels`: with --device cuda (the default) the kernel lab's front
// end (lab/lab.cuh, bench_kernels.cc); with --device cpu our CPU backend beside oneDNN and
// OpenBLAS (bench_kernels_cpu.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace lb::cli {

// Adds the `kernels` subcommand under `bench` and stores its runner in *run.
CLI::App* add_bench_kernels(CLI::App* bench, std::function<int()>* run);

struct CpuKernelBenchOptions {
  std::string shapes = "28";  // 28, 224 or all
  int64_t batch = 128;
  int reps = 5;    // timed runs per implementation (median)
  int warmup = 1;  // untimed runs first (the first is also the one checked)
  int threads = 0;
  std::string json;  // write every row here (atomically) when not empty
};

// `bench kernels --device cpu`: every ResNet18 conv shape and direction through our conv, oneDNN
// and OpenBLAS im2col, plus batch norm, max pool and fc rows; a table on stdout, optionally JSON.
int run_bench_kernels_cpu(const CpuKernelBenchOptions& o);

}  // namespace lb::cli
