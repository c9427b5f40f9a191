// test_cli.cc: the `lightbox` binary as a user meets it, run as a child process (LB_CLI_PATH).
//
// Bad input: every mistake a user can make with a file (missing, not a zip, truncated, missing a
// key, labels or channels that do not fit the checkpoint, a checkpoint that is not a ResNet18, a
// probe input of the wrong dtype, channels or with NaN) ends with exit code 1 and exactly one
// line on stderr, starting "lightbox: error:" and naming the problem (design.md: "Bad input gets
// one clear line and a non-zero exit"). Malformed command lines are CLI11's to reject, with its
// own non-zero code.
// Happy paths, on a tiny synthetic dataset (tests/support/tiny_dataset.h) so each test takes a
// second or two: train writes its run folder; eval --run writes metrics.json (its numbers are
// consistent) and figures; compare of a checkpoint with itself has McNemar p = 1; info counts
// torchvision's parameters; probe writes tensors whose shapes, chaining (layer1's output is
// layer2's input) and input gradient (a central finite difference) are right; graph prints DOT.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/autograd.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/safetensors.h"
#include "models/checkpoint.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using Result = test::CliResult;
using test::one_error_line;
using test::quoted;

Result run(const std::string& dir, const std::string& args) { return test::run_cli(dir, args); }

// A random-init ResNet18 checkpoint (what `lightbox train` writes, minus the training).
std::string write_checkpoint(const std::string& path, int64_t in_channels = 1, const std::string& data = "") {
  Generator gen(21);
  models::ResNet18 model(in_channels, 2, gen);
  models::ModelMeta meta;
  meta.in_channels = in_channels;
  meta.image_size = 16;
  meta.class_names = {"normal", "pneumonia"};
  if (!data.empty()) meta.config = json{{"data", data}};
  models::save_checkpoint(path, model, meta);
  return path;
}

Tensor random_input(const Shape& shape, uint64_t seed, DType dtype = DType::Float32) {
  Generator gen(seed);
  return Tensor::randn(shape, gen, 0.0, 1.0, dtype);
}

// ---- bad input: one line, exit 1 -------------------------------------------------------------------

TEST(Cli, MissingDataFile) {
  const std::string dir = test::fresh_dir();
  EXPECT_TRUE(
      one_error_line(run(dir, "train --quiet --data " + dir + "/nope.npz --out " + dir + "/run"), {"nope.npz"}));
  EXPECT_FALSE(fs::exists(dir + "/run/config.json"));
  EXPECT_TRUE(one_error_line(run(dir, "eval --quiet --weights " + dir + "/nope.safetensors"), {"nope.safetensors"}));
}

TEST(Cli, NpzThatIsNotAZip) {
  const std::string dir = test::fresh_dir();
  io::write_file_atomic(dir + "/text.npz", "train_images,train_labels\n1,2,3\n");
  EXPECT_TRUE(
      one_error_line(run(dir, "train --quiet --data " + dir + "/text.npz --out " + dir + "/run"), {"text.npz"}));
}

TEST(Cli, TruncatedNpz) {
  const std::string dir = test::fresh_dir();
  const std::string whole = io::read_file(std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz");
  io::write_file_atomic(dir + "/cut.npz", whole.substr(0, 1000));
  EXPECT_TRUE(one_error_line(run(dir, "train --quiet --data " + dir + "/cut.npz --out " + dir + "/run"), {"cut.npz"}));
}

TEST(Cli, NpzMissingAKey) {
  const std::string dir = test::fresh_dir();
  auto arrays = test::tiny_arrays();
  arrays.pop_back();  // test_labels
  io::save_npz(dir + "/d.npz", arrays);
  EXPECT_TRUE(
      one_error_line(run(dir, "train --quiet --data " + dir + "/d.npz --out " + dir + "/run"), {"test_labels"}));
}

TEST(Cli, LabelsOutOfRangeForTheCheckpoint) {
  const std::string dir = test::fresh_dir();
  test::TinySpec three;
  three.num_classes = 3;  // labels 0, 1, 2
  const std::string data = test::write_tiny_dataset(dir + "/d.npz", three);
  const std::string ck = write_checkpoint(dir + "/ck.safetensors");
  EXPECT_TRUE(
      one_error_line(run(dir, "eval --quiet --weights " + ck + " --data " + data), {"labels up to 2", "2 classes"}));
}

TEST(Cli, ThreeChannelDataAgainstOneChannelCheckpoint) {
  const std::string dir = test::fresh_dir();
  test::TinySpec rgb;
  rgb.channels = 3;
  const std::string data = test::write_tiny_dataset(dir + "/d.npz", rgb);
  const std::string ck = write_checkpoint(dir + "/ck.safetensors");
  EXPECT_TRUE(one_error_line(run(dir, "eval --quiet --weights " + ck + " --data " + data), {"1-channel", "3-channel"}));
}

TEST(Cli, CheckpointThatIsNotAResNet18) {
  const std::string dir = test::fresh_dir();
  io::save_safetensors(dir + "/foo.safetensors", {{"foo", Tensor::zeros({3})}});
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string ck = dir + "/foo.safetensors";
  EXPECT_TRUE(
      one_error_line(run(dir, "eval --quiet --weights " + ck + " --data " + data), {"foo.safetensors", "ResNet18"}));
  EXPECT_TRUE(one_error_line(run(dir, "info --weights " + ck), {"ResNet18"}));
  // Right names, wrong shapes: a 3-class fc in a file that claims nothing else.
  Generator gen(0);
  models::ResNet18 three(1, 3, gen);
  auto sd = three.state_dict();
  sd.erase(sd.begin() + 3);  // bn1.running_mean
  io::save_safetensors(dir + "/partial.safetensors", sd);
  EXPECT_TRUE(one_error_line(run(dir, "info --weights " + dir + "/partial.safetensors"), {"bn1.running_mean"}));
}

// A checkpoint from another tool: ResNet18's tensors, with that tool's own free-text `arch`. It
// loads, with one note on stderr; the tensors are the truth (models/checkpoint.h).
TEST(Cli, CheckpointWithForeignArchMetadataLoadsWithANote) {
  const std::string dir = test::fresh_dir();
  Generator gen(3);
  models::ResNet18 model(1, 2, gen);
  io::save_safetensors(dir + "/other.safetensors", model.state_dict(),
                       {{"format", "pt"}, {"arch", "torchvision resnet18, conv1 1->64, fc 512->2"}});
  const std::string data = test::write_tiny_dataset(dir + "/d.npz"), ck = dir + "/other.safetensors";
  for (const std::string& cmd :
       std::vector<std::string>{"info --weights " + ck, "eval --quiet --weights " + ck + " --data " + data}) {
    const Result r = run(dir, cmd);
    EXPECT_EQ(r.code, 0) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find("lightbox: note: " + ck +
                         ": metadata arch 'torchvision resnet18, conv1 1->64, "
                         "fc 512->2' is not lightbox's 'resnet18'; ignored"),
              std::string::npos)
        << cmd << "\n"
        << r.err;
    EXPECT_EQ(r.err.find("note:"), r.err.rfind("note:")) << "the note is given once: " << r.err;
  }
}

TEST(Cli, ProbeRejectsWrongDtypeChannelsAndNaN) {
  const std::string dir = test::fresh_dir();
  const std::string ck = write_checkpoint(dir + "/ck.safetensors");
  auto probe = [&](const Tensor& x) {
    io::save_npy(dir + "/x.npy", x);
    return run(dir, "probe --weights " + ck + " --input " + dir + "/x.npy --out " + dir + "/probe");
  };
  EXPECT_TRUE(one_error_line(probe(random_input({1, 1, 16, 16}, 1, DType::Float64)), {"x.npy", "float32", "float64"}));
  EXPECT_TRUE(one_error_line(probe(random_input({1, 3, 16, 16}, 1)), {"x.npy", "(N, 1, H, W)"}));
  EXPECT_TRUE(one_error_line(probe(random_input({1, 16, 16}, 1)), {"x.npy", "(N, 1, H, W)"}));
  Tensor nan = random_input({2, 1, 16, 16}, 2);
  nan.data<float>()[300] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(one_error_line(probe(nan), {"x.npy", "NaN"}));
  EXPECT_FALSE(fs::exists(dir + "/probe/logits.npy"));
}

TEST(Cli, LibraryRejectedFlagValuesAreOneLine) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string base = "train --quiet --data " + data + " --out " + dir + "/run ";
  EXPECT_TRUE(one_error_line(run(dir, base + "--epochs 0"), {"--epochs"}));
  EXPECT_TRUE(one_error_line(run(dir, base + "--lr -0.1"), {"--lr"}));
  EXPECT_TRUE(one_error_line(run(dir, base + "--augment zoom=2"), {"--augment"}));
  EXPECT_TRUE(one_error_line(run(dir, base + "--train-only layer9 --epochs 1"), {"--train-only", "layer9"}));
  // A CUDA Graph needs a CUDA device (tests/models/test_graph_step_cuda.cc runs it on one).
  EXPECT_TRUE(one_error_line(run(dir, base + "--graph --epochs 1"), {"--graph", "--device cuda"}));
  EXPECT_FALSE(std::filesystem::exists(dir + "/run/config.json"));
  EXPECT_TRUE(one_error_line(run(dir, "bench train --graph --steps 1"), {"--graph", "--device cuda"}));
  EXPECT_TRUE(
      one_error_line(run(dir, "compare --quiet --data " + data + " " + dir + "/a.st " + dir + "/b.st"), {"a.st"}));
}

TEST(Cli, MalformedCommandLinesExitNonZeroThroughCli11) {
  const std::string dir = test::fresh_dir();
  for (const char* args : {"", "frobnicate", "train --epochs abc", "train --no-such-flag", "eval --split dev",
                           "info --size 2", "probe --weights w.safetensors", "compare onlyone"}) {
    const Result r = run(dir, args);
    EXPECT_NE(r.code, 0) << "'" << args << "' succeeded";
    EXPECT_NE(r.code, 1) << "'" << args << "' reached the library";  // CLI11's codes are 100+
    EXPECT_EQ(r.err.find("lightbox: error:"), std::string::npos) << r.err;
  }
  EXPECT_EQ(run(dir, "--help").code, 0);
  EXPECT_NE(run(dir, "--help").out.find("train"), std::string::npos);
}

// ---- happy paths -----------------------------------------------------------------------------------

TEST(Cli, TrainThenEvalWritesTheRunFolder) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string runf = dir + "/run";
  const Result t = run(dir, "train --quiet --data " + data + " --out " + runf + " --epochs 1 --batch-size 16 --seed 1");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("best checkpoint: " + runf + "/checkpoints/best.safetensors"), std::string::npos) << t.out;
  for (const char* f : {"/config.json", "/history.json", "/checkpoints/best.safetensors"})
    EXPECT_TRUE(fs::exists(runf + f)) << f;
  EXPECT_EQ(json::parse(io::read_file(runf + "/history.json")).size(), 1u);
  EXPECT_EQ(json::parse(io::read_file(runf + "/config.json")).at("data"), data);

  const Result e = run(dir, "eval --quiet --run " + runf + " --bootstrap 20");
  ASSERT_EQ(e.code, 0) << e.err;
  const std::string ev = runf + "/eval-test";
  const json m = json::parse(io::read_file(ev + "/metrics.json"));
  EXPECT_EQ(m.at("split"), "test");
  for (const char* at : {"at_0.5", "at_val_threshold"}) {
    const json& a = m.at(at);
    const double acc = a.at("metrics").at("accuracy").get<double>();
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 1.0);
    const json& cm = a.at("confusion");
    const int64_t tp = cm.at("tp"), fp = cm.at("fp"), fn = cm.at("fn"), tn = cm.at("tn");
    EXPECT_EQ(tp + fp + fn + tn, 16) << at;  // the tiny test split
    EXPECT_EQ(tp + fn, 8) << at;             // its labels alternate 0, 1: 8 positives
  }
  const double auc = m.at("at_0.5").at("auc").get<double>();
  EXPECT_GE(auc, 0.0);
  EXPECT_LE(auc, 1.0);
  for (const std::string& f : {ev + "/roc.svg", ev + "/confusion.svg", runf + "/figures/loss.svg"}) {
    ASSERT_TRUE(fs::exists(f)) << f;
    const std::string svg = io::read_file(f);
    EXPECT_NE(svg.find("<svg"), std::string::npos) << f;
    EXPECT_NE(svg.find("</svg>"), std::string::npos) << f;
  }
  EXPECT_NE(e.out.find("accuracy"), std::string::npos) << e.out;
}

// A run trained with --tta validates with those views; `eval` tests with them unless told
// otherwise, and says how many in metrics.json. The new training flags reach the run's config.
TEST(Cli, EvalTestsWithTheViewsTheRunValidatedWith) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string runf = dir + "/run";
  const Result t = run(dir, "train --quiet --data " + data + " --out " + runf +
                                " --epochs 1 --batch-size 16 --tta 5 --ema 0.9 --mix cutmix:1");
  ASSERT_EQ(t.code, 0) << t.err;
  const json cfg = json::parse(io::read_file(runf + "/config.json"));
  EXPECT_EQ(cfg.at("tta"), 5);
  EXPECT_EQ(cfg.at("ema"), 0.9);
  EXPECT_EQ(cfg.at("mix"), "cutmix:1");
  ASSERT_EQ(run(dir, "eval --quiet --run " + runf + " --bootstrap 0").code, 0);
  EXPECT_EQ(json::parse(io::read_file(runf + "/eval-test/metrics.json")).at("tta"), 5);
  const Result one = run(dir, "eval --quiet --run " + runf + " --bootstrap 0 --tta 1 --out " + dir + "/one");
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(json::parse(io::read_file(dir + "/one/metrics.json")).at("tta"), 1);
  EXPECT_TRUE(one_error_line(run(dir, "eval --quiet --run " + runf + " --tta 4"), {"--tta"}));
  // `compare` scores each checkpoint as its run was selected: with 5 views, the AUC eval reported.
  const std::string best = runf + "/checkpoints/best.safetensors";
  const Result c = run(dir, "compare --quiet --data " + data + " " + best + " " + best + " --out " + dir + "/cmp");
  ASSERT_EQ(c.code, 0) << c.err;
  const json cmp = json::parse(io::read_file(dir + "/cmp/compare.json"));
  const json ev5 = json::parse(io::read_file(runf + "/eval-test/metrics.json"));
  const json ev1 = json::parse(io::read_file(dir + "/one/metrics.json"));
  EXPECT_DOUBLE_EQ(cmp.at("delong").at("auc_a").get<double>(), ev5.at("at_0.5").at("auc").get<double>());
  // The views changed the predictions, so the equality above could fail.
  EXPECT_NE(ev5.at("at_0.5").at("auc").get<double>(), ev1.at("at_0.5").at("auc").get<double>());
  EXPECT_TRUE(
      one_error_line(run(dir, "train --quiet --data " + data + " --out " + dir + "/x --mix mixup:x"), {"--mix"}));
}

TEST(Cli, CompareACheckpointWithItselfHasMcNemarPOne) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/d.npz");
  const std::string ck = write_checkpoint(dir + "/ck.safetensors", 1, data);
  // No --data: compare takes the dataset the first checkpoint names in its config.
  const Result r = run(dir, "compare --quiet " + ck + " " + ck + " --out " + dir + "/cmp");
  ASSERT_EQ(r.code, 0) << r.err;
  const json c = json::parse(io::read_file(dir + "/cmp/compare.json"));
  EXPECT_EQ(c.at("mcnemar").at("p_value").get<double>(), 1.0);
  EXPECT_EQ(c.at("mcnemar").at("b_a_right_b_wrong"), 0);
  EXPECT_EQ(c.at("mcnemar").at("c_a_wrong_b_right"), 0);
  EXPECT_EQ(c.at("confusion_a"), c.at("confusion_b"));
  EXPECT_NE(r.out.find("p = 1\n"), std::string::npos) << r.out;
}

TEST(Cli, InfoCountsTorchvisionsParameters) {
  const std::string dir = test::fresh_dir();
  const Result r = run(dir, "info");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("11171266 parameters"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1, 512, 1, 1]"), std::string::npos) << r.out;  // layer4 at 28x28
}

TEST(Cli, ProbeWritesChainedTapsAndTheInputGradient) {
  const std::string dir = test::fresh_dir();
  const std::string ck = write_checkpoint(dir + "/ck.safetensors");
  const Tensor x = random_input({2, 1, 16, 16}, 5);
  io::save_npy(dir + "/x.npy", x);
  const std::string out = dir + "/probe";
  const Result r = run(dir, "probe --weights " + ck + " --input " + dir + "/x.npy --out " + out +
                                " --capture layer1,layer2 --backward-output 1");
  ASSERT_EQ(r.code, 0) << r.err;
  auto load = [&](const std::string& name) { return io::load_npy(out + "/" + name + ".npy"); };
  // At 16x16: conv1 8x8, maxpool 4x4, layer1 4x4, layer2 2x2.
  const std::vector<std::pair<std::string, Shape>> shapes = {{"logits", {2, 2}},
                                                             {"probs", {2, 2}},
                                                             {"input_grad", {2, 1, 16, 16}},
                                                             {"layer1.input", {2, 64, 4, 4}},
                                                             {"layer1.output", {2, 64, 4, 4}},
                                                             {"layer1.input_grad", {2, 64, 4, 4}},
                                                             {"layer1.output_grad", {2, 64, 4, 4}},
                                                             {"layer2.input", {2, 64, 4, 4}},
                                                             {"layer2.output", {2, 128, 2, 2}},
                                                             {"layer2.output_grad", {2, 128, 2, 2}}};
  for (const auto& [name, shape] : shapes) {
    ASSERT_TRUE(fs::exists(out + "/" + name + ".npy")) << name;
    EXPECT_EQ(load(name).shape(), shape) << name;
    EXPECT_EQ(load(name).dtype(), DType::Float32) << name;
  }
  EXPECT_EQ(load("layer1.output").to_vector(), load("layer2.input").to_vector());
  EXPECT_EQ(load("layer1.output_grad").to_vector(), load("layer2.input_grad").to_vector());
  const auto p = load("probs").to_vector();
  EXPECT_NEAR(p[0] + p[1], 1.0, 1e-6);  // softmax rows, float32 rounding

  // input_grad against a central difference of sum_n logit_1 on the pixel with the largest
  // gradient. In eval mode the network is piecewise linear in its input (conv, affine batch norm,
  // ReLU, max and average pooling, linear), so the difference quotient is exact but for float32
  // rounding and ReLU kinks crossed inside +-h. The logits here are ~0.2 and their partial sums ~1,
  // so each f carries ~1e-7 of rounding: / (2h = 2e-3) gives atol 5e-5. h = 1e-3 is small enough to
  // cross no kink on this input (h = 1e-2 crosses one and is off by 0.8%); rtol 0.5% is left for
  // the rounding of the gradient itself. Measured: agreement to 2e-6 on a gradient of 0.015.
  const Tensor g = load("input_grad");
  const auto gv = g.to_vector();
  int64_t at = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(gv.size()); ++i)
    if (std::fabs(gv[i]) > std::fabs(gv[at])) at = i;
  ASSERT_GT(std::fabs(gv[at]), 1e-3) << "a vanishing input gradient makes the check meaningless";
  models::Checkpoint model = models::load_checkpoint(ck);  // eval mode, as probe ran
  const double h = 1e-3;
  auto f = [&](double delta) {
    NoGradGuard no_grad;
    Tensor xp = x.clone();
    xp.data<float>()[at] += static_cast<float>(delta);
    const auto logits = (*model.model)(xp).to_vector();
    return logits[1] + logits[3];  // logit 1 of both samples
  };
  const double fd = (f(h) - f(-h)) / (2 * h);
  EXPECT_NEAR(gv[at], fd, 5e-5 + 0.005 * std::fabs(fd)) << "pixel " << at;
  // The other sample's pixels do not move sample 0's logits in eval mode, and vice versa: the
  // gradient of the batch sum is the per-sample gradient, so sample 1's copy of `at` differs.
  EXPECT_NE(gv[at], gv[(at + 256) % 512]);
}

TEST(Cli, GraphPrintsDotOfABasicBlock) {
  const std::string dir = test::fresh_dir();
  const Result r = run(dir, "graph");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string& dot = r.out;
  EXPECT_EQ(dot.rfind("digraph", 0), 0u) << dot.substr(0, 80);
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '{'), std::count(dot.begin(), dot.end(), '}'));
  EXPECT_EQ(dot.substr(dot.find_last_not_of("\n"), 1), "}");
  for (const char* part : {"conv2d", "batch_norm2d", "conv1.weight", "conv2.weight", "bn2.bias", " -> "})
    EXPECT_NE(dot.find(part), std::string::npos) << part;
  // A block's own names, as torchvision's BasicBlock has them, not a whole model's.
  EXPECT_EQ(dot.find("layer"), std::string::npos);
  const Result f = run(dir, "graph --channels 2 --size 4 --out " + dir + "/g.dot");
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(io::read_file(dir + "/g.dot").rfind("digraph", 0), 0u);
}

}  // namespace
}  // namespace lb
