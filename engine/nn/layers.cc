// nn/layers.cc: see layers.h. Each forward is one call into engine/ops; the printed forms are the
// extra_repr strings of torch.nn so that repr() reads like print(model) in PyTorch.
#include "engine/nn/layers.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "engine/ops/ops.h"

namespace lb::nn {

namespace {

// PyTorch's reset_parameters for Conv2d and Linear: weight ~ kaiming_uniform_(a = sqrt(5)), which
// is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The
// weight is drawn first, as in PyTorch, so one seed gives one model.
void reset_parameters(Tensor& weight, Tensor& bias, Generator& gen) {
  init::kaiming_uniform_(weight, gen, init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in(weight)));
    init::uniform_(bias, -bound, bound, gen);
  }
}

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

}  // namespace

// ---- Conv2d ------------------------------------------------------------------------------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
               Generator& gen)
    : in_(in_channels), out_(out_channels), kernel_(kernel), stride_(stride), padding_(padding) {
  LB_CHECK(in_ > 0 && out_ > 0 && kernel_ > 0 && stride_ > 0 && padding_ >= 0,
           "Conv2d: bad settings in=" << in_ << " out=" << out_ << " kernel=" << kernel_ << " stride=" << stride_
                                      << " padding=" << padding_);
  weight_ = register_parameter("weight", Tensor::empty({out_, in_, kernel_, kernel_}));
  if (bias) bias_ = register_parameter("bias", Tensor::empty({out_}));
  reset_parameters(weight_, bias_, gen);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, bias_, stride_, padding_); }

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_) + ", " + std::to_string(out_) + ", kernel_size=" + pair_str(kernel_, kernel_) +
                  ", stride=" + pair_str(stride_, stride_);
  if (padding_ != 0) s += ", padding=" + pair_str(padding_, padding_);
  if (!bias_.defined()) s += ", bias=False";
  return s;
}

// ---- BatchNorm2d -------------------------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum)
    : channels_(channels), eps_(eps), momentum_(momentum) {
  LB_CHECK(channels_ > 0, "BatchNorm2d: channels must be positive, got " << channels_);
  LB_CHECK(eps_ > 0 && momentum_ >= 0 && momentum_ <= 1,
           "BatchNorm2d: need eps > 0 and momentum in [0, 1], got eps=" << eps_ << " momentum=" << momentum_);
  weight_ = register_parameter("weight", Tensor::ones({channels_}));
  bias_ = register_parameter("bias", Tensor::zeros({channels_}));
  running_mean_ = register_buffer("running_mean", Tensor::zeros({channels_}));
  running_var_ = register_buffer("running_var", Tensor::ones({channels_}));
  // A 0-dim int64 tensor, exactly what torchvision state dicts hold under this name.
  num_batches_tracked_ = register_buffer("num_batches_tracked", Tensor::scalar(0, DType::Int64));
}

void BatchNorm2d::check_and_count(const Tensor& x) {
  LB_CHECK(x.defined() && x.dim() == 4 && x.size(1) == channels_,
           "BatchNorm2d(" << channels_ << "): expected input (N, " << channels_ << ", H, W), got "
                          << (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
  if (is_training()) {
    // item() and fill_ work on any device; the counter is bookkeeping, never differentiated.
    NoGradGuard no_grad;
    num_batches_tracked_.fill_(num_batches_tracked_.item() + 1);
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  check_and_count(x);
  return batch_norm2d(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x, const Tensor& residual) {
  check_and_count(x);
  return batch_norm2d_relu(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_, residual);
}

std::string BatchNorm2d::extra_repr() const {
  return std::to_string(channels_) + ", eps=" + py_float_repr(eps_) + ", momentum=" + py_float_repr(momentum_) +
         ", affine=True, track_running_stats=True";
}

// ---- ReLU, pooling, Flatten --------------------------------------------------------------------

Tensor ReLU::forward(const Tensor& x) {
  if (!inplace_) return relu(x);
  Tensor y = x;  // a second handle to the same tensor: relu_ rewrites x itself
  relu_(y);
  return y;
}

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : kernel_(kernel), stride_(stride), padding_(padding) {
  LB_CHECK(kernel_ > 0 && stride_ > 0 && padding_ >= 0 && padding_ <= kernel_ / 2,
           "MaxPool2d: bad settings kernel=" << kernel_ << " stride=" << stride_ << " padding=" << padding_
                                             << " (padding may be at most kernel / 2)");
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_, stride_, padding_); }

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(kernel_) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + ", dilation=1, ceil_mode=False";
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h_(out_h), out_w_(out_w) {
  LB_CHECK(out_h_ > 0 && out_w_ > 0,
           "AdaptiveAvgPool2d: output size must be positive, got " << pair_str(out_h_, out_w_));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, out_h_, out_w_); }

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + pair_str(out_h_, out_w_); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim_); }

std::string Flatten::extra_repr() const { return "start_dim=" + std::to_string(start_dim_) + ", end_dim=-1"; }

// ---- Linear --------------------------------------------------------------------------------------

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen)
    : in_(in_features), out_(out_features) {
  LB_CHECK(in_ > 0 && out_ > 0, "Linear: features must be positive, got in=" << in_ << " out=" << out_);
  weight_ = register_parameter("weight", Tensor::empty({out_, in_}));
  if (bias) bias_ = register_parameter("bias", Tensor::empty({out_}));
  reset_parameters(weight_, bias_, gen);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_) + ", out_features=" + std::to_string(out_) +
         ", bias=" + (bias_.defined() ? "True" : "False");
}

// ---- Sequential ------------------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : layers_) h = (*m)(h);
  return h;
}

const std::shared_ptr<Module>& Sequential::at(size_t i) const {
  LB_CHECK(i < layers_.size(), "Sequential: index " << i << " out of range for " << layers_.size() << " layers");
  return layers_[i];
}

}  // namespace lb::nn
