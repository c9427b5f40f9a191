// bench_kernels.h: `lightbox bench kernels`, the kernel lab's front end (kernels/lab/lab.cuh).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace lb::cli {

// Adds the `kernels` subcommand under `bench` and stores its runner in *run.
CLI::App* add_bench_kernels(CLI::App* bench, std::function<int()>* run);

}  // namespace lb::cli
