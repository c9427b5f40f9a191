// Sample selection from the confusion matrix.
#include <gtest/gtest.h>

#include "explain/select.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {
using test::expect_error;

//            index:  0    1    2    3    4    5    6    7
const std::vector<int> kLabels = {1, 0, 1, 0, 1, 0, 1, 0};
const std::vector<double> kScores = {0.9, 0.8, 0.2, 0.1, 0.99, 0.6, 0.45, 0.3};
// cells at 0.5: 0 tp, 1 fp, 2 fn, 3 tn, 4 tp, 5 fp, 6 fn, 7 tn

TEST(Select, FirstInDatasetOrderCellByCell) {
  const Selection s = select_cells(kLabels, kScores, 0.5, parse_cells("tp,fp,fn,tn"), 2);
  std::vector<int64_t> idx;
  for (const auto& x : s.samples) idx.push_back(x.index);
  EXPECT_EQ(idx, (std::vector<int64_t>{0, 4, 1, 5, 2, 6, 3, 7}));
  EXPECT_EQ(s.samples[2].cell, Cell::FP);
  EXPECT_EQ(s.samples[2].label, 0);
  EXPECT_DOUBLE_EQ(s.samples[2].score, 0.8);
  EXPECT_TRUE(s.short_cells.empty());
}

TEST(Select, ConfidentOrderAndThreshold) {
  // confident: furthest from the threshold first: tp 4 (0.99) before 0 (0.9); fn 2 (0.2) before 6.
  const Selection s = select_cells(kLabels, kScores, 0.5, parse_cells("fn,tp"), 1, SelectOrder::Confident);
  ASSERT_EQ(s.samples.size(), 2u);
  EXPECT_EQ(s.samples[0].index, 2);
  EXPECT_EQ(s.samples[1].index, 4);
  // at threshold 0.85 sample 1 (0.8) becomes a tn and sample 0 (0.9) stays a tp.
  const Selection t = select_cells(kLabels, kScores, 0.85, parse_cells("fp"), 3);
  EXPECT_TRUE(t.samples.empty());
  ASSERT_EQ(t.short_cells.size(), 1u);
  EXPECT_EQ(t.short_cells[0], "fp: 0 of 3");
}

TEST(Select, ShortCellsAreReported) {
  const Selection s = select_cells(kLabels, kScores, 0.5, parse_cells("tn"), 5);
  EXPECT_EQ(s.samples.size(), 2u);
  ASSERT_EQ(s.short_cells.size(), 1u);
  EXPECT_EQ(s.short_cells[0], "tn: 2 of 5");
}

TEST(Select, BadInput) {
  expect_error([] { parse_cells("tp,xx"); }, {"'xx'", "tp, fp, fn, tn"});
  expect_error([] { parse_cells("tp,tp"); }, {"twice"});
  expect_error([] { select_cells({0, 2}, {0.1, 0.2}, 0.5, {Cell::TP}, 1); }, {"label 2", "binary"});
  expect_error([] { select_cells({0}, {0.1, 0.2}, 0.5, {Cell::TP}, 1); }, {"1 labels but 2 scores"});
  expect_error([] { select_cells({0}, {0.1}, 0.5, {Cell::TP}, 0); }, {"--per-cell"});
  expect_error([] { parse_select_order("best"); }, {"first, confident"});
}

// One-vs-rest for a multi-class model: "predicted" is argmax = k, which need not be score >= 0.5
// (sample 1 is predicted k at 0.4; sample 2 is not, at 0.45, because another class scored higher).
TEST(Select, OneVsRestTakesThePredictionAsGiven) {
  OneVsRest in;
  in.positive = {1, 0, 1, 0};
  in.predicted = {1, 1, 0, 0};
  in.score = {0.7, 0.4, 0.45, 0.1};
  const Selection s = select_cells(in, parse_cells("tp,fp,fn,tn"), 1);
  ASSERT_EQ(s.samples.size(), 4u);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(s.samples[i].index, i);
  EXPECT_EQ(s.samples[1].cell, Cell::FP);
  EXPECT_EQ(s.samples[2].cell, Cell::FN);
  EXPECT_EQ(s.samples[2].label, 1);
  expect_error(
      [] {
        select_cells(OneVsRest{{1}, {1, 0}, {0.5}}, {Cell::TP}, 1);
      },
      {"1 labels, 2 predictions and 1 scores"});
  expect_error([] { select_cells(OneVsRest{{3}, {1}, {0.5}}, {Cell::TP}, 1); }, {"label 3", "0 or 1"});
}

}  // namespace
}  // namespace lb::explain
