// resnet.cc: see resnet.h.
#include "models/resnet.h"

#include <algorithm>

#include "engine/nn/fusion.h"
#include "engine/nn/init.h"
#include "engine/ops/ops.h"

namespace lb::models {

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator& gen) {
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, out_channels, 3, stride, 1, false, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  relu = register_module("relu", std::make_shared<nn::ReLU>(/*inplace=*/true));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out_channels, out_channels, 3, 1, 1, false, gen));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample",
                                 std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
                                     std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, stride, 0, false, gen),
                                     std::make_shared<nn::BatchNorm2d>(out_channels)}));
  }
}

nn::Conv2d* BasicBlock::downsample_conv() const {
  return downsample ? dynamic_cast<nn::Conv2d*>(downsample->at(0).get()) : nullptr;
}

nn::BatchNorm2d* BasicBlock::downsample_bn() const {
  return downsample ? dynamic_cast<nn::BatchNorm2d*>(downsample->at(1).get()) : nullptr;
}

Tensor BasicBlock::forward(const Tensor& x) {
  // Eval mode, no tap on any module of the block, no override: batch norm folded into the convs.
  if (nn::can_fold({conv1.get(), bn1.get(), relu.get(), conv2.get(), bn2.get(), downsample.get(), downsample_conv(),
                    downsample_bn()}))
    return forward_folded(x);
  // Fused: bn1 + relu, and bn2 + identity + relu, each one op and one autograd node
  // (batch_norm2d_relu). The same values and gradients as the unfused path below (bit for bit on the
  // CPU and on CUDA's custom kernels), but the fused op calls bn1, bn2 and relu without
  // Module::operator() and its node is not a "relu" node, so nn::can_fuse keeps the unfused path
  // whenever a Capture wants one of them or a BackwardOverride scope (DeepLIFT) is alive.
  if (nn::can_fuse({bn1.get(), bn2.get(), relu.get()})) {
    Tensor out = bn1->forward_relu((*conv1)(x));
    out = (*conv2)(out);
    const Tensor identity = downsample ? (*downsample)(x) : x;
    return bn2->forward_relu(out, identity);
  }
  Tensor out = (*conv1)(x);
  out = (*bn1)(out);
  out = (*relu)(out);
  out = (*conv2)(out);
  out = (*bn2)(out);
  Tensor identity = downsample ? (*downsample)(x) : x;
  add_(out, identity);  // out += identity
  return (*relu)(out);
}

Tensor BasicBlock::forward_folded(const Tensor& x) {
  // h = relu(conv1'(x) + b1'); out = relu(conv2'(h) + b2' + identity'). The biases ride in the
  // convolutions; relu_, add_ and relu_ then rewrite conv outputs that no node saved (conv2d keeps
  // its input and weight, relu keeps its output), so the in-place writes are legal on the tape.
  // The residual add and final ReLU stay two passes: there is no add + ReLU op outside
  // batch_norm2d_relu.
  Tensor out = fold1_.conv_bn(*conv1, *bn1, x);  // (N, K, P, Q)
  relu_(out);
  out = fold2_.conv_bn(*conv2, *bn2, out);
  const Tensor identity = downsample ? fold_down_.conv_bn(*downsample_conv(), *downsample_bn(), x) : x;
  add_(out, identity);
  relu_(out);
  return out;
}

namespace {

std::shared_ptr<nn::Sequential> make_layer(int64_t in_channels, int64_t out_channels, int64_t stride, Generator& gen) {
  auto layer = std::make_shared<nn::Sequential>();
  layer->push_back(std::make_shared<BasicBlock>(in_channels, out_channels, stride, gen));
  layer->push_back(std::make_shared<BasicBlock>(out_channels, out_channels, 1, gen));
  return layer;
}

}  // namespace

ResNet18::ResNet18(int64_t in_channels, int64_t num_classes, Generator& gen, int64_t width)
    : in_channels_(in_channels), num_classes_(num_classes), width_(width) {
  LB_CHECK(in_channels > 0 && num_classes > 0 && width > 0,
           "ResNet18: in_channels, num_classes and width must be positive, got " << in_channels << ", " << num_classes
                                                                                 << ", " << width);
  const int64_t w = width;
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in_channels, w, 7, 2, 3, false, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(w));
  relu = register_module("relu", std::make_shared<nn::ReLU>(true));
  maxpool = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  layer1 = register_module("layer1", make_layer(w, w, 1, gen));
  layer2 = register_module("layer2", make_layer(w, 2 * w, 2, gen));
  layer3 = register_module("layer3", make_layer(2 * w, 4 * w, 2, gen));
  layer4 = register_module("layer4", make_layer(4 * w, 8 * w, 2, gen));
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1, 1));
  fc = register_module("fc", std::make_shared<nn::Linear>(8 * w, num_classes, true, gen));
  // torchvision: every conv kaiming_normal_(fan_out, relu); BN weight 1, bias 0 (their defaults).
  for (const auto& [name, m] : named_modules())
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m))
      nn::init::kaiming_normal_(conv->weight(), gen, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU);
  assign_names();
}

const std::vector<std::string>& ResNet18::stage_names() {
  static const std::vector<std::string> names = {"conv1",  "bn1",    "relu",   "maxpool", "layer1",
                                                 "layer2", "layer3", "layer4", "avgpool", "fc"};
  return names;
}

nn::Module& ResNet18::stage(size_t i) {
  nn::Module* m = find(stage_names()[i]);
  LB_CHECK(m != nullptr, "ResNet18: missing stage " << stage_names()[i]);
  return *m;
}

Tensor ResNet18::forward(const Tensor& x) {
  LB_CHECK(x.dim() == 4 && x.size(1) == in_channels_,
           "ResNet18: expected input (N, " << in_channels_ << ", H, W), got " << shape_str(x.shape()));
  return forward_from("conv1", x);
}

Tensor ResNet18::forward_from(const std::string& name, const Tensor& activation) {
  const auto& names = stage_names();
  auto it = std::find(names.begin(), names.end(), name);
  LB_CHECK(it != names.end(), "ResNet18: no stage named '"
                                  << name << "'; stages are conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc");
  Tensor h = activation;
  size_t i = static_cast<size_t>(it - names.begin());
  // The stem in eval mode: conv1 -> bn1 -> relu as one folded convolution and an in-place ReLU
  // (engine/nn/fold.h), unless a tap wants conv1, bn1 or relu or an override scope is alive.
  if (names[i] == "conv1" && nn::can_fold({conv1.get(), bn1.get(), relu.get()})) {
    h = fold_stem_.conv_bn(*conv1, *bn1, h);
    relu_(h);
    i = 3;  // maxpool
  }
  for (; i < names.size(); ++i) {
    if (names[i] == "fc") h = flatten(h, 1);
    h = stage(i)(h);
  }
  return h;
}

}  // namespace lb::models
