// test_elementwise_cuda.cc (label gpu): the CUDA elementwise kernels and the dtype cast against
// the CPU backend. Skipped, and reported as skipped, when the build has no CUDA or the machine has
// no device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

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

// ---- Tensor::to(DType) on the device (kernels/cast.cu) ------------------------------------------

// Special values for a floating source: fractions either side of 0, the edges of uint8 and of the
// 32-bit conversion uint8 goes through, integers past 2^53, the edges of int64, float overflow and
// underflow, infinities and NaN. Out-of-range integer conversions are undefined in C++; the kernel
// gives what the x86-64 CPU build gives (kernels/cast.cuh), so they are compared too.
std::vector<double> special_doubles() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0,
          -0.0,
          0.5,
          -0.5,
          0.999,
          -0.999,
          1.5,
          -3.7,
          127.5,
          255.9,
          256.0,
          300.5,
          -300.5,
          65535.7,
          2147483647.9,
          2147483648.0,
          -2147483648.9,
          -2147483649.0,
          4e9,
          -4e9,
          1e10,
          9007199254740993.0,
          -9007199254740995.0,
          1e18,
          9.2e18,
          9.3e18,
          -9.2233720368547758e18,
          -9.3e18,
          1e19,
          3.4e38,
          1e39,
          1e-39,
          1e-46,
          inf,
          -inf,
          std::nan("")};
}

// A tensor of `dt` holding the specials (as representable) and 1000 random values: fractional in
// [-300, 300] and large in [-1e12, 1e12] for floats; small and full-range for int64; all of uint8.
Tensor cast_source(DType dt, uint64_t seed) {
  Generator gen(seed);
  std::vector<double> v = special_doubles();
  const size_t n_special = v.size();
  for (int i = 0; i < 500; ++i) v.push_back(gen.uniform(-300.0, 300.0));
  for (int i = 0; i < 500; ++i) v.push_back(gen.uniform(-1e12, 1e12));
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, dt);
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dt) {
      case DType::Float32:
        t.data<float>()[i] = static_cast<float>(v[i]);
        break;
      case DType::Float64:
        t.data<double>()[i] = v[i];
        break;
      case DType::UInt8:
        t.data<uint8_t>()[i] = static_cast<uint8_t>(i % 256);
        break;
      case DType::Int64: {
        // Full-range bit patterns, then edges and neighbours of 2^31, 2^53 and 2^63.
        const int64_t edges[] = {0,
                                 -1,
                                 1,
                                 255,
                                 256,
                                 -256,
                                 INT64_C(2147483648),
                                 -INT64_C(2147483649),
                                 (INT64_C(1) << 53) + 1,
                                 -(INT64_C(1) << 53) - 1,
                                 (INT64_C(1) << 62) + 12345,
                                 std::numeric_limits<int64_t>::max(),
                                 std::numeric_limits<int64_t>::min()};
        constexpr size_t n_edges = sizeof(edges) / sizeof(edges[0]);
        if (i < n_edges)
          t.data<int64_t>()[i] = edges[i];
        else if (i < n_special + 500)
          t.data<int64_t>()[i] = static_cast<int64_t>(gen.uniform(-1e6, 1e6));
        else
          t.data<int64_t>()[i] = static_cast<int64_t>(gen.next());
        break;
      }
    }
  }
  return t;
}

// Element i of a CPU tensor as its bytes, NaN payloads folded (x86 and the GPU quiet NaNs differently).
std::string element_bytes(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::Float32 && std::isnan(t.data<float>()[i])) return "nan";
  if (t.dtype() == DType::Float64 && std::isnan(t.data<double>()[i])) return "nan";
  const size_t sz = dtype_size(t.dtype());
  return std::string(static_cast<const char*>(t.raw_data()) + i * sz, sz);
}

// How many elements differ (the first five are reported).
int64_t mismatches(const Tensor& src, const Tensor& got, const Tensor& want) {
  int64_t bad = 0;
  for (int64_t i = 0; i < src.numel(); ++i)
    if (element_bytes(got, i) != element_bytes(want, i) && ++bad <= 5)
      ADD_FAILURE() << "element " << i << " (source " << src.at(i) << "): cuda " << got.at(i) << ", cpu " << want.at(i);
  return bad;
}

TEST_F(CudaElementwise, CastEveryDtypePairMatchesTheCpuExactly) {
  const DType all[] = {DType::Float32, DType::Float64, DType::Int64, DType::UInt8};
  uint64_t seed = 40;
  for (DType from : all) {
    const Tensor src = cast_source(from, ++seed);
    const Tensor src_dev = src.to(Device::cuda());
    for (DType to : all) {
      SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to));
      const Tensor want = src.to(to);
      const Tensor got_dev = src_dev.to(to);
      ASSERT_TRUE(got_dev.device().is_cuda());
      ASSERT_EQ(got_dev.dtype(), to);
      const Tensor got = got_dev.to(Device::cpu());
      EXPECT_EQ(mismatches(src, got, want), 0);
      // copy_ between dtypes within one device runs the same kernel.
      Tensor dst = Tensor::zeros(src.shape(), to, Device::cuda());
      dst.copy_(src_dev);
      EXPECT_EQ(mismatches(src, dst.to(Device::cpu()), want), 0) << "copy_";
    }
  }
}

}  // namespace
}  // namespace lb
