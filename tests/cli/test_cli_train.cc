// test_cli_train.cc: what `lightbox train` prints (tools/cli/train_printer.cc renders the events the
// trainer reports, models/train_observer.h), line for line on a tiny dataset:
//   - with --quiet, stderr is exactly the data line, one line per split with its class counts, one
//     line per epoch with the numbers history.json holds, and the --stop-after / resume notes;
//   - without --quiet and with stderr not a terminal, each epoch also draws its progress bar as
//     plain lines ("epoch 1/1 [####...]    3/3  ... img/s  took 0:00  loss 0.6931");
//   - stdout is the summary: best epoch, best checkpoint, run folder.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

// The line the trainer's epoch_end prints for record `r` (history.json) of a run of `epochs`.
std::string epoch_line(const json& r, int64_t epochs, bool best) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld  train loss %.4f acc %.4f | val loss %.4f acc %.4f auc %.4f%s",
                (long long)r.at("epoch").get<int64_t>(), (long long)epochs, r.at("train_loss").get<double>(),
                r.at("train_acc").get<double>(), r.at("val_loss").get<double>(), r.at("val_acc").get<double>(),
                r.at("val_auc").get<double>(), best ? "  (best)" : "");
  return buf;
}

// The run_start lines for the default tiny dataset at `data` (labels alternate 0, 1).
std::vector<std::string> data_lines(const std::string& data) {
  return {"lightbox: " + data + ", 16x16x1, 2 classes", "  train: 48 images (class 0 24, 50.0%; class 1 24, 50.0%)",
          "  val: 16 images (class 0 8, 50.0%; class 1 8, 50.0%)",
          "  test: 16 images (class 0 8, 50.0%; class 1 8, 50.0%)"};
}

TEST(CliTrain, QuietPrintsTheDataTheEpochsAndTheNotesExactly) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  const std::string runf = dir + "/run";
  const test::CliResult a = test::run_cli(
      dir, "train --quiet --epochs 2 --batch-size 16 --seed 1 --stop-after 1 --data " + data + " --out " + runf);
  ASSERT_EQ(a.code, 0) << a.err;
  const json h1 = json::parse(io::read_file(runf + "/history.json"));
  std::vector<std::string> want = data_lines(data);
  want.push_back(epoch_line(h1.at(0), 2, true));
  want.push_back("lightbox: stopping after 1 epoch(s) as asked; continue with --resume");
  EXPECT_EQ(lines_of(a.err), want) << a.err;

  const test::CliResult b = test::run_cli(dir, "train --quiet --resume --out " + runf);
  ASSERT_EQ(b.code, 0) << b.err;
  const json h2 = json::parse(io::read_file(runf + "/history.json"));
  ASSERT_EQ(h2.size(), 2u);
  const bool second_best = h2.at(1).at("val_auc").get<double>() > h2.at(0).at("val_auc").get<double>();
  want = data_lines(data);
  want.push_back("lightbox: resuming " + runf + " after epoch 1");
  want.push_back(epoch_line(h2.at(1), 2, second_best));
  EXPECT_EQ(lines_of(b.err), want) << b.err;
  const std::vector<std::string> out = lines_of(b.out);
  ASSERT_EQ(out.size(), 3u) << b.out;
  EXPECT_EQ(out[0].rfind("best epoch " + std::string(second_best ? "2" : "1") + ": val AUC ", 0), 0u) << b.out;
  EXPECT_EQ(out[1], "best checkpoint: " + runf + "/checkpoints/best.safetensors");
  EXPECT_EQ(out[2], "run folder: " + runf);
}

TEST(CliTrain, WithoutQuietEachEpochDrawsItsProgressBar) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  const test::CliResult r =
      test::run_cli(dir, "train --epochs 1 --batch-size 16 --data " + data + " --out " + dir + "/run");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(r.err);
  // The data and three splits, the bar (a plain line every 5 seconds, were the epoch that slow,
  // then its final line), the epoch.
  ASSERT_GE(lines.size(), 6u) << r.err;
  for (size_t i = 4; i + 2 < lines.size(); ++i) EXPECT_EQ(lines[i].rfind("epoch 1/1 [", 0), 0u) << lines[i];
  const std::string& bar = lines[lines.size() - 2];
  EXPECT_EQ(bar.rfind("epoch 1/1 [########################]    3/3  ", 0), 0u) << bar;
  EXPECT_NE(bar.find(" img/s  took 0:"), std::string::npos) << bar;
  const json h = json::parse(io::read_file(dir + "/run/history.json"));
  char loss[32];
  std::snprintf(loss, sizeof loss, "  loss %.4f", h.at(0).at("train_loss").get<double>());
  EXPECT_EQ(bar.substr(bar.size() - std::string(loss).size()), loss) << bar;
  EXPECT_EQ(lines.back(), epoch_line(h.at(0), 1, true));
}

}  // namespace
}  // namespace lb
