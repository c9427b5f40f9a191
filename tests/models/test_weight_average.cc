// test_weight_average.cc: the moving average of weights behind --ema (models/weight_average.h),
// against a double-precision recomputation of its definition:
//   avg <- avg + (1 - d_t) (w - avg),  d_t = min(DECAY, (1 + t) / (10 + t)),
// for every parameter and batch-norm running statistic, num_batches_tracked copied; the average
// starts as a copy that does not alias the model, and restore() puts a saved average back.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "models/weight_average.h"
#include "tests/support/check.h"

namespace lb::models {
namespace {

using lb::test::error_of;

std::map<std::string, std::vector<double>> values_of(const ResNet18& m) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [k, t] : m.state_dict()) {
    const Tensor c = t.to(DType::Float64);
    const double* p = c.data<double>();
    out[k].assign(p, p + c.numel());
  }
  return out;
}

// Moves every tensor of `m` by a seeded random amount (a stand-in for an optimizer step and the
// running statistics of a forward pass), and bumps num_batches_tracked.
void perturb(ResNet18& m, uint64_t seed) {
  NoGradGuard no_grad;
  Generator g(seed);
  for (auto& [k, t] : m.state_dict()) {
    if (t.dtype() == DType::Int64) {
      t.data<int64_t>()[0] += 1;
      t.mark_modified();
      continue;
    }
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] += static_cast<float>(g.normal(0.0, 0.1));
    t.mark_modified();
  }
}

TEST(WeightAverage, DecayWarmsUpThenHoldsAtDecay) {
  Generator g(1);
  ResNet18 m(1, 2, g, 4);
  WeightAverage avg(m, 0.95);
  EXPECT_DOUBLE_EQ(avg.next_decay(), 0.1);  // (1 + 0) / (10 + 0)
  avg.update(m);
  EXPECT_DOUBLE_EQ(avg.next_decay(), 2.0 / 11.0);
  for (int i = 0; i < 200; ++i) avg.update(m);
  EXPECT_DOUBLE_EQ(avg.next_decay(), 0.95);
  EXPECT_EQ(avg.updates(), 201);
  EXPECT_TRUE(error_of([&] { WeightAverage(m, 1.0); }).find("--ema must be in (0, 1)") != std::string::npos);
  EXPECT_TRUE(error_of([&] { WeightAverage(m, 0.0); }).find("--ema") != std::string::npos);
}

TEST(WeightAverage, EveryTensorFollowsTheDefinitionInDoublePrecision) {
  Generator g(2);
  ResNet18 m(1, 2, g, 4);
  WeightAverage avg(m, 0.9);
  auto want = values_of(m);
  EXPECT_EQ(values_of(avg.model()), want);  // a copy to begin with
  for (int step = 0; step < 25; ++step) {
    perturb(m, 100 + step);
    const double d = avg.next_decay();
    const auto w = values_of(m);
    for (auto& [k, v] : want)
      for (size_t i = 0; i < v.size(); ++i)
        v[i] = k.find("num_batches_tracked") != std::string::npos ? w.at(k)[i] : v[i] + (1.0 - d) * (w.at(k)[i] - v[i]);
    avg.update(m);
  }
  const auto got = values_of(avg.model());
  const auto now = values_of(m);
  int64_t checked = 0, away = 0;
  for (const auto& [k, v] : want)
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_NEAR(got.at(k)[i], v[i], 1e-5 * (1.0 + std::fabs(v[i]))) << k << "[" << i << "]";
      away += std::fabs(got.at(k)[i] - now.at(k)[i]) > 1e-3;
      ++checked;
    }
  // The average lags the model (it is not a copy of the last weights).
  EXPECT_GT(away, checked / 2);
  EXPECT_EQ(got.at("bn1.num_batches_tracked")[0], now.at("bn1.num_batches_tracked")[0]);
}

TEST(WeightAverage, TheAverageIsItsOwnStorageAndRestoreBringsItBack) {
  Generator g(3);
  ResNet18 m(1, 2, g, 4);
  WeightAverage avg(m, 0.9);
  const auto start = values_of(avg.model());
  perturb(m, 7);  // the model moves; the average must not move with it until update()
  EXPECT_EQ(values_of(avg.model()), start);
  avg.update(m);
  avg.update(m);
  nn::StateDict saved;
  for (const auto& [k, t] : avg.model().state_dict()) saved.emplace_back(k, t.clone());
  const auto at_save = values_of(avg.model());
  Generator g2(4);
  ResNet18 other(1, 2, g2, 4);
  WeightAverage back(other, 0.9);
  back.restore(saved, avg.updates());
  EXPECT_EQ(values_of(back.model()), at_save);
  EXPECT_EQ(back.updates(), 2);
  EXPECT_DOUBLE_EQ(back.next_decay(), avg.next_decay());
}

}  // namespace
}  // namespace lb::models
