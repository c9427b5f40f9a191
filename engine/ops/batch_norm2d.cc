// ops/batch_norm2d.cc: batch_norm2d's checks, forward dispatch and autograd node, side by side.
//
// Shapes: x, y (N, C, H, W); weight, bias, running_mean, running_var, mean, invstd (C).
// Differentiable inputs, in order: x, weight, bias. The running statistics are buffers, not
// inputs: they get no edges and no gradient, and their in-place update bumps their version.
//
// What the node keeps for backward:
//   training  x (SavedTensor, version-checked), weight (SavedTensor), and the batch mean and
//             invstd (plain tensors: made here, never visible to the caller, so nothing can
//             write them in place).
//   eval      invstd and a copy of running_mean taken at forward time (C values each), so a
//             later update of the running statistics cannot change this forward's gradient; x
//             only when the weight needs a gradient (dweight reads xhat), weight only when x does.
// Accumulation rule: apply() returns fresh dx, dweight, dbias; the engine sums them.
// Ioffe & Szegedy 2015; PyTorch's torch.nn.functional.batch_norm.
#include "engine/ops/batch_norm2d.h"

#include <sstream>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/cpu/batch_norm2d.h"
#include "kernels/batch_norm2d.cuh"
#include "kernels/cudnn/cudnn_ops.cuh"

namespace lb {

namespace {

constexpr const char* kOp = "batch_norm2d";

// Every tensor on x's device; CUDA takes float32.
void check_device(const Tensor& t, const Tensor& x) {
  LB_CHECK(!t.defined() || t.device() == x.device(),
           kOp << ": all tensors must be on one device; got input " << x.str() << " and " << t.str());
  LB_CHECK(!t.defined() || t.device().is_cpu() || t.dtype() == DType::Float32,
           kOp << ": CUDA kernels take float32; got " << t.str());
}

// A per-channel tensor (weight, bias or a running statistic): shape (C), x's dtype.
void check_channel_tensor(const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  check_device(t, x);
  const int64_t C = x.size(1);
  LB_CHECK(t.shape() == Shape{C}, kOp << ": " << what << " has shape " << shape_str(t.shape()) << " but input "
                                      << shape_str(x.shape()) << " has " << C << " channels; expected [" << C << "]");
  LB_CHECK(t.dtype() == x.dtype(), kOp << ": " << what << " is " << dtype_name(t.dtype()) << " but the input is "
                                       << dtype_name(x.dtype()) << "; convert one of them");
}

void check_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                const Tensor& running_var, bool training) {
  LB_CHECK(x.defined(), kOp << ": undefined input");
  check_device(x, x);
  LB_CHECK(x.dim() == 4, kOp << ": expected a 4-D input (N, C, H, W), got " << x.str());
  LB_CHECK(is_floating(x.dtype()), kOp << ": expected a float32 or float64 input, got " << x.str());
  check_channel_tensor(weight, "weight", x);
  check_channel_tensor(bias, "bias", x);
  check_channel_tensor(running_mean, "running_mean", x);
  check_channel_tensor(running_var, "running_var", x);
  LB_CHECK(running_mean.defined() == running_var.defined(),
           kOp << ": running_mean and running_var must be given together (one is undefined)");
  LB_CHECK(!running_mean.requires_grad() && !running_var.requires_grad(),
           kOp << ": running statistics are buffers updated in place and must not require grad");
  LB_CHECK(training || running_mean.defined(),
           kOp << ": eval mode normalises with running_mean and running_var, which are undefined; "
               << "pass them or use training mode");
  const int64_t per_channel = x.size(0) * x.size(2) * x.size(3);
  LB_CHECK(!training || per_channel > 1, kOp << ": expected more than 1 value per channel when training, got input "
                                             << shape_str(x.shape()));
}

// ---- raw forward dispatch (no autograd) -------------------------------------------------------

cpu::BatchNorm2dArgs bn_args(const Tensor& x, double momentum, double eps) {
  cpu::BatchNorm2dArgs a;
  a.N = x.size(0);
  a.C = x.size(1);
  a.HW = x.size(2) * x.size(3);
  a.momentum = momentum;
  a.eps = eps;
  return a;
}

// Data of an optional (C) tensor, or null when it is undefined (affine=false, no tracking).
template <class T> const T* opt(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }
template <class T> T* opt_mut(Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }
const float* dev(const Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* dev_mut(Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

kernels::BatchNormShape cuda_shape(const Shape& xs) { return {xs[0], xs[1], xs[2] * xs[3]}; }

// The CUDA kernels (both backends) take an affine weight and bias: affine=false is weight 1, bias 0.
Tensor affine_or(const Tensor& t, double value, const Tensor& x) {
  return t.defined() ? t : Tensor::full({x.size(1)}, value, x.dtype(), x.device());
}

// ---- autograd node ------------------------------------------------------------------------------

// Backward of both modes; see cpu/batch_norm2d.h for the formulas.
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
  std::vector<Tensor> apply(const Tensor& dy) override {
    Tensor xv = x.unpack(kOp, "input"), wv = weight.unpack(kOp, "weight");
    const Shape& xs = input_shapes[0];
    LB_CHECK(dy.dtype() == input_dtypes[0] && dy.shape() == xs,
             kOp << ": backward got a gradient " << dy.str() << " for an output of "
                 << dtype_name(input_dtypes[0]) << shape_str(xs));
    Tensor dx, dw, db;
    const Device d = dy.device();
    if (needs_input_grad(0)) dx = Tensor::empty(xs, input_dtypes[0], d);
    if (needs_input_grad(1)) dw = Tensor::empty({xs[1]}, input_dtypes[0], d);
    if (needs_input_grad(2)) db = Tensor::empty({xs[1]}, input_dtypes[0], d);
    LB_CHECK(d == mean.device(), kOp << ": backward got a gradient on " << d.str() << " for a forward on "
                                     << mean.device().str());
    if (d.is_cuda()) {
      const Tensor w1 = wv.defined() ? wv : Tensor::ones({xs[1]}, input_dtypes[0], d);
      const auto args = cuda_shape(xs);
      if (cuda_backend() == CudaBackend::Cudnn)
        kernels::cudnn::batch_norm2d_backward(args, dev(xv), dy.data_ptr<float>(), dev(mean), dev(invstd), dev(w1),
                                              dev_mut(dx), dev_mut(dw), dev_mut(db), training);
      else
        kernels::batch_norm2d_backward(args, dev(xv), dy.data_ptr<float>(), dev(mean), dev(invstd), dev(w1),
                                       dev_mut(dx), dev_mut(dw), dev_mut(db), training);
      return {dx, dw, db};
    }
    cpu::BatchNorm2dBackwardArgs a;
    a.N = xs[0];
    a.C = xs[1];
    a.HW = xs[2] * xs[3];
    a.training = training;
    LB_DISPATCH_FLOAT(dy.dtype(), "batch_norm2d backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::batch_norm2d_backward(opt<T>(xv), dy.data<T>(), mean.data<T>(), invstd.data<T>(), opt<T>(wv),
                                 opt_mut<T>(dx), opt_mut<T>(dw), opt_mut<T>(db), a);
    });
    return {dx, dw, db};
  }
  void release_saved() override {
    x.reset();
    weight.reset();
    mean = Tensor();
    invstd = Tensor();
  }
};

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum, double eps) {
  check_args(x, weight, bias, running_mean, running_var, training);
  const int64_t C = x.size(1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = training ? Tensor::empty({C}, x.dtype(), x.device()) : Tensor();
  Tensor invstd = Tensor::empty({C}, x.dtype(), x.device());
  const cpu::BatchNorm2dArgs a = bn_args(x, momentum, eps);
  if (x.device().is_cuda()) {
    const Tensor w = affine_or(weight, 1.0, x), b = affine_or(bias, 0.0, x);
    const auto s = cuda_shape(x.shape());
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
  } else LB_DISPATCH_FLOAT(x.dtype(), kOp, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (training) {
      cpu::batch_norm2d_forward_train(x.data<T>(), opt<T>(weight), opt<T>(bias), y.data<T>(), mean.data<T>(),
                                      invstd.data<T>(), opt_mut<T>(running_mean), opt_mut<T>(running_var), a);
    } else {
      cpu::batch_norm2d_forward_eval(x.data<T>(), opt<T>(weight), opt<T>(bias), running_mean.data<T>(),
                                     running_var.data<T>(), y.data<T>(), invstd.data<T>(), a);
    }
  });
  // The running statistics were written through raw pointers: move their version counters so a
  // node that saved them (another op) sees the write.
  if (training && running_mean.defined()) {
    running_mean.mark_modified();
    running_var.mark_modified();
  }
  if (needs_grad({x, weight, bias})) {
    auto node = std::make_shared<BatchNorm2dNode>();
    node->training = training;
    node->eps = eps;
    set_history(y, node, {x, weight, bias});
    if (training || node->needs_input_grad(1)) node->x = SavedTensor(x);
    if (node->needs_input_grad(0)) node->weight = SavedTensor(weight);
    node->mean = training ? mean : running_mean.clone();
    node->invstd = invstd;
  }
  return y;
}

}  // namespace lb
