// test_bf16_cuda.cc (label gpu): what MathMode::Bf16 does on CUDA beyond test_ops_cuda.cc's Bf16
// rows (which compare every conv and linear direction, and the whole ResNet18, with the CPU's bf16
// emulation): our kernels really round (they are far from the plain fp32 CPU result, close to the
// emulation), cuBLAS's bf16 linear stays within bf16 error of the emulation, and cuDNN's conv
// refuses the mode with a one-line error. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <functional>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "kernels/runtime.cuh"
#include "tests/support/check.h"

namespace lb {
namespace {

using kernels::MathMode;

class CudaBf16 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
  void TearDown() override {
    set_cuda_backend(CudaBackend::Custom);
    set_cuda_math_mode(MathMode::Fp32);
  }
};

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return test::random_tensor(s, seed, DType::Float32, lo, hi);
}

using Op = std::function<Tensor(const Tensor& x, const Tensor& w)>;

// The output and the x and w gradients of op in math mode `mode`, on CUDA (under the current
// backend) or on the CPU, from the same inputs and upstream gradient; all returned on the CPU.
std::vector<Tensor> run(const Op& op, const Tensor& x, const Tensor& w, bool on_cuda, MathMode mode) {
  set_cuda_math_mode(mode);
  const Device dev = on_cuda ? Device::cuda() : Device::cpu();
  Tensor xd = x.to(dev).detach().requires_grad_(), wd = w.to(dev).detach().requires_grad_();
  Tensor y = op(xd, wd);
  Tensor dy = rnd(y.shape(), 99).to(dev);
  const auto g = autograd::grad({y}, {xd, wd}, {dy});
  set_cuda_math_mode(MathMode::Fp32);
  return {y.to(Device::cpu()), g[0].to(Device::cpu()), g[1].to(Device::cpu())};
}

// CUDA Bf16 against the CPU in Bf16 (emulation) and in fp32: close to the first within `tol`,
// and at least 3e-4 from the second (bf16's 8-bit mantissa puts ~3e-3 there).
void expect_rounded(const Op& op, const Tensor& x, const Tensor& w, double tol) {
  const auto gpu = run(op, x, w, true, MathMode::Bf16);
  const auto emu = run(op, x, w, false, MathMode::Bf16);
  const auto fp32 = run(op, x, w, false, MathMode::Fp32);
  for (size_t i = 0; i < gpu.size(); ++i) {
    SCOPED_TRACE(i == 0 ? "output" : i == 1 ? "dx" : "dw");
    LB_EXPECT_REL(gpu[i], emu[i], tol);
    EXPECT_GT(test::rel_l2_error(gpu[i], fp32[i]), 3e-4);
  }
}

// Our kernels: 1e-4 (tensor-core accumulation order and truncation; see test_ops_cuda.cc).
TEST_F(CudaBf16, CustomKernelsRoundTheirOperands) {
  expect_rounded([](const Tensor& x, const Tensor& w) { return conv2d(x, w, Tensor(), 1, 1); }, rnd({4, 64, 14, 14}, 1),
                 rnd({64, 64, 3, 3}, 2, -0.1, 0.1), 1e-4);
  expect_rounded([](const Tensor& x, const Tensor& w) { return conv2d(x, w, Tensor(), 2, 3); }, rnd({4, 1, 28, 28}, 3),
                 rnd({64, 1, 7, 7}, 4, -0.3, 0.3), 1e-4);  // the stem: direct dx kernel
  expect_rounded([](const Tensor& x, const Tensor& w) { return linear(x, w, Tensor()); }, rnd({64, 512}, 5),
                 rnd({10, 512}, 6, -0.1, 0.1), 1e-4);
}

// cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF may down-convert to bf16 or to TF32 (its header's words),
// so its result is within bf16 error of the emulation, not within accumulation-order error.
TEST_F(CudaBf16, CublasLinearIsWithinBf16ErrorOfTheEmulation) {
  set_cuda_backend(CudaBackend::Cudnn);
  const Tensor x = rnd({64, 512}, 7), w = rnd({10, 512}, 8, -0.1, 0.1);
  const Op op = [](const Tensor& a, const Tensor& b) { return linear(a, b, Tensor()); };
  const auto gpu = run(op, x, w, true, MathMode::Bf16), emu = run(op, x, w, false, MathMode::Bf16);
  for (size_t i = 0; i < gpu.size(); ++i) LB_EXPECT_REL(gpu[i], emu[i], 2e-2);
}

TEST_F(CudaBf16, CudnnConvRefusesBf16) {
  set_cuda_backend(CudaBackend::Cudnn);
  set_cuda_math_mode(MathMode::Bf16);
  const Tensor x = rnd({1, 2, 5, 5}, 9).to(Device::cuda()), w = rnd({3, 2, 3, 3}, 10).to(Device::cuda());
  test::expect_error([&] { conv2d(x, w, Tensor(), 1, 1); }, {"--bf16 runs on lightbox's kernels", "--backend custom"});
}

}  // namespace
}  // namespace lb
