// test_kernel_lab_cuda.cc (label gpu): every kernel-lab variant (lab/lab.cuh) of every op and
// direction passes its check against the CPU backend on one small ResNet18 shape per op, and every
// direction has the naive variant 1. No timing. Skipped, and reported as skipped, without CUDA or
// a device; the case-table tests at the end run anywhere.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "engine/storage.h"
#include "lab/lab.cuh"

namespace lb {
namespace {

using kernels::lab::LabCase;
using kernels::lab::OpKind;

class KernelLab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
};

// The first case of `op` among ResNet18's layers at 28x28, batch 4 (small: the CPU reference and
// the naive kernels at six block sizes stay fast).
LabCase first_case(OpKind op, const std::string& layer) {
  for (const LabCase& c : kernels::lab::resnet18_cases(28, 4))
    if (c.op == op && c.layer == layer) return c;
  ADD_FAILURE() << "no case " << layer;
  return {};
}

// Every variant of every direction of c passes its check, and every direction has the naive
// variant "1" (the lab's rule: each op and direction starts from a port of the CPU loop).
std::vector<kernels::lab::LabResult> expect_all_pass(const LabCase& c) {
  kernels::lab::LabOptions o;
  o.time = false;
  const auto rows = kernels::lab::run_case(c, o);
  EXPECT_FALSE(rows.empty()) << c.layer;
  std::set<std::string> directions, with_naive;
  for (const auto& r : rows) {
    // Tolerances live in the harness: 1e-4 relative L2 for fp32, 5e-3 for TF32 (10-bit inputs).
    EXPECT_TRUE(r.checked && r.pass) << r.layer << " " << r.direction << " " << r.variant << ": rel err " << r.rel_err
                                     << " tol " << r.tol << " " << r.note;
    directions.insert(r.direction);
    if (r.variant == "1") with_naive.insert(r.direction);
  }
  EXPECT_EQ(with_naive, directions) << c.layer << ": a direction without variant 1";
  return rows;
}

// A strided 3x3 conv with padding exercises every index path of the three directions.
TEST_F(KernelLab, Conv2dStridedVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Conv2d, "layer2.0.conv1")); }
// The stem: 7x7/2, pad 3, one input channel.
TEST_F(KernelLab, Conv2dStemVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Conv2d, "conv1")); }
// 1x1/2 downsample: no padding, a subsampled input.
TEST_F(KernelLab, Conv2dDownsampleVariantsMatchCpu) {
  expect_all_pass(first_case(OpKind::Conv2d, "layer3.0.downsample"));
}
// forward-train, backward, forward-eval and the fused BN + add + ReLU passes.
TEST_F(KernelLab, BatchNormVariantsMatchCpu) { expect_all_pass(first_case(OpKind::BatchNorm2d, "layer1.bn")); }
TEST_F(KernelLab, MaxPoolVariantsMatchCpu) { expect_all_pass(first_case(OpKind::MaxPool2d, "maxpool")); }
TEST_F(KernelLab, ReluVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Relu, "layer1.bn.relu")); }
// ResNet18's global pool (1x1 at 28x28 input, so also the 224 shape, 7x7 -> 1x1), and a 7x7 -> 3x3
// adaptive pool whose bins overlap (rows 2 and 4 belong to two bins each).
TEST_F(KernelLab, AvgPoolVariantsMatchCpu) {
  LabCase c = first_case(OpKind::AvgPool2d, "avgpool");
  expect_all_pass(c);
  c.avg.H = c.avg.W = 7;
  expect_all_pass(c);
  c.avg.OH = c.avg.OW = 3;
  expect_all_pass(c);
}
TEST_F(KernelLab, LinearVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Linear, "fc")); }
TEST_F(KernelLab, CrossEntropyVariantsMatchCpu) { expect_all_pass(first_case(OpKind::CrossEntropy, "loss")); }
// The optimizer updates round like the CPU loop, operation for operation: bit for bit.
TEST_F(KernelLab, OptimizerVariantsMatchCpuBitForBit) {
  for (OpKind op : {OpKind::Sgd, OpKind::AdamW})
    for (const auto& r : expect_all_pass(first_case(op, "layer1.conv.weight")))
      EXPECT_EQ(r.rel_err, 0.0) << r.op << " " << r.direction << " " << r.variant;
}

TEST(KernelLabCases, Resnet18ShapesAt28And224) {
  // 11 distinct convs, 5 batchnorms and their 5 ReLUs, 1 max-pool, the head (avgpool, fc, loss)
  // and 2 optimizers x 3 parameter tensors; runs anywhere (no GPU needed).
  for (int64_t s : {28, 224}) {
    const auto cases = kernels::lab::resnet18_cases(s, 2);
    EXPECT_EQ(cases.size(), 31u);
  }
  auto find = [](const std::vector<LabCase>& cs, const std::string& layer, OpKind op) {
    for (const LabCase& c : cs)
      if (c.layer == layer && c.op == op) return c;
    ADD_FAILURE() << "no case " << layer;
    return LabCase{};
  };
  const auto c28 = kernels::lab::resnet18_cases(28, 2);
  EXPECT_EQ(find(c28, "conv1", OpKind::Conv2d).conv.P, 14);
  EXPECT_EQ(find(c28, "maxpool", OpKind::MaxPool2d).pool.P, 7);
  EXPECT_EQ(find(c28, "layer4.bn", OpKind::BatchNorm2d).bn.HW, 1);  // layer4 at 1x1
  const auto c224 = kernels::lab::resnet18_cases(224, 2);
  EXPECT_EQ(find(c224, "conv1", OpKind::Conv2d).conv.P, 112);
  EXPECT_EQ(find(c224, "layer4.bn", OpKind::BatchNorm2d).bn.HW, 49);  // layer4 at 7x7
  EXPECT_EQ(find(c224, "layer4.bn.relu", OpKind::Relu).bn.HW, 49);
  const LabCase pool = find(c224, "avgpool", OpKind::AvgPool2d);
  EXPECT_EQ(pool.avg.planes, 2 * 512);
  EXPECT_EQ(pool.avg.H, 7);
  EXPECT_EQ(pool.avg.OH, 1);
  const LabCase fc = find(c224, "fc", OpKind::Linear);
  EXPECT_EQ(fc.mat.N, 2);
  EXPECT_EQ(fc.mat.IN, 512);
  EXPECT_EQ(fc.mat.OUT, 2);
  EXPECT_EQ(find(c224, "layer4.conv.weight", OpKind::AdamW).numel, 512 * 512 * 9);
}

// Every op the lab knows has a case, a name, a batch that with_batch() changes (a parameter update
// has none: batch 1 whatever the batch) and a shape description.
TEST(KernelLabCases, EveryOpKindHasACaseAndRebatches) {
  std::set<std::string> names;
  for (const LabCase& c : kernels::lab::resnet18_cases(28, 8)) {
    names.insert(kernels::lab::op_name(c.op));
    EXPECT_FALSE(kernels::lab::describe(c).empty()) << c.layer;
    const bool update = c.op == OpKind::Sgd || c.op == OpKind::AdamW;
    EXPECT_EQ(kernels::lab::batch_of(c), update ? 1 : 8) << c.layer;
    EXPECT_EQ(kernels::lab::batch_of(kernels::lab::with_batch(c, 2)), update ? 1 : 2) << c.layer;
    if (update) {
      EXPECT_EQ(kernels::lab::with_batch(c, 2).numel, c.numel);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"conv2d", "batchnorm2d", "maxpool2d", "relu", "adaptive_avgpool2d", "linear",
                                          "cross_entropy", "sgd", "adamw"}));
}

}  // namespace
}  // namespace lb
