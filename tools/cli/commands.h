// commands.h: the subcommand table. Each tools/cli/<name>.cc defines one `Command`: its name
// and a function that adds its options to the app and returns the function that runs it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/dtype.h"

namespace lb::cli {

struct Command {
  std::string name;
  // Registers the subcommand (options bound to state it owns) and returns its runner.
  std::function<std::function<int()>(CLI::App&)> add;
};

Command demo_command();
Command train_command();
Command eval_command();
Command compare_command();
Command explain_command();
Command info_command();
Command probe_command();
Command graph_command();
Command bench_command();
Command phantom_command();
Command assess_command();
Command report_command();
Command sweep_command();
Command augment_command();

std::vector<Command> all_commands();

// --threads N on a subcommand: OpenMP threads for the run (0 = all cores).
void add_threads_option(CLI::App* sub, int* threads);
void apply_threads(int threads);

// --device cpu|cuda[:N], --backend custom|cudnn|onednn, --tf32 or --bf16 on a subcommand
// (engine/backend.h; kernels/shapes.h says what each math mode rounds). custom is lightbox's own
// code on either device; cudnn is CUDA's comparison backend and onednn the CPU's, each refused on
// the other device. --bf16 also applies on the CPU (an exact emulation of the bf16 GEMMs); --tf32
// is CUDA-only.
struct DeviceOptions {
  std::string device = "cpu";
  std::string backend = "custom";
  bool tf32 = false;
  bool bf16 = false;
};
void add_device_options(CLI::App* sub, DeviceOptions* o);
// Sets the backends and math mode and returns the device; a one-line error, before any work, when
// CUDA is asked for on a build or machine without it or the backend does not run on the device.
Device apply_device_options(const DeviceOptions& o);

}  // namespace lb::cli
