// test_conv2d_v2_cuda.cc (label gpu): the v2 implicit-GEMM conv kernels (lab/conv2d_v2.cuh,
// lab-only) against the CPU backend, fp32 and TF32, in all three directions: every ResNet18 conv
// at 28x28 (batch 8) and 224x224 (batch 1), and odd shapes (partial tiles, strides 2-4, dead taps,
// tapless stride classes, both the one-tap-per-tile and the per-element index paths, a bias).
// Outputs start as NaN, so an element the kernel never writes fails the check. The index math
// alone is also checked without a GPU (tests/lab/test_conv2d_v2_index.cc). Skipped, and
// reported as skipped, without a CUDA device.
#include <gtest/gtest.h>

#include <limits>
#include <sstream>
#include <vector>

#include "engine/cpu/conv2d.h"
#include "engine/storage.h"
#include "engine/tensor.h"
#include "kernels/runtime.cuh"
#include "lab/cases.h"
#include "lab/conv2d_v2.cuh"
#include "tests/support/check.h"

namespace lb {
namespace {

using kernels::Conv2dShape;
using kernels::MathMode;

class ConvV2 : public ::testing::TestWithParam<MathMode> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
  bool tf32() const { return GetParam() == MathMode::Tf32; }
  double tol(double fp32) const { return tf32() ? 5e-3 : fp32; }
};

std::string str(const Conv2dShape& s) {
  std::ostringstream os;
  os << "N=" << s.N << " C=" << s.C << " " << s.H << "x" << s.W << " K=" << s.K << " " << s.R << "x" << s.S << "/"
     << s.stride << " pad " << s.pad;
  return os.str();
}

cpu::Conv2dArgs args_of(const Conv2dShape& s) { return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q}; }

Tensor rnd(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
  return test::random_tensor(shape, seed, DType::Float32, lo, hi);
}
Tensor poisoned_cuda(const Shape& shape) {
  return Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), DType::Float32).to(Device::cuda());
}
float* dptr(Tensor& t) { return t.data_ptr<float>(); }
const float* dptr(const Tensor& t) { return t.data_ptr<float>(); }

void check_shape(const Conv2dShape& s, MathMode mode, bool bias, double fwd_tol, double bwd_tol, uint64_t seed) {
  SCOPED_TRACE(str(s));
  const Tensor x = rnd({s.N, s.C, s.H, s.W}, seed), w = rnd({s.K, s.C, s.R, s.S}, seed + 1, -0.2, 0.2);
  const Tensor b = rnd({s.K}, seed + 2), dy = rnd({s.N, s.K, s.P, s.Q}, seed + 3);
  const Tensor xd = x.to(Device::cuda()), wd = w.to(Device::cuda()), bd = b.to(Device::cuda()),
               dyd = dy.to(Device::cuda());
  {
    SCOPED_TRACE("forward");
    Tensor want = Tensor::empty({s.N, s.K, s.P, s.Q});
    cpu::conv2d_forward<float>(args_of(s), x.data<float>(), w.data<float>(), bias ? b.data<float>() : nullptr,
                               want.data<float>());
    Tensor got = poisoned_cuda({s.N, s.K, s.P, s.Q});
    kernels::conv2d_v2_forward(s, dptr(xd), dptr(wd), bias ? dptr(bd) : nullptr, dptr(got), mode);
    kernels::synchronize("conv2d_v2_forward");
    LB_EXPECT_REL(got.to(Device::cpu()), want, fwd_tol);
  }
  {
    SCOPED_TRACE("backward_input");
    Tensor want = Tensor::empty({s.N, s.C, s.H, s.W});
    cpu::conv2d_backward_input<float>(args_of(s), dy.data<float>(), w.data<float>(), want.data<float>());
    Tensor got = poisoned_cuda({s.N, s.C, s.H, s.W});
    kernels::conv2d_v2_backward_input(s, dptr(dyd), dptr(wd), dptr(got), mode);
    kernels::synchronize("conv2d_v2_backward_input");
    LB_EXPECT_REL(got.to(Device::cpu()), want, bwd_tol);
  }
  {
    SCOPED_TRACE("backward_weight");
    Tensor want = Tensor::empty({s.K, s.C, s.R, s.S});
    cpu::conv2d_backward_weight<float>(args_of(s), x.data<float>(), dy.data<float>(), want.data<float>());
    Tensor got = poisoned_cuda({s.K, s.C, s.R, s.S});
    kernels::conv2d_v2_backward_weight(s, dptr(xd), dptr(dyd), dptr(got), mode);
    kernels::synchronize("conv2d_v2_backward_weight");
    LB_EXPECT_REL(got.to(Device::cpu()), want, bwd_tol);
  }
}

Conv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t stride, int64_t pad) {
  return Conv2dShape{N, C, H, W, K, R, R, stride, pad, (H + 2 * pad - R) / stride + 1, (W + 2 * pad - R) / stride + 1};
}

TEST_P(ConvV2, ResNet18ShapesMatchCpu) {
  uint64_t seed = 10;
  for (int64_t size : {28, 224})
    for (const auto& c : kernels::lab::resnet18_cases(size, size == 28 ? 8 : 1))
      if (c.op == kernels::lab::OpKind::Conv2d) check_shape(c.conv, GetParam(), false, tol(2e-5), tol(1e-4), seed += 4);
}

TEST_P(ConvV2, OddShapesMatchCpu) {
  uint64_t seed = 1000;
  for (const Conv2dShape& s : {
           shape(1, 1, 5, 5, 1, 3, 1, 1), shape(2, 3, 7, 5, 5, 3, 2, 1), shape(3, 32, 9, 11, 70, 3, 2, 1),
           shape(2, 16, 5, 7, 130, 3, 1, 1), shape(2, 48, 13, 13, 33, 5, 3, 2), shape(2, 24, 12, 10, 32, 3, 2, 1),
           shape(1, 17, 6, 6, 33, 3, 1, 0), shape(5, 65, 3, 3, 70, 3, 1, 1), shape(2, 8, 1, 1, 9, 3, 1, 1),
           shape(2, 32, 1, 1, 48, 3, 2, 1), shape(3, 12, 9, 7, 17, 1, 2, 0), shape(2, 16, 2, 2, 16, 3, 2, 1),
           shape(2, 32, 11, 9, 16, 7, 4, 3), shape(1, 16, 40, 40, 200, 3, 1, 1),
           shape(2, 9, 13, 12, 6, 3, 5, 2),  // stride 5: backward_input falls back to v1
       })
    check_shape(s, GetParam(), true, tol(2e-5), tol(5e-5), seed += 4);
}

INSTANTIATE_TEST_SUITE_P(Modes, ConvV2, ::testing::Values(MathMode::Fp32, MathMode::Tf32),
                         [](const ::testing::TestParamInfo<MathMode>& p) {
                           return std::string(p.param == MathMode::Tf32 ? "tf32" : "fp32");
                         });

}  // namespace
}  // namespace lb
