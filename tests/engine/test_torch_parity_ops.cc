// test_torch_parity_ops.cc: every op against PyTorch 1.13's float32 CPU results.
//
// The golden files (tests/fixtures/golden/<case>/, made by tests/fixtures/make_golden.py) hold
// each case's inputs, torch's output y, a random upstream gradient dy, and torch's gradient of
// every input (dx, dweight, ...). Here the same inputs go through lightbox's op, and its output
// and autograd::grad(y, inputs, dy) must match. This is the last layer of the test pyramid (after
// hand-computed cases, finite differences and the double-precision references): it catches a
// convention that differs from PyTorch (padding, unbiased running variance, index layout, the
// weighted cross-entropy divisor) which a self-consistent finite-difference check cannot.
//
// Tolerances. Both sides compute in float32 from identical float32 inputs of magnitude ~1, so
// they differ only by summation order (im2col + BLAS blocking versus torch's kernels, double
// versus float accumulators). A length-n float32 sum carries a relative error of about
// n * 6e-8 in the worst case and sqrt(n) * 6e-8 typically; the longest sums here have a few
// hundred terms (a conv weight gradient over N*P*Q = 392 positions), so errors stay below ~1e-5
// relative; the worst measured is 1.3e-5 absolute on a stem weight gradient of 1.46 (9e-6
// relative), and outputs near zero that come from cancelling O(1) terms carry absolute errors
// of ~6e-7. Unless a test says otherwise the checks use kAtol = 1e-5, kRtol = 1e-4: about ten
// times those, yet a thousand times tighter than any real mistake (a missing term, a wrong pad).
// Ops with no arithmetic (relu, flatten, pooling gathers) must agree exactly, or nearly.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/io/npy.h"
#include "engine/ops/ops.h"
#include "tests/support/check.h"

namespace lb {
namespace {

constexpr double kAtol = 1e-5;  // see the file comment: float32 summation-order noise, times ten
constexpr double kRtol = 1e-4;

// One case folder. g("x") loads x.npy; input("x") loads it as a leaf that requires grad.
class Golden {
 public:
  explicit Golden(std::string name) : dir_(std::string(LB_FIXTURES_DIR) + "/golden/" + std::move(name)) {}
  Tensor operator()(const std::string& array) const { return io::load_npy(dir_ + "/" + array + ".npy"); }
  Tensor input(const std::string& array) const {
    Tensor t = (*this)(array);
    t.requires_grad_();
    return t;
  }

 private:
  std::string dir_;
};

// Output and gradients of a one-output case: y = f(inputs) against g("y"), and every
// d<name> against autograd::grad(y, inputs, dy).
void check_case(const Golden& g, const std::vector<std::string>& names,
                const std::function<Tensor(const std::vector<Tensor>&)>& f, double atol = kAtol, double rtol = kRtol) {
  std::vector<Tensor> inputs;
  for (const std::string& n : names) inputs.push_back(g.input(n));
  Tensor y = f(inputs);
  LB_EXPECT_CLOSE(y, g("y"), atol, rtol);
  std::vector<Tensor> d = autograd::grad({y}, inputs, {g("dy")});
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE("d" + names[i]);
    LB_EXPECT_CLOSE(d[i], g("d" + names[i]), atol, rtol);
  }
}

// ---- conv2d ------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  int64_t stride, padding;
  bool bias;
};

void check_conv(const ConvCase& c) {
  const Golden g(c.name);
  std::vector<std::string> names = {"x", "weight"};
  if (c.bias) names.push_back("bias");
  check_case(g, names, [&](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding);
  });
}

// The ResNet18 stem on a 28x28 grey image: (2,1,28,28) * (8,1,7,7), stride 2, pad 3 -> (2,8,14,14).
TEST(TorchParity_Conv2d, Stem7x7Stride2) { check_conv({"conv2d_stem", 2, 3, false}); }
// A BasicBlock conv with a bias: (2,4,7,7) * (6,4,3,3), stride 1, pad 1 -> (2,6,7,7).
TEST(TorchParity_Conv2d, Conv3x3Stride1Bias) { check_conv({"conv2d_3x3_s1_bias", 1, 1, true}); }
// The first conv of a downsampling stage: (2,4,7,7) * (5,4,3,3), stride 2, pad 1 -> (2,5,4,4).
TEST(TorchParity_Conv2d, Conv3x3Stride2) { check_conv({"conv2d_3x3_s2", 2, 1, false}); }
// The shortcut projection: (2,4,7,7) * (6,4,1,1), stride 2, pad 0 -> (2,6,4,4).
TEST(TorchParity_Conv2d, Conv1x1Stride2Downsample) { check_conv({"conv2d_1x1_s2", 2, 0, false}); }
// Odd, non-square sizes, no padding: (1,3,5,7) * (4,3,3,3) -> (1,4,3,5).
TEST(TorchParity_Conv2d, OddSizesNoPadding) { check_conv({"conv2d_odd", 1, 0, false}); }

// ---- linear ------------------------------------------------------------------------------------

// (4,16) x (3,16)^T + (3) -> (4,3).
TEST(TorchParity_Linear, WithBias) {
  check_case(Golden("linear_bias"), {"x", "weight", "bias"},
             [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); });
}

TEST(TorchParity_Linear, WithoutBias) {
  check_case(Golden("linear_nobias"), {"x", "weight"},
             [](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); });
}

// ---- batch_norm2d ------------------------------------------------------------------------------

// (2,3,5,5) with affine parameters and running statistics, momentum 0.1, eps 1e-5. The running
// statistics are updated in place on copies, then compared: this pins down the unbiased
// variance (n / (n - 1)) that PyTorch uses for running_var but not for normalising.
void check_batch_norm(const char* name, bool training) {
  const Golden g(name);
  Tensor running_mean = g("running_mean"), running_var = g("running_var");
  check_case(g, {"x", "weight", "bias"}, [&](const std::vector<Tensor>& in) {
    return batch_norm2d(in[0], in[1], in[2], running_mean, running_var, training, 0.1, 1e-5);
  });
  // The running update is one multiply-add per channel over a 50-term mean: float noise only.
  LB_EXPECT_CLOSE(running_mean, g("running_mean_after"), 1e-6, 1e-5);
  LB_EXPECT_CLOSE(running_var, g("running_var_after"), 1e-6, 1e-5);
}

TEST(TorchParity_BatchNorm2d, Training) { check_batch_norm("batch_norm2d_train", true); }
// Eval mode: running statistics are used and must come back unchanged.
TEST(TorchParity_BatchNorm2d, Eval) { check_batch_norm("batch_norm2d_eval", false); }

// ---- pooling -----------------------------------------------------------------------------------

// The inputs are a scaled permutation, so every window has one maximum: indices must agree
// exactly, and so must the output (a copy) and dx (a scatter-add of dy values; overlapping
// k3 s2 windows add at most two float32 numbers, in either order, hence the 1e-6 slack).
void check_max_pool(const char* name, int64_t k, int64_t s, int64_t p) {
  const Golden g(name);
  Tensor x = g.input("x");
  MaxPoolResult r = max_pool2d_with_indices(x, k, s, p);
  LB_EXPECT_CLOSE(r.output, g("y"), 0.0, 0.0);
  EXPECT_EQ(r.indices.dtype(), DType::Int64);
  EXPECT_EQ(r.indices.shape(), g("indices").shape());
  EXPECT_EQ(r.indices.to_vector(), g("indices").to_vector());
  std::vector<Tensor> d = autograd::grad({r.output}, {x}, {g("dy")});
  LB_EXPECT_CLOSE(d[0], g("dx"), 1e-6, 0.0);
}

// ResNet18's stem pool on a 14x14 map: (2,3,14,14), k3 s2 p1 -> (2,3,7,7), overlapping windows.
TEST(TorchParity_MaxPool2d, Kernel3Stride2Pad1) { check_max_pool("max_pool2d_k3s2p1", 3, 2, 1); }
// Disjoint windows: (1,2,6,6), k2 s2 -> (1,2,3,3).
TEST(TorchParity_MaxPool2d, Kernel2Stride2) { check_max_pool("max_pool2d_k2s2", 2, 2, 0); }

// ResNet18's head: (2,4,3,3) -> (2,4,1,1).
TEST(TorchParity_AdaptiveAvgPool2d, GlobalTo1x1) {
  check_case(Golden("adaptive_avg_pool2d_1x1"), {"x"},
             [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 1, 1); });
}

// Uneven, overlapping bins: (1,2,5,7) -> (1,2,2,3); rows [0,3) and [2,5), columns [0,3), [2,5), [4,7).
TEST(TorchParity_AdaptiveAvgPool2d, UnevenBins2x3) {
  check_case(Golden("adaptive_avg_pool2d_2x3"), {"x"},
             [](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], 2, 3); });
}

// ---- elementwise -------------------------------------------------------------------------------

// relu is a select: exact. add and mul are one float32 operation per element on both sides:
// exact too, but a compiler may fuse a*b+c differently, so allow one ulp (~1e-7 at magnitude 1).
TEST(TorchParity_Elementwise, Relu) {
  check_case(
      Golden("relu"), {"x"}, [](const std::vector<Tensor>& in) { return relu(in[0]); }, 0.0, 0.0);
}

TEST(TorchParity_Elementwise, Add) {
  check_case(
      Golden("add"), {"a", "b"}, [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, 0.0, 2e-7);
}

TEST(TorchParity_Elementwise, Mul) {
  check_case(
      Golden("mul"), {"a", "b"}, [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, 0.0, 2e-7);
}

// ---- softmax and cross-entropy -------------------------------------------------------------------

// (4,5) along dim 1; exp and log differ between libm and torch's vectorised versions by an ulp
// or two, and the backward sums 5 terms: the default tolerances hold with a wide margin.
TEST(TorchParity_Softmax, SoftmaxDim1) {
  check_case(Golden("softmax"), {"x"}, [](const std::vector<Tensor>& in) { return softmax(in[0], 1); });
}

TEST(TorchParity_Softmax, LogSoftmaxDim1) {
  check_case(Golden("log_softmax"), {"x"}, [](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); });
}

// (6,3) logits, int64 targets, mean reduction, an upstream gradient of 0.75 (so a backward that
// ignores its incoming gradient fails). The weighted case divides by sum_i w[y_i], not by N.
void check_cross_entropy(const char* name, bool weighted) {
  const Golden g(name);
  const Tensor target = g("target");
  const Tensor weight = weighted ? g("weight") : Tensor();
  check_case(g, {"logits"}, [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, weight); });
}

TEST(TorchParity_CrossEntropy, Mean) { check_cross_entropy("cross_entropy", false); }
TEST(TorchParity_CrossEntropy, ClassWeighted) { check_cross_entropy("cross_entropy_weighted", true); }

// torch's label_smoothing = 0.1 on the same kind of (6, 3) logits, composed from cross_entropy,
// log_softmax and mean (engine/ops/softmax.h); smoothing 0 must be cross_entropy exactly.
TEST(TorchParity_CrossEntropy, LabelSmoothing) {
  const Golden g("cross_entropy_smoothed");
  const Tensor target = g("target");
  check_case(g, {"logits"}, [&](const std::vector<Tensor>& in) { return cross_entropy_smoothed(in[0], target, 0.1); });
  const Tensor logits = g("logits");
  EXPECT_EQ(cross_entropy_smoothed(logits, target, 0.0).item(), cross_entropy(logits, target).item());
}

// The multi-label pieces, composed from linear, softmax and cross_entropy (engine/ops/softmax.h):
// sigmoid on (4,5) and BCEWithLogitsLoss on (5,4) logits of scale 3 with 0/1 int64 targets.
TEST(TorchParity_Sigmoid, Forward) {
  check_case(Golden("sigmoid"), {"x"}, [](const std::vector<Tensor>& in) { return sigmoid(in[0]); });
}

TEST(TorchParity_BceWithLogits, Mean) {
  const Golden g("bce_with_logits");
  const Tensor target = g("target");
  check_case(g, {"logits"},
             [&](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], target); });
}

// ---- reductions and shape ------------------------------------------------------------------------

// (4,5) summed in full (a 0-d result, like torch) or along dim 1; at most 20 terms.
TEST(TorchParity_Reduce, SumAll) {
  check_case(Golden("sum"), {"x"}, [](const std::vector<Tensor>& in) { return sum(in[0]); });
}

TEST(TorchParity_Reduce, SumDim1) {
  check_case(Golden("sum_dim1"), {"x"}, [](const std::vector<Tensor>& in) { return sum(in[0], 1); });
}

TEST(TorchParity_Reduce, MeanAll) {
  check_case(Golden("mean"), {"x"}, [](const std::vector<Tensor>& in) { return mean(in[0]); });
}

TEST(TorchParity_Reduce, MeanDim1) {
  check_case(Golden("mean_dim1"), {"x"}, [](const std::vector<Tensor>& in) { return mean(in[0], 1); });
}

// (2,3,4,4) -> (2,48): pure data movement, so exact.
TEST(TorchParity_Shape, FlattenFromDim1) {
  check_case(
      Golden("flatten"), {"x"}, [](const std::vector<Tensor>& in) { return flatten(in[0], 1); }, 0.0, 0.0);
}

// ---- a whole residual block ----------------------------------------------------------------------

// torchvision's BasicBlock without downsampling, in training mode, built from the functional ops
// exactly as models/resnet builds it, including the two in-place ops (relu_ after bn1, add_ of
// the identity, relu_ at the end) whose autograd handling a single-op test cannot reach:
//   out = relu_(bn1(conv1(x))); out = bn2(conv2(out)); out += x; y = relu_(out)
// x (2,4,6,6); conv weights (4,4,3,3), no bias; BN (4) with running statistics.
// Tolerance: the defaults. Two conv + BN layers in series, and BN's backward subtracts two
// means from dy*xhat (cancellation), yet the worst error measured is 5e-6 on a conv2 weight
// gradient of 1.34 (4e-6 relative), well inside atol 1e-5 + rtol 1e-4.
TEST(TorchParity_ResidualBlock, BasicBlockTraining) {
  const Golden g("residual_block");
  const std::vector<std::string> names = {"x",          "conv1_weight", "bn1_weight", "bn1_bias", "conv2_weight",
                                          "bn2_weight", "bn2_bias"};
  std::vector<Tensor> in;
  for (const std::string& n : names) in.push_back(g.input(n));
  Tensor rm1 = g("bn1_running_mean"), rv1 = g("bn1_running_var");
  Tensor rm2 = g("bn2_running_mean"), rv2 = g("bn2_running_var");

  Tensor out = conv2d(in[0], in[1], Tensor(), 1, 1);
  out = batch_norm2d(out, in[2], in[3], rm1, rv1, /*training=*/true, 0.1, 1e-5);
  relu_(out);
  out = conv2d(out, in[4], Tensor(), 1, 1);
  out = batch_norm2d(out, in[5], in[6], rm2, rv2, /*training=*/true, 0.1, 1e-5);
  add_(out, in[0]);
  relu_(out);

  LB_EXPECT_CLOSE(out, g("y"), kAtol, kRtol);
  std::vector<Tensor> d = autograd::grad({out}, in, {g("dy")});
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE("d" + names[i]);
    LB_EXPECT_CLOSE(d[i], g("d" + names[i]), kAtol, kRtol);
  }
  LB_EXPECT_CLOSE(rm1, g("bn1_running_mean_after"), 1e-6, 1e-5);
  LB_EXPECT_CLOSE(rv1, g("bn1_running_var_after"), 1e-6, 1e-5);
  LB_EXPECT_CLOSE(rm2, g("bn2_running_mean_after"), 1e-6, 1e-5);
  LB_EXPECT_CLOSE(rv2, g("bn2_running_var_after"), 1e-6, 1e-5);
}

}  // namespace
}  // namespace lb
