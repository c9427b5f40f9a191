// test_ops_cuda.cc (label gpu): every op of the engine on CUDA against the CPU backend, forward
// and backward, under both CUDA backends (lightbox's kernels and cuDNN/cuBLAS) and both math modes
// (fp32 and TF32; our kernels also in bf16, against the CPU's bf16 emulation), on random inputs, odd sizes and every ResNet18 layer shape; then the allocator,
// the fused optimizer updates, and the whole model (logits, every gradient, 10 SGD steps).
// Max-pool's backward scatters with atomics where windows overlap, so its sums may differ from the
// CPU's in the last bit: 1e-7 there, 0 for the forward.
//
// Comparisons use the relative L2 error ||got - want|| / ||want|| (METHOD.md's measure): fp32 runs
// land near 1e-6 (different summation orders), TF32 near 3e-4. Bf16 is compared with the CPU
// running the same mode (engine/cpu/conv2d.h: the same bf16-rounded operands, exact products), so
// only the summation order differs, as in fp32; see CudaOps::tol. NaN anywhere fails. Skipped, and
// reported as skipped, without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "engine/optim/optim.h"
#include "kernels/runtime.cuh"
#include "models/resnet.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using kernels::MathMode;

// ||got - want|| / max(||want||, tiny), in double; NaN or a shape mismatch gives +inf.
struct Mode {
  CudaBackend backend;
  MathMode math;
};

std::string mode_name(const ::testing::TestParamInfo<Mode>& p) {
  const MathMode m = p.param.math;
  return std::string(cuda_backend_name(p.param.backend)) + (m == MathMode::Tf32   ? "_tf32"
                                                            : m == MathMode::Bf16 ? "_bf16"
                                                                                  : "_fp32");
}

// Sets the backend and math mode for one test and restores the defaults afterwards.
class CudaOps : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
    set_cuda_backend(GetParam().backend);
    set_cuda_math_mode(GetParam().math);
  }
  void TearDown() override {
    set_cuda_backend(CudaBackend::Custom);
    set_cuda_math_mode(MathMode::Fp32);
  }
  bool tf32() const { return GetParam().math == MathMode::Tf32; }
  bool bf16() const { return GetParam().math == MathMode::Bf16; }
  // Tolerance for a result with long fp32 reductions. Bf16 vs the CPU's bf16 emulation: exact
  // products, but tensor cores accumulate in fp32 with truncation (Fasi et al. 2021), up to
  // red/16 one-ulp truncations per output (4608/16 at layer4: ~2e-5), hence 1e-4; skipping the
  // rounding on either side shows as ~3e-3.
  double tol(double fp32 = 2e-5) const { return tf32() ? 5e-3 : bf16() ? std::max(fp32, 1e-4) : fp32; }
};

INSTANTIATE_TEST_SUITE_P(Backends, CudaOps,
                         ::testing::Values(Mode{CudaBackend::Custom, MathMode::Fp32},
                                           Mode{CudaBackend::Custom, MathMode::Tf32},
                                           Mode{CudaBackend::Custom, MathMode::Bf16},
                                           Mode{CudaBackend::Cudnn, MathMode::Fp32},
                                           Mode{CudaBackend::Cudnn, MathMode::Tf32}),
                         mode_name);

Tensor rnd(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return test::random_tensor(s, seed, DType::Float32, lo, hi);
}

Tensor cuda(const Tensor& t) { return t.to(Device::cuda()); }
Tensor host(const Tensor& t) { return t.to(Device::cpu()); }

// Runs f on CPU inputs and on CUDA copies, with the same upstream gradient, and compares the output
// and the gradient of every input that requires grad.
void compare_op(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& cpu_in,
                double fwd_tol, double bwd_tol, uint64_t seed, const std::string& what) {
  SCOPED_TRACE(what);
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) {
    Tensor g = cuda(t.detach());
    if (t.requires_grad()) g.requires_grad_();
    gpu_in.push_back(g);
  }
  Tensor y = f(cpu_in), yg = f(gpu_in);
  ASSERT_TRUE(yg.device().is_cuda());
  LB_EXPECT_REL(host(yg), y, fwd_tol);
  std::vector<Tensor> want_in, got_in;
  for (size_t i = 0; i < cpu_in.size(); ++i)
    if (cpu_in[i].requires_grad()) {
      want_in.push_back(cpu_in[i]);
      got_in.push_back(gpu_in[i]);
    }
  if (want_in.empty()) return;
  Tensor dy = rnd(y.shape(), seed);
  const auto want = autograd::grad({y}, want_in, {dy});
  const auto got = autograd::grad({yg}, got_in, {cuda(dy)});
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("gradient of input " + std::to_string(i));
    ASSERT_TRUE(got[i].defined() && got[i].device().is_cuda());
    LB_EXPECT_REL(host(got[i]), want[i], bwd_tol);
  }
}

struct ConvCase {
  int64_t N, C, H, W, K, R, stride, pad;
  bool bias;
};

std::string conv_str(const ConvCase& c) {
  std::ostringstream os;
  os << "conv N=" << c.N << " C=" << c.C << " " << c.H << "x" << c.W << " K=" << c.K << " " << c.R << "x" << c.R << "/"
     << c.stride << " pad=" << c.pad << (c.bias ? " bias" : "");
  return os.str();
}

void run_conv_cases(const std::vector<ConvCase>& cases, double fwd_tol, double bwd_tol) {
  uint64_t seed = 100;
  for (const ConvCase& c : cases) {
    Tensor x = rnd({c.N, c.C, c.H, c.W}, ++seed).requires_grad_();
    Tensor w = rnd({c.K, c.C, c.R, c.R}, ++seed, -0.2, 0.2).requires_grad_();
    Tensor b = c.bias ? rnd({c.K}, ++seed).requires_grad_() : Tensor();
    std::vector<Tensor> in{x, w};
    if (c.bias) in.push_back(b);
    compare_op(
        [&](const std::vector<Tensor>& t) {
          return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), c.stride, c.pad);
        },
        in, fwd_tol, bwd_tol, ++seed, conv_str(c));
  }
}

// Odd sizes: partial tiles in every GEMM dimension, strides, 1x1 and 7x7 filters, tiny planes.
TEST_P(CudaOps, Conv2dOddSizesMatchCpu) {
  run_conv_cases({{1, 1, 5, 5, 1, 3, 1, 1, false},
                  {2, 3, 7, 5, 5, 3, 2, 1, true},
                  {3, 5, 9, 11, 7, 1, 2, 0, true},
                  {2, 2, 13, 13, 3, 7, 2, 3, false},
                  {1, 17, 6, 6, 33, 3, 1, 0, true},
                  {5, 65, 3, 3, 70, 3, 1, 1, false},
                  {2, 8, 1, 1, 9, 3, 1, 1, true},
                  {2, 8, 1, 1, 9, 3, 2, 1, false},
                  {2, 9, 9, 8, 11, 3, 2, 1, true},     // backward_input: stride-class GEMM (C > 8), stride 2
                  {2, 10, 11, 7, 5, 7, 3, 3, false},   // stride-class GEMM, stride 3, 7x7
                  {3, 12, 9, 7, 17, 1, 2, 0, false},   // 1x1 stride 2: three tapless classes write zeros
                  {2, 9, 13, 12, 6, 3, 5, 2, false}},  // stride 5: the plain gather (beyond kMaxPhase)
                 tol(), tol(5e-5));
}

// Every conv of the 1-channel ResNet18 at 28x28 input (batch 8) and at 224x224 (batch 1).
TEST_P(CudaOps, Conv2dResNet18ShapesMatchCpu) {
  std::vector<ConvCase> cases;
  for (int64_t size : {28, 224}) {
    const int64_t n = size == 28 ? 8 : 1;
    const int64_t s1 = (size + 1) / 2, s2 = (s1 + 1) / 2;  // after conv1, after the max pool
    cases.push_back({n, 1, size, size, 64, 7, 2, 3, false});
    int64_t hw = s2, c = 64;
    for (int64_t k : {64, 128, 256, 512}) {
      const int64_t stride = k == 64 ? 1 : 2, out = (hw - 1) / stride + 1;
      cases.push_back({n, c, hw, hw, k, 3, stride, 1, false});              // block.0 conv1
      if (stride == 2) cases.push_back({n, c, hw, hw, k, 1, 2, 0, false});  // downsample
      cases.push_back({n, k, out, out, k, 3, 1, 1, false});                 // conv2 and block.1
      hw = out;
      c = k;
    }
  }
  run_conv_cases(cases, tol(), tol(1e-4));
}

TEST_P(CudaOps, BatchNormTrainAndEvalMatchCpu) {
  uint64_t seed = 200;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{8, 64, 7, 7}, Shape{4, 512, 1, 1}, Shape{3, 5, 33, 31}}) {
    const int64_t C = s[1];
    Tensor x = rnd(s, ++seed, -2, 3).requires_grad_();
    Tensor w = rnd({C}, ++seed, 0.5, 1.5).requires_grad_(), b = rnd({C}, ++seed).requires_grad_();
    for (bool training : {true, false}) {
      Tensor rm = rnd({C}, ++seed, -0.1, 0.1), rv = rnd({C}, ++seed, 0.5, 1.5);
      Tensor rmg = cuda(rm), rvg = cuda(rv);
      compare_op(
          [&](const std::vector<Tensor>& t) {
            const bool gpu = t[0].device().is_cuda();
            return batch_norm2d(t[0], t[1], t[2], gpu ? rmg : rm, gpu ? rvg : rv, training, 0.1, 1e-5);
          },
          {x, w, b}, 1e-5, 1e-4, ++seed, std::string("batch_norm2d ") + (training ? "train " : "eval ") + shape_str(s));
      // The running statistics were updated the same way (twice each: forward of compare_op once per device).
      LB_EXPECT_REL(host(rmg), rm, 1e-5);
      LB_EXPECT_REL(host(rvg), rv, 1e-5);
    }
  }
}

TEST_P(CudaOps, PoolingMatchesCpu) {
  uint64_t seed = 300;
  for (const Shape& s : {Shape{2, 3, 14, 14}, Shape{1, 2, 7, 9}, Shape{8, 64, 112, 112}}) {
    Tensor x = rnd(s, ++seed).requires_grad_();
    compare_op([](const std::vector<Tensor>& t) { return max_pool2d(t[0], 3, 2, 1); }, {x}, 0, 1e-7, ++seed,
               "max_pool2d 3/2/1 " + shape_str(s));
    compare_op([](const std::vector<Tensor>& t) { return max_pool2d(t[0], 2, 2, 0); }, {x}, 0, 0, ++seed,
               "max_pool2d 2/2/0 " + shape_str(s));
    compare_op([](const std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], 1, 1); }, {x}, 1e-6, 1e-6, ++seed,
               "adaptive_avg_pool2d 1x1 " + shape_str(s));
    compare_op([](const std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], 3, 5); }, {x}, 1e-6, 1e-6, ++seed,
               "adaptive_avg_pool2d 3x5 " + shape_str(s));
  }
}

TEST_P(CudaOps, LinearMatchesCpu) {
  uint64_t seed = 400;
  for (auto [n, in, out] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 5, 7}, {128, 512, 2}, {257, 1000, 129}}) {
    Tensor x = rnd({n, in}, ++seed).requires_grad_(), w = rnd({out, in}, ++seed, -0.1, 0.1).requires_grad_();
    Tensor b = rnd({out}, ++seed).requires_grad_();
    compare_op([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); }, {x, w, b}, tol(), tol(5e-5),
               ++seed, "linear " + std::to_string(n) + "x" + std::to_string(in) + "->" + std::to_string(out));
  }
}

TEST_P(CudaOps, SoftmaxLossAndReductionsMatchCpu) {
  uint64_t seed = 500;
  for (const Shape& s : {Shape{4, 2}, Shape{3, 1000}, Shape{2, 5, 7}}) {
    Tensor x = rnd(s, ++seed, -5, 5).requires_grad_();
    compare_op([](const std::vector<Tensor>& t) { return softmax(t[0], 1); }, {x}, 1e-6, 1e-5, ++seed, "softmax");
    compare_op([](const std::vector<Tensor>& t) { return log_softmax(t[0], -1); }, {x}, 1e-6, 1e-5, ++seed,
               "log_softmax");
    compare_op([](const std::vector<Tensor>& t) { return sum(t[0], 0); }, {x}, 1e-6, 1e-6, ++seed, "sum dim 0");
    compare_op([](const std::vector<Tensor>& t) { return mean(t[0]); }, {x}, 1e-6, 1e-6, ++seed, "mean");
  }
  // A long full reduction (several blocks' worth, odd length).
  Tensor big = rnd({10000003}, ++seed).requires_grad_();
  compare_op([](const std::vector<Tensor>& t) { return sum(t[0]); }, {big}, 1e-5, 0, ++seed, "sum of 1e7");
  for (int64_t n : {1, 7, 128, 1000}) {
    Tensor logits = rnd({n, 3}, ++seed, -4, 4).requires_grad_();
    Tensor y = Tensor::empty({n}, DType::Int64);
    for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = (i * 7 + 1) % 3;
    const Tensor cw = Tensor::from_vector({0.2, 1.0, 3.0}, {3}, DType::Float32);
    compare_op([&](const std::vector<Tensor>& t) { return cross_entropy(t[0], y); }, {logits}, 1e-6, 1e-5, ++seed,
               "cross_entropy n=" + std::to_string(n));
    compare_op(
        [&](const std::vector<Tensor>& t) { return cross_entropy(t[0], y, t[0].device().is_cuda() ? cuda(cw) : cw); },
        {logits}, 1e-6, 1e-5, ++seed, "weighted cross_entropy n=" + std::to_string(n));
  }
}

TEST_P(CudaOps, ElementwiseAndInPlaceReluMatchCpu) {
  Tensor a = rnd({3, 1000, 7}, 601).requires_grad_(), b = rnd({3, 1000, 7}, 602).requires_grad_();
  compare_op([](const std::vector<Tensor>& t) { return relu(add(mul(t[0], t[1]), t[0], 0.5)); }, {a, b}, 1e-6, 1e-6,
             603, "relu(a*b + a/2)");
  // In-place relu on a tensor autograd saved: refused on both devices (version counters).
  Tensor x = cuda(rnd({16}, 604)).requires_grad_();
  Tensor y = mul(x, x);
  Tensor z = mul(y, y);  // saves y
  relu_(y);
  test::expect_error([&] { sum(z).backward(); }, {"in-place error", "mul"});
}

// The fused BN + residual add + ReLU (batch_norm2d_relu) at ResNet18's shapes (28x28 batch 8: stem,
// layer1..4; a 224x224 layer1) and odd sizes (HW not a multiple of 4: the scalar path; 1x1 maps),
// training and eval, with and without the residual: CUDA against the CPU (values, the gradients of
// x, weight, bias and residual, running statistics), then against the unfused composition on the
// same device. Custom backend: the fused kernels do the composition's arithmetic in the same
// order (kernels/batch_norm2d.cu), so they must agree bit for bit; cuDNN backend: the op IS the
// composition (cuDNN's BN + our add/ReLU), 1e-6 allows for cuDNN not promising run-to-run bits.
TEST_P(CudaOps, BatchNormReluFusedMatchesCpuAndComposition) {
  uint64_t seed = 700;
  const bool custom = GetParam().backend == CudaBackend::Custom;
  for (const Shape& s :
       {Shape{8, 64, 14, 14}, Shape{8, 64, 7, 7}, Shape{8, 128, 4, 4}, Shape{8, 256, 2, 2}, Shape{8, 512, 1, 1},
        Shape{2, 64, 56, 56}, Shape{2, 3, 5, 7}, Shape{3, 5, 33, 31}, Shape{1, 4, 3, 3}}) {
    const int64_t C = s[1];
    Tensor x = rnd(s, ++seed, -2, 3).requires_grad_(), r = rnd(s, ++seed).requires_grad_();
    Tensor w = rnd({C}, ++seed, 0.5, 1.5).requires_grad_(), b = rnd({C}, ++seed).requires_grad_();
    for (bool training : {true, false})
      for (bool with_res : {true, false}) {
        const std::string what = std::string("batch_norm2d_relu ") + (training ? "train " : "eval ") +
                                 (with_res ? "+residual " : "") + shape_str(s);
        Tensor rm = rnd({C}, ++seed, -0.1, 0.1), rv = rnd({C}, ++seed, 0.5, 1.5);
        Tensor rmg = cuda(rm), rvg = cuda(rv);
        std::vector<Tensor> in = {x, w, b};
        if (with_res) in.push_back(r);
        compare_op(
            [&](const std::vector<Tensor>& t) {
              const bool gpu = t[0].device().is_cuda();
              return batch_norm2d_relu(t[0], t[1], t[2], gpu ? rmg : rm, gpu ? rvg : rv, training, 0.1, 1e-5,
                                       with_res ? t[3] : Tensor());
            },
            in, 1e-5, 1e-4, ++seed, what);
        LB_EXPECT_REL(host(rmg), rm, 1e-5);
        LB_EXPECT_REL(host(rvg), rv, 1e-5);
        // Fused vs composed on the GPU, same inputs and running statistics.
        SCOPED_TRACE(what + " vs the composition on CUDA");
        std::vector<Tensor> a, c;
        for (const Tensor& t : in) {
          a.push_back(cuda(t.detach()).requires_grad_());
          c.push_back(cuda(t.detach()).requires_grad_());
        }
        Tensor rm1 = cuda(rm), rv1 = cuda(rv), rm2 = cuda(rm), rv2 = cuda(rv);
        Tensor y = batch_norm2d_relu(a[0], a[1], a[2], rm1, rv1, training, 0.1, 1e-5, with_res ? a[3] : Tensor());
        Tensor z = batch_norm2d(c[0], c[1], c[2], rm2, rv2, training, 0.1, 1e-5);
        if (with_res) add_(z, c[3]);
        relu_(z);
        const double exact = custom ? 0.0 : 1e-6;
        LB_EXPECT_REL(host(y), host(z), exact);
        LB_EXPECT_REL(host(rm1), host(rm2), exact);
        LB_EXPECT_REL(host(rv1), host(rv2), exact);
        const Tensor dy = cuda(rnd(s, ++seed));
        const auto ga = autograd::grad({y}, a, {dy}), gc = autograd::grad({z}, c, {dy});
        for (size_t i = 0; i < ga.size(); ++i) LB_EXPECT_REL(host(ga[i]), host(gc[i]), exact);
      }
  }
}

// ---- allocator, optimizers, the whole model -------------------------------------------------------

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
  }
};

TEST_F(Cuda, CachingAllocatorReusesFreedBlocks) {
  { Tensor warm = Tensor::empty({1 << 20}, DType::Float32, Device::cuda()); }
  const uint64_t before = kernels::allocator_stats().cuda_mallocs;
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({1 << 20}, DType::Float32, Device::cuda());
    t.fill_(i);
    EXPECT_EQ(t.at(12345), i);
  }
  EXPECT_EQ(kernels::allocator_stats().cuda_mallocs, before) << "a freed block of the same size was not reused";
  kernels::empty_cache();
  EXPECT_EQ(kernels::allocator_stats().reserved_bytes, kernels::allocator_stats().allocated_bytes);
}

TEST_F(Cuda, OutOfMemoryIsAOneLineError) {
  test::expect_error([] { Tensor::empty({int64_t(1) << 45}, DType::Float32, Device::cuda()); },
                     {"out of memory", "--batch-size"});
}

void compare_optimizer_steps(bool adamw) {
  Tensor p = rnd({1000, 3}, 700), pg = cuda(p);
  p.requires_grad_();
  pg.requires_grad_();
  std::unique_ptr<optim::Optimizer> a, b;
  if (adamw) {
    optim::AdamWOptions o;
    o.lr = 0.01;
    o.weight_decay = 0.1;
    a = std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, o);
    b = std::make_unique<optim::AdamW>(std::vector<Tensor>{pg}, o);
  } else {
    optim::SGDOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 1e-3;
    o.nesterov = true;
    a = std::make_unique<optim::SGD>(std::vector<Tensor>{p}, o);
    b = std::make_unique<optim::SGD>(std::vector<Tensor>{pg}, o);
  }
  for (int step = 0; step < 5; ++step) {
    Tensor g = rnd({1000, 3}, 710 + step);
    p.set_grad(g);
    pg.set_grad(cuda(g));
    a->step();
    b->step();
  }
  LB_EXPECT_REL(host(pg), p, 1e-6);
}

// Class weights on the device are read only by the loss kernel, which sums the batch's weights
// itself: a weighted loss can be captured in a CUDA Graph (nothing is read back), and a batch
// whose device weights sum to 0 gets a NaN loss. Weights given on the CPU are still checked on the
// host, as the CPU does, since that costs no synchronisation.
TEST_F(Cuda, WeightedCrossEntropyReadsNothingBack) {
  const Tensor logits = rnd({7, 3}, 901, -4, 4);
  const Tensor y = Tensor::from_vector({0, 1, 2, 2, 1, 0, 2}, {7}, DType::Int64);
  const Tensor w = Tensor::from_vector({0.2, 1.0, 3.0}, {3}, DType::Float32);
  const Tensor lg = cuda(logits), yg = cuda(y), wg = cuda(w);
  const Tensor want = cross_entropy(logits, y, w);
  const Tensor eager = cross_entropy(lg, yg, wg);
  LB_EXPECT_REL(host(eager), want, 1e-6);  // one double-accumulated sum of 7 terms: float32 rounding
  kernels::capture_begin();
  Tensor captured;
  const std::string err = test::error_of([&] { captured = cross_entropy(lg, yg, wg); });
  void* graph = kernels::capture_end();
  ASSERT_EQ(err, "");
  kernels::graph_replay(graph);
  EXPECT_EQ(host(captured).item(), host(eager).item());  // same kernels, same inputs
  kernels::graph_destroy(graph);
  const Tensor y0 = Tensor::from_vector({0, 0, 0, 0, 0, 0, 0}, {7}, DType::Int64);
  const Tensor w0 = Tensor::from_vector({0.0, 1.0, 1.0}, {3}, DType::Float32);
  EXPECT_TRUE(std::isnan(cross_entropy(lg, cuda(y0), cuda(w0)).item()));
  test::expect_error([&] { cross_entropy(lg, y0, w0); }, {"cross_entropy", "sum to 0"});
  test::expect_error([&] { cross_entropy(logits, y0, w0); }, {"cross_entropy", "sum to 0"});
}

TEST_F(Cuda, FusedSgdMatchesCpu) { compare_optimizer_steps(false); }
TEST_F(Cuda, FusedAdamWMatchesCpu) { compare_optimizer_steps(true); }

// The whole ResNet18 (1 channel, 2 classes), both backends: logits, every parameter's gradient,
// then 10 SGD steps with momentum on each device from the same start. Bf16 (ours) against the CPU's
// bf16 emulation: a last-bit difference in an activation can move the next layer's bf16 rounding by
// one bf16 step (2^-8) for a few elements, and that compounds over 20 layers: 10x the fp32 bounds.
class CudaModel : public CudaOps {
 protected:
  double model_tol(double fp32) const { return bf16() ? 10 * fp32 : fp32; }
};
INSTANTIATE_TEST_SUITE_P(Backends, CudaModel,
                         ::testing::Values(Mode{CudaBackend::Custom, MathMode::Fp32},
                                           Mode{CudaBackend::Custom, MathMode::Bf16},
                                           Mode{CudaBackend::Cudnn, MathMode::Fp32}),
                         mode_name);

TEST_P(CudaModel, ResNet18LogitsGradientsAndTenStepsMatchCpu) {
  Generator gen(3);
  models::ResNet18 cpu_model(1, 2, gen), gpu_model(1, 2, gen);
  gpu_model.load_state_dict(cpu_model.state_dict());
  gpu_model.to(Device::cuda());
  Tensor x = rnd({8, 1, 28, 28}, 800);
  Tensor y = Tensor::from_vector({0, 1, 1, 0, 1, 0, 0, 1}, {8}, DType::Int64);
  cpu_model.train();
  gpu_model.train();
  Tensor lc = cross_entropy(cpu_model(x), y), lg = cross_entropy(gpu_model(cuda(x)), y);
  EXPECT_NEAR(lg.item(), lc.item(), model_tol(1e-4) * std::abs(lc.item()));
  lc.backward();
  lg.backward();
  const auto pc = cpu_model.named_parameters(), pgs = gpu_model.named_parameters();
  ASSERT_EQ(pc.size(), pgs.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    SCOPED_TRACE(pc[i].first);
    ASSERT_TRUE(pgs[i].second.grad().defined());
    LB_EXPECT_REL(host(pgs[i].second.grad()), pc[i].second.grad(), model_tol(1e-3));
  }
  // 10 SGD steps with momentum. Training a randomly initialised ResNet on random data with batch
  // statistics is chaotic: on the CPU alone, a 1e-6 relative nudge to the weights grows to a 50%
  // difference in conv1.weight after 10 steps (measured). So each step starts the GPU model from the
  // CPU model's weights and running statistics, and the test compares what the step did: the loss,
  // each parameter's update (which carries the momentum history of every earlier step) and the new
  // running statistics.
  optim::SGDOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  optim::SGD oc(cpu_model.parameters(), so), og(gpu_model.parameters(), so);
  for (int step = 0; step < 10; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    gpu_model.load_state_dict(cpu_model.state_dict());
    const auto before = cpu_model.state_dict();
    std::vector<Tensor> before_values;
    for (const auto& [name, t] : before) before_values.push_back(t.clone());
    Tensor xs = rnd({8, 1, 28, 28}, 810 + step);
    double losses[2];
    int k = 0;
    for (auto [m, o, dev] : {std::tuple{&cpu_model, &oc, Device::cpu()}, std::tuple{&gpu_model, &og, Device::cuda()}}) {
      Tensor loss = cross_entropy((*m)(xs.to(dev)), y);
      losses[k++] = loss.item();
      o->zero_grad();
      loss.backward();
      o->step();
    }
    EXPECT_NEAR(losses[1], losses[0], model_tol(1e-4) * std::abs(losses[0]));
    const auto sc = cpu_model.state_dict(), sg = gpu_model.state_dict();
    for (size_t i = 0; i < sc.size(); ++i) {
      if (!is_floating(sc[i].second.dtype())) continue;
      SCOPED_TRACE(sc[i].first);
      const Tensor want = sub(sc[i].second, before_values[i]), got = sub(host(sg[i].second), before_values[i]);
      LB_EXPECT_REL(got, want, model_tol(1e-2));
    }
  }
  gpu_model.load_state_dict(cpu_model.state_dict());
  cpu_model.eval();
  gpu_model.eval();
  NoGradGuard ng;
  LB_EXPECT_REL(host(gpu_model(cuda(x))), cpu_model(x), model_tol(1e-4));
}

}  // namespace
}  // namespace lb
