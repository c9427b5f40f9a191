// test_elementwise_cuda.cc (label gpu): the CUDA elementwise kernels against the CPU backend.
// Skipped, and reported as skipped, when the build has no CUDA or the machine has no device.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "tests/support/check.h"

namespace lb {
namespace {

class CudaElementwise : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
};

// Sizes cover a partial block, several blocks and more elements than one grid-stride pass.
const std::vector<int64_t> kSizes = {1, 255, 257, 100003, 70000 * 256 + 3};

TEST_F(CudaElementwise, ReluForwardBackwardMatchCpu) {
  for (int64_t n : kSizes) {
    Tensor x = test::random_tensor({n}, 1, DType::Float32).requires_grad_();
    Tensor dy = test::random_tensor({n}, 2, DType::Float32);
    Tensor xg = x.detach().to(Device::cuda()).requires_grad_();
    Tensor y = relu(x), yg = relu(xg);
    // relu is exact: bit-identical results expected.
    LB_EXPECT_CLOSE(yg.to(Device::cpu()), y, 0, 0);
    Tensor dx = autograd::grad({y}, {x}, {dy})[0];
    Tensor dxg = autograd::grad({yg}, {xg}, {dy.to(Device::cuda())})[0];
    LB_EXPECT_CLOSE(dxg.to(Device::cpu()), dx, 0, 0);
  }
}

TEST_F(CudaElementwise, AddMulScaleMatchCpu) {
  for (int64_t n : kSizes) {
    Tensor a = test::random_tensor({n}, 3, DType::Float32), b = test::random_tensor({n}, 4, DType::Float32);
    Tensor s = test::random_tensor({1}, 5, DType::Float32);
    Tensor ag = a.to(Device::cuda()), bg = b.to(Device::cuda()), sg = s.to(Device::cuda());
    // One multiply-add per element: the GPU may fuse it (FMA), so allow one rounding of difference.
    LB_EXPECT_CLOSE(add(ag, bg, -0.5).to(Device::cpu()), add(a, b, -0.5), 1e-7, 1e-6);
    LB_EXPECT_CLOSE(add(ag, sg).to(Device::cpu()), add(a, s), 1e-7, 1e-6);
    LB_EXPECT_CLOSE(mul(ag, bg).to(Device::cpu()), mul(a, b), 0, 0);
    LB_EXPECT_CLOSE(scale(ag, 3.0).to(Device::cpu()), scale(a, 3.0), 0, 0);
  }
}

}  // namespace
}  // namespace lb
