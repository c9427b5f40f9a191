// test_cli_bf16.cc: the --bf16 flag (tools/cli/commands.h, kernels/shapes.h): it cannot be combined
// with --tf32 (one error line, before any work), and `--device cpu --bf16` runs (the CPU emulates
// the bf16 GEMMs).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

TEST(CliBf16, Tf32AndBf16TogetherIsOneErrorLine) {
  const std::string dir = test::fresh_dir();
  EXPECT_TRUE(test::one_error_line(test::run_cli(dir, "train --quiet --tf32 --bf16 --out " + dir + "/run"),
                                   {"--tf32", "--bf16"}));
  EXPECT_TRUE(test::one_error_line(test::run_cli(dir, "train --quiet --bf16 --backend cudnn --out " + dir + "/run2"),
                                   {"--bf16", "--backend custom"}));
}

TEST(CliBf16, TrainRunsOnTheCpuInBf16) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  const test::CliResult r = test::run_cli(
      dir, "train --quiet --bf16 --device cpu --epochs 1 --batch-size 8 --data " + data + " --out " + dir + "/run");
  EXPECT_EQ(r.code, 0) << r.err;
  const nlohmann::json h = nlohmann::json::parse(io::read_file(dir + "/run/history.json"));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0]["math"], "bf16");  // where and how each epoch ran (models/train.h, EpochRecord)
  EXPECT_EQ(h[0]["device"], "cpu");
}

}  // namespace
}  // namespace lb
