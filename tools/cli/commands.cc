// commands.cc: the table of subcommands, in the order `lightbox --help` lists them.
#include "tools/cli/commands.h"

namespace lb::cli {

std::vector<Command> all_commands() { return {}; }

}  // namespace lb::cli
