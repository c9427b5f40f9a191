// commands.h: the subcommand table. Each tools/cli/<name>.cc defines one `Command`: its name
// and a function that adds its options to the app and returns the function that runs it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lb::cli {

struct Command {
  std::string name;
  // Registers the subcommand (options bound to state it owns) and returns its runner.
  std::function<std::function<int()>(CLI::App&)> add;
};

std::vector<Command> all_commands();

}  // namespace lb::cli
