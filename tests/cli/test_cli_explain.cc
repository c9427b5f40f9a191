// test_cli_explain.cc: `lightbox explain` as a user runs it, on the explain fixture model
// (tests/fixtures/explain: a width-8 ResNet18 and real PneumoniaMNIST images).
//
// It reproduces the shap golden files end to end (Deep within 1e-4 of shap on the patched twin
// with summed max-pool credit; Partition within 1e-5 of shap's blur(28,28), max_evals 300, batch
// 100), writes the documented files with the documented shapes, picks TP/FP/FN/TN samples that
// really are in those cells, and answers bad input with one line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/png.h"
#include "engine/io/safetensors.h"
#include "engine/ops/ops.h"
#include "engine/storage.h"
#include "models/checkpoint.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
using test::one_error_line;
using test::quoted;

const std::string kFix = std::string(LB_FIXTURES_DIR) + "/explain";
const std::string kModel = kFix + "/model.safetensors";

std::string common(const std::string& out) {
  return "--weights " + quoted(kModel) + " --out " + quoted(out) + " --quiet --threads 2";
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) m = std::max(m, std::fabs(a.at(i) - b.at(i)));
  return m;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.at(i)));
  return m;
}

json read_json(const std::string& path) { return json::parse(io::read_file(path)); }

Tensor tensor_named(const io::SafeTensors& st, const std::string& name) {
  for (const auto& [k, t] : st.tensors)
    if (k == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return Tensor();
}

TEST(CliExplain, DeepReproducesShapGolden) {
  const std::string dir = test::fresh_dir();
  const io::SafeTensors g = io::load_safetensors(kFix + "/deep/resnet.safetensors");
  io::save_npy(dir + "/x.npy", tensor_named(g, "x"));
  io::save_npy(dir + "/bg.npy", tensor_named(g, "bg"));
  const auto r = test::run_cli(dir, "explain --method deep --input " + quoted(dir + "/x.npy") + " --background " +
                                        quoted(dir + "/bg.npy") + " " + common(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const Tensor v = io::load_npy(dir + "/out/values.npy");
  const Tensor want = tensor_named(g, "values");
  EXPECT_EQ(v.shape(), (Shape{3, 2, 1, 28, 28}));
  EXPECT_EQ(v.dtype(), DType::Float64);
  EXPECT_LE(max_abs_diff(v, want), 1e-4 * max_abs(want));
  EXPECT_LE(max_abs_diff(io::load_npy(dir + "/out/expected.npy"), tensor_named(g, "expected")), 1e-5);
  const json meta = read_json(dir + "/out/meta.json");
  EXPECT_EQ(meta["method"], "deep");
  EXPECT_EQ(meta["layer"], "input");
  EXPECT_LT(meta["max_abs_gap"].get<double>(), 1e-4);
  for (const char* f : {"outputs.npy", "gaps.npy", "inputs.npy", "grid.png"})
    EXPECT_TRUE(std::ifstream(dir + "/out/" + f).good()) << f;
}

TEST(CliExplain, PartitionReproducesShapGolden) {
  const std::string dir = test::fresh_dir();
  const Tensor x = io::load_npy(kFix + "/x.npy");
  io::save_npy(dir + "/x3.npy", x.slice0(0, 3).clone());  // the golden's images 0, 1, 2
  const auto r = test::run_cli(dir,
                               "explain --method partition --masker 'blur(28,28)' --max-evals 300 --batch-size 100 "
                               "--input " +
                                   quoted(dir + "/x3.npy") + " " + common(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const Tensor v = io::load_npy(dir + "/out/values.npy");                          // (3, 2, 1, 28, 28)
  const Tensor want = io::load_npy(kFix + "/partition/resnet_logits_values.npy");  // (3, 784, 2)
  ASSERT_EQ(v.shape(), (Shape{3, 2, 1, 28, 28}));
  double worst = 0;
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t k = 0; k < 2; ++k)
      for (int64_t p = 0; p < 784; ++p)
        worst = std::max(worst, std::fabs(v.at((n * 2 + k) * 784 + p) - want.at((n * 784 + p) * 2 + k)));
  EXPECT_LE(worst, 1e-5);
  const Tensor base = io::load_npy(dir + "/out/expected.npy");
  EXPECT_EQ(base.shape(), (Shape{3, 2}));  // f of each fully blurred image
  EXPECT_LE(max_abs_diff(base, io::load_npy(kFix + "/partition/resnet_logits_base.npy")), 1e-5);
  EXPECT_LT(read_json(dir + "/out/meta.json")["max_abs_gap"].get<double>(), 1e-9);
}

TEST(CliExplain, LayerGradientWritesLayerSpaceAndUpsampledMaps) {
  const std::string dir = test::fresh_dir();
  const auto r = test::run_cli(dir, "explain --method gradient --layer layer1 --nsamples 8 --seed 3 --input " +
                                        quoted(kFix + "/x.npy") + " --background " + quoted(kFix + "/bg.npy") + " " +
                                        common(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const Tensor v = io::load_npy(dir + "/out/values.npy");
  EXPECT_EQ(v.shape(), (Shape{6, 2, 8, 7, 7}));  // layer1's input: 8 channels of 7x7 at width 8
  const Tensor up = io::load_npy(dir + "/out/values_image.npy");
  ASSERT_EQ(up.shape(), (Shape{6, 2, 1, 28, 28}));
  // pixel (5, 9) of image 4, output 1 is cell (1, 2) of the 7x7 map, summed over channels
  double s = 0;
  for (int64_t c = 0; c < 8; ++c) s += v.at((((4 * 2 + 1) * 8 + c) * 7 + 1) * 7 + 2);
  EXPECT_NEAR(up.at(((4 * 2 + 1) * 28 + 5) * 28 + 9), s, 1e-12);
  const json meta = read_json(dir + "/out/meta.json");
  EXPECT_EQ(meta["upsampling"], "7x7 -> 28x28, nearest");
  EXPECT_EQ(io::load_npy(dir + "/out/variances.npy").shape(), v.shape());
  // same seed, same numbers
  ASSERT_EQ(test::run_cli(dir, "explain --method gradient --layer layer1 --nsamples 8 --seed 3 --input " +
                                   quoted(kFix + "/x.npy") + " --background " + quoted(kFix + "/bg.npy") + " " +
                                   common(dir + "/again"))
                .code,
            0);
  EXPECT_EQ(max_abs_diff(io::load_npy(dir + "/again/values.npy"), v), 0.0);
}

// --select on the real test split: every chosen sample is in its cell, and inputs.npy holds
// exactly those images in model space.
TEST(CliExplain, SelectPicksConfusionCells) {
  const std::string dir = test::fresh_dir();
  const std::string data = std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz";
  const auto r = test::run_cli(dir, "explain --method ig --steps 8 --data " + quoted(data) +
                                        " --select tp,fp,fn,tn --per-cell 2 " + common(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json meta = read_json(dir + "/out/meta.json");
  ASSERT_EQ(meta["samples"].size(), 8u);
  const data::Dataset ds = data::load_medmnist(data);
  std::vector<int64_t> idx;
  const std::vector<std::string> cells = {"tp", "tp", "fp", "fp", "fn", "fn", "tn", "tn"};
  for (size_t i = 0; i < 8; ++i) {
    const json& s = meta["samples"][i];
    EXPECT_EQ(s["cell"], cells[i]);
    const int label = s["label"];
    const bool pred = s["score"].get<double>() >= 0.5;
    EXPECT_EQ(label, ds.test.labels.at(s["index"].get<int64_t>()));
    const std::string cell = label == 1 ? (pred ? "tp" : "fn") : (pred ? "fp" : "tn");
    EXPECT_EQ(cell, cells[i]) << "sample " << i;
    idx.push_back(s["index"]);
  }
  EXPECT_EQ(max_abs_diff(io::load_npy(dir + "/out/inputs.npy"), data::to_model_space(ds.test, idx, {})), 0.0);
  EXPECT_EQ(io::load_npy(dir + "/out/values.npy").shape(), (Shape{8, 2, 1, 28, 28}));
  EXPECT_EQ(io::load_npy(dir + "/out/expected.npy").shape(), (Shape{8, 2}));
}

// --image x.png: the PNG's pixels in model space with the checkpoint's normalization; and
// --background N: N distinct training images, recorded in meta.json.
TEST(CliExplain, PngInputAndSampledBackground) {
  const std::string dir = test::fresh_dir();
  Tensor img = Tensor::empty({28, 28}, DType::UInt8);
  for (int64_t i = 0; i < 28 * 28; ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 256);
  io::save_png(dir + "/x.png", img);
  const std::string data = std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz";
  const auto r = test::run_cli(dir, "explain --method gradient --nsamples 4 --background 5 --data " + quoted(data) +
                                        " --image " + quoted(dir + "/x.png") + " " + common(dir + "/out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const Tensor x = io::load_npy(dir + "/out/inputs.npy");
  ASSERT_EQ(x.shape(), (Shape{1, 1, 28, 28}));
  for (int64_t i = 0; i < 28 * 28; ++i)
    ASSERT_FLOAT_EQ(x.data<float>()[i], static_cast<float>((img.data<uint8_t>()[i] / 255.0 - 0.5) / 0.5)) << i;
  const json meta = read_json(dir + "/out/meta.json");
  const auto idx = meta["background"]["indices"].get<std::vector<int64_t>>();
  ASSERT_EQ(idx.size(), 5u);
  EXPECT_EQ(std::set<int64_t>(idx.begin(), idx.end()).size(), 5u);
  for (int64_t i : idx) EXPECT_TRUE(i >= 0 && i < 4708) << i;
  EXPECT_EQ(io::load_npy(dir + "/out/expected.npy").shape(), (Shape{2}));
}

TEST(CliExplain, BadInputIsOneLine) {
  const std::string dir = test::fresh_dir();
  Tensor x = io::load_npy(kFix + "/x.npy").clone();
  x.data<float>()[17] = std::nanf("");
  io::save_npy(dir + "/nan.npy", x);
  const std::string bg = " --background " + quoted(kFix + "/bg.npy");
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "explain --method deep --input " + quoted(dir + "/nan.npy") + bg + " " + common(dir + "/o1")),
      {"NaN"}));
  const std::string xin = " --input " + quoted(kFix + "/x.npy");
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "explain --method deep --model-output probs" + xin + bg + " " + common(dir + "/o2")),
      {"logits"}));
  EXPECT_TRUE(
      one_error_line(test::run_cli(dir, "explain --method partition --layer layer1" + xin + " " + common(dir + "/o3")),
                     {"input only"}));
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "explain --method gradient --layer layer9" + xin + bg + " " + common(dir + "/o4")),
      {"layer9"}));
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "explain --method ig" + xin + " --image " + quoted(kFix + "/none.png") +
                                                    " " + common(dir + "/o5")),
                             {"exactly one of"}));
  EXPECT_TRUE(one_error_line(
      test::run_cli(dir, "explain --method partition --masker gauss:3" + xin + " " + common(dir + "/o6")),
      {"gauss:3"}));
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "explain --method deep --background " + quoted(dir + "/missing.npy") +
                                                    xin + " " + common(dir + "/o7")),
                             {"missing.npy"}));
}

// --device: cpu (the default) is recorded in meta.json and changes nothing; a name that is no
// device is one line; and without a GPU (or in a build without CUDA), --device cuda is one line
// from every subcommand that runs a network, before any work. tests/explain/test_explain_cuda.cc runs
// the same commands on a GPU.
TEST(CliExplain, DeviceOption) {
  const std::string dir = test::fresh_dir();
  const std::string xin = " --input " + quoted(kFix + "/x.npy");
  ASSERT_EQ(test::run_cli(dir, "explain --method ig --steps 4 --device cpu" + xin + " " + common(dir + "/cpu")).code,
            0);
  EXPECT_EQ(read_json(dir + "/cpu/meta.json")["device"], "cpu");
  EXPECT_EQ(read_json(dir + "/cpu/meta.json")["math"], "fp32");
  ASSERT_EQ(test::run_cli(dir, "explain --method ig --steps 4" + xin + " " + common(dir + "/default")).code, 0);
  EXPECT_EQ(max_abs_diff(io::load_npy(dir + "/cpu/values.npy"), io::load_npy(dir + "/default/values.npy")), 0.0);
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "explain --method ig --device tpu" + xin + " " + common(dir + "/o0")),
                             {"'tpu'", "cpu, cuda or cuda:N"}));
  if (cuda_available()) GTEST_SKIP() << "this machine has a CUDA device: the no-GPU error cannot be seen here";
  const std::string w = " --weights " + quoted(kModel);
  const std::string bg = " --background " + quoted(kFix + "/bg.npy");
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"explain", "explain --method deep" + xin + bg + " " + common(dir + "/o1")},
      {"assess", "assess" + w + " --out " + quoted(dir + "/o2") + " --quiet"},
      {"probe", "probe" + w + xin + " --out " + quoted(dir + "/o3")},
      {"demo", "demo --epochs 1 --out " + quoted(dir + "/o4") + " --quiet"},
      {"compare", "compare " + quoted(kModel) + " " + quoted(kModel) + " --explain deep --out " + quoted(dir + "/o5")}};
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_TRUE(
        one_error_line(test::run_cli(dir, runs[i].second + " --device cuda"), {"no CUDA device", "--device cpu"}))
        << runs[i].first;
    EXPECT_FALSE(std::filesystem::exists(dir + "/o" + std::to_string(i + 1)))
        << runs[i].first << " wrote before checking";
  }
}

}  // namespace
}  // namespace lb
