// ops/conv2d.cc: the conv2d op: argument checks, forward dispatch, and its autograd node right
// under it. PyTorch's conv2d semantics (cross-correlation, zero padding, square stride).
//
// Shapes: x (N, C, H, W), weight (K, C, R, S), bias (K) or undefined, y (N, K, P, Q).
// Backward: dx = conv2d_backward_input(dy, W), dW = conv2d_backward_weight(x, dy), db = sum of dy
// over (N, P, Q). Only the gradients the graph needs are computed (a frozen weight costs no dW,
// the first layer's image input costs no dx).
//
// Backends (engine/backend.h): CUDA runs our kernels or cuDNN; the CPU runs our im2col + GEMM
// (engine/cpu/conv2d.h) or, for float32 under --backend onednn, oneDNN (engine/cpu/onednn/conv2d.h:
// its blocked layouts, reordered from and to NCHW on every call). float64 always runs our loops:
// they are the exact oracles of the finite-difference tests.
//
// Accumulation rule: apply() returns fresh gradient tensors; the autograd engine sums them into
// parameter .grad (+=) and across consumers.
#include "engine/ops/conv2d.h"

#include <string>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/onednn/conv2d.h"
#include "engine/ops/weighted_checks.h"
#include "kernels/conv2d.cuh"
#include "kernels/cudnn/conv2d.cuh"

namespace lb {

namespace {

constexpr const char* kOp = "conv2d";

// Output size along one axis; <= 0 when the (padded) input is smaller than the kernel.
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

// Validates the arguments and returns the sizes the CPU backend takes. Every message names the op
// and the shapes, so a wrong layer in a model is found from the message alone.
cpu::Conv2dArgs check_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad) {
  const std::string shapes = ops_detail::check_weighted_op(kOp, x, w, b);
  LB_CHECK(x.dim() == 4, kOp << ": input must be 4-D (N, C, H, W); " << shapes);
  LB_CHECK(w.dim() == 4, kOp << ": weight must be 4-D (K, C, R, S); " << shapes);
  LB_CHECK(w.size(1) == x.size(1),
           kOp << ": input has " << x.size(1) << " channels but weight expects " << w.size(1) << "; " << shapes);
  LB_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)),
           kOp << ": bias must be 1-D with one entry per output channel (" << w.size(0) << "); " << shapes);
  LB_CHECK(stride >= 1 && pad >= 0,
           kOp << ": stride must be >= 1 and padding >= 0, got stride=" << stride << " pad=" << pad);
  cpu::Conv2dArgs a{{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), stride, pad, 0, 0}};
  a.P = conv_out_size(a.H, a.R, stride, pad);
  a.Q = conv_out_size(a.W, a.S, stride, pad);
  LB_CHECK(a.P > 0 && a.Q > 0 && a.K > 0 && a.C > 0,
           kOp << ": output size " << a.P << "x" << a.Q << " with " << a.K << " channels is empty; the " << a.R << "x"
               << a.S << " kernel (stride=" << stride << " pad=" << pad << ") does not fit the input; " << shapes);
  return a;
}

// MathMode::Bf16 also governs the CPU: float32 convs emulate the bf16 GEMMs (engine/cpu/conv2d.h).
// Read at each call, forward and backward, like the CUDA paths read the mode.
cpu::Conv2dArgs cpu_args(cpu::Conv2dArgs a, DType t) {
  a.bf16 = t == DType::Float32 && cuda_math_mode() == kernels::MathMode::Bf16;
  return a;
}

// The weight's identity for the CPU's packed-weight cache (engine/cpu/conv2d_weight_cache.h),
// given only while the weight needs no gradient: its values cannot move under an optimizer during
// this pass (inference, the explainers, frozen layers); every other write bumps its version.
cpu::Conv2dArgs with_weight_identity(cpu::Conv2dArgs a, const Tensor& w) {
  if (w.device().is_cpu() && w.dtype() == DType::Float32 && !w.requires_grad()) {
    a.weight_owner = w.impl()->storage;
    a.weight_offset = w.impl()->offset;
    a.weight_version = w.version();
  }
  return a;
}

// The CUDA paths: lightbox's kernels or cuDNN (engine/backend.h), float32 only.
void cuda_forward(const cpu::Conv2dArgs& a, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const kernels::Conv2dShape& s = a;  // the CPU's args are the shape plus CPU-only fields
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  if (cuda_backend() == CudaBackend::Cudnn)
    kernels::cudnn::conv2d_forward(s, x.data_ptr<float>(), w.data_ptr<float>(), bp, y.data_ptr<float>(),
                                   cuda_math_mode());
  else
    kernels::conv2d_forward(s, x.data_ptr<float>(), w.data_ptr<float>(), bp, y.data_ptr<float>(), cuda_math_mode());
}

void cuda_backward(const cpu::Conv2dArgs& a, const Tensor& dy, const Tensor& xv, const Tensor& wv, Tensor& dx,
                   Tensor& dw, Tensor& db) {
  const kernels::Conv2dShape& s = a;  // the CPU's args are the shape plus CPU-only fields
  const bool dnn = cuda_backend() == CudaBackend::Cudnn;
  const kernels::MathMode m = cuda_math_mode();
  if (dx.defined()) {
    if (dnn)
      kernels::cudnn::conv2d_backward_input(s, dy.data_ptr<float>(), wv.data_ptr<float>(), dx.data_ptr<float>(), m);
    else
      kernels::conv2d_backward_input(s, dy.data_ptr<float>(), wv.data_ptr<float>(), dx.data_ptr<float>(), m);
  }
  if (dw.defined()) {
    if (dnn)
      kernels::cudnn::conv2d_backward_weight(s, xv.data_ptr<float>(), dy.data_ptr<float>(), dw.data_ptr<float>(), m);
    else
      kernels::conv2d_backward_weight(s, xv.data_ptr<float>(), dy.data_ptr<float>(), dw.data_ptr<float>(), m);
  }
  if (db.defined()) {
    if (dnn)
      kernels::cudnn::conv2d_backward_bias(s, dy.data_ptr<float>(), db.data_ptr<float>());
    else
      kernels::conv2d_backward_bias(s, dy.data_ptr<float>(), db.data_ptr<float>());
  }
}

// The CPU's comparison backend: float32 under CpuBackend::Onednn. The bf16 emulation is our
// conv's (cpu_args), so oneDNN refuses it rather than silently computing in fp32.
bool use_onednn(DType t) {
  if (t != DType::Float32 || cpu_backend() != CpuBackend::Onednn) return false;
  LB_CHECK(cuda_math_mode() != kernels::MathMode::Bf16,
           kOp << ": the bf16 emulation runs on lightbox's own conv; use --backend custom with --bf16");
  return true;
}

void onednn_backward(const cpu::Conv2dArgs& a, const Tensor& dy, const Tensor& xv, const Tensor& wv, Tensor& dx,
                     Tensor& dw, Tensor& db) {
  cpu::onednn::Context& ctx = cpu::onednn::Context::for_this_thread();
  if (dx.defined()) cpu::onednn::conv2d_backward_input(ctx, a, dy.data<float>(), wv.data<float>(), dx.data<float>());
  if (dw.defined()) cpu::onednn::conv2d_backward_weight(ctx, a, xv.data<float>(), dy.data<float>(), dw.data<float>());
  if (db.defined()) cpu::onednn::conv2d_backward_bias(ctx, a, dy.data<float>(), db.data<float>());
}

// ---- autograd node ------------------------------------------------------------------------------

// Saves x only when dW is wanted and W only when dx is wanted: those are the only uses.
struct Conv2dNode : Node {
  cpu::Conv2dArgs args{};
  Device device;
  SavedTensor x, w;
  const char* kind() const override { return kOp; }
  std::string describe() const override {
    return "stride=" + std::to_string(args.stride) + " pad=" + std::to_string(args.pad);
  }
  std::vector<Tensor> apply(const Tensor& dy) override {
    ops_detail::WeightedBackward g = ops_detail::begin_weighted_backward(*this, kOp, device, dy, x, w);
    const Tensor &xv = g.x, &wv = g.w;
    Tensor &dx = g.dx, &dw = g.dw, &db = g.db;
    if (device.is_cuda()) {
      cuda_backward(args, dy, xv, wv, dx, dw, db);
      return {dx, dw, db};
    }
    if (use_onednn(dy.dtype())) {
      onednn_backward(args, dy, xv, wv, dx, dw, db);
      return {dx, dw, db};
    }
    const cpu::Conv2dArgs a =
        wv.defined() ? with_weight_identity(cpu_args(args, dy.dtype()), wv) : cpu_args(args, dy.dtype());
    LB_DISPATCH_FLOAT(dy.dtype(), "conv2d backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      if (dx.defined()) cpu::conv2d_backward_input(a, dy.data<T>(), wv.data<T>(), dx.data<T>());
      if (dw.defined()) cpu::conv2d_backward_weight(a, xv.data<T>(), dy.data<T>(), dw.data<T>());
      if (db.defined()) cpu::conv2d_backward_bias(args, dy.data<T>(), db.data<T>());
    });
    return {dx, dw, db};
  }
  void release_saved() override {
    x.reset();
    w.reset();
  }
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  const cpu::Conv2dArgs a = check_conv2d(x, weight, bias, stride, padding);
  Tensor y = Tensor::empty({a.N, a.K, a.P, a.Q}, x.dtype(), x.device());
  if (x.device().is_cuda()) {
    cuda_forward(a, x, weight, bias, y);
  } else if (use_onednn(x.dtype())) {
    cpu::onednn::conv2d_forward(cpu::onednn::Context::for_this_thread(), a, x.data<float>(), weight.data<float>(),
                                bias.defined() ? bias.data<float>() : nullptr, y.data<float>());
  } else {
    LB_DISPATCH_FLOAT(x.dtype(), kOp, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::conv2d_forward(with_weight_identity(cpu_args(a, x.dtype()), weight), x.data<T>(), weight.data<T>(),
                          bias.defined() ? bias.data<T>() : nullptr, y.data<T>());
    });
  }
  if (needs_grad({x, weight, bias})) {
    auto node = std::make_shared<Conv2dNode>();
    node->args = a;
    node->device = x.device();
    set_history(y, node, {x, weight, bias});
    if (node->needs_input_grad(1)) node->x = SavedTensor(x);
    if (node->needs_input_grad(0)) node->w = SavedTensor(weight);
  }
  return y;
}

}  // namespace lb
