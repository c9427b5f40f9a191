// main.cc: the lightbox command line. Each subcommand lives in its own file and registers itself
// in the table below; main only parses, dispatches and turns lb::Error into one line + exit 1.
// It also installs what the library reports to: the terminal progress bar of every long loop
// (engine/progress.h, tools/cli/progress_bar.h) and a printer for its notes (base/notes.h).
#include <iostream>

#include <CLI/CLI.hpp>

#include "base/common.h"
#include "base/notes.h"
#include "engine/progress.h"
#include "tools/cli/commands.h"
#include "tools/cli/progress_bar.h"

int main(int argc, char** argv) {
  CLI::App app{"lightbox: ResNet18 on chest X-rays, explained with SHAP, in C++ and CUDA"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lightbox 0.1.0");
  // What the library notices and lets pass (base/notes.h), one line each, before the result.
  lb::set_note_handler([](const std::string& text) { std::cerr << "lightbox: note: " << text << "\n"; });
  std::vector<lb::cli::Command> commands = lb::cli::all_commands();
  std::vector<std::function<int()>> runners;
  for (auto& cmd : commands) runners.push_back(cmd.add(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  lb::set_progress_renderer(lb::cli::terminal_progress());
  try {
    for (size_t i = 0; i < commands.size(); ++i)
      if (app.got_subcommand(commands[i].name)) return runners[i]();
  } catch (const lb::Error& e) {
    std::cerr << "lightbox: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lightbox: unexpected error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
