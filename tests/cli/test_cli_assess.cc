// test_cli_assess.cc: `lightbox phantom` and `lightbox assess` as a user runs them, on a small
// 28x28 phantom and the explain fixture model (a width-8 ResNet18: no training needed, every
// explainer runs in a fraction of a second per image).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "engine/io/npz.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
using test::one_error_line;
using test::quoted;

const std::string kModel = std::string(LB_FIXTURES_DIR) + "/explain/model.safetensors";

// A 28x28 phantom of 24/8/12 images (the fixture model takes 28x28).
std::string make_phantom(const std::string& dir, const std::string& extra = "") {
  const std::string path = dir + "/phantom.npz";
  const auto r =
      test::run_cli(dir, "phantom --out " + quoted(path) + " --train 24 --val 8 --test 12 --seed 4 --quiet " + extra);
  EXPECT_EQ(r.code, 0) << r.err;
  return path;
}

// Cheap explainer settings: the point is the plumbing, not the estimates.
std::string cheap(const std::string& out) {
  return "--weights " + quoted(kModel) + " --out " + quoted(out) +
         " --per-class 2 --background 4 --nsamples 8 --max-evals 40 --steps 4 --curve-steps 8 --sanity-images 1 "
         "--quiet --threads 2";
}

TEST(CliPhantom, WritesAMedmnistFileWithMasksAndASampleSheet) {
  const std::string dir = test::fresh_dir();
  const std::string path = make_phantom(dir, "--samples " + quoted(dir + "/samples.png") + " --shortcut");
  const data::Dataset ds = data::load_medmnist(path);
  EXPECT_EQ(ds.train.size(), 24);
  EXPECT_EQ(ds.test.size(), 12);
  EXPECT_EQ(ds.train.height(), 28);
  const io::NpzReader npz(path);
  for (const char* k : {"train_masks", "val_masks", "test_masks", "train_markers"}) EXPECT_TRUE(npz.has(k)) << k;
  EXPECT_TRUE(std::ifstream(dir + "/samples.png").good());
  // Same flags, same bytes.
  const std::string again = dir + "/again.npz";
  ASSERT_EQ(
      test::run_cli(dir, "phantom --out " + quoted(again) + " --train 24 --val 8 --test 12 --seed 4 --quiet --shortcut")
          .code,
      0);
  EXPECT_EQ(io::read_file(path), io::read_file(again));
  EXPECT_NE(test::run_cli(dir, "phantom --out " + quoted(dir + "/x.npz") + " --size 4").code,
            0);  // CLI11's range check
  EXPECT_FALSE(std::ifstream(dir + "/x.npz").good());
}

TEST(CliAssess, EveryMethodEveryScoreOnThePhantom) {
  const std::string dir = test::fresh_dir();
  const std::string data = make_phantom(dir);
  const auto r = test::run_cli(
      dir, "assess --data " + quoted(data) + " --methods gradient,deep,partition,ig " + cheap(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(io::read_file(dir + "/out/assess.json"));
  EXPECT_EQ(j["images"], 4);
  EXPECT_TRUE(j["has_masks"].get<bool>());
  for (const char* m : {"gradient", "deep", "partition", "ig"}) {
    const json& s = j["methods"][m];
    EXPECT_NE(r.out.find(m), std::string::npos) << "the printed table lists " << m;
    EXPECT_EQ(s["localisation"]["images"], 2) << m;  // the two pneumonia images carry lesions
    for (const char* k : {"share", "pointing", "auc"}) {
      const double v = s["localisation"][k].get<double>();
      EXPECT_GE(v, 0.0) << m << " " << k;
      EXPECT_LE(v, 1.0) << m << " " << k;
    }
    for (const char* k : {"deletion_auc", "insertion_auc", "deletion_auc_random", "insertion_auc_random"})
      EXPECT_TRUE(std::isfinite(s["faithfulness"][k].get<double>())) << m << " " << k;
    EXPECT_GT(s["seconds_per_image"].get<double>(), 0.0);
    EXPECT_EQ(s["curves"]["deletion"].size(), 9u);  // --curve-steps 8: 9 points
    EXPECT_EQ(s["per_image"].size(), 4u);
    // Cascading randomisation: six steps, top layer first, each with a rank correlation.
    const json& c = j["sanity"]["cascade"][m]["steps"];
    ASSERT_EQ(c.size(), 6u) << m;
    EXPECT_EQ(c[0]["stage"], "fc");
    EXPECT_EQ(c[5]["stage"], "stem");
    EXPECT_LE(std::fabs(c[5]["spearman"].get<double>()), 1.0);
  }
  // Deep and partition are exactly complete; their gaps are rounding.
  EXPECT_LT(j["methods"]["deep"]["faithfulness"]["completeness_gap_rel"].get<double>(), 1e-3);
  EXPECT_LT(j["methods"]["partition"]["faithfulness"]["completeness_gap_rel"].get<double>(), 1e-6);
  EXPECT_TRUE(std::ifstream(dir + "/out/curves.svg").good());
}

TEST(CliAssess, LabelCheckWithTheSameModelFails) {
  // The "shuffled-label model" is the model itself: every map is unchanged (deterministic methods,
  // same seed), so rho = 1 and SSIM = 1, and the check must report a failure.
  const std::string dir = test::fresh_dir();
  const std::string data = make_phantom(dir);
  const auto r =
      test::run_cli(dir, "assess --data " + quoted(data) + " --methods deep,ig --sanity labels --label-weights " +
                             quoted(kModel) + " " + cheap(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(io::read_file(dir + "/out/assess.json"));
  for (const char* m : {"deep", "ig"}) {
    EXPECT_NEAR(j["sanity"]["labels"][m]["spearman"].get<double>(), 1.0, 1e-9) << m;
    EXPECT_NEAR(j["sanity"]["labels"][m]["ssim"].get<double>(), 1.0, 1e-9) << m;
    EXPECT_FALSE(j["sanity"]["labels"][m]["pass"].get<bool>()) << m;
  }
  EXPECT_FALSE(j["sanity"].contains("cascade"));
}

TEST(CliAssess, LayerAttributionsAndDataWithoutMasks) {
  const std::string dir = test::fresh_dir();
  test::TinySpec spec;
  spec.size = 28;
  spec.train = 8, spec.val = 4, spec.test = 4;
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz", spec);
  const auto r = test::run_cli(dir, "assess --data " + quoted(data) +
                                        " --methods gradient,deep --layer layer3 --sanity none " + cheap(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(io::read_file(dir + "/out/assess.json"));
  EXPECT_FALSE(j["has_masks"].get<bool>());
  EXPECT_EQ(j["layer"], "layer3");
  for (const char* m : {"gradient", "deep"}) {
    EXPECT_TRUE(j["methods"][m]["localisation"]["share"].is_null()) << m;
    EXPECT_TRUE(std::isfinite(j["methods"][m]["faithfulness"]["deletion_auc"].get<double>())) << m;
  }
  EXPECT_TRUE(j["sanity"].empty());
}

TEST(CliAssess, BadInputIsOneLine) {
  const std::string dir = test::fresh_dir();
  const std::string data = make_phantom(dir);
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "assess --data " + quoted(data) + " --methods gradient,lime " + cheap(dir + "/o")),
      {"unknown method", "lime"}));
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "assess --data " + quoted(data) + " --methods partition --layer layer2 " + cheap(dir + "/o")),
      {"partition", "input only"}));
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "assess --data " + quoted(data) + " --methods deep --sanity everything " + cheap(dir + "/o")),
      {"--sanity", "everything"}));
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "assess --data " + quoted(dir + "/missing.npz") + " " + cheap(dir + "/o")), {"missing.npz"}));
}

}  // namespace
}  // namespace lb
