// test_data.cc: the data path from .npz to model-space batches (engine/data/): MedMNIST
// loading and validation, augmentation, and the prefetching loader.
//
// MedMnist: the shipped PneumoniaMNIST file has the official split sizes and class counts
//   (MedMNIST v2, Yang et al. 2023, table of PneumoniaMNIST: 4708 / 524 / 624); the model-space
//   transform is (pixel / 255 - mean) / std bit for bit; every malformed file is one clear line.
// Augment: per-sample determinism from (seed, epoch, index), what each transform may do to a
//   single bright pixel, the [0, 1] clamp, hflip off unless asked, and the --augment parser; the
//   warp against torch's affine_grid + grid_sample (golden augment_warp_zero / _border), the
//   border fill, sub-pixel translate, and specs without the new keys drawing what they always drew.
// Loader: each epoch is a permutation of the split drawn from (seed, epoch) alone, batches have
//   the right shapes and contents, and stopping an epoch early (restart, destruction) never hangs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <future>
#include <iostream>
#include <set>

#include "engine/data/loader.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb::data {
namespace {

using lb::test::error_of;

using Arrays = std::vector<std::pair<std::string, Tensor>>;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A load of `arrays` must fail with one line that contains every one of `parts`.
void expect_load_error(const Arrays& arrays, const std::vector<std::string>& parts) {
  const std::string path = test::fresh_dir() + "/bad.npz";
  io::save_npz(path, arrays);
  const std::string msg = error_of([&] { load_medmnist(path); });
  ASSERT_FALSE(msg.empty()) << "the file loaded";
  EXPECT_FALSE(contains(msg, "\n")) << "not one line: " << msg;
  EXPECT_TRUE(contains(msg, path)) << "does not name the file: " << msg;
  for (const auto& p : parts) EXPECT_TRUE(contains(msg, p)) << "'" << p << "' missing from: " << msg;
}

Tensor& array(Arrays& a, const std::string& key) {
  for (auto& [k, t] : a)
    if (k == key) return t;
  throw std::runtime_error("no array " + key);
}

// Runs f on another thread and aborts the test binary if it has not finished in `seconds`: a
// deadlocked loader would otherwise hang the suite until ctest's much longer timeout.
void within_seconds(double seconds, const std::function<void()>& f) {
  auto done = std::async(std::launch::async, f);
  if (done.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready) {
    std::cerr << "deadlock: the loader did not finish within " << seconds << " s\n";
    std::abort();
  }
  done.get();
}

// ---- MedMnist -------------------------------------------------------------------------------------

TEST(MedMnist, ShippedPneumoniaMnistHasTheOfficialSplits) {
  const Dataset ds = load_medmnist(std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz");
  EXPECT_EQ(ds.num_classes, 2);
  EXPECT_EQ(ds.train.size(), 4708);
  EXPECT_EQ(ds.val.size(), 524);
  EXPECT_EQ(ds.test.size(), 624);
  EXPECT_EQ(ds.train.images.shape(), (Shape{4708, 28, 28, 1}));
  EXPECT_EQ(ds.train.labels.shape(), (Shape{4708}));
  EXPECT_EQ(ds.train.class_counts(2), (std::vector<int64_t>{1214, 3494}));
  EXPECT_EQ(ds.val.class_counts(2), (std::vector<int64_t>{135, 389}));
  EXPECT_EQ(ds.test.class_counts(2), (std::vector<int64_t>{234, 390}));
  EXPECT_EQ(&ds.split("val"), &ds.val);
  EXPECT_TRUE(contains(error_of([&] { ds.split("dev"); }), "train, val or test"));
}

TEST(MedMnist, ToModelSpaceIsPixelOver255MinusMeanOverStd) {
  const Dataset ds = load_medmnist(std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz");
  const std::vector<int64_t> idx = {0, 4707, 17};
  const Tensor x = to_model_space(ds.train, idx, Normalization{});
  ASSERT_EQ(x.shape(), (Shape{3, 1, 28, 28}));
  const uint8_t* px = ds.train.images.data<uint8_t>();
  const float* v = x.data<float>();
  for (size_t b = 0; b < idx.size(); ++b)
    for (int64_t i : {0, 1, 27, 28 * 14 + 14, 28 * 28 - 1}) {
      const uint8_t p = px[idx[b] * 784 + i];
      // Exactly the float32 evaluation of (p / 255 - 0.5) / 0.5: dividing by 0.5 and multiplying
      // by its exact inverse 2 give the same float.
      EXPECT_EQ(v[b * 784 + i], (static_cast<float>(p) / 255.0f - 0.5f) / 0.5f) << "pixel " << i;
    }
  // Another mean/std: 2 float roundings (p/255 and the scaling) of values up to ~3: 1e-6.
  const Tensor y = to_model_space(ds.train, {5}, Normalization{0.2, 0.3});
  for (int64_t i = 0; i < 784; i += 97) EXPECT_NEAR(y.data<float>()[i], (px[5 * 784 + i] / 255.0 - 0.2) / 0.3, 1e-6);
  EXPECT_THROW(to_model_space(ds.train, {4708}, Normalization{}), Error);
}

TEST(MedMnist, RgbImagesBecomeChannelPlanes) {
  test::TinySpec spec;
  spec.channels = 3;
  const std::string path = test::write_tiny_dataset(test::fresh_dir() + "/rgb.npz", spec);
  const Dataset ds = load_medmnist(path);
  EXPECT_EQ(ds.train.channels(), 3);
  const Tensor x = to_model_space(ds.train, {1}, Normalization{0.0, 1.0});  // plain pixel / 255
  ASSERT_EQ(x.shape(), (Shape{1, 3, 16, 16}));
  const uint8_t* px = ds.train.images.data<uint8_t>() + 16 * 16 * 3;  // image 1, (H, W, C)
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i : {0, 37, 255}) EXPECT_EQ(x.data<float>()[c * 256 + i], px[i * 3 + c] / 255.0f);
}

TEST(MedMnist, MissingKeyIsOneClearLine) {
  Arrays a = test::tiny_arrays();
  a.erase(a.begin() + 3);  // val_labels
  expect_load_error(a, {"missing array 'val_labels'"});
}

TEST(MedMnist, FloatImagesAreRefused) {
  Arrays a = test::tiny_arrays();
  array(a, "train_images") = array(a, "train_images").to(DType::Float32);
  expect_load_error(a, {"train_images", "uint8", "float32"});
}

TEST(MedMnist, ImagesOfRankTwoAreRefused) {
  Arrays a = test::tiny_arrays();
  array(a, "test_images") = array(a, "test_images").view({16, 256});
  expect_load_error(a, {"test_images", "(N, H, W)", "[16, 256]"});
}

TEST(MedMnist, LabelCountMustMatchImageCount) {
  Arrays a = test::tiny_arrays();
  array(a, "train_labels") = array(a, "train_labels").slice0(0, 47).clone();
  expect_load_error(a, {"48 train images but 47 labels"});
}

TEST(MedMnist, NegativeLabelIsRefused) {
  Arrays a = test::tiny_arrays();
  Tensor l = array(a, "val_labels").to(DType::Int64);
  l.data<int64_t>()[5] = -1;
  array(a, "val_labels") = l;
  expect_load_error(a, {"val_labels", "negative", "row 5"});
}

TEST(MedMnist, ValImageSizeMustMatchTrain) {
  test::TinySpec big;
  big.size = 20;
  Arrays a = test::tiny_arrays(), b = test::tiny_arrays(big);
  array(a, "val_images") = array(b, "val_images");
  expect_load_error(a, {"val images [16, 20, 20, 1]", "train images [48, 16, 16, 1]"});
}

TEST(MedMnist, TaskFollowsTheLabels) {
  const std::string dir = test::fresh_dir();
  test::TinySpec three, chest;
  three.num_classes = 3;
  chest.num_classes = 14;
  chest.multilabel = true;
  const Dataset binary = load_medmnist(test::write_tiny_dataset(dir + "/b.npz"));
  const Dataset multi = load_medmnist(test::write_tiny_dataset(dir + "/m.npz", three));
  const Dataset labels = load_medmnist(test::write_tiny_dataset(dir + "/l.npz", chest));
  EXPECT_EQ(binary.task, Task::Binary);
  EXPECT_EQ(multi.task, Task::MultiClass);
  EXPECT_EQ(multi.num_classes, 3);
  EXPECT_EQ(labels.task, Task::MultiLabel);
  EXPECT_EQ(labels.num_classes, 14);
  EXPECT_TRUE(labels.test.multilabel());
  EXPECT_EQ(labels.test.labels.shape(), (Shape{16, 14}));
  EXPECT_STREQ(task_name(labels.task), "multi-label, binary-class");
  for (Task t : {Task::Binary, Task::MultiClass, Task::MultiLabel}) EXPECT_EQ(parse_task(task_name(t)), t);
  EXPECT_THROW(parse_task("regression"), Error);
}

TEST(MedMnist, MultiLabelFlagsGatherAndCountPerLabel) {
  test::TinySpec chest;
  chest.num_classes = 14;
  chest.multilabel = true;
  const Dataset d = load_medmnist(test::write_tiny_dataset(test::fresh_dir() + "/chest.npz", chest));
  const Tensor y = gather_labels(d.val, {3, 0});
  ASSERT_EQ(y.shape(), (Shape{2, 14}));
  for (int64_t k = 0; k < 14; ++k) {
    EXPECT_EQ(y.data<int64_t>()[k], d.val.labels.data<int64_t>()[3 * 14 + k]);
    EXPECT_EQ(y.data<int64_t>()[14 + k], d.val.labels.data<int64_t>()[k]);
  }
  const std::vector<int64_t> counts = d.val.class_counts(14);
  for (int64_t k = 0; k < 14; ++k) {
    int64_t want = 0;
    for (int64_t i = 0; i < d.val.size(); ++i) want += d.val.labels.data<int64_t>()[i * 14 + k];
    EXPECT_EQ(counts[k], want) << "label " << k;
    EXPECT_GT(counts[k], 0);
    EXPECT_LT(counts[k], d.val.size());
  }
  EXPECT_THROW(gather_labels(d.val, {16}), Error);
}

TEST(MedMnist, MultiLabelFlagsMustBeZeroOrOne) {
  Arrays a = test::tiny_arrays();
  Tensor l = Tensor::zeros({48, 14}, DType::UInt8);
  l.data<uint8_t>()[2 * 14 + 5] = 2;
  array(a, "train_labels") = l;
  expect_load_error(a, {"train_labels", "label 5 of row 2 is 2", "0 or 1"});
}

TEST(MedMnist, SplitsMustShareTheLabelLayout) {
  Arrays a = test::tiny_arrays();
  array(a, "train_labels") = Tensor::zeros({48, 14}, DType::UInt8);  // ChestMNIST's shape, val is (16, 1)
  expect_load_error(a, {"val labels [16]", "train labels [48, 14]", "same label layout"});
}

// ---- Augment ---------------------------------------------------------------------------------------

TEST(Augment, SameSeedEpochIndexGivesTheSameImage) {
  const Dataset ds = load_medmnist(test::write_tiny_dataset(test::fresh_dir() + "/d.npz"));
  const AugmentConfig light = parse_augment("light");
  const std::vector<int64_t> idx = {3, 4, 5};
  const Tensor a = to_model_space(ds.train, idx, {}, &light, 42, 1);
  const Tensor b = to_model_space(ds.train, idx, {}, &light, 42, 1);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  // Independent of batch mates: sample 4 alone gets the same augmentation.
  const Tensor alone = to_model_space(ds.train, {4}, {}, &light, 42, 1);
  const auto av = a.to_vector(), lv = alone.to_vector();
  EXPECT_TRUE(std::equal(lv.begin(), lv.end(), av.begin() + 256));
  // Another epoch, seed or plain (no augmentation) differ.
  EXPECT_NE(to_model_space(ds.train, idx, {}, &light, 42, 2).to_vector(), a.to_vector());
  EXPECT_NE(to_model_space(ds.train, idx, {}, &light, 43, 1).to_vector(), a.to_vector());
  EXPECT_NE(to_model_space(ds.train, idx, {}).to_vector(), a.to_vector());
  EXPECT_NE(sample_seed(42, 1, 4), sample_seed(42, 4, 1));  // epoch and index do not commute
}

TEST(Augment, ShiftMovesABrightPixelByAtMostShift) {
  AugmentConfig a;
  a.shift = 2;
  std::set<std::pair<int64_t, int64_t>> offsets;
  std::vector<float> img(16 * 16), scratch(16 * 16);
  for (uint64_t s = 0; s < 300; ++s) {
    std::fill(img.begin(), img.end(), 0.0f);
    img[8 * 16 + 7] = 1.0f;
    Generator gen(sample_seed(s, 0, 0));
    augment_image(img.data(), 1, 16, 16, a, gen, scratch.data());
    // An integer shift with no rotation moves the pixel whole: exactly one pixel is 1, the rest 0.
    int64_t ones = 0, at = -1;
    for (int64_t i = 0; i < 256; ++i) {
      if (img[i] == 1.0f) {
        ++ones;
        at = i;
      } else {
        EXPECT_EQ(img[i], 0.0f);
      }
    }
    ASSERT_EQ(ones, 1) << "seed " << s;
    const int64_t dy = at / 16 - 8, dx = at % 16 - 7;
    EXPECT_LE(std::abs(dy), 2);
    EXPECT_LE(std::abs(dx), 2);
    offsets.insert({dy, dx});
  }
  // The seeds are fixed, so this is deterministic: 300 draws reach all 25 offsets in [-2, 2]^2.
  EXPECT_EQ(offsets.size(), 25u);
}

TEST(Augment, HflipIsOffUnlessAsked) {
  EXPECT_FALSE(AugmentConfig{}.hflip);
  EXPECT_FALSE(parse_augment("light").hflip);
  // With hflip=1 alone, each image is either untouched or exactly mirrored, and both happen.
  const AugmentConfig a = parse_augment("hflip=1");
  int flipped = 0, kept = 0;
  std::vector<float> img(4 * 5), scratch(4 * 5);
  for (uint64_t s = 0; s < 40; ++s) {
    for (int i = 0; i < 20; ++i) img[i] = i / 20.0f;
    Generator gen(s);
    augment_image(img.data(), 1, 4, 5, a, gen, scratch.data());
    bool same = true, mirror = true;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 5; ++x) {
        same &= img[y * 5 + x] == (y * 5 + x) / 20.0f;
        mirror &= img[y * 5 + x] == (y * 5 + 4 - x) / 20.0f;
      }
    ASSERT_TRUE(same || mirror) << "seed " << s;
    flipped += mirror;
    kept += same;
  }
  EXPECT_GT(flipped, 5);
  EXPECT_GT(kept, 5);
}

TEST(Augment, ValuesStayInTheUnitInterval) {
  const AugmentConfig a = parse_augment("shift=3,rotate=30,brightness=0.5,contrast=0.9");
  std::vector<float> img(3 * 12 * 12), scratch(img.size());
  bool moved = false;
  for (uint64_t s = 0; s < 50; ++s) {
    Generator fill(1000 + s), gen(s);
    for (float& v : img) v = static_cast<float>(fill.uniform());
    const std::vector<float> before = img;
    augment_image(img.data(), 3, 12, 12, a, gen, scratch.data());
    for (float v : img) {
      ASSERT_GE(v, 0.0f);
      ASSERT_LE(v, 1.0f);
    }
    moved |= img != before;
  }
  EXPECT_TRUE(moved);
}

TEST(Augment, ParsesPresetsAndKeyValueLists) {
  EXPECT_FALSE(parse_augment("none").enabled());
  EXPECT_FALSE(parse_augment("").enabled());
  const AugmentConfig light = parse_augment("light");
  EXPECT_EQ(light.shift, 2);
  EXPECT_EQ(light.rotate, 10.0);
  EXPECT_EQ(light.brightness, 0.1);
  EXPECT_EQ(light.contrast, 0.1);
  const AugmentConfig c = parse_augment("shift=3,rotate=7.5,hflip=1");
  EXPECT_EQ(c.shift, 3);
  EXPECT_EQ(c.rotate, 7.5);
  EXPECT_EQ(c.brightness, 0.0);
  EXPECT_TRUE(c.hflip);
  EXPECT_FALSE(parse_augment("hflip=0").hflip);
  // describe() writes what parse_augment() reads (config.json and the report show it).
  const AugmentConfig back = parse_augment(describe(c));
  EXPECT_EQ(back.shift, c.shift);
  EXPECT_EQ(back.rotate, c.rotate);
  EXPECT_EQ(back.hflip, c.hflip);
  EXPECT_EQ(describe(AugmentConfig{}), "none");
}

TEST(Augment, BadSpecsAreErrors) {
  for (const char* bad : {"heavy", "shift", "zoom=2", "shift=abc", "shift=2.5", "rotate=-1", "contrast=1.5",
                          "hflip=maybe", "brightness=0.1x", "translate=-1", "translate=nan", "fill=mirror",
                          "shift=2,translate=1.5", "scale=1", "gamma=-0.1", "noise=inf", "scale=x"}) {
    const std::string msg = error_of([&] { parse_augment(bad); });
    EXPECT_TRUE(contains(msg, "--augment")) << bad << " gave: '" << msg << "'";
  }
}

TEST(Augment, TranslateAndFillParseAndDescribeOnlyWhenSet) {
  const AugmentConfig a = parse_augment("translate=2,rotate=10,fill=border");
  EXPECT_EQ(a.translate, 2.0);
  EXPECT_EQ(a.shift, 0);
  EXPECT_EQ(a.fill, Fill::Border);
  EXPECT_TRUE(parse_augment("translate=0.5").enabled());
  EXPECT_EQ(parse_augment("fill=black").fill, Fill::Zero);
  const AugmentConfig back = parse_augment(describe(a));
  EXPECT_EQ(back.translate, 2.0);
  EXPECT_EQ(back.fill, Fill::Border);
  // Older specs describe as they always did (config.json of earlier runs reads the same).
  EXPECT_EQ(describe(parse_augment("shift=2,rotate=10")), "shift=2,rotate=10,brightness=0,contrast=0,hflip=0");
}

// The warp is the map a PyTorch user's affine_grid + grid_sample(align_corners=True) computes, for
// both fills: parity runs (tools/parity/torch_sweep.py) augment with exactly this geometry.
TEST(Augment, WarpMatchesTorchGridSample) {
  for (const auto& [name, fill] : {std::pair{"zero", Fill::Zero}, std::pair{"border", Fill::Border}}) {
    SCOPED_TRACE(name);
    const std::string dir = std::string(LB_FIXTURES_DIR) + "/golden/augment_warp_" + name + "/";
    const Tensor x = io::load_npy(dir + "x.npy"), want = io::load_npy(dir + "y.npy");
    const Tensor p = io::load_npy(dir + "params.npy");  // angle, sy, sx (float64)
    const double* q = p.data<double>();
    Tensor got = Tensor::zeros(x.shape());
    warp_image(x.data<float>(), got.data<float>(), x.size(0), x.size(1), x.size(2), q[0], q[1], q[2], fill);
    LB_EXPECT_CLOSE(got, want, 1e-5, 1e-5);
  }
}

// Moving right by one pixel: the first column is black with fill=zero and a copy of the source's
// first column with fill=border; a half-pixel move averages neighbours.
TEST(Augment, BorderFillRepeatsTheEdgeAndTranslateIsSubPixel) {
  const int64_t h = 4, w = 5;
  std::vector<float> src(h * w), dst(h * w);
  for (int64_t i = 0; i < h * w; ++i) src[i] = 0.05f * static_cast<float>(i + 1);
  warp_image(src.data(), dst.data(), 1, h, w, 0.0, 0.0, 1.0, Fill::Zero);
  for (int64_t i = 0; i < h; ++i) {
    EXPECT_EQ(dst[i * w], 0.0f);
    EXPECT_FLOAT_EQ(dst[i * w + 1], src[i * w]);
  }
  warp_image(src.data(), dst.data(), 1, h, w, 0.0, 0.0, 1.0, Fill::Border);
  for (int64_t i = 0; i < h; ++i) EXPECT_FLOAT_EQ(dst[i * w], src[i * w]);
  warp_image(src.data(), dst.data(), 1, h, w, 0.0, 0.5, 0.0, Fill::Border);
  for (int64_t j = 0; j < w; ++j) EXPECT_FLOAT_EQ(dst[w + j], 0.5f * (src[j] + src[w + j]));
}

TEST(Augment, ScaleGammaNoiseParseAndDescribe) {
  const AugmentConfig a = parse_augment("scale=0.1,gamma=0.2,noise=0.02");
  EXPECT_TRUE(a.enabled());
  const AugmentConfig back = parse_augment(describe(a));
  EXPECT_EQ(back.scale, 0.1);
  EXPECT_EQ(back.gamma, 0.2);
  EXPECT_EQ(back.noise, 0.02);
}

// zoom 2 on a horizontal ramp: output column j reads source column cx + (j - cx) / 2, exactly
// (bilinear is exact on a linear ramp).
TEST(Augment, ZoomMagnifiesAboutTheCentre) {
  const int64_t h = 5, w = 9;
  std::vector<float> src(h * w), dst(h * w);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) src[i * w + j] = 0.1f * static_cast<float>(j);
  warp_image(src.data(), dst.data(), 1, h, w, 0.0, 0.0, 0.0, Fill::Zero, 2.0);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) EXPECT_NEAR(dst[i * w + j], 0.1 * (4.0 + (j - 4.0) / 2.0), 1e-6) << i << "," << j;
}

// gamma alone raises every pixel to one power g in [e^-gamma, e^gamma]; noise alone adds zero-mean
// noise of the asked standard deviation (64x64 mid-grey pixels: no clamping).
TEST(Augment, GammaIsOnePowerAndNoiseHasTheAskedSpread) {
  const int64_t h = 64, w = 64;
  std::vector<float> scratch(h * w);
  std::vector<float> img(h * w);
  for (int64_t i = 0; i < h * w; ++i) img[i] = 0.2f + 0.6f * static_cast<float>(i % 97) / 96.0f;
  const std::vector<float> src = img;
  Generator gen(5);
  augment_image(img.data(), 1, h, w, parse_augment("gamma=0.3"), gen, scratch.data());
  const double g = std::log(img[0]) / std::log(src[0]);
  EXPECT_GE(g, std::exp(-0.3) - 1e-6);
  EXPECT_LE(g, std::exp(0.3) + 1e-6);
  EXPECT_GT(std::fabs(g - 1.0), 1e-4);
  for (int64_t i = 0; i < h * w; ++i) EXPECT_NEAR(img[i], std::pow(src[i], g), 1e-5) << i;
  img = src;
  augment_image(img.data(), 1, h, w, parse_augment("noise=0.05"), gen, scratch.data());
  double m = 0, v = 0;
  for (int64_t i = 0; i < h * w; ++i) m += (img[i] - src[i]) / (h * w);
  for (int64_t i = 0; i < h * w; ++i) v += (img[i] - src[i] - m) * (img[i] - src[i] - m) / (h * w - 1);
  EXPECT_NEAR(m, 0.0, 0.005);
  EXPECT_NEAR(std::sqrt(v), 0.05, 0.003);
}

// translate draws after every older key, so a spec without it augments exactly as before: the
// same image as the explicit whole-pixel warp of the draws augment_image always made.
TEST(Augment, SpecsWithoutTranslateDrawWhatTheyAlwaysDrew) {
  const int64_t h = 8, w = 8;
  std::vector<float> img(h * w), scratch(h * w), want(h * w);
  for (int64_t i = 0; i < h * w; ++i) img[i] = static_cast<float>((i * 37) % 11) / 10.0f;
  const std::vector<float> src = img;
  const AugmentConfig a = parse_augment("shift=2,rotate=10");
  Generator gen(sample_seed(3, 1, 4)), replay(sample_seed(3, 1, 4));
  augment_image(img.data(), 1, h, w, a, gen, scratch.data());
  const double angle = replay.uniform(-10.0, 10.0);
  const double sy = static_cast<double>(static_cast<int64_t>(replay.next() % 5) - 2);
  const double sx = static_cast<double>(static_cast<int64_t>(replay.next() % 5) - 2);
  warp_image(src.data(), want.data(), 1, h, w, angle, sy, sx, Fill::Zero);
  for (int64_t i = 0; i < h * w; ++i) EXPECT_FLOAT_EQ(img[i], std::min(1.0f, std::max(0.0f, want[i]))) << i;
}

// ---- Loader ----------------------------------------------------------------------------------------

Dataset tiny_loaded() { return load_medmnist(test::write_tiny_dataset(test::fresh_dir() + "/d.npz")); }

std::vector<std::vector<int64_t>> epoch(Loader& l, int64_t e) {
  l.start_epoch(e);
  std::vector<std::vector<int64_t>> out;
  Batch b;
  while (l.next(b)) out.push_back(b.idx);
  return out;
}

TEST(Loader, EverySampleExactlyOncePerEpochInBatchesOfTheRightShape) {
  const Dataset ds = tiny_loaded();
  LoaderConfig c;
  c.batch_size = 10;
  c.seed = 3;
  Loader l(ds.train, c);
  EXPECT_EQ(l.num_batches(), 5);
  l.start_epoch(0);
  Batch b;
  std::vector<int64_t> seen, sizes;
  while (l.next(b)) {
    const int64_t n = static_cast<int64_t>(b.idx.size());
    sizes.push_back(n);
    EXPECT_EQ(b.x.shape(), (Shape{n, 1, 16, 16}));
    EXPECT_EQ(b.y.shape(), (Shape{n}));
    EXPECT_EQ(b.y.dtype(), DType::Int64);
    // The batch is exactly to_model_space and gather_labels of its indices.
    EXPECT_EQ(b.x.to_vector(), to_model_space(ds.train, b.idx, c.norm).to_vector());
    EXPECT_EQ(b.y.to_vector(), gather_labels(ds.train, b.idx).to_vector());
    seen.insert(seen.end(), b.idx.begin(), b.idx.end());
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{10, 10, 10, 10, 8}));
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 48; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_FALSE(std::is_sorted(seen.begin(), seen.end()));  // shuffled
  EXPECT_FALSE(l.next(b));                                 // stays at the end
}

TEST(Loader, OrderDependsOnSeedAndEpochOnly) {
  const Dataset ds = tiny_loaded();
  LoaderConfig c;
  c.batch_size = 16;
  c.seed = 5;
  Loader a(ds.train, c), b(ds.train, c);
  const auto a1 = epoch(a, 1), a2 = epoch(a, 2);
  EXPECT_EQ(epoch(b, 1), a1);  // a fresh loader replays epoch 1 without running epoch 0 first
  EXPECT_NE(a2, a1);
  EXPECT_EQ(epoch(a, 1), a1);  // and again after epoch 2
  c.seed = 6;
  Loader other(ds.train, c);
  EXPECT_NE(epoch(other, 1), a1);
  c.shuffle = false;
  Loader plain(ds.train, c);
  const auto p = epoch(plain, 0);
  EXPECT_EQ(p[0], (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(Loader, DropLastDropsOnlyTheShortBatch) {
  const Dataset ds = tiny_loaded();
  LoaderConfig c;
  c.batch_size = 10;
  c.drop_last = true;
  Loader l(ds.train, c);
  EXPECT_EQ(l.num_batches(), 4);
  const auto batches = epoch(l, 0);
  ASSERT_EQ(batches.size(), 4u);
  std::set<int64_t> distinct;
  for (const auto& b : batches) {
    EXPECT_EQ(b.size(), 10u);
    distinct.insert(b.begin(), b.end());
  }
  EXPECT_EQ(distinct.size(), 40u);
}

TEST(Loader, AugmentationFollowsTheSampleNotTheBatch) {
  const Dataset ds = tiny_loaded();
  LoaderConfig c;
  c.batch_size = 7;
  c.seed = 9;
  c.augment = parse_augment("light");
  Loader l(ds.train, c);
  l.start_epoch(4);
  Batch b;
  ASSERT_TRUE(l.next(b));
  EXPECT_EQ(b.x.to_vector(), to_model_space(ds.train, b.idx, c.norm, &c.augment, 9, 4).to_vector());
}

TEST(Loader, RestartingAnEpochMidWayDoesNotHang) {
  const Dataset ds = tiny_loaded();
  within_seconds(10, [&] {
    LoaderConfig c;
    c.batch_size = 2;  // 24 batches, far more than the prefetch queue holds
    c.prefetch = 1;
    Loader l(ds.train, c);
    const auto full = epoch(l, 1);
    Batch b;
    for (int round = 0; round < 20; ++round) {
      l.start_epoch(0);
      ASSERT_TRUE(l.next(b));
      if (round % 2) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the worker block
    }
    EXPECT_EQ(epoch(l, 1), full);  // a restarted loader delivers the whole epoch
  });
}

TEST(Loader, DestroyingTheLoaderMidEpochDoesNotHang) {
  const Dataset ds = tiny_loaded();
  within_seconds(10, [&] {
    for (int round = 0; round < 20; ++round) {
      LoaderConfig c;
      c.batch_size = 2;
      c.prefetch = 1;
      Loader l(ds.train, c);
      l.start_epoch(round);
      Batch b;
      if (round % 2) {
        ASSERT_TRUE(l.next(b));
      }
    }  // ~Loader joins a worker that is blocked on a full queue
    Loader never_started(ds.train, LoaderConfig{});
  });
}

TEST(Loader, BadConfigurationsAreErrors) {
  const Dataset ds = tiny_loaded();
  LoaderConfig c;
  c.batch_size = 0;
  EXPECT_TRUE(contains(error_of([&] { Loader l(ds.train, c); }), "batch size"));
  Split empty;
  empty.name = "val";
  EXPECT_TRUE(contains(error_of([&] { Loader l(empty, LoaderConfig{}); }), "empty"));
}

}  // namespace
}  // namespace lb::data
