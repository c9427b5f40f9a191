// test_weights.cc: ImageNet transfer learning (models/weights.h, load_imagenet) against torchvision.
//
// Why: a converted torchvision file must give torchvision's outputs in lightbox, and the grey
// adaptation of conv1 must be what it claims. ImageNet weights cannot be downloaded in the test
// environment and a full ResNet18 is 45 MB, so both sides build the same weights from a formula
// (hash of the parameter name and element index -> float32, identical bits in Python and C++; see
// tests/fixtures/make_weights_golden.py, which also checks tools/convert_weights.py's round trip).
// The references are torch's float64 results from those float32 weights; gradient tolerances
// come from how far torch's own float32 result is from them, on the inputs and on the inputs
// moved by one float32 ulp (torch_float32_error.json): train-mode batch norm makes the gradients
// reaching conv1 sensitive at the 1e-3 level, while the logits stay within 2e-5.
// Here the formula's state dict is written with io::save_safetensors and the converter's metadata,
// then loaded through load_imagenet / load_checkpoint and compared with tests/fixtures/weights/:
//   - the formula itself (per-tensor sums and first elements, params.json);
//   - 3-channel logits in eval and train mode, and gradients after one backward;
//   - the 1-channel --conv1 sum adaptation, the same outputs; mean, red and random by definition;
//   - a 2-class model: fc re-initialised like nn.Linear, everything else copied, in the report;
//   - bad files: missing keys, unexpected keys, a shape mismatch outside conv1/fc, a foreign
//     architecture, an unknown --conv1 mode: each one lb::Error, checked by substring;
//   - the trainer: --init imagenet:PATH trains, reports each adapted and re-drawn tensor, and the run's
//     config.json records conv1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/notes.h"
#include "engine/autograd.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/ops/ops.h"
#include "models/checkpoint.h"
#include "models/trainer.h"
#include "models/weights.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb::models {
namespace {

const std::string kDir = std::string(LB_FIXTURES_DIR) + "/weights/";

// ---- the formula (make_weights_golden.py's docstring) -----------------------------------------

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char b : s) h = (h ^ b) * 0x100000001B3ULL;
  return h;
}

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Tensor formula_value(const std::string& name, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0)
    return Tensor::zeros(shape, DType::Int64);
  const std::string leaf = name.substr(name.rfind('.') + 1);
  const uint64_t h = fnv1a64(name);
  Tensor t = Tensor::empty(shape, DType::Float32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double u = static_cast<double>(splitmix64(h + static_cast<uint64_t>(i)) >> 40) * 0x1p-24;
    double v = 0;
    if (leaf == "weight" && shape.size() >= 2)
      v = std::sqrt(3.0 / static_cast<double>(n / shape[0])) * (2.0 * u - 1.0);
    else if (leaf == "weight")
      v = 1.0 + 0.25 * (2.0 * u - 1.0);
    else if (leaf == "bias" || leaf == "running_mean")
      v = 0.1 * (2.0 * u - 1.0);
    else if (leaf == "running_var")
      v = 1.0 + 0.5 * u;
    else
      ADD_FAILURE() << "no formula for " << name;
    p[i] = static_cast<float>(v);
  }
  return t;
}

// torchvision resnet18's names and shapes (3 channels, 1000 classes) with the formula's values.
nn::StateDict formula_state_dict() {
  Generator gen(0);
  ResNet18 ref(3, 1000, gen);
  nn::StateDict sd;
  for (const auto& [k, t] : ref.state_dict()) sd.emplace_back(k, formula_value(k, t.shape()));
  return sd;
}

// tools/convert_weights.py's metadata for these weights (normalization string included).
std::map<std::string, std::string> converter_metadata() {
  return {{"format", "pt"},
          {"arch", "resnet18"},
          {"in_channels", "3"},
          {"num_classes", "1000"},
          {"normalization",
           nlohmann::json{
               {"mean", 0.449}, {"std", 0.226}, {"mean_rgb", {0.485, 0.456, 0.406}}, {"std_rgb", {0.229, 0.224, 0.225}}}
               .dump()},
          {"image_size", "224"},
          {"source", "test_weights formula"}};
}

std::string write_file(const nn::StateDict& sd, const std::string& tag,
                       const std::map<std::string, std::string>& md = converter_metadata()) {
  const std::string path = test::fresh_dir(tag) + "/weights.safetensors";
  io::save_safetensors(path, sd, md);
  return path;
}

Tensor golden(const std::string& name) { return io::load_npy(kDir + name + ".npy"); }

Tensor grad_of(const ResNet18& m, const std::string& name) {
  for (const auto& [k, t] : m.named_parameters())
    if (k == name) return t.grad();
  ADD_FAILURE() << "no parameter " << name;
  return Tensor();
}

Tensor state_of(const ResNet18& m, const std::string& name) {
  for (const auto& [k, t] : m.state_dict())
    if (k == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return Tensor();
}

// How far torch's own float32 computation lands from the float64 reference, per golden file (the
// worst of the inputs and the inputs scaled by 1 +- 1e-7).
double torch_float32_error(const std::string& name) {
  static const nlohmann::json errors = [] {
    std::ifstream f(kDir + "torch_float32_error.json");
    EXPECT_TRUE(f.good()) << "missing torch_float32_error.json (run make_weights_golden.py)";
    return f.good() ? nlohmann::json::parse(f) : nlohmann::json::object();
  }();
  EXPECT_TRUE(errors.contains(name)) << name;
  return errors.value(name, 0.0);
}

// The gradient tolerance for a golden file: lightbox must land as close to torch's float64
// reference as torch's own float32 does, with a factor 2 for a different summation order, and
// never tighter than 1e-5 absolute (float32 rounding of O(1) gradients summed over a batch of 8).
double grad_tol(const std::string& name) { return 1e-5 + 2 * torch_float32_error(name); }

// Eval logits, then train logits and the gradients of mean cross_entropy, against make_weights_golden.py.
void expect_torchvision_outputs(ResNet18& m, const std::string& prefix) {
  const Tensor x = golden(prefix == "rgb" ? "x_rgb" : "x_grey");
  m.eval();
  {
    NoGradGuard ng;
    // Logits are O(1) (range about -2..2); torch's float32 logits are within 2e-5 of its float64
    // reference (torch_float32_error.json), so 1e-4 absolute covers any float32 summation order.
    LB_EXPECT_CLOSE(m(x), golden(prefix + "_eval"), 1e-4, 0);
  }
  m.train();
  m.zero_grad();
  const Tensor logits = m(x);
  LB_EXPECT_CLOSE(logits, golden(prefix + "_train"), 1e-4, 0);  // as above; train-mode BN included
  autograd::backward({cross_entropy(logits, golden("target"))});
  // Every parameter (grad_params.json, written by the script): small ones in full, large ones by
  // sums and two 64-element slices.
  const nlohmann::json lists = nlohmann::json::parse(io::read_file(kDir + "grad_params.json"));
  ASSERT_EQ(lists["small"].size() + lists["big"].size(), m.named_parameters().size());
  for (const std::string& p : lists["small"].get<std::vector<std::string>>()) {
    const std::string name = prefix + "_grad_" + p;
    LB_EXPECT_CLOSE(grad_of(m, p), golden(name), grad_tol(name), 0) << p;
  }
  for (const std::string& p : lists["big"].get<std::vector<std::string>>()) {
    const Tensor g = grad_of(m, p);
    const float* d = g.data_ptr<float>();
    const int64_t n = g.numel(), mid = n / 2;
    double sum = 0, abssum = 0;
    for (int64_t i = 0; i < n; ++i) sum += d[i], abssum += std::abs(d[i]);
    const std::string base = prefix + "_grad_" + p;
    const double want_abs = golden(base + ".abssum").item();
    // Sums over up to 512000 elements: torch's float32 error on the sum (x2), plus 1e-5 of the sum
    // of magnitudes for the per-element float32 rounding that a different order adds up.
    EXPECT_NEAR(sum, golden(base + ".sum").item(), 2 * torch_float32_error(base + ".sum") + 1e-5 * want_abs) << p;
    EXPECT_NEAR(abssum, want_abs, 2 * torch_float32_error(base + ".abssum") + 1e-5 * want_abs) << p;
    const Tensor head = golden(base + ".head"), mids = golden(base + ".mid");
    const float *h = head.data_ptr<float>(), *md = mids.data_ptr<float>();
    for (int64_t i = 0; i < 64; ++i) {
      EXPECT_NEAR(d[i], h[i], grad_tol(base + ".head")) << p << "[" << i << "]";
      EXPECT_NEAR(d[mid + i], md[i], grad_tol(base + ".mid")) << p << "[" << mid + i << "]";
    }
  }
}

std::string error_of(ResNet18& m, const std::string& path, const std::string& mode = "sum") {
  Generator gen(1);
  try {
    load_imagenet(m, path, mode, gen);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- the formula and the parity ---------------------------------------------------------------

TEST(Weights, FormulaMatchesPython) {
  std::ifstream f(kDir + "params.json");
  ASSERT_TRUE(f.good()) << "missing tests/fixtures/weights (run make_weights_golden.py)";
  const nlohmann::json want = nlohmann::json::parse(f);
  const nn::StateDict sd = formula_state_dict();
  ASSERT_EQ(want.size(), sd.size());
  for (const auto& [k, t] : sd) {
    ASSERT_TRUE(want.contains(k)) << k;
    const Tensor d = t.to(DType::Float32);
    const float* v = d.data_ptr<float>();
    double sum = 0;
    for (int64_t i = 0; i < d.numel(); ++i) sum += v[i];
    // The elements are bit-identical; only the float64 summation order differs (1e-12 relative).
    EXPECT_NEAR(sum, want[k]["sum"].get<double>(), 1e-9 * (1 + std::abs(sum))) << k;
    EXPECT_EQ(static_cast<double>(v[0]), want[k]["first"].get<double>()) << k;  // exact: same bits
  }
}

TEST(Weights, RgbModelMatchesTorchvision) {
  const std::string path = write_file(formula_state_dict(), "rgb");
  Generator gen(0);
  ResNet18 m(3, 1000, gen);
  const InitReport r = load_imagenet(m, path, "sum", gen);
  EXPECT_TRUE(r.adapted.empty());  // 3 channels, 1000 classes: nothing to adapt
  EXPECT_TRUE(r.reinitialised.empty());
  expect_torchvision_outputs(m, "rgb");
}

TEST(Weights, LoadCheckpointReadsConvertedFile) {
  const std::string path = write_file(formula_state_dict(), "ckpt");
  Checkpoint ck = load_checkpoint(path);
  EXPECT_EQ(ck.meta.in_channels, 3);
  EXPECT_EQ(ck.meta.num_classes, 1000);
  EXPECT_DOUBLE_EQ(ck.meta.norm.mean, 0.449);  // the scalar pair; the RGB lists ride along
  EXPECT_DOUBLE_EQ(ck.meta.norm.std, 0.226);
  expect_torchvision_outputs(*ck.model, "rgb");
}

TEST(Weights, GreySumAdaptationMatchesTorchvision) {
  const std::string path = write_file(formula_state_dict(), "grey");
  Generator gen(0);
  ResNet18 m(1, 1000, gen);
  const InitReport r = load_imagenet(m, path, "sum", gen);
  EXPECT_EQ(r.adapted, std::vector<std::string>{"conv1.weight"});
  EXPECT_TRUE(r.reinitialised.empty());
  expect_torchvision_outputs(m, "grey");
}

TEST(Weights, Conv1ModesFollowTheirDefinitions) {
  const nn::StateDict sd = formula_state_dict();
  const std::string path = write_file(sd, "modes");
  const Tensor rgb = sd.front().second;  // conv1.weight (64, 3, 7, 7)
  ASSERT_EQ(sd.front().first, "conv1.weight");
  const float* w = rgb.data_ptr<float>();
  for (const std::string mode : {"sum", "mean", "red"}) {
    Generator gen(0);
    ResNet18 m(1, 1000, gen);
    load_imagenet(m, path, mode, gen);
    const Tensor got = state_of(m, "conv1.weight");
    ASSERT_EQ(got.shape(), (Shape{64, 1, 7, 7}));
    const float* g = got.data_ptr<float>();
    for (int64_t k = 0; k < 64; ++k)
      for (int64_t i = 0; i < 49; ++i) {
        const double r = w[(k * 3) * 49 + i], gr = w[(k * 3 + 1) * 49 + i], b = w[(k * 3 + 2) * 49 + i];
        const double want = mode == "red" ? r : mode == "sum" ? r + gr + b : (r + gr + b) / 3;
        // Computed in float64, rounded once to float32: within float32 rounding of the exact value.
        ASSERT_NEAR(g[k * 49 + i], want, 1e-6 * (1 + std::abs(want))) << mode << " " << k << "," << i;
      }
  }
  for (int64_t channels : {1, 3}) {  // random keeps the seed's kaiming init, for grey and RGB alike
    Generator gen(5);
    ResNet18 m(channels, 1000, gen);
    const Tensor before = state_of(m, "conv1.weight").clone();
    const InitReport r = load_imagenet(m, path, "random", gen);
    EXPECT_EQ(r.reinitialised, std::vector<std::string>{"conv1.weight"});
    EXPECT_TRUE(r.adapted.empty());
    LB_EXPECT_CLOSE(state_of(m, "conv1.weight"), before, 0, 0);                                // untouched, bit for bit
    LB_EXPECT_CLOSE(state_of(m, "layer1.0.conv1.weight"), sd[6].second, 0, 0) << sd[6].first;  // the rest loads
  }
}

TEST(Weights, NewClassCountReinitialisesTheHead) {
  const nn::StateDict sd = formula_state_dict();
  const std::string path = write_file(sd, "head");
  Generator gen(7);
  ResNet18 m(1, 2, gen);
  const InitReport r = load_imagenet(m, path, "sum", gen);
  EXPECT_EQ(r.reinitialised, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_EQ(r.adapted, std::vector<std::string>{"conv1.weight"});
  // nn.Linear's default: everything within U(-1/sqrt(512), 1/sqrt(512)), not all zero.
  const double bound = 1.0 / std::sqrt(512.0);
  for (const char* k : {"fc.weight", "fc.bias"}) {
    const Tensor t = state_of(m, k);
    double maxabs = 0;
    for (int64_t i = 0; i < t.numel(); ++i)
      maxabs = std::max(maxabs, std::abs(static_cast<double>(t.data_ptr<float>()[i])));
    EXPECT_LE(maxabs, bound) << k;
    EXPECT_GT(maxabs, 0.5 * bound) << k;  // 1024 draws: the largest is near the bound
  }
  // Every other tensor is the file's, bit for bit.
  for (const auto& [k, t] : sd) {
    if (k != "conv1.weight" && k != "fc.weight" && k != "fc.bias") {
      LB_EXPECT_CLOSE(state_of(m, k), t, 0, 0) << k;
    }
  }
  // The same seed gives the same head.
  Generator gen2(7);
  ResNet18 m2(1, 2, gen2);
  load_imagenet(m2, path, "sum", gen2);
  LB_EXPECT_CLOSE(state_of(m2, "fc.weight"), state_of(m, "fc.weight"), 0, 0);
}

// ---- bad input ----------------------------------------------------------------------------------

TEST(Weights, MissingKeysAreListed) {
  nn::StateDict sd;
  for (auto& [k, t] : formula_state_dict())
    if (k.rfind("layer4.1.", 0) != 0) sd.emplace_back(k, t);  // a shorter network
  const std::string path = write_file(sd, "missing");
  Generator gen(0);
  ResNet18 m(1, 2, gen);
  const Tensor before = state_of(m, "layer1.0.conv1.weight").clone();
  const std::string e = error_of(m, path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("missing keys"), std::string::npos) << e;
  EXPECT_NE(e.find("layer4.1.conv1.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("layer4.1.bn2.running_var"), std::string::npos) << e;
  LB_EXPECT_CLOSE(state_of(m, "layer1.0.conv1.weight"), before, 0, 0);  // a failed load writes nothing
}

TEST(Weights, UnexpectedKeysAreListed) {
  nn::StateDict sd = formula_state_dict();
  sd.emplace_back("layer5.0.conv1.weight", Tensor::zeros({4, 4, 3, 3}));
  sd.emplace_back("head.weight", Tensor::zeros({2, 2}));
  const std::string path = write_file(sd, "unexpected");
  Generator gen(0);
  ResNet18 m(1, 2, gen);
  const std::string e = error_of(m, path);
  EXPECT_NE(e.find("unexpected keys"), std::string::npos) << e;
  EXPECT_NE(e.find("layer5.0.conv1.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("head.weight"), std::string::npos) << e;
}

TEST(Weights, ShapeMismatchOutsideConv1AndFcNamesBothShapes) {
  nn::StateDict sd = formula_state_dict();
  for (auto& [k, t] : sd)
    if (k == "layer2.0.conv1.weight") t = Tensor::zeros({128, 64, 5, 5});
  const std::string path = write_file(sd, "shape");
  Generator gen(0);
  ResNet18 m(1, 2, gen);
  const std::string e = error_of(m, path);
  EXPECT_NE(e.find("layer2.0.conv1.weight"), std::string::npos) << e;
  EXPECT_NE(e.find(shape_str({128, 64, 5, 5})), std::string::npos) << e;
  EXPECT_NE(e.find(shape_str({128, 64, 3, 3})), std::string::npos) << e;
  // fc with a different input width is a mismatch too, not a new head.
  nn::StateDict sd2 = formula_state_dict();
  for (auto& [k, t] : sd2)
    if (k == "fc.weight") t = Tensor::zeros({1000, 256});
  const std::string e2 = error_of(m, write_file(sd2, "fcshape"));
  EXPECT_NE(e2.find("fc.weight"), std::string::npos) << e2;
  EXPECT_NE(e2.find(shape_str({1000, 256})), std::string::npos) << e2;
}

// Collects lb::note calls (base/notes.h) for the life of a scope.
struct NoteCollector {
  std::vector<std::string> notes;
  NoteHandler previous = set_note_handler([this](const std::string& t) { notes.push_back(t); });
  ~NoteCollector() { set_note_handler(previous); }
};

TEST(Weights, ForeignArchMetadataIsNotedWhenEveryTensorMatches) {
  Generator gen(0);
  ResNet18 m(1, 1000, gen);
  auto md = converter_metadata();
  md["arch"] = "torchvision resnet18, conv1 3->64, fc 512->1000";  // another tool's free text
  const std::string path = write_file(formula_state_dict(), "archtext", md);
  NoteCollector c;
  load_imagenet(m, path, "sum", gen);
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("metadata arch 'torchvision resnet18, conv1 3->64, fc 512->1000'"), std::string::npos)
      << c.notes[0];
  EXPECT_NE(c.notes[0].find("every tensor matches"), std::string::npos) << c.notes[0];
  expect_torchvision_outputs(m, "grey");  // the weights went in as with lightbox's own metadata
}

TEST(Weights, ForeignArchWithForeignTensorsAndUnknownModeAreRefused) {
  const std::string path = write_file(formula_state_dict(), "arch");
  Generator gen(0);
  ResNet18 m(1, 2, gen);
  const std::string e = error_of(m, path, "green");
  EXPECT_NE(e.find("--conv1 must be sum, mean, red or random, got 'green'"), std::string::npos) << e;
  // A file whose tensors are not ResNet18's is refused whatever its metadata says, and the error
  // names the first mismatched key with both shapes, and the architecture the metadata claims.
  auto md = converter_metadata();
  md["arch"] = "resnet50";
  nn::StateDict sd = formula_state_dict();
  for (auto& [k, t] : sd)
    if (k == "layer1.0.conv1.weight") t = Tensor::zeros({64, 64, 1, 1});
  NoteCollector c;
  const std::string e2 = error_of(m, write_file(sd, "arch50", md));
  EXPECT_NE(e2.find("layer1.0.conv1.weight: checkpoint has " + shape_str({64, 64, 1, 1}) + ", model has " +
                    shape_str({64, 64, 3, 3})),
            std::string::npos)
      << e2;
  EXPECT_NE(e2.find("'resnet50'"), std::string::npos) << e2;
  EXPECT_TRUE(c.notes.empty());  // no "ignored" note for a file that did not load
  // A 3-channel file into a 2-channel model has no defined adaptation.
  ResNet18 two(2, 2, gen);
  const std::string e3 = error_of(two, path);
  EXPECT_NE(e3.find("only a 1-channel model is adapted"), std::string::npos) << e3;
}

TEST(Weights, CheckpointWithForeignMetadataLoadsWithOneNoteEach) {
  auto md = converter_metadata();
  md["arch"] = "torchvision resnet18, conv1 1->64, fc 512->2";
  md["normalization"] = "ImageNet mean/std";  // prose, not lightbox's JSON
  md["image_size"] = "28px";
  const std::string path = write_file(formula_state_dict(), "ckforeign", md);
  NoteCollector c;
  const Checkpoint ck = load_checkpoint(path);
  EXPECT_EQ(ck.meta.arch, "resnet18");
  EXPECT_DOUBLE_EQ(ck.meta.norm.mean, 0.5);  // the defaults, as the notes say
  EXPECT_DOUBLE_EQ(ck.meta.norm.std, 0.5);
  EXPECT_EQ(ck.meta.image_size, 28);
  ASSERT_EQ(c.notes.size(), 3u);
  EXPECT_NE(c.notes[0].find("metadata normalization 'ImageNet mean/std' is not lightbox's"), std::string::npos)
      << c.notes[0];
  EXPECT_NE(c.notes[1].find("metadata image_size '28px'"), std::string::npos) << c.notes[1];
  EXPECT_NE(c.notes[2].find("metadata arch 'torchvision resnet18"), std::string::npos) << c.notes[2];
  expect_torchvision_outputs(*ck.model, "rgb");
}

TEST(Weights, CheckpointWithMismatchedTensorIsRefusedNamingKeyAndShapes) {
  auto md = converter_metadata();
  md["arch"] = "my resnet";
  nn::StateDict sd = formula_state_dict();
  for (auto& [k, t] : sd)
    if (k == "layer3.1.bn2.running_var") t = Tensor::zeros({128});
  const std::string path = write_file(sd, "ckbad", md);
  NoteCollector c;
  try {
    load_checkpoint(path);
    ADD_FAILURE() << "a checkpoint with a 128-entry layer3.1.bn2.running_var loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(
        msg.find("layer3.1.bn2.running_var: checkpoint has " + shape_str({128}) + ", model has " + shape_str({256})),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find("'my resnet'"), std::string::npos) << msg;
  }
  EXPECT_TRUE(c.notes.empty());
}

// ---- the trainer --------------------------------------------------------------------------------

TEST(Weights, TrainerInitialisesFromImagenet) {
  const std::string dir = test::fresh_dir("train");
  TrainConfig c;
  c.data = test::write_tiny_dataset(dir + "/tiny.npz");
  c.out = dir + "/run";
  c.init = "imagenet:" + write_file(formula_state_dict(), "trainfile");
  c.conv1 = "mean";
  c.epochs = 1;
  c.batch_size = 16;
  c.train_only = "fc";
  // The trainer reports what it adapted and what it drew afresh (tools/cli/train_printer.cc
  // prints it).
  struct InitSeen : TrainObserver {
    InitReport report;
    std::string conv1;
    int64_t in_channels = 0;
    void imagenet_init(const InitReport& r, const std::string& mode, int64_t channels) override {
      report = r;
      conv1 = mode;
      in_channels = channels;
    }
  } seen;
  const TrainResult r = train_model(c, &seen);
  EXPECT_EQ(r.history.size(), 1u);
  EXPECT_EQ(seen.report.adapted, std::vector<std::string>{"conv1.weight"});
  EXPECT_EQ(seen.conv1, "mean");
  EXPECT_EQ(seen.in_channels, 1);
  for (const char* name : {"fc.weight", "fc.bias"})
    EXPECT_NE(std::find(seen.report.reinitialised.begin(), seen.report.reinitialised.end(), name),
              seen.report.reinitialised.end())
        << name;
  const auto cfg = nlohmann::json::parse(io::read_file(c.out + "/config.json"));
  EXPECT_EQ(cfg.at("conv1"), "mean");
  EXPECT_EQ(TrainConfig::from_json(cfg).conv1, "mean");
  // The frozen backbone is ImageNet's: the best checkpoint's layer3 is the file's, bit for bit.
  Checkpoint ck = load_checkpoint(r.best_path);
  for (const auto& [k, t] : formula_state_dict()) {
    if (k == "layer3.1.conv2.weight") {
      LB_EXPECT_CLOSE(state_of(*ck.model, k), t, 0, 0) << k;
    }
  }

  TrainConfig bad = c;
  bad.conv1 = "blue";
  bad.out = dir + "/bad";
  try {
    train_model(bad);
    ADD_FAILURE() << "--conv1 blue was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--conv1 must be"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lb::models
