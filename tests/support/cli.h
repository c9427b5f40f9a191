// cli.h: running the `lightbox` binary (LB_CLI_PATH) as a child process from a test.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lb::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs `lightbox <args>` with stdout and stderr captured to files in `dir` (args are passed to
// the shell as they are: quote paths with quoted()).
CliResult run_cli(const std::string& dir, const std::string& args);
std::string quoted(const std::string& s);

// Exit code 1 and stderr exactly one line: "lightbox: error: ..." containing every part.
::testing::AssertionResult one_error_line(const CliResult& r, const std::vector<std::string>& parts);

}  // namespace lb::test
