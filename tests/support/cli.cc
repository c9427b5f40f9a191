// cli.cc: see cli.h.
#include "tests/support/cli.h"

#include <sys/wait.h>

#include <atomic>
#include <cstdlib>

#include "engine/io/file.h"

namespace lb::test {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

CliResult run_cli(const std::string& dir, const std::string& args) {
  static std::atomic<int> count{0};
  const int n = count++;
  const std::string out = dir + "/stdout" + std::to_string(n) + ".txt";
  const std::string err = dir + "/stderr" + std::to_string(n) + ".txt";
  const std::string cmd = quoted(LB_CLI_PATH) + " " + args + " >" + quoted(out) + " 2>" + quoted(err) + " </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = io::read_file(out);
  r.err = io::read_file(err);
  return r;
}

::testing::AssertionResult one_error_line(const CliResult& r, const std::vector<std::string>& parts) {
  auto fail = [&]() { return ::testing::AssertionFailure() << "exit " << r.code << ", stderr:\n" << r.err; };
  if (r.code != 1) return fail() << "\n(expected exit code 1)";
  if (r.err.rfind("lightbox: error: ", 0) != 0) return fail() << "\n(expected 'lightbox: error: ' first)";
  if (r.err.back() != '\n' || r.err.find('\n') != r.err.size() - 1) return fail() << "\n(expected exactly one line)";
  for (const auto& p : parts)
    if (r.err.find(p) == std::string::npos) return fail() << "\n(expected it to mention '" << p << "')";
  return ::testing::AssertionSuccess();
}

}  // namespace lb::test
