// test_predict_tta.cc: test-time augmentation (models/predict.h's predict_tta):
//   - shifted_split moves the content by whole pixels and repeats the edge into the vacated rows;
//   - 1 view is predict() itself; 5 and 9 views are the mean of predict() over the shifted
//     splits, recomputed here by hand, with logits whose softmax (sigmoid per label) gives the
//     mean back and the loss the cross-entropy of the mean;
//   - any other count is one error naming --tta.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "models/predict.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb::models {
namespace {

using lb::test::error_of;

// The val split of a tiny synthetic dataset (48/16/16 images of 16x16), read as the CLI reads it.
data::Split tiny_split(bool multilabel = false) {
  test::TinySpec spec;
  spec.multilabel = multilabel;
  spec.num_classes = multilabel ? 3 : 2;
  const std::string dir = test::fresh_dir(multilabel ? "multi" : "single");
  return data::load_medmnist(test::write_tiny_dataset(dir + "/tiny.npz", spec)).val;
}

TEST(PredictTta, ShiftedSplitMovesContentAndRepeatsTheEdge) {
  data::Split s;
  s.name = "val";
  std::vector<double> px(2 * 3 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<double>(i);
  s.images = Tensor::from_vector(px, {2, 3, 4, 1}, DType::UInt8);
  s.labels = Tensor::from_vector({0, 1}, {2}, DType::Int64);
  const data::Split d = shifted_split(s, 1, -1);  // down one row, left one column
  const uint8_t* a = s.images.data<uint8_t>();
  const uint8_t* b = d.images.data<uint8_t>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 4; ++x) {
        const int64_t sy = std::max<int64_t>(y - 1, 0), sx = std::min<int64_t>(x + 1, 3);
        EXPECT_EQ(b[(i * 3 + y) * 4 + x], a[(i * 3 + sy) * 4 + sx]) << i << " " << y << " " << x;
      }
  EXPECT_EQ(a[0], 0);  // the source is untouched
  EXPECT_EQ(shifted_split(s, 0, 0).images.data<uint8_t>()[5], a[5]);
}

TEST(PredictTta, ViewsAreTheMeanOfPredictOverShiftedCopies) {
  Generator g(5);
  ResNet18 model(1, 2, g, 4);
  const data::Split s = tiny_split();
  const data::Normalization norm{0.5, 0.5};
  const Predictions one = predict(model, s, norm, 7);
  const Predictions same = predict_tta(model, s, norm, 1, 7);
  EXPECT_EQ(0, std::memcmp(one.probs.raw_data(), same.probs.raw_data(), one.probs.nbytes()));
  const int64_t shifts[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
  for (int views : {5, 9}) {
    std::vector<double> mean(static_cast<size_t>(one.probs.numel()), 0.0);
    for (int v = 0; v < views; ++v) {
      const Predictions p = predict(model, shifted_split(s, shifts[v][0], shifts[v][1]), norm, 7);
      for (size_t i = 0; i < mean.size(); ++i) mean[i] += p.probs.data<float>()[i] / views;
    }
    const Predictions t = predict_tta(model, s, norm, views, 7);
    double loss = 0;
    bool differs = false;
    for (int64_t i = 0; i < s.size(); ++i) {
      const float* z = t.logits.data<float>() + 2 * i;
      const double e0 = std::exp(double{z[0]}), e1 = std::exp(double{z[1]});
      for (int64_t j = 0; j < 2; ++j) {
        const double m = mean[static_cast<size_t>(2 * i + j)];
        EXPECT_NEAR(t.probs.data<float>()[2 * i + j], m, 1e-6) << views << " views, image " << i;
        EXPECT_NEAR((j == 0 ? e0 : e1) / (e0 + e1), m, 1e-5) << "softmax of the logits";
        differs |= std::fabs(m - one.probs.data<float>()[2 * i + j]) > 1e-7;
      }
      loss -= std::log(mean[static_cast<size_t>(2 * i + s.labels.data<int64_t>()[i])]);
    }
    EXPECT_NEAR(t.loss, loss / s.size(), 1e-5);
    EXPECT_TRUE(differs) << "the shifted views changed nothing";
  }
}

TEST(PredictTta, MultiLabelLogitsAreLogOddsOfTheMean) {
  Generator g(6);
  ResNet18 model(1, 3, g, 4);
  const data::Split s = tiny_split(true);
  const Predictions t = predict_tta(model, s, {0.5, 0.5}, 5, 16);
  ASSERT_TRUE(t.multilabel);
  double loss = 0;
  for (int64_t i = 0; i < t.probs.numel(); ++i) {
    const double p = t.probs.data<float>()[i];
    EXPECT_NEAR(1.0 / (1.0 + std::exp(-double{t.logits.data<float>()[i]})), p, 1e-5);
    loss -= s.labels.data<int64_t>()[i] == 1 ? std::log(p) : std::log(1.0 - p);
  }
  EXPECT_NEAR(t.loss, loss / static_cast<double>(t.probs.numel()), 1e-5);
}

TEST(PredictTta, RunViewsComeFromTheRunsConfigAndDefaultToOne) {
  using nlohmann::json;
  EXPECT_EQ(run_tta_views(json{{"tta", 9}}), 9);
  EXPECT_EQ(run_tta_views(json{{"tta", 5}, {"lr", 0.1}}), 5);
  EXPECT_EQ(run_tta_views(json{{"lr", 0.1}}), 1);  // a run from before --tta
  EXPECT_EQ(run_tta_views(json()), 1);             // a checkpoint without a configuration
  for (const json& odd : {json{{"tta", "9"}}, json{{"tta", 3}}, json{{"tta", 9.5}}, json{{"tta", -1}}})
    EXPECT_EQ(run_tta_views(odd), 1) << odd.dump();
}

TEST(PredictTta, OtherViewCountsAreRefused) {
  Generator g(7);
  ResNet18 model(1, 2, g, 4);
  const data::Split s = tiny_split();
  for (int bad : {0, 2, 3, 4, 10, -1})
    EXPECT_TRUE(error_of([&] {
                  predict_tta(model, s, {0.5, 0.5}, bad);
                }).find("--tta must be 1") != std::string::npos)
        << bad;
}

}  // namespace
}  // namespace lb::models
