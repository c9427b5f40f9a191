// ops/linear.cc: the linear op, y = x W^T + b (PyTorch's nn.functional.linear layout), with its
// autograd node right under the forward.
//
// Shapes: x (N, IN), weight (OUT, IN), bias (OUT) or undefined, y (N, OUT).
// Backward: dx = dy W, dW = dy^T x, db = sum of dy over rows; only the gradients the graph needs
// are computed (a frozen classifier head costs no dW).
//
// Backends (engine/backend.h): CUDA runs our SGEMM or cuBLAS; the CPU our GEMM (engine/cpu/linear.h)
// or, for float32 under --backend onednn, oneDNN's inner product (engine/cpu/onednn/linear.h).
// The bias gradient, a column sum, is ours under every backend; float64 always runs our loops.
//
// Accumulation rule: apply() returns fresh gradient tensors; the autograd engine sums them into
// parameter .grad (+=) and across consumers.
#include "engine/ops/linear.h"

#include <string>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/onednn/linear.h"
#include "engine/ops/weighted_checks.h"

#include "engine/backend.h"
#include "kernels/cudnn/linear.cuh"
#include "kernels/linear.cuh"

namespace lb {

namespace {

constexpr const char* kOp = "linear";

void check_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const std::string shapes = ops_detail::check_weighted_op(kOp, x, w, b);
  LB_CHECK(x.dim() == 2, kOp << ": input must be 2-D (N, IN); flatten it first; " << shapes);
  LB_CHECK(w.dim() == 2, kOp << ": weight must be 2-D (OUT, IN); " << shapes);
  LB_CHECK(w.size(1) == x.size(1),
           kOp << ": input has " << x.size(1) << " features but weight expects " << w.size(1) << "; " << shapes);
  LB_CHECK(w.size(0) > 0 && w.size(1) > 0, kOp << ": weight has an empty dimension; " << shapes);
  LB_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)),
           kOp << ": bias must be 1-D with one entry per output feature (" << w.size(0) << "); " << shapes);
}

// The CUDA paths: lightbox's SGEMM or cuBLAS (engine/backend.h). Bias gradients are column sums
// (a custom kernel under both backends).
void cuda_forward(int64_t n, int64_t in, int64_t out, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  if (cuda_backend() == CudaBackend::Cudnn)
    kernels::cudnn::linear_forward(n, in, out, x.data_ptr<float>(), w.data_ptr<float>(), bp, y.data_ptr<float>(),
                                   cuda_math_mode());
  else
    kernels::linear_forward(n, in, out, x.data_ptr<float>(), w.data_ptr<float>(), bp, y.data_ptr<float>(),
                            cuda_math_mode());
}

void cuda_backward(int64_t n, int64_t in, int64_t out, const Tensor& dy, const Tensor& xv, const Tensor& wv, Tensor& dx,
                   Tensor& dw, Tensor& db) {
  const bool dnn = cuda_backend() == CudaBackend::Cudnn;
  const kernels::MathMode m = cuda_math_mode();
  if (dx.defined()) {
    if (dnn)
      kernels::cudnn::linear_backward_input(n, in, out, dy.data_ptr<float>(), wv.data_ptr<float>(),
                                            dx.data_ptr<float>(), m);
    else
      kernels::linear_backward_input(n, in, out, dy.data_ptr<float>(), wv.data_ptr<float>(), dx.data_ptr<float>(), m);
  }
  if (dw.defined()) {
    if (dnn)
      kernels::cudnn::linear_backward_weight(n, in, out, xv.data_ptr<float>(), dy.data_ptr<float>(),
                                             dw.data_ptr<float>(), m);
    else
      kernels::linear_backward_weight(n, in, out, xv.data_ptr<float>(), dy.data_ptr<float>(), dw.data_ptr<float>(), m);
  }
  if (db.defined()) kernels::linear_backward_bias(n, out, dy.data_ptr<float>(), db.data_ptr<float>());
}

// MathMode::Bf16 also governs the CPU: float32 linears emulate the bf16 GEMMs (engine/cpu/linear.h).
bool cpu_bf16(DType t) { return t == DType::Float32 && cuda_math_mode() == kernels::MathMode::Bf16; }

// The CPU's comparison backend: float32 under CpuBackend::Onednn; it refuses the bf16 emulation,
// which is our GEMM's.
bool use_onednn(DType t) {
  if (t != DType::Float32 || cpu_backend() != CpuBackend::Onednn) return false;
  LB_CHECK(cuda_math_mode() != kernels::MathMode::Bf16,
           kOp << ": the bf16 emulation runs on lightbox's own GEMM; use --backend custom with --bf16");
  return true;
}

void onednn_backward(int64_t n, int64_t in, int64_t out, const Tensor& dy, const Tensor& xv, const Tensor& wv,
                     Tensor& dx, Tensor& dw, Tensor& db) {
  cpu::onednn::Context& ctx = cpu::onednn::Context::for_this_thread();
  const float* g = dy.data<float>();
  if (dx.defined()) cpu::onednn::linear_backward_input(ctx, n, in, out, g, wv.data<float>(), dx.data<float>());
  if (dw.defined()) cpu::onednn::linear_backward_weight(ctx, n, in, out, xv.data<float>(), g, dw.data<float>());
  if (db.defined()) cpu::linear_backward_bias(n, out, dy.data<float>(), db.data<float>());
}

// ---- autograd node ------------------------------------------------------------------------------

// Saves x only when dW is wanted and W only when dx is wanted: those are the only uses.
struct LinearNode : Node {
  int64_t n = 0, in = 0, out = 0;
  Device device;
  SavedTensor x, w;
  const char* kind() const override { return kOp; }
  std::string describe() const override { return "in=" + std::to_string(in) + " out=" + std::to_string(out); }
  std::vector<Tensor> apply(const Tensor& dy) override {
    ops_detail::WeightedBackward g = ops_detail::begin_weighted_backward(*this, kOp, device, dy, x, w);
    const Tensor &xv = g.x, &wv = g.w;
    Tensor &dx = g.dx, &dw = g.dw, &db = g.db;
    if (device.is_cuda()) {
      cuda_backward(n, in, out, dy, xv, wv, dx, dw, db);
      return {dx, dw, db};
    }
    if (use_onednn(dy.dtype())) {
      onednn_backward(n, in, out, dy, xv, wv, dx, dw, db);
      return {dx, dw, db};
    }
    const bool bf16 = cpu_bf16(dy.dtype());
    LB_DISPATCH_FLOAT(dy.dtype(), "linear backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      if (dx.defined()) cpu::linear_backward_input(n, in, out, dy.data<T>(), wv.data<T>(), dx.data<T>(), bf16);
      if (dw.defined()) cpu::linear_backward_weight(n, in, out, xv.data<T>(), dy.data<T>(), dw.data<T>(), bf16);
      if (db.defined()) cpu::linear_backward_bias(n, out, dy.data<T>(), db.data<T>());
    });
    return {dx, dw, db};
  }
  void release_saved() override {
    x.reset();
    w.reset();
  }
};

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear(x, weight, bias);
  const int64_t n = x.size(0), in = x.size(1), out = weight.size(0);
  Tensor y = Tensor::empty({n, out}, x.dtype(), x.device());
  if (x.device().is_cuda())
    cuda_forward(n, in, out, x, weight, bias, y);
  else if (use_onednn(x.dtype()))
    cpu::onednn::linear_forward(cpu::onednn::Context::for_this_thread(), n, in, out, x.data<float>(),
                                weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr, y.data<float>());
  else
    LB_DISPATCH_FLOAT(x.dtype(), kOp, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::linear_forward(n, in, out, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                          y.data<T>(), cpu_bf16(x.dtype()));
    });
  if (needs_grad({x, weight, bias})) {
    auto node = std::make_shared<LinearNode>();
    node->n = n;
    node->in = in;
    node->out = out;
    node->device = x.device();
    set_history(y, node, {x, weight, bias});
    if (node->needs_input_grad(1)) node->x = SavedTensor(x);
    if (node->needs_input_grad(0)) node->w = SavedTensor(weight);
  }
  return y;
}

}  // namespace lb
