// test_cli_cpu_bench.cc: the CPU yardsticks as a user meets them (the `lightbox` binary as a child
// process, LB_CLI_PATH).
//
//   - `bench kernels --device cpu` on a tiny configuration (batch 2, one timed run, one thread)
//     writes JSON naming the CPU, the ISA path, the OpenBLAS core, the threads, the measured FMA
//     peak and the date, with one row per ResNet18 conv layer and direction holding own, onednn,
//     onednn-blocked and openblas-im2col timings that passed their check; plus batch norm, max pool
//     and fc rows; and prints the table.
//   - a backend on the wrong device (onednn with cuda, cudnn with cpu) or with --bf16 is refused
//     with one `lightbox: error:` line before any output; --batch is refused on the CUDA lab.
//   - `info` prints the CPU line; `bench train` JSON names the CPU, ISA path, OpenBLAS core and the
//     CPU backend, and runs a whole training step under --backend onednn.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/cpu/cpu_info.h"
#include "engine/io/file.h"
#include "lab/cases.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
using test::one_error_line;

TEST(CliCpuBench, BenchKernelsWritesOneRowPerLayerAndDirection) {
  const std::string dir = test::fresh_dir();
  const std::string out = dir + "/kernels.json";
  const test::CliResult r =
      test::run_cli(dir, "bench kernels --device cpu --batch 2 --reps 1 --threads 1 --json " + test::quoted(out));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json j = json::parse(io::read_file(out));
  EXPECT_EQ(j.at("cpu"), cpu::cpu_info().model);
  EXPECT_EQ(j.at("isa"), cpu::isa_name(cpu::active_isa()));
  EXPECT_EQ(j.at("best_isa"), cpu::isa_name(cpu::best_isa()));
  EXPECT_EQ(j.at("openblas_core"), cpu::openblas_core());
  EXPECT_EQ(j.at("threads"), 1);
  EXPECT_GT(j.at("fma_peak_gflops").get<double>(), 1.0);
  EXPECT_EQ(j.at("date").get<std::string>().size(), 20u);  // 2025-01-31T12:00:00Z
  EXPECT_EQ(j.at("batch"), 2);
  // Every conv of the lab's table, in every direction, with the four implementations.
  std::set<std::string> want, got;
  for (const kernels::lab::LabCase& c : kernels::lab::resnet18_cases(28, 2))
    if (c.op == kernels::lab::OpKind::Conv2d)
      for (const char* d : {"forward", "backward_input", "backward_weight"}) want.insert(c.layer + " " + d);
  std::map<std::string, int> ops;
  for (const json& row : j.at("rows")) {
    ++ops[row.at("op").get<std::string>()];
    EXPECT_EQ(row.at("input_size"), 28);
    for (const auto& [impl, m] : row.at("impls").items()) {
      EXPECT_TRUE(m.at("pass").get<bool>()) << row.at("layer") << " " << impl;
      EXPECT_GT(m.at("ms").get<double>(), 0.0) << row.at("layer") << " " << impl;
    }
    if (row.at("op") != "conv2d") continue;
    got.insert(row.at("layer").get<std::string>() + " " + row.at("direction").get<std::string>());
    for (const char* impl : {"own", "onednn", "onednn-blocked", "openblas-im2col"})
      EXPECT_GT(row.at("impls").at(impl).at("gflops").get<double>(), 0.0) << row.at("layer") << " " << impl;
    EXPECT_GT(row.at("flops").get<double>(), 0.0);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(ops["conv2d"], static_cast<int>(want.size()));
  EXPECT_EQ(ops["batch_norm2d"], 5 * 3);  // bn1, layer1..4 bn; forward_train, forward_eval, backward
  EXPECT_EQ(ops["max_pool2d"], 2);
  EXPECT_EQ(ops["linear"], 3);
  EXPECT_NE(r.out.find("FMA peak"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("layer4.0.downsample"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("openblas-im2col"), std::string::npos) << r.out;
}

TEST(CliCpuBench, BackendOnTheWrongDeviceIsOneLineBeforeAnyOutput) {
  const std::string dir = test::fresh_dir();
  const test::CliResult dnn_cuda = test::run_cli(dir, "bench train --device cuda --backend onednn --steps 1");
  EXPECT_TRUE(one_error_line(dnn_cuda, {"--backend onednn", "--device cpu"}));
  EXPECT_EQ(dnn_cuda.out, "");
  const test::CliResult cudnn_cpu = test::run_cli(dir, "bench train --device cpu --backend cudnn --steps 1");
  EXPECT_TRUE(one_error_line(cudnn_cpu, {"--backend cudnn", "--device cuda"}));
  EXPECT_EQ(cudnn_cpu.out, "");
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string train = "train --quiet --data " + data + " --out " + dir + "/run";
  EXPECT_TRUE(one_error_line(test::run_cli(dir, train + " --backend cudnn"), {"--backend cudnn", "--device cuda"}));
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "bench train --bf16 --backend onednn --steps 1"),
                             {"--bf16", "--backend custom"}));
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "bench kernels --batch 4"), {"--batch", "--device cpu"}));
}

TEST(CliCpuBench, InfoPrintsTheCpuLine) {
  const std::string dir = test::fresh_dir();
  const test::CliResult r = test::run_cli(dir, "info");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string line = "CPU: " + cpu::cpu_info().model + "; ISA path " + cpu::isa_name(cpu::active_isa()) +
                           " (best " + cpu::isa_name(cpu::best_isa()) + "; LB_CPU_ISA forces one); OpenBLAS core " +
                           cpu::openblas_core() + "; caches ";
  EXPECT_NE(r.out.find(line), std::string::npos) << r.out;
}

TEST(CliCpuBench, BenchTrainJsonNamesTheCpuAndRunsUnderOnednn) {
  const std::string dir = test::fresh_dir();
  for (const char* backend : {"custom", "onednn"}) {
    const test::CliResult r = test::run_cli(
        dir, std::string("bench train --batch 2 --size 16 --steps 1 --warmup 0 --threads 1 --backend ") + backend);
    ASSERT_EQ(r.code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j.at("cpu"), cpu::cpu_info().model);
    EXPECT_EQ(j.at("isa"), cpu::isa_name(cpu::active_isa()));
    EXPECT_EQ(j.at("openblas_core"), cpu::openblas_core());
    EXPECT_EQ(j.at("backend"), std::string(backend) == "onednn" ? "onednn" : "own");
    EXPECT_GT(j.at("train_img_per_s").get<double>(), 0.0);
  }
}

}  // namespace
}  // namespace lb
