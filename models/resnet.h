// resnet.h: ResNet18 (He et al. 2016, "Deep Residual Learning for Image Recognition"), written
// out directly with torchvision's module and parameter names, so torchvision and timm state dicts
// load by name.
//
//   conv1 (7x7, stride 2, pad 3, no bias) -> bn1 -> relu -> maxpool (3x3, stride 2, pad 1)
//   layer1..layer4: two BasicBlocks each; 64, 128, 256, 512 channels; layer2..4 halve H and W in
//   their first block, whose skip path is then downsample = (1x1 conv stride 2, BatchNorm)
//   avgpool (adaptive, to 1x1) -> flatten -> fc (512 -> num_classes)
//
// The seed report's variant is ResNet18(in_channels = 1, num_classes = 2). At 28x28 the shapes are
//   input 1x28x28, conv1 64x14x14, maxpool 64x7x7, layer1 64x7x7, layer2 128x4x4, layer3 256x2x2,
//   layer4 512x1x1, avgpool 512, fc 2.
// Like torchvision, each BasicBlock owns ONE ReLU module used twice and both ReLUs are in place;
// lightbox's autograd records each call as its own node, so this is safe (docs/02-autograd.md).
// When nn::can_fuse allows (engine/nn/fusion.h: fusion on, no tap on bn1/bn2/relu, no backward
// override), a BasicBlock runs bn1 + relu and bn2 + identity + relu as the fused batch_norm2d_relu.
// In eval mode, when nn::can_fold allows (the same, plus no tap on the block's convs and folding
// on), every conv -> BatchNorm pair (the stem's conv1/bn1, each block's conv1/bn1, conv2/bn2 and
// downsample) runs as one convolution with the batch norm folded into its weight and bias
// (engine/nn/fold.h, docs/04-resnet18.md). Modules, names and state dicts are the same either way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/nn/fold.h"
#include "engine/nn/layers.h"

namespace lb::models {

class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator& gen);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shapes already match

 private:
  // conv1'/bn1, relu, conv2'/bn2, + identity (downsample folded too), relu: batch norm folded.
  Tensor forward_folded(const Tensor& x);
  nn::Conv2d* downsample_conv() const;       // downsample's "0", or null
  nn::BatchNorm2d* downsample_bn() const;    // downsample's "1", or null
  nn::FoldCache fold1_, fold2_, fold_down_;  // W', b' of conv1/bn1, conv2/bn2, the downsample
};

class ResNet18 : public nn::Module {
 public:
  // torchvision's initialisation: convs kaiming_normal_(fan_out, relu), BatchNorm weight 1 and
  // bias 0, fc with Linear's default.
  // `width` is the channel count of conv1 and layer1 (64 in the paper and torchvision; layer2..4
  // use 2x, 4x, 8x). A narrower model (width 8) keeps every op and name: small test fixtures.
  ResNet18(int64_t in_channels, int64_t num_classes, Generator& gen, int64_t width = 64);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ResNet"; }

  // The top-level stages in execution order: conv1, bn1, relu, maxpool, layer1..layer4, avgpool,
  // fc (flatten sits between avgpool and fc and has no parameters).
  static const std::vector<std::string>& stage_names();
  // Runs the stages from `stage` (inclusive) to the logits, given that stage's input: a layer
  // explanation feeds a layer's input activation back in (forward_from("layer4", act)).
  Tensor forward_from(const std::string& stage, const Tensor& activation);

  int64_t in_channels() const { return in_channels_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t width() const { return width_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::MaxPool2d> maxpool;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Linear> fc;

 private:
  nn::Module& stage(size_t i);
  int64_t in_channels_, num_classes_, width_;
  nn::FoldCache fold_stem_;  // W', b' of conv1/bn1
};

}  // namespace lb::models
