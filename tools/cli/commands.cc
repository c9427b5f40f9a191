// commands.cc: the table of subcommands, in the order `lightbox --help` lists them.
#include "tools/cli/commands.h"

#include <omp.h>

namespace lb::cli {

std::vector<Command> all_commands() {
  return {demo_command(), train_command(), eval_command(), compare_command(), explain_command(), report_command(),
          info_command(), probe_command(), graph_command(), bench_command(),
          phantom_command(), assess_command()};
}

void add_threads_option(CLI::App* sub, int* threads) {
  sub->add_option("--threads", *threads, "CPU threads (0 = all cores)")->check(CLI::Range(0, 1024));
}

void apply_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace lb::cli
