// nn/layers.h: the layers ResNet18 is built from, each a thin Module around one op.
//
// Every layer matches its torch.nn namesake: the same parameter and buffer names (so torchvision
// state dicts load by name), the same default initialisation (reset_parameters), and the same
// printed form. Shapes (N batch, C/K in/out channels, H/W spatial):
//   Conv2d             (N, C, H, W) -> (N, K, P, Q)     weight (K, C, R, R), bias (K)
//   BatchNorm2d        (N, C, H, W) -> same             weight, bias, running_mean, running_var (C),
//                                                       num_batches_tracked (int64 scalar)
//   ReLU               any -> same
//   MaxPool2d          (N, C, H, W) -> (N, C, P, Q)
//   AdaptiveAvgPool2d  (N, C, H, W) -> (N, C, OH, OW)
//   Flatten            (N, C, H, W) -> (N, C*H*W) for start_dim 1
//   Linear             (N, IN) -> (N, OUT)              weight (OUT, IN), bias (OUT)
//   Sequential         chains its children "0", "1", ...
#pragma once

#include <initializer_list>
#include <memory>

#include "engine/nn/module.h"

namespace lb::nn {

// Square kernel, square stride, zero padding; no groups or dilation (ResNet needs neither).
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool bias,
         Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }  // undefined when built with bias = false
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 private:
  int64_t in_, out_, kernel_, stride_, padding_;
  Tensor weight_, bias_;
};

// Affine, tracking running statistics (PyTorch's defaults). Training mode normalises with the
// batch statistics and updates the running ones; eval mode uses the running ones.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x) + residual) as one fused op (batch_norm2d_relu), with forward's checks and
  // bookkeeping; residual may be undefined. Called directly, not through operator(): no Capture
  // records it, so callers ask nn::can_fuse first (models/resnet.cc's BasicBlock).
  Tensor forward_relu(const Tensor& x, const Tensor& residual = Tensor());
  std::string type_name() const override { return "BatchNorm2d"; }
  std::string extra_repr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  Tensor& num_batches_tracked() { return num_batches_tracked_; }
  int64_t channels() const { return channels_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

 protected:
  bool is_optional_key(const std::string& local_name) const override { return local_name == "num_batches_tracked"; }

 private:
  void check_and_count(const Tensor& x);  // forward's input check and num_batches_tracked update
  int64_t channels_;
  double eps_, momentum_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

// inplace = true rewrites its input (relu_) and returns it: legal inside a graph because relu's
// backward needs only its output, and it saves a full activation per layer in training.
class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : inplace_(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
  std::string extra_repr() const override { return inplace_ ? "inplace=True" : ""; }
  bool inplace() const { return inplace_; }

 private:
  bool inplace_;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;
  int64_t kernel() const { return kernel_; }
  int64_t stride() const { return stride_; }
  int64_t padding() const { return padding_; }

 private:
  int64_t kernel_, stride_, padding_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;

 private:
  int64_t out_h_, out_w_;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1) : start_dim_(start_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;

 private:
  int64_t start_dim_;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }  // undefined when built with bias = false
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  // Appends a child named by its position ("0", "1", ...), as torch.nn.Sequential does.
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& at(size_t i) const;

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace lb::nn
