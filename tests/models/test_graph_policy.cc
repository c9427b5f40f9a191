// ReplayPolicy (models/graph_step.h): which batches of a `train --graph` run are replayed from the
// CUDA Graph, which capture it and which run eagerly. The GPU test (tests/models/test_graph_step_cuda.cc)
// runs the same sequence for real; this one pins the rule on every machine.
#include <gtest/gtest.h>

#include "models/graph_step.h"

namespace lb::models {
namespace {

using Action = ReplayPolicy::Action;

GraphKey key(int64_t n, bool layer1_trains = true) { return {{n, 1, 28, 28}, {true, layer1_trains, true}}; }

TEST(ReplayPolicy, EpochsWithAShortLastBatchAndAnUnfreeze) {
  ReplayPolicy p;
  // Epoch 1: the first full batch makes the optimizer state, the second is captured, the rest replay;
  // the short last batch is another key and runs eagerly.
  EXPECT_EQ(p.next(key(8)), Action::Eager);
  EXPECT_EQ(p.next(key(8)), Action::Capture);
  EXPECT_EQ(p.next(key(8)), Action::Replay);
  EXPECT_EQ(p.next(key(5)), Action::Eager);
  // Epoch 2: the graph is still there.
  EXPECT_EQ(p.next(key(8)), Action::Replay);
  EXPECT_EQ(p.next(key(5)), Action::Eager);
  // A stage opens (another trainable set): eager once, then a new capture, then replays.
  EXPECT_EQ(p.next(key(8, false)), Action::Eager);
  EXPECT_EQ(p.next(key(8, false)), Action::Capture);
  EXPECT_EQ(p.next(key(8, false)), Action::Replay);
  // The old key's graph was replaced: going back needs an eager step and a capture again.
  EXPECT_EQ(p.next(key(8)), Action::Eager);
  EXPECT_EQ(p.next(key(8)), Action::Capture);
}

TEST(ReplayPolicy, AlternatingKeysNeverCapture) {
  // A key is captured only when it follows itself: the eager step just before made its state.
  ReplayPolicy p;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(p.next(key(i % 2 ? 8 : 5)), Action::Eager) << i;
}

TEST(ReplayPolicy, AFailedCaptureIsNotReplayed) {
  ReplayPolicy p;
  EXPECT_EQ(p.next(key(8)), Action::Eager);
  EXPECT_EQ(p.next(key(8)), Action::Capture);
  p.capture_failed();
  EXPECT_NE(p.next(key(8)), Action::Replay);
}

}  // namespace
}  // namespace lb::models
