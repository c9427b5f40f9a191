// nn/init.h: parameter initialisers, in place, drawing from an explicit Generator.
//
// They follow torch.nn.init (same names, same gain and fan rules) so that a layer built here
// starts from the same distribution as its PyTorch twin:
//   fan_in  = size(1) * receptive field,  fan_out = size(0) * receptive field
//             (receptive field = product of dims 2.., so a conv weight (K, C, R, S) has
//             fan_in = C*R*S and fan_out = K*R*S; a linear weight (OUT, IN) has fan_in = IN)
//   gain    relu: sqrt(2); leaky_relu(a): sqrt(2 / (1 + a^2)); linear: 1
//   kaiming_uniform_: U(-b, b), b = gain * sqrt(3 / fan)        (He et al. 2015)
//   kaiming_normal_:  N(0, std^2), std = gain / sqrt(fan)
// Conv2d and Linear use kaiming_uniform_(a = sqrt(5)), which makes b = 1 / sqrt(fan_in)
// (PyTorch's reset_parameters); torchvision's ResNet re-initialises convs with
// kaiming_normal_(mode = fan_out, nonlinearity = relu).
//
// Values are drawn on the CPU in row-major order (so a seed gives the same weights on every
// device) and copied in; the copy bumps the tensor's version, like any in-place write.
#pragma once

#include "engine/tensor.h"

namespace lb::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, ReLU, LeakyReLU };

int64_t fan_in(const Tensor& t);  // needs at least 2 dims
int64_t fan_out(const Tensor& t);
// torch.nn.init.calculate_gain; `a` is the leaky_relu negative slope.
double calculate_gain(Nonlinearity nl, double a = 0.0);

Tensor& uniform_(Tensor& t, double lo, double hi, Generator& gen);
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen);
Tensor& constant_(Tensor& t, double value);
Tensor& kaiming_uniform_(Tensor& t, Generator& gen, FanMode mode = FanMode::FanIn,
                         Nonlinearity nl = Nonlinearity::LeakyReLU, double a = 0.0);
Tensor& kaiming_normal_(Tensor& t, Generator& gen, FanMode mode = FanMode::FanIn,
                        Nonlinearity nl = Nonlinearity::LeakyReLU, double a = 0.0);

}  // namespace lb::nn::init
