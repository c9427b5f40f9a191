// lab/cases.h: the layer shapes the kernel lab measures: every distinct conv2d, batchnorm2d (and
// the ReLU after it), max-pool, the global average pool, the fc layer (512 -> 2) and its
// cross-entropy loss of torchvision's ResNet18 with a 1-channel stem (as lightbox's models use),
// at a given input size and batch, plus the SGD and AdamW updates of a few of its parameter
// tensors. Plain C++ (no CUDA) so the CLI and the tests can list them anywhere.
//
// For an input of S x S: conv1 7x7/2 pad 3 (1 -> 64) gives S/2; maxpool 3x3/2 pad 1 gives S/4;
// layer1 keeps it; layer2, layer3, layer4 each halve it (3x3/2 pad 1 plus a 1x1/2 downsample on
// their first block). At S = 28: 14, 7, 7, 4, 2, 1. At S = 224: 112, 56, 56, 28, 14, 7.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/shapes.h"

namespace lb::kernels::lab {

enum class OpKind { Conv2d, BatchNorm2d, MaxPool2d, Relu, AvgPool2d, Linear, CrossEntropy, Sgd, AdamW };

// A matrix problem: linear x (N, IN), w (OUT, IN), y (N, OUT); cross-entropy logits (N, OUT).
struct MatShape {
  int64_t N, IN, OUT;
};

struct LabCase {
  std::string layer;  // "conv1", "layer2.0.conv1", "layer2.0.downsample", "bn1", "maxpool", ...
  OpKind op = OpKind::Conv2d;
  int64_t input_size = 0;  // the network input, 28 or 224
  Conv2dShape conv{};      // op == Conv2d
  BatchNormShape bn{};     // op == BatchNorm2d, and Relu (x (N, C, HW))
  MaxPoolShape pool{};     // op == MaxPool2d; planes = N * channels
  AvgPoolShape avg{};      // op == AvgPool2d; planes = N * channels
  MatShape mat{};          // op == Linear, CrossEntropy
  int64_t numel = 0;       // op == Sgd, AdamW: the parameter tensor's elements (no batch)
  int64_t channels = 0;    // maxpool, avgpool: channels per image (to rebatch)
};

inline int64_t conv_out(int64_t in, int64_t k, int64_t stride, int64_t pad) { return (in + 2 * pad - k) / stride + 1; }

inline Conv2dShape make_conv(int64_t N, int64_t C, int64_t H, int64_t K, int64_t R, int64_t stride, int64_t pad) {
  const int64_t P = conv_out(H, R, stride, pad);
  return Conv2dShape{N, C, H, H, K, R, R, stride, pad, P, P};
}

// The same case with a different batch (the lab checks 224x224 layers on a small batch).
inline LabCase with_batch(LabCase c, int64_t N) {
  c.conv.N = N;
  c.bn.N = N;
  c.pool.planes = N * c.channels;
  c.avg.planes = N * c.channels;
  c.mat.N = N;
  return c;
}

inline int64_t batch_of(const LabCase& c) {
  switch (c.op) {
    case OpKind::Conv2d:
      return c.conv.N;
    case OpKind::BatchNorm2d:
      return c.bn.N;
    case OpKind::MaxPool2d:
      return c.channels > 0 ? c.pool.planes / c.channels : 0;
    case OpKind::Relu:
      return c.bn.N;
    case OpKind::AvgPool2d:
      return c.channels > 0 ? c.avg.planes / c.channels : 0;
    case OpKind::Linear:
    case OpKind::CrossEntropy:
      return c.mat.N;
    case OpKind::Sgd:
    case OpKind::AdamW:
      return 1;  // a parameter update has no batch: "one image" keeps it whole
  }
  return 0;
}

inline const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::Conv2d:
      return "conv2d";
    case OpKind::BatchNorm2d:
      return "batchnorm2d";
    case OpKind::MaxPool2d:
      return "maxpool2d";
    case OpKind::Relu:
      return "relu";
    case OpKind::AvgPool2d:
      return "adaptive_avgpool2d";
    case OpKind::Linear:
      return "linear";
    case OpKind::CrossEntropy:
      return "cross_entropy";
    case OpKind::Sgd:
      return "sgd";
    case OpKind::AdamW:
      return "adamw";
  }
  return "?";
}

// A readable shape, e.g. "N=128 C=64 H=7 K=128 3x3/2 pad 1 -> 4x4".
inline std::string describe(const LabCase& c) {
  auto s = [](int64_t v) { return std::to_string(v); };
  switch (c.op) {
    case OpKind::Conv2d: {
      const Conv2dShape& v = c.conv;
      return "N=" + s(v.N) + " C=" + s(v.C) + " H=" + s(v.H) + " K=" + s(v.K) + " " + s(v.R) + "x" + s(v.S) + "/" +
             s(v.stride) + " pad " + s(v.pad) + " -> " + s(v.P) + "x" + s(v.Q);
    }
    case OpKind::BatchNorm2d:
      return "N=" + s(c.bn.N) + " C=" + s(c.bn.C) + " HW=" + s(c.bn.HW);
    case OpKind::MaxPool2d: {
      const MaxPoolShape& v = c.pool;
      return "N=" + s(batch_of(c)) + " C=" + s(c.channels) + " H=" + s(v.H) + " " + s(v.kernel) + "x" + s(v.kernel) +
             "/" + s(v.stride) + " pad " + s(v.padding) + " -> " + s(v.P) + "x" + s(v.Q);
    }
    case OpKind::Relu:
      return "N=" + s(c.bn.N) + " C=" + s(c.bn.C) + " HW=" + s(c.bn.HW);
    case OpKind::AvgPool2d:
      return "N=" + s(batch_of(c)) + " C=" + s(c.channels) + " H=" + s(c.avg.H) + " -> " + s(c.avg.OH) + "x" +
             s(c.avg.OW);
    case OpKind::Linear:
      return "N=" + s(c.mat.N) + " IN=" + s(c.mat.IN) + " OUT=" + s(c.mat.OUT);
    case OpKind::CrossEntropy:
      return "N=" + s(c.mat.N) + " classes=" + s(c.mat.OUT);
    case OpKind::Sgd:
    case OpKind::AdamW:
      return "n=" + s(c.numel);
  }
  return "";
}

constexpr int64_t kResnetClasses = 2;  // lightbox's models: fc 512 -> 2

// Every distinct conv, batchnorm (then ReLU) and max-pool of ResNet18 (1-channel input) at input
// S x S, then its head (global average pool, fc, cross-entropy) and the optimizer updates of three
// parameter tensors (the stem's 3136 weights, a layer1 conv's 36864, a layer4 conv's 2.4M; the
// same at every S).
inline std::vector<LabCase> resnet18_cases(int64_t S, int64_t N) {
  std::vector<LabCase> out;
  auto conv = [&](const std::string& name, int64_t C, int64_t H, int64_t K, int64_t R, int64_t stride, int64_t pad) {
    LabCase c;
    c.layer = name;
    c.op = OpKind::Conv2d;
    c.input_size = S;
    c.conv = make_conv(N, C, H, K, R, stride, pad);
    out.push_back(c);
    return c.conv.P;
  };
  auto bn = [&](const std::string& name, int64_t C, int64_t H) {
    LabCase c;
    c.layer = name;
    c.op = OpKind::BatchNorm2d;
    c.input_size = S;
    c.bn = BatchNormShape{N, C, H * H};
    out.push_back(c);
    c.layer = name + ".relu";
    c.op = OpKind::Relu;
    out.push_back(c);
  };
  const int64_t h1 = conv("conv1", 1, S, 64, 7, 2, 3);
  bn("bn1", 64, h1);
  {
    LabCase c;
    c.layer = "maxpool";
    c.op = OpKind::MaxPool2d;
    c.input_size = S;
    c.channels = 64;
    const int64_t p = conv_out(h1, 3, 2, 1);
    c.pool = MaxPoolShape{N * 64, h1, h1, p, p, 3, 2, 1};
    out.push_back(c);
  }
  int64_t h = conv_out(h1, 3, 2, 1);
  conv("layer1.conv", 64, h, 64, 3, 1, 1);
  bn("layer1.bn", 64, h);
  int64_t C = 64;
  for (int stage = 2; stage <= 4; ++stage) {
    const std::string L = "layer" + std::to_string(stage);
    const int64_t K = C * 2;
    const int64_t h2 = conv(L + ".0.conv1", C, h, K, 3, 2, 1);
    conv(L + ".0.downsample", C, h, K, 1, 2, 0);
    conv(L + ".conv", K, h2, K, 3, 1, 1);
    bn(L + ".bn", K, h2);
    C = K;
    h = h2;
  }
  auto head = [&](const std::string& name, OpKind op) {
    LabCase c;
    c.layer = name;
    c.op = op;
    c.input_size = S;
    c.channels = C;
    c.avg = AvgPoolShape{N * C, h, h, 1, 1};
    c.mat = MatShape{N, C, kResnetClasses};
    out.push_back(c);
  };
  head("avgpool", OpKind::AvgPool2d);
  head("fc", OpKind::Linear);
  head("loss", OpKind::CrossEntropy);
  for (OpKind op : {OpKind::Sgd, OpKind::AdamW})
    for (const auto& [name, n] : {std::pair<const char*, int64_t>{"conv1.weight", 64 * 7 * 7},
                                  {"layer1.conv.weight", 64 * 64 * 9},
                                  {"layer4.conv.weight", 512 * 512 * 9}}) {
      LabCase c;
      c.layer = name;
      c.op = op;
      c.input_size = S;
      c.numel = n;
      out.push_back(c);
    }
  return out;
}

}  // namespace lb::kernels::lab
