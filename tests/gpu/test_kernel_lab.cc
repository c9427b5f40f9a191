// test_kernel_lab.cc (label gpu): every kernel-lab variant (kernels/lab/lab.cuh) of every op and
// direction passes its check against the CPU backend on one small ResNet18 shape per op. No
// timing. Skipped, and reported as skipped, without CUDA or a device.
#include <gtest/gtest.h>

#include "engine/storage.h"
#include "kernels/lab/lab.cuh"

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

void expect_all_pass(const LabCase& c) {
  kernels::lab::LabOptions o;
  o.time = false;
  const auto rows = kernels::lab::run_case(c, o);
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) {
    // Tolerances live in the harness: 1e-4 relative L2 for fp32, 5e-3 for TF32 (10-bit inputs).
    EXPECT_TRUE(r.checked && r.pass) << r.layer << " " << r.direction << " " << r.variant << ": rel err " << r.rel_err
                                     << " tol " << r.tol << " " << r.note;
  }
}

// A strided 3x3 conv with padding exercises every index path of the three directions.
TEST_F(KernelLab, Conv2dStridedVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Conv2d, "layer2.0.conv1")); }
// The stem: 7x7/2, pad 3, one input channel.
TEST_F(KernelLab, Conv2dStemVariantsMatchCpu) { expect_all_pass(first_case(OpKind::Conv2d, "conv1")); }
// 1x1/2 downsample: no padding, a subsampled input.
TEST_F(KernelLab, Conv2dDownsampleVariantsMatchCpu) {
  expect_all_pass(first_case(OpKind::Conv2d, "layer3.0.downsample"));
}
TEST_F(KernelLab, BatchNormVariantsMatchCpu) { expect_all_pass(first_case(OpKind::BatchNorm2d, "layer1.bn")); }
TEST_F(KernelLab, MaxPoolVariantsMatchCpu) { expect_all_pass(first_case(OpKind::MaxPool2d, "maxpool")); }

TEST(KernelLabCases, Resnet18ShapesAt28And224) {
  // 11 distinct convs, 5 batchnorms, 1 max-pool; runs anywhere (no GPU needed).
  for (int64_t s : {28, 224}) {
    const auto cases = kernels::lab::resnet18_cases(s, 2);
    EXPECT_EQ(cases.size(), 17u);
  }
  const auto c28 = kernels::lab::resnet18_cases(28, 2);
  EXPECT_EQ(c28[0].conv.P, 14);  // conv1
  EXPECT_EQ(c28[2].pool.P, 7);   // maxpool
  EXPECT_EQ(c28.back().bn.HW, 1);  // layer4 at 1x1
  const auto c224 = kernels::lab::resnet18_cases(224, 2);
  EXPECT_EQ(c224[0].conv.P, 112);
  EXPECT_EQ(c224.back().bn.HW, 49);  // layer4 at 7x7
}

}  // namespace
}  // namespace lb
