// nn/init.cc: see init.h. The formulas are torch.nn.init's.
#include "engine/nn/init.h"

#include <cmath>

#include "engine/autograd.h"

namespace lb::nn::init {

namespace {

int64_t receptive_field(const Tensor& t) {
  LB_CHECK(t.defined() && t.dim() >= 2,
           "init: fan in and fan out need a tensor with at least 2 dims, got "
               << (t.defined() ? shape_str(t.shape()) : std::string("an undefined tensor")));
  int64_t r = 1;
  for (int64_t d = 2; d < t.dim(); ++d) r *= t.size(d);
  return r;
}

// Writes a CPU tensor of freshly drawn values into t, whatever t's device. Parameters are leaves
// that require grad, so the write happens with recording off, as torch.nn.init does.
Tensor& assign(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}

void check_float(const char* fn, const Tensor& t) {
  LB_CHECK(t.defined() && is_floating(t.dtype()),
           fn << ": expected a float tensor, got " << (t.defined() ? t.str() : std::string("undefined")));
}

}  // namespace

int64_t fan_in(const Tensor& t) { return t.size(1) * receptive_field(t); }
int64_t fan_out(const Tensor& t) { return t.size(0) * receptive_field(t); }

double calculate_gain(Nonlinearity nl, double a) {
  switch (nl) {
    case Nonlinearity::Linear:
      return 1.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + a * a));
  }
  return 1.0;
}

Tensor& uniform_(Tensor& t, double lo, double hi, Generator& gen) {
  check_float("uniform_", t);
  return assign(t, Tensor::rand(t.shape(), gen, lo, hi, t.dtype()));
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  check_float("normal_", t);
  return assign(t, Tensor::randn(t.shape(), gen, mean, std, t.dtype()));
}

Tensor& constant_(Tensor& t, double value) {
  LB_CHECK(t.defined(), "constant_: undefined tensor");
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}

Tensor& kaiming_uniform_(Tensor& t, Generator& gen, FanMode mode, Nonlinearity nl, double a) {
  check_float("kaiming_uniform_", t);
  const int64_t fan = mode == FanMode::FanIn ? fan_in(t) : fan_out(t);
  LB_CHECK(fan > 0, "kaiming_uniform_: zero fan for a tensor shaped " << shape_str(t.shape()));
  const double bound = calculate_gain(nl, a) * std::sqrt(3.0 / static_cast<double>(fan));
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, Generator& gen, FanMode mode, Nonlinearity nl, double a) {
  check_float("kaiming_normal_", t);
  const int64_t fan = mode == FanMode::FanIn ? fan_in(t) : fan_out(t);
  LB_CHECK(fan > 0, "kaiming_normal_: zero fan for a tensor shaped " << shape_str(t.shape()));
  return normal_(t, 0.0, calculate_gain(nl, a) / std::sqrt(static_cast<double>(fan)), gen);
}

}  // namespace lb::nn::init
