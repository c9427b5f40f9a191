// test_cli_sweep.cc: `lightbox sweep` (tools/cli/sweep.cc): recipes x seeds trained, selected on
// val and evaluated on test once each; shards of one sweep add up to the whole; a second run
// trains nothing and gives the same table; the table's means and standard deviations are those
// of the runs' own metrics.json and history.json; --val-only trains without evaluating or reading
// test, and a later sweep without it evaluates without training again; bad recipe files are one
// clear line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json read_json(const std::string& path) { return json::parse(io::read_file(path)); }

std::string recipes_file(const std::string& dir, const std::string& text) {
  io::write_file_atomic(dir + "/recipes.json", text);
  return dir + "/recipes.json";
}

const char* kTwoRecipes =
    R"({"plain": {"epochs": 1, "batch_size": 16, "lr": 0.01},
        "cycled": {"epochs": 2, "batch_size": 16, "lr": 0.05, "schedule": "onecycle"}})";

test::CliResult sweep(const std::string& dir, const std::string& data, const std::string& extra,
                      const std::string& seeds = "0-1") {
  return test::run_cli(dir, "sweep " + test::quoted(dir + "/recipes.json") + " --quiet --seeds " + seeds + " --data " +
                                test::quoted(data) + " --out " + test::quoted(dir + "/sw") + " " + extra);
}

double mean(const std::vector<double>& v) { return (v[0] + v[1]) / 2; }
double sd(const std::vector<double>& v) { return std::fabs(v[0] - v[1]) / std::sqrt(2.0); }  // n - 1 = 1

TEST(CliSweep, ShardsAddUpResumeTrainsNothingAndTheTableIsTheRunsOwnNumbers) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  recipes_file(dir, kTwoRecipes);
  const test::CliResult first = sweep(dir, data, "--shard 1/2");
  ASSERT_EQ(first.code, 0) << first.err;
  // Runs 1 and 3 of [plain s0, plain s1, cycled s0, cycled s1].
  EXPECT_TRUE(fs::exists(dir + "/sw/plain/seed-0/eval-test/metrics.json"));
  EXPECT_FALSE(fs::exists(dir + "/sw/plain/seed-1"));
  EXPECT_TRUE(fs::exists(dir + "/sw/cycled/seed-0/eval-test/metrics.json"));
  EXPECT_EQ(read_json(dir + "/sw/sweep.json")["recipes"][0]["seeds"], json::array({0}));
  const test::CliResult second = sweep(dir, data, "--shard 2/2");
  ASSERT_EQ(second.code, 0) << second.err;

  const auto stamp = fs::last_write_time(dir + "/sw/cycled/seed-1/history.json");
  const test::CliResult again = sweep(dir, data, "");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out.find("->"), std::string::npos) << "a finished run was trained again:\n" << again.out;
  EXPECT_EQ(fs::last_write_time(dir + "/sw/cycled/seed-1/history.json"), stamp);

  const json table = read_json(dir + "/sw/sweep.json");
  ASSERT_EQ(table["recipes"].size(), 2u);
  for (const json& row : table["recipes"]) {
    const std::string r = row["recipe"];
    std::vector<double> acc, auc, val;
    for (int s : {0, 1}) {
      const std::string run = dir + "/sw/" + r + "/seed-" + std::to_string(s);
      const json m = read_json(run + "/eval-test/metrics.json");
      acc.push_back(m["at_0.5"]["metrics"]["accuracy"]);
      auc.push_back(m["at_0.5"]["auc"]);
      double best = -1;
      for (const json& e : read_json(run + "/history.json")) best = std::max(best, e["val_auc"].get<double>());
      val.push_back(best);
      EXPECT_EQ(read_json(run + "/config.json")["seed"], s);
    }
    EXPECT_DOUBLE_EQ(row["test_acc"]["mean"].get<double>(), mean(acc)) << r;
    EXPECT_NEAR(row["test_acc"]["std"].get<double>(), sd(acc), 1e-12) << r;
    EXPECT_DOUBLE_EQ(row["test_auc"]["mean"].get<double>(), mean(auc)) << r;
    EXPECT_DOUBLE_EQ(row["val_auc"]["mean"].get<double>(), mean(val)) << r;
  }
  // The best two are ranked by val, never by test, and compared seed by seed.
  const json& best = table["best_two"];
  const double va = table["recipes"][0]["val_auc"]["mean"], vb = table["recipes"][1]["val_auc"]["mean"];
  EXPECT_EQ(best["a"], va >= vb ? "plain" : "cycled");
  ASSERT_EQ(best["per_seed"].size(), 2u);
  for (const json& s : best["per_seed"])
    for (const char* k : {"mcnemar_p", "delong_p"}) {
      ASSERT_TRUE(s[k].is_number()) << s.dump();
      EXPECT_GE(s[k].get<double>(), 0.0);
      EXPECT_LE(s[k].get<double>(), 1.0);
    }
}

// The search phase never touches test: no eval-test folder is made, and a metrics.json planted
// where test's would be is not read (its absurd numbers appear nowhere). The val table is the best
// epoch's record of each history.json. The same sweep without the flag then evaluates test once
// per run without training again.
TEST(CliSweep, ValOnlyTrainsAndTabulatesValWithoutReadingTest) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  recipes_file(dir, kTwoRecipes);
  const test::CliResult search = sweep(dir, data, "--val-only");
  ASSERT_EQ(search.code, 0) << search.err;
  EXPECT_FALSE(fs::exists(dir + "/sw/plain/seed-0/eval-test"));
  EXPECT_FALSE(fs::exists(dir + "/sw/sweep.json"));
  EXPECT_NE(search.out.find("test was not read"), std::string::npos) << search.out;
  const json table = read_json(dir + "/sw/sweep-val.json");
  ASSERT_EQ(table["recipes"].size(), 2u);
  for (const json& row : table["recipes"]) {
    const std::string r = row["recipe"];
    std::vector<double> auc, acc;
    for (int s : {0, 1}) {
      json best;
      for (const json& e : read_json(dir + "/sw/" + r + "/seed-" + std::to_string(s) + "/history.json"))
        if (best.is_null() || e["val_auc"].get<double>() > best["val_auc"].get<double>()) best = e;
      auc.push_back(best["val_auc"]);
      acc.push_back(best["val_acc"]);
    }
    EXPECT_DOUBLE_EQ(row["val_auc"]["mean"].get<double>(), mean(auc)) << r;
    EXPECT_DOUBLE_EQ(row["val_acc"]["mean"].get<double>(), mean(acc)) << r;
    EXPECT_FALSE(row.contains("test_auc"));
  }
  fs::create_directories(dir + "/sw/plain/seed-1/eval-test");
  io::write_file_atomic(dir + "/sw/plain/seed-1/eval-test/metrics.json", R"({"at_0.5": {"auc": 123.0}})");
  const test::CliResult again = sweep(dir, data, "--val-only");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out.find("123"), std::string::npos) << again.out;
  fs::remove_all(dir + "/sw/plain/seed-1/eval-test");

  const auto stamp = fs::last_write_time(dir + "/sw/cycled/seed-1/checkpoints/best.safetensors");
  const test::CliResult test_phase = sweep(dir, data, "");
  ASSERT_EQ(test_phase.code, 0) << test_phase.err;
  EXPECT_EQ(fs::last_write_time(dir + "/sw/cycled/seed-1/checkpoints/best.safetensors"), stamp);
  for (const char* run : {"plain/seed-0", "plain/seed-1", "cycled/seed-0", "cycled/seed-1"})
    EXPECT_TRUE(fs::exists(dir + "/sw/" + run + "/eval-test/metrics.json")) << run;
}

TEST(CliSweep, AChangedRecipeUnderAnOldNameIsRefused) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  recipes_file(dir, R"({"r": {"epochs": 1, "batch_size": 16}})");
  ASSERT_EQ(sweep(dir, data, "", "0").code, 0);
  recipes_file(dir, R"({"r": {"epochs": 1, "batch_size": 16, "lr": 0.5}})");
  fs::remove_all(dir + "/sw/r/seed-0/eval-test");  // unfinished: it would be resumed
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, "", "0"), {"sw/r/seed-0", "another recipe", "'r'"}));
}

TEST(CliSweep, BadRecipesSeedsAndShardsAreOneLine) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  recipes_file(dir, R"({"r": {"lerning_rate": 0.1}})");
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, ""), {"recipe 'r'", "'lerning_rate'", "not a training setting"}));
  recipes_file(dir, R"({"r": {"seed": 3}})");
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, ""), {"'seed'", "--seeds"}));
  recipes_file(dir, R"({"r": {"epochs": "many"}})");
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, ""), {"\"epochs\"", "not an integer"}));
  recipes_file(dir, "[1, 2]");
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, ""), {"recipes.json", "not a JSON object"}));
  recipes_file(dir, R"({"r": {"epochs": 1}})");
  EXPECT_TRUE(test::one_error_line(sweep(dir, data, "--shard 3/2"), {"--shard '3/2'", "I/N"}));
  EXPECT_TRUE(
      test::one_error_line(test::run_cli(dir, "sweep " + dir + "/recipes.json --seeds 4-x"), {"--seeds", "4-x"}));
  EXPECT_FALSE(fs::exists(dir + "/sw/r"));  // nothing trained on any of these
}

}  // namespace
}  // namespace lb
