// test_cli_tasks.cc: every MedMNIST task and image layout through the whole CLI study (issue 19):
// a 3-class set, a 14-label (ChestMNIST-like) set and a 3-channel 64x64 set, each trained twice,
// evaluated, compared, explained and reported from the command line, on synthetic files the test
// writes (tests/support/tiny_dataset.h), never downloads.
//
// What is checked beyond "exit 0": the metrics in metrics.json are finite and equal what the
// library computes from the saved checkpoint (models/evaluate/multiclass.h, whose own numbers
// are checked against scikit-learn in tests/models/test_multiclass.cc); compare.json has a
// DeLong test per class and McNemar on correctness; explain's cells follow --class K
// one-vs-rest and its samples say which class they are about; report.html names the task and
// the classes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "models/checkpoint.h"
#include "models/evaluate/multiclass.h"
#include "models/predict.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json read_json(const std::string& path) { return json::parse(io::read_file(path)); }

bool finite_number(const json& j) { return j.is_number() && std::isfinite(j.get<double>()); }

// Trains two small runs (seeds 1 and 2) of `data` into dir/a and dir/b.
void train_two(const std::string& dir, const std::string& data, const std::string& extra = "") {
  for (const char* run : {"a", "b"}) {
    const std::string seed = run[0] == 'a' ? "1" : "2";
    const test::CliResult r =
        test::run_cli(dir, "train --quiet --epochs 2 --batch-size 16 --seed " + seed + " --data " + test::quoted(data) +
                               " --out " + test::quoted(dir + "/" + run) + " " + extra);
    ASSERT_EQ(r.code, 0) << r.err;
    const json h = read_json(dir + "/" + run + "/history.json");
    ASSERT_EQ(h.size(), 2u);
    for (const json& e : h) EXPECT_TRUE(finite_number(e.at("val_auc"))) << e.dump();
  }
}

// eval --run on run `a`: metrics.json as the CLI wrote it.
json eval_run(const std::string& dir) {
  const test::CliResult r = test::run_cli(dir, "eval --quiet --bootstrap 50 --run " + test::quoted(dir + "/a"));
  EXPECT_EQ(r.code, 0) << r.err;
  return read_json(dir + "/a/eval-test/metrics.json");
}

// The library's evaluation of run a's best checkpoint on the test split, to hold the CLI to.
eval::MultiEvaluation library_evaluation(const std::string& dir, const std::string& data) {
  models::Checkpoint ck = models::load_checkpoint(dir + "/a/checkpoints/best.safetensors");
  const data::Dataset ds = data::load_medmnist(data);
  const models::Predictions p = models::predict(*ck.model, ds.test, ck.meta.norm);
  return p.multilabel ? eval::evaluate_multilabel(p.prob_rows(), p.label_rows(), {0})
                      : eval::evaluate_multiclass(p.prob_rows(), p.int_labels(), {0});
}

void expect_matches_library(const json& m, const eval::MultiEvaluation& lib, const std::string& task) {
  EXPECT_EQ(m.at("task"), task);
  const json& mu = m.at("multi");
  ASSERT_TRUE(finite_number(mu.at("accuracy")) && finite_number(mu.at("auc"))) << mu.dump();
  EXPECT_NEAR(mu.at("accuracy").get<double>(), lib.accuracy, 1e-12);
  EXPECT_NEAR(mu.at("auc").get<double>(), lib.auc, 1e-12);
  ASSERT_EQ(mu.at("per_class").size(), lib.per_class.size());
  for (size_t k = 0; k < lib.per_class.size(); ++k)
    EXPECT_NEAR(mu["per_class"][k].at("auc").get<double>(), lib.per_class[k].auc, 1e-12) << "class " << k;
  EXPECT_TRUE(mu.at("intervals").contains("auc"));
}

json compare_runs(const std::string& dir, const std::string& extra = "") {
  const test::CliResult r =
      test::run_cli(dir, "compare --quiet " + test::quoted(dir + "/a/checkpoints/best.safetensors") + " " +
                             test::quoted(dir + "/b/checkpoints/best.safetensors") + " --out " +
                             test::quoted(dir + "/compare") + " " + extra);
  EXPECT_EQ(r.code, 0) << r.err;
  return read_json(dir + "/compare/compare.json");
}

void expect_p_value(const json& test) {
  ASSERT_TRUE(finite_number(test.at("p_value"))) << test.dump();
  EXPECT_GE(test["p_value"].get<double>(), 0.0);
  EXPECT_LE(test["p_value"].get<double>(), 1.0);
}

// explain with the gradient explainer (fast) into dir/<out>; returns meta.json.
test::CliResult explain_run(const std::string& dir, const std::string& out, const std::string& args) {
  return test::run_cli(dir, "explain --quiet --method gradient --nsamples 4 --background 8 --weights " +
                                test::quoted(dir + "/a/checkpoints/best.safetensors") + " --out " +
                                test::quoted(dir + "/" + out) + " " + args);
}

std::string report_of(const std::string& dir) {
  const test::CliResult r = test::run_cli(dir, "report " + test::quoted(dir));
  EXPECT_EQ(r.code, 0) << r.err;
  return io::read_file(dir + "/report.html");
}

TEST(CliTasks, ThreeClassSetGoesThroughTheWholeStudy) {
  const std::string dir = test::fresh_dir();
  test::TinySpec spec;
  spec.num_classes = 3;
  const std::string data = test::write_tiny_dataset(dir + "/threeclass.npz", spec);
  train_two(dir, data);
  const json m = eval_run(dir);
  expect_matches_library(m, library_evaluation(dir, data), "multi-class");
  EXPECT_EQ(m["multi"].at("confusion").size(), 3u);
  EXPECT_TRUE(fs::exists(dir + "/a/eval-test/confusion.svg"));
  EXPECT_TRUE(fs::exists(dir + "/a/eval-test/roc.svg"));

  const json c = compare_runs(dir);
  EXPECT_EQ(c.at("task"), "multi-class");
  expect_p_value(c.at("mcnemar"));
  ASSERT_EQ(c.at("per_class").size(), 3u);
  for (const json& pc : c["per_class"]) expect_p_value(pc.at("delong"));

  // Without --class every sample is judged on its predicted class: tp or fp; fn needs --class.
  const test::CliResult bad = explain_run(dir, "x-bad", "--select tp,fn");
  EXPECT_TRUE(test::one_error_line(bad, {"--class K", "fn"}));
  const test::CliResult own = explain_run(dir, "x-own", "--select tp,fp --per-cell 2");
  ASSERT_EQ(own.code, 0) << own.err;
  const json own_meta = read_json(dir + "/x-own/meta.json");
  const Tensor values = io::load_npy(dir + "/x-own/values.npy");
  EXPECT_EQ(values.size(1), 3);  // every output explained
  for (const json& s : own_meta.at("samples")) {
    const std::string cell = s.at("cell");
    EXPECT_EQ(cell == "tp", s.at("label") == s.at("class")) << s.dump();
  }
  const test::CliResult k2 = explain_run(dir, "x-k2", "--class 2 --select tp,fp,fn,tn");
  ASSERT_EQ(k2.code, 0) << k2.err;
  const json k2_meta = read_json(dir + "/x-k2/meta.json");  // kept: the loop reads into it
  for (const json& s : k2_meta.at("samples")) {
    EXPECT_EQ(s.at("class"), 2);
    const bool positive = s.at("label") == 2, tp_or_fn = s["cell"] == "tp" || s["cell"] == "fn";
    EXPECT_EQ(positive, tp_or_fn) << s.dump();
  }
  const std::string html = report_of(dir);
  EXPECT_NE(html.find("multi-class"), std::string::npos);
  EXPECT_NE(html.find("class 2"), std::string::npos);
}

TEST(CliTasks, FourteenLabelSetGoesThroughTheWholeStudy) {
  const std::string dir = test::fresh_dir();
  test::TinySpec spec;
  spec.num_classes = 14;
  spec.multilabel = true;
  const std::string data = test::write_tiny_dataset(dir + "/chestmnist.npz", spec);
  train_two(dir, data);
  const json m = eval_run(dir);
  expect_matches_library(m, library_evaluation(dir, data), "multi-label, binary-class");
  EXPECT_FALSE(fs::exists(dir + "/a/eval-test/confusion.svg"));  // no K x K table for labels
  EXPECT_NE(io::read_file(dir + "/a/eval-test/roc.svg").find("cardiomegaly"), std::string::npos);

  const json c = compare_runs(dir);
  EXPECT_EQ(c.at("task"), "multi-label, binary-class");
  EXPECT_FALSE(c.contains("mcnemar"));  // one per label instead
  ASSERT_EQ(c.at("per_class").size(), 14u);
  for (const json& pc : c["per_class"]) {
    expect_p_value(pc.at("mcnemar"));
    expect_p_value(pc.at("delong"));
  }
  const test::CliResult k = explain_run(dir, "x-k", "--class 0 --select tp,fn --model-output probs");
  ASSERT_EQ(k.code, 0) << k.err;
  const json k_meta = read_json(dir + "/x-k/meta.json");
  for (const json& s : k_meta.at("samples")) {
    EXPECT_EQ(s.at("labels").size(), 14u);
    EXPECT_EQ(s.at("label"), 1) << s.dump();  // tp and fn both carry label 0
    EXPECT_EQ(s.at("labels")[0], 1);
  }
  // probs of a multi-label model are sigmoids: each output in (0, 1), not summing to 1.
  const Tensor out = io::load_npy(dir + "/x-k/outputs.npy");
  double row = 0;
  for (int64_t k2 = 0; k2 < out.size(1); ++k2) {
    const double v = out.at(k2);
    EXPECT_GT(v, 0.0);
    EXPECT_LT(v, 1.0);
    row += v;
  }
  EXPECT_GT(std::fabs(row - 1.0), 1e-3);
  const std::string html = report_of(dir);
  EXPECT_NE(html.find("multi-label"), std::string::npos);
  EXPECT_NE(html.find("hernia"), std::string::npos);
}

TEST(CliTasks, ColourSixtyFourPixelSetGoesThroughTheWholeStudy) {
  const std::string dir = test::fresh_dir();
  test::TinySpec spec;
  spec.size = 64;
  spec.channels = 3;
  spec.train = 32;
  const std::string data = test::write_tiny_dataset(dir + "/rgb64.npz", spec);
  train_two(dir, data);
  const json m = eval_run(dir);
  EXPECT_EQ(m.at("task"), "binary-class");
  EXPECT_TRUE(finite_number(m.at("at_0.5").at("auc")));
  const json c = compare_runs(dir);
  expect_p_value(c.at("mcnemar"));
  const test::CliResult x = explain_run(dir, "x", "--select tp,tn");
  ASSERT_EQ(x.code, 0) << x.err;
  const Tensor values = io::load_npy(dir + "/x/values.npy");
  ASSERT_EQ(values.dim(), 5);
  EXPECT_EQ(values.size(2), 3);  // three channels explained
  EXPECT_EQ(values.size(3), 64);
  const std::string html = report_of(dir);
  EXPECT_NE(html.find("64x64, 3 channel(s)"), std::string::npos);
}

}  // namespace
}  // namespace lb
