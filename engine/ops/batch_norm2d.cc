// ops/batch_norm2d.cc: batch_norm2d's checks, forward dispatch and autograd node, side by side;
// then the fused batch_norm2d_relu (BN + residual add + ReLU), which shares all of them.
//
// Shapes: x, y, residual (N, C, H, W); weight, bias, running_mean, running_var, mean, invstd (C).
// Differentiable inputs, in order: x, weight, bias (and residual for batch_norm2d_relu). The
// running statistics are buffers, not inputs: they get no edges and no gradient, and their
// in-place update bumps their version.
//
// What the node keeps for backward:
//   training  x (SavedTensor, version-checked), weight (SavedTensor), and the batch mean and
//             invstd (plain tensors: made here, never visible to the caller, so nothing can
//             write them in place).
//   eval      invstd and a copy of running_mean taken at forward time (C values each), so a
//             later update of the running statistics cannot change this forward's gradient; x
//             only when the weight needs a gradient (dweight reads xhat), weight only when x does.
//   batch_norm2d_relu  the same, plus its output y (SavedTensor, version-checked) for the ReLU
//             mask: y > 0 exactly where bn(x) + residual > 0, and y is the op's own output, so
//             only a write into y itself (not into x or the residual) invalidates the backward.
// Accumulation rule: apply() returns fresh dx, dweight, dbias (and d_residual); the engine sums them.
// CPU backends (engine/backend.h): our loops (engine/cpu/batch_norm2d.h), or for float32 under
// --backend onednn oneDNN's batch normalisation (engine/cpu/onednn/batch_norm2d.h, which also
// updates the running statistics with our rule); float64 always runs our loops.
// Ioffe & Szegedy 2015; PyTorch's torch.nn.functional.batch_norm.
#include "engine/ops/batch_norm2d.h"

#include <sstream>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/onednn/batch_norm2d.h"
#include "kernels/batch_norm2d.cuh"
#include "kernels/cudnn/batch_norm2d.cuh"
#include "kernels/elementwise.cuh"

namespace lb {

namespace {

constexpr const char* kOp = "batch_norm2d";
constexpr const char* kFusedOp = "batch_norm2d_relu";

// Every tensor on x's device; CUDA takes float32.
void check_device(const char* op, const Tensor& t, const Tensor& x) {
  LB_CHECK(!t.defined() || t.device() == x.device(),
           op << ": all tensors must be on one device; got input " << x.str() << " and " << t.str());
  LB_CHECK(!t.defined() || t.device().is_cpu() || t.dtype() == DType::Float32,
           op << ": CUDA kernels take float32; got " << t.str());
}

// A per-channel tensor (weight, bias or a running statistic): shape (C), x's dtype.
void check_channel_tensor(const char* op, const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  check_device(op, t, x);
  const int64_t C = x.size(1);
  LB_CHECK(t.shape() == Shape{C}, op << ": " << what << " has shape " << shape_str(t.shape()) << " but input "
                                     << shape_str(x.shape()) << " has " << C << " channels; expected [" << C << "]");
  LB_CHECK(t.dtype() == x.dtype(), op << ": " << what << " is " << dtype_name(t.dtype()) << " but the input is "
                                      << dtype_name(x.dtype()) << "; convert one of them");
}

void check_args(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                const Tensor& running_var, bool training) {
  LB_CHECK(x.defined(), op << ": undefined input");
  check_device(op, x, x);
  LB_CHECK(x.dim() == 4, op << ": expected a 4-D input (N, C, H, W), got " << x.str());
  LB_CHECK(is_floating(x.dtype()), op << ": expected a float32 or float64 input, got " << x.str());
  check_channel_tensor(op, weight, "weight", x);
  check_channel_tensor(op, bias, "bias", x);
  check_channel_tensor(op, running_mean, "running_mean", x);
  check_channel_tensor(op, running_var, "running_var", x);
  LB_CHECK(running_mean.defined() == running_var.defined(),
           op << ": running_mean and running_var must be given together (one is undefined)");
  LB_CHECK(!running_mean.requires_grad() && !running_var.requires_grad(),
           op << ": running statistics are buffers updated in place and must not require grad");
  LB_CHECK(training || running_mean.defined(),
           op << ": eval mode normalises with running_mean and running_var, which are undefined; "
              << "pass them or use training mode");
  const int64_t per_channel = x.size(0) * x.size(2) * x.size(3);
  LB_CHECK(!training || per_channel > 1,
           op << ": expected more than 1 value per channel when training, got input " << shape_str(x.shape()));
}

// The fused op's residual, when given: x's shape, device and dtype.
void check_residual(const Tensor& r, const Tensor& x) {
  if (!r.defined()) return;
  LB_CHECK(r.device() == x.device(), kFusedOp << ": residual and input must be on one device; got input " << x.str()
                                              << " and residual " << r.str());
  LB_CHECK(r.dtype() == x.dtype(), kFusedOp << ": residual is " << dtype_name(r.dtype()) << " but the input is "
                                            << dtype_name(x.dtype()) << "; convert one of them");
  LB_CHECK(r.shape() == x.shape(), kFusedOp << ": residual has shape " << shape_str(r.shape()) << " but input has "
                                            << shape_str(x.shape()) << "; they are added, so they must match");
}

// ---- raw forward dispatch (no autograd) -------------------------------------------------------

// x (N, C, H, W) seen as (N, C, HW): the shape both devices take.
kernels::BatchNormShape bn_shape(const Shape& xs) { return {xs[0], xs[1], xs[2] * xs[3]}; }

cpu::BatchNorm2dArgs bn_args(const Tensor& x, double momentum, double eps) {
  return {bn_shape(x.shape()), eps, momentum};
}

// Data of an optional (C) tensor, or null when it is undefined (affine=false, no tracking).
template <class T>
const T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* opt_mut(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
const float* dev(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* dev_mut(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// The CUDA kernels (both backends) take an affine weight and bias: affine=false is weight 1, bias 0.
Tensor affine_or(const Tensor& t, double value, const Tensor& x) {
  return t.defined() ? t : Tensor::full({x.size(1)}, value, x.dtype(), x.device());
}

// The CPU's comparison backend: float32 under CpuBackend::Onednn.
bool use_onednn(DType t) { return t == DType::Float32 && cpu_backend() == CpuBackend::Onednn; }

// y = bn(x) on x's device and backend; writes mean (training) and invstd. No autograd.
void bn_forward_raw(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps, Tensor& y, Tensor& mean,
                    Tensor& invstd) {
  if (x.device().is_cuda()) {
    const Tensor w = affine_or(weight, 1.0, x), b = affine_or(bias, 0.0, x);
    const auto s = bn_shape(x.shape());
    const bool dnn = cuda_backend() == CudaBackend::Cudnn;
    const float fe = static_cast<float>(eps), fm = static_cast<float>(momentum);
    if (training && dnn)
      kernels::cudnn::batch_norm2d_forward_train(s, dev(x), dev(w), dev(b), dev_mut(y), dev_mut(mean), dev_mut(invstd),
                                                 dev_mut(running_mean), dev_mut(running_var), fe, fm);
    else if (training)
      kernels::batch_norm2d_forward_train(s, dev(x), dev(w), dev(b), dev_mut(y), dev_mut(mean), dev_mut(invstd),
                                          dev_mut(running_mean), dev_mut(running_var), fe, fm);
    else if (dnn)
      kernels::cudnn::batch_norm2d_forward_eval(s, dev(x), dev(w), dev(b), dev(running_mean), dev(running_var),
                                                dev_mut(y), dev_mut(invstd), fe);
    else
      kernels::batch_norm2d_forward_eval(s, dev(x), dev(w), dev(b), dev(running_mean), dev(running_var), dev_mut(y),
                                         dev_mut(invstd), fe);
    return;
  }
  const cpu::BatchNorm2dArgs a = bn_args(x, momentum, eps);
  if (use_onednn(x.dtype())) {
    cpu::onednn::Context& ctx = cpu::onednn::Context::for_this_thread();
    if (training)
      cpu::onednn::batch_norm2d_forward_train(ctx, a, x.data<float>(), opt<float>(weight), opt<float>(bias),
                                              y.data<float>(), mean.data<float>(), invstd.data<float>(),
                                              opt_mut<float>(running_mean), opt_mut<float>(running_var));
    else
      cpu::onednn::batch_norm2d_forward_eval(ctx, a, x.data<float>(), opt<float>(weight), opt<float>(bias),
                                             running_mean.data<float>(), running_var.data<float>(), y.data<float>(),
                                             invstd.data<float>());
    return;
  }
  LB_DISPATCH_FLOAT(x.dtype(), kOp, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (training) {
      cpu::batch_norm2d_forward_train(x.data<T>(), opt<T>(weight), opt<T>(bias), y.data<T>(), mean.data<T>(),
                                      invstd.data<T>(), opt_mut<T>(running_mean), opt_mut<T>(running_var), a);
    } else {
      cpu::batch_norm2d_forward_eval(x.data<T>(), opt<T>(weight), opt<T>(bias), running_mean.data<T>(),
                                     running_var.data<T>(), y.data<T>(), invstd.data<T>(), a);
    }
  });
}

// ---- autograd node ------------------------------------------------------------------------------

// dx, dweight, dbias of batch_norm2d given the gradient g at its output, for the gradients `node`
// needs (inputs 0, 1, 2); see cpu/batch_norm2d.h for the formulas. The body of both nodes' backward.
std::vector<Tensor> bn_backward_raw(const Node& node, const Tensor& xv, const Tensor& wv, const Tensor& g,
                                    const Tensor& mean, const Tensor& invstd, bool training) {
  const Shape& xs = node.input_shapes[0];
  const DType dt = node.input_dtypes[0];
  Tensor dx, dw, db;
  const Device d = g.device();
  if (node.needs_input_grad(0)) dx = Tensor::empty(xs, dt, d);
  if (node.needs_input_grad(1)) dw = Tensor::empty({xs[1]}, dt, d);
  if (node.needs_input_grad(2)) db = Tensor::empty({xs[1]}, dt, d);
  LB_CHECK(d == mean.device(),
           node.kind() << ": backward got a gradient on " << d.str() << " for a forward on " << mean.device().str());
  if (d.is_cuda()) {
    const Tensor w1 = wv.defined() ? wv : Tensor::ones({xs[1]}, dt, d);
    const auto args = bn_shape(xs);
    if (cuda_backend() == CudaBackend::Cudnn)
      kernels::cudnn::batch_norm2d_backward(args, dev(xv), g.data_ptr<float>(), dev(mean), dev(invstd), dev(w1),
                                            dev_mut(dx), dev_mut(dw), dev_mut(db), training);
    else
      kernels::batch_norm2d_backward(args, dev(xv), g.data_ptr<float>(), dev(mean), dev(invstd), dev(w1), dev_mut(dx),
                                     dev_mut(dw), dev_mut(db), training);
    return {dx, dw, db};
  }
  const cpu::BatchNorm2dBackwardArgs a{bn_shape(xs), training};
  // oneDNN's backward reads x always; an eval node keeps x only when dweight is wanted, and
  // without it dx = weight * invstd * dy (and db = sum dy) stay on our loop.
  if (use_onednn(g.dtype()) && xv.defined()) {
    cpu::onednn::batch_norm2d_backward(cpu::onednn::Context::for_this_thread(), a, xv.data<float>(), g.data<float>(),
                                       mean.data<float>(), invstd.data<float>(), opt<float>(wv), opt_mut<float>(dx),
                                       opt_mut<float>(dw), opt_mut<float>(db));
    return {dx, dw, db};
  }
  LB_DISPATCH_FLOAT(g.dtype(), "batch_norm2d backward", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::batch_norm2d_backward(opt<T>(xv), g.data<T>(), mean.data<T>(), invstd.data<T>(), opt<T>(wv), opt_mut<T>(dx),
                               opt_mut<T>(dw), opt_mut<T>(db), a);
  });
  return {dx, dw, db};
}

// Backward of both modes.
struct BatchNorm2dNode : Node {
  bool training = true;
  double eps = 1e-5;
  SavedTensor x;       // (N, C, H, W); absent in eval unless dweight is needed
  SavedTensor weight;  // (C); undefined when affine=false
  Tensor mean;         // (C) batch mean (training) or running_mean copy (eval)
  Tensor invstd;       // (C)
  const char* kind() const override { return kOp; }
  std::string describe() const override {
    std::ostringstream os;
    os << (training ? "train" : "eval") << " eps=" << eps;
    return os.str();
  }
  // dy's dtype and shape must be the forward output's.
  void check_grad(const Tensor& dy) const {
    LB_CHECK(dy.dtype() == input_dtypes[0] && dy.shape() == input_shapes[0],
             kind() << ": backward got a gradient " << dy.str() << " for an output of " << dtype_name(input_dtypes[0])
                    << shape_str(input_shapes[0]));
  }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor xv = x.unpack(kOp, "input"), wv = weight.unpack(kOp, "weight");
    check_grad(dy);
    return bn_backward_raw(*this, xv, wv, dy, mean, invstd, training);
  }
  void release_saved() override {
    x.reset();
    weight.reset();
    mean = Tensor();
    invstd = Tensor();
  }
};

// Saves x, weight, mean and invstd on `node` as batch_norm2d's backward needs them (see the header).
void save_for_bn_backward(BatchNorm2dNode& node, const Tensor& x, const Tensor& weight, const Tensor& running_mean,
                          const Tensor& mean, const Tensor& invstd, bool training, double eps) {
  node.training = training;
  node.eps = eps;
  if (training || node.needs_input_grad(1)) node.x = SavedTensor(x);
  if (node.needs_input_grad(0)) node.weight = SavedTensor(weight);
  node.mean = training ? mean : running_mean.clone();
  node.invstd = invstd;
}

// The running statistics were written through raw pointers: move their version counters so a node
// that saved them (another op) sees the write.
void mark_running_stats(Tensor& running_mean, Tensor& running_var, bool training) {
  if (training && running_mean.defined()) {
    running_mean.mark_modified();
    running_var.mark_modified();
  }
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean, Tensor running_var,
                    bool training, double momentum, double eps) {
  check_args(kOp, x, weight, bias, running_mean, running_var, training);
  const int64_t C = x.size(1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = training ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
  Tensor invstd = Tensor::empty({C}, x.dtype(), x.device());
  bn_forward_raw(x, weight, bias, running_mean, running_var, training, momentum, eps, y, mean, invstd);
  mark_running_stats(running_mean, running_var, training);
  if (needs_grad({x, weight, bias})) {
    auto node = std::make_shared<BatchNorm2dNode>();
    set_history(y, node, {x, weight, bias});
    save_for_bn_backward(*node, x, weight, running_mean, mean, invstd, training, eps);
  }
  return y;
}

// ==== batch_norm2d_relu: y = relu(bn(x) + residual) ================================================
//
// Backends. CPU: batch_norm2d's loops, then one add + ReLU pass over y (cpu::add_relu_inplace);
// backward: the ReLU mask (cpu::relu_mask) into g, which is also d_residual, then batch_norm2d's
// backward on g. Bit-identical to the unfused ops. Under --backend onednn the same composition
// with oneDNN's batch norm in both places (bn_forward_raw, bn_backward_raw dispatch): oneDNN's
// fuse_norm_relu flag applies the ReLU to bn(x) itself, before the residual add a BasicBlock
// needs, so it cannot express this op; composed, the backend measures oneDNN's BN, as the cuDNN
// composition below measures cuDNN's. CUDA, custom backend: the fused kernels
// (kernels/batch_norm2d.cu): statistics, then one normalise + add + ReLU pass; backward reads
// the mask with dy. CUDA, cuDNN backend: composed, cuDNN's BatchNorm then our add and ReLU
// kernels, and our relu_backward then cuDNN's BatchNorm backward: the comparison backend then
// runs exactly what the unfused model runs, so `--backend cudnn` still measures cuDNN's BN.

namespace {

// Input 3 is the residual.
struct BatchNorm2dReluNode : BatchNorm2dNode {
  SavedTensor y;  // (N, C, H, W) the op's output: the ReLU mask
  const char* kind() const override { return kFusedOp; }
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor xv = x.unpack(kFusedOp, "input"), wv = weight.unpack(kFusedOp, "weight");
    Tensor yv = y.unpack(kFusedOp, "output");
    check_grad(dy);
    const bool need_bn = needs_input_grad(0) || needs_input_grad(1) || needs_input_grad(2);
    if (dy.device().is_cuda() && cuda_backend() == CudaBackend::Custom) return apply_fused_cuda(xv, wv, yv, dy);
    Tensor g = Tensor::empty(yv.shape(), yv.dtype(), yv.device());  // dy * (y > 0)
    if (g.device().is_cuda()) {
      kernels::relu_backward(yv.data_ptr<float>(), dy.data_ptr<float>(), g.data_ptr<float>(), g.numel());
    } else {
      LB_DISPATCH_FLOAT(g.dtype(), "batch_norm2d_relu backward", [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        cpu::relu_mask(yv.data<T>(), dy.data<T>(), g.data<T>(), g.numel());
      });
    }
    std::vector<Tensor> out =
        need_bn ? bn_backward_raw(*this, xv, wv, g, mean, invstd, training) : std::vector<Tensor>(3);
    out.push_back(needs_input_grad(3) ? g : Tensor());
    return out;
  }
  std::vector<Tensor> apply_fused_cuda(const Tensor& xv, const Tensor& wv, const Tensor& yv, const Tensor& dy) {
    const Shape& xs = input_shapes[0];
    const DType dt = input_dtypes[0];
    const Device d = dy.device();
    LB_CHECK(d == mean.device(),
             kFusedOp << ": backward got a gradient on " << d.str() << " for a forward on " << mean.device().str());
    Tensor dx, dw, db, dr;
    if (needs_input_grad(0)) dx = Tensor::empty(xs, dt, d);
    if (needs_input_grad(1)) dw = Tensor::empty({xs[1]}, dt, d);
    if (needs_input_grad(2)) db = Tensor::empty({xs[1]}, dt, d);
    if (needs_input_grad(3)) dr = Tensor::empty(xs, dt, d);
    const Tensor w1 = wv.defined() ? wv : Tensor::ones({xs[1]}, dt, d);
    kernels::batch_norm2d_relu_backward(bn_shape(xs), dev(xv), dev(yv), dy.data_ptr<float>(), dev(mean), dev(invstd),
                                        dev(w1), dev_mut(dx), dev_mut(dw), dev_mut(db), dev_mut(dr), training);
    return {dx, dw, db, dr};
  }
  void release_saved() override {
    BatchNorm2dNode::release_saved();
    y.reset();
  }
};

// The fused forward on CUDA with our kernels (custom backend).
void fused_forward_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                        Tensor& running_mean, Tensor& running_var, bool training, double momentum, double eps,
                        Tensor& y, Tensor& mean, Tensor& invstd) {
  const Tensor w = affine_or(weight, 1.0, x), b = affine_or(bias, 0.0, x);
  const auto s = bn_shape(x.shape());
  const float fe = static_cast<float>(eps), fm = static_cast<float>(momentum);
  if (training)
    kernels::batch_norm2d_relu_forward_train(s, dev(x), dev(w), dev(b), dev(residual), dev_mut(y), dev_mut(mean),
                                             dev_mut(invstd), dev_mut(running_mean), dev_mut(running_var), fe, fm);
  else
    kernels::batch_norm2d_relu_forward_eval(s, dev(x), dev(w), dev(b), dev(running_mean), dev(running_var),
                                            dev(residual), dev_mut(y), dev_mut(invstd), fe);
}

// y = relu(y + residual) in place, after bn_forward_raw (CPU, or CUDA under the cuDNN backend).
void add_relu_raw(Tensor& y, const Tensor& residual) {
  const int64_t n = y.numel();
  if (y.device().is_cuda()) {
    if (residual.defined())
      kernels::add_forward(y.data_ptr<float>(), residual.data_ptr<float>(), n, 1.0f, y.data_ptr<float>(), n);
    kernels::relu_forward(y.data_ptr<float>(), y.data_ptr<float>(), n);
    return;
  }
  LB_DISPATCH_FLOAT(y.dtype(), kFusedOp, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::add_relu_inplace(y.data<T>(), opt<T>(residual), n);
  });
}

}  // namespace

Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                         Tensor running_var, bool training, double momentum, double eps, const Tensor& residual) {
  check_args(kFusedOp, x, weight, bias, running_mean, running_var, training);
  check_residual(residual, x);
  const int64_t C = x.size(1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = training ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
  Tensor invstd = Tensor::empty({C}, x.dtype(), x.device());
  if (x.device().is_cuda() && cuda_backend() == CudaBackend::Custom) {
    fused_forward_cuda(x, weight, bias, residual, running_mean, running_var, training, momentum, eps, y, mean, invstd);
  } else {
    bn_forward_raw(x, weight, bias, running_mean, running_var, training, momentum, eps, y, mean, invstd);
    add_relu_raw(y, residual);
  }
  mark_running_stats(running_mean, running_var, training);
  if (needs_grad({x, weight, bias, residual})) {
    auto node = std::make_shared<BatchNorm2dReluNode>();
    set_history(y, node, {x, weight, bias, residual});
    save_for_bn_backward(*node, x, weight, running_mean, mean, invstd, training, eps);
    node->y = SavedTensor(y);
  }
  return y;
}

}  // namespace lb
