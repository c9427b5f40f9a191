// test_onednn_dispatch.cc: `--backend onednn` as the ops see it (engine/backend.h's CpuBackend).
//
//   - A small ResNet-like graph (3x3 conv, 1x1 conv with bias as the residual, fused BN + add + ReLU, max
//     pool, 3x3/2 conv, BN, ReLU, flatten, linear) run forward and backward under Own and under
//     Onednn: outputs, every gradient (input included) and the running statistics agree within
//     tolerance, in training and eval, and with frozen BN parameters in eval (the case whose
//     backward stays on our loop); and they are NOT bit-identical, which shows oneDNN really ran.
//   - float64 under Onednn is our loops, bit for bit.
//   - bf16 (our exact emulation) under Onednn is refused with one line.
//   - parse / name of the CPU backend.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops/ops.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::random_tensor;

// Restores the process-wide backend and math mode however a test ends.
struct BackendScope {
  ~BackendScope() {
    set_cpu_backend(CpuBackend::Own);
    set_cuda_math_mode(kernels::MathMode::Fp32);
  }
};

struct Params {
  Tensor x, w1, c1, wd, g1, b1, w2, g2, b2, fw, fb, r;  // r: the loss weights, (2, 3)
};

Params make_params(DType dt) {
  uint64_t s = 100;
  auto t = [&](const Shape& sh, double lo = -1.0, double hi = 1.0) { return random_tensor(sh, ++s, dt, lo, hi); };
  return {t({2, 4, 8, 8}),    t({8, 4, 3, 3}),   t({8}),           t({8, 4, 1, 1}),
          t({8}, 0.5, 1.5),   t({8}, -0.5, 0.5), t({16, 8, 3, 3}), t({16}, 0.5, 1.5),
          t({16}, -0.5, 0.5), t({3, 64}),        t({3}),           t({2, 3})};
}

struct Result {
  std::vector<Tensor> values;  // y, then each gradient, then the running statistics
};

// The graph, under `backend`; the parameters that get gradients are fresh leaves.
Result run_graph(const Params& p, CpuBackend backend, bool training, bool frozen_bn) {
  set_cpu_backend(backend);
  std::vector<Tensor> leaves;
  auto leaf = [&](const Tensor& t, bool grad = true) {
    Tensor l = t.clone();
    if (grad) leaves.push_back(l.requires_grad_());
    return l;
  };
  const Tensor x = leaf(p.x), w1 = leaf(p.w1), c1 = leaf(p.c1), wd = leaf(p.wd), w2 = leaf(p.w2), fw = leaf(p.fw),
               fb = leaf(p.fb);
  const Tensor g1 = leaf(p.g1, !frozen_bn), b1 = leaf(p.b1, !frozen_bn), g2 = leaf(p.g2, !frozen_bn),
               b2 = leaf(p.b2, !frozen_bn);
  const DType dt = p.x.dtype();
  Tensor rm1 = Tensor::zeros({8}, dt), rv1 = Tensor::ones({8}, dt), rm2 = Tensor::full({16}, 0.1, dt),
         rv2 = Tensor::full({16}, 2.0, dt);
  // The bias sits on the residual's conv: before a batch norm its gradient would be zero (BN
  // subtracts the mean), leaving only rounding noise to compare.
  Tensor h = batch_norm2d_relu(conv2d(x, w1, Tensor(), 1, 1), g1, b1, rm1, rv1, training, 0.1, 1e-5,
                               conv2d(x, wd, c1, 1, 0));                                         // (2, 8, 8, 8)
  h = max_pool2d(h, 3, 2, 1);                                                                    // (2, 8, 4, 4)
  h = relu(batch_norm2d(conv2d(h, w2, Tensor(), 2, 1), g2, b2, rm2, rv2, training, 0.1, 1e-5));  // (2, 16, 2, 2)
  const Tensor y = linear(flatten(h), fw, fb);                                                   // (2, 3)
  sum(mul(y, p.r)).backward();
  Result r{{y.detach()}};
  for (const Tensor& l : leaves) r.values.push_back(l.grad());
  for (const Tensor& s : {rm1, rv1, rm2, rv2}) r.values.push_back(s);
  set_cpu_backend(CpuBackend::Own);
  return r;
}

bool bit_identical(const Result& a, const Result& b) {
  for (size_t i = 0; i < a.values.size(); ++i)
    if (a.values[i].to_vector() != b.values[i].to_vector()) return false;
  return true;
}

TEST(OnednnDispatch, ResNetLikeGraphMatchesOwnAndReallyRunsOnednn) {
  BackendScope scope;
  const Params p = make_params(DType::Float32);
  for (bool training : {true, false})
    for (bool frozen : {false, true}) {
      if (training && frozen) continue;  // frozen BN parameters matter in eval (no saved x)
      SCOPED_TRACE(std::string(training ? "train" : "eval") + (frozen ? " frozen BN" : ""));
      const Result own = run_graph(p, CpuBackend::Own, training, frozen);
      const Result dnn = run_graph(p, CpuBackend::Onednn, training, frozen);
      ASSERT_EQ(own.values.size(), dnn.values.size());
      // Four layers deep, float sums in another order at each (test_onednn.cc's per-op bounds are
      // 1e-5 and 1e-4): 1e-4 over the chain, still 100x below any real mistake.
      for (size_t i = 0; i < own.values.size(); ++i) {
        SCOPED_TRACE("value " + std::to_string(i) + " (y, the gradients, then the running statistics)");
        LB_EXPECT_REL(dnn.values[i], own.values[i], 1e-4);
      }
      EXPECT_FALSE(bit_identical(own, dnn)) << "no difference at all: did --backend onednn reach oneDNN?";
    }
}

TEST(OnednnDispatch, Float64StaysOnOurLoopsBitForBit) {
  BackendScope scope;
  const Params p = make_params(DType::Float64);
  EXPECT_TRUE(bit_identical(run_graph(p, CpuBackend::Own, true, false), run_graph(p, CpuBackend::Onednn, true, false)));
}

TEST(OnednnDispatch, Bf16EmulationIsRefused) {
  BackendScope scope;
  const Params p = make_params(DType::Float32);
  set_cpu_backend(CpuBackend::Onednn);
  set_cuda_math_mode(kernels::MathMode::Bf16);
  test::expect_error([&] { conv2d(p.x, p.w1, Tensor(), 1, 1); }, {"conv2d", "bf16", "--backend custom"});
  test::expect_error([&] { linear(Tensor::zeros({2, 64}), p.fw, p.fb); }, {"linear", "bf16", "--backend custom"});
}

TEST(OnednnDispatch, ParseAndNameTheCpuBackend) {
  EXPECT_EQ(parse_cpu_backend("onednn"), CpuBackend::Onednn);
  EXPECT_EQ(parse_cpu_backend("own"), CpuBackend::Own);
  EXPECT_EQ(parse_cpu_backend("custom"), CpuBackend::Own);
  EXPECT_STREQ(cpu_backend_name(CpuBackend::Onednn), "onednn");
  EXPECT_STREQ(cpu_backend_name(CpuBackend::Own), "own");
  test::expect_error([] { parse_cpu_backend("cudnn"); }, {"cudnn", "onednn"});
}

}  // namespace
}  // namespace lb
