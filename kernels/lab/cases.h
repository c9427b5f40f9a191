// lab/cases.h: the layer shapes the kernel lab measures: every distinct conv2d, batchnorm2d and
// max-pool of torchvision's ResNet18 with a 1-channel stem (as lightbox's models use), at a given
// input size and batch. Plain C++ (no CUDA) so the CLI and the tests can list them anywhere.
//
// For an input of S x S: conv1 7x7/2 pad 3 (1 -> 64) gives S/2; maxpool 3x3/2 pad 1 gives S/4;
// layer1 keeps it; layer2, layer3, layer4 each halve it (3x3/2 pad 1 plus a 1x1/2 downsample on
// their first block). At S = 28: 14, 7, 7, 4, 2, 1. At S = 224: 112, 56, 56, 28, 14, 7.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/shapes.h"

namespace lb::kernels::lab {

enum class OpKind { Conv2d, BatchNorm2d, MaxPool2d };

struct LabCase {
  std::string layer;        // "conv1", "layer2.0.conv1", "layer2.0.downsample", "bn1", "maxpool", ...
  OpKind op = OpKind::Conv2d;
  int64_t input_size = 0;   // the network input, 28 or 224
  Conv2dShape conv{};       // op == Conv2d
  BatchNormShape bn{};      // op == BatchNorm2d
  MaxPoolShape pool{};      // op == MaxPool2d; planes = N * channels
  int64_t channels = 0;     // maxpool: channels per image (to rebatch)
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
  return c;
}

inline int64_t batch_of(const LabCase& c) {
  switch (c.op) {
    case OpKind::Conv2d: return c.conv.N;
    case OpKind::BatchNorm2d: return c.bn.N;
    case OpKind::MaxPool2d: return c.channels > 0 ? c.pool.planes / c.channels : 0;
  }
  return 0;
}

inline const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::Conv2d: return "conv2d";
    case OpKind::BatchNorm2d: return "batchnorm2d";
    case OpKind::MaxPool2d: return "maxpool2d";
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
    case OpKind::BatchNorm2d: return "N=" + s(c.bn.N) + " C=" + s(c.bn.C) + " HW=" + s(c.bn.HW);
    case OpKind::MaxPool2d: {
      const MaxPoolShape& v = c.pool;
      return "N=" + s(batch_of(c)) + " C=" + s(c.channels) + " H=" + s(v.H) + " " + s(v.kernel) + "x" + s(v.kernel) +
             "/" + s(v.stride) + " pad " + s(v.padding) + " -> " + s(v.P) + "x" + s(v.Q);
    }
  }
  return "";
}

// Every distinct conv, batchnorm and max-pool of ResNet18 (1-channel input) at input S x S.
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
  return out;
}

}  // namespace lb::kernels::lab
