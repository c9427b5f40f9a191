// cpu/batch_norm2d.cc: the loops declared in cpu/batch_norm2d.h, instantiated for float and double.
// batch_norm2d_relu on the CPU is batch_norm2d_forward_* then add_relu_inplace, and relu_mask then
// batch_norm2d_backward: fusing the loops further would let the compiler round differently from
// the unfused ops, and the explainers' golden tests compare the CPU model bit-closely.
//
// Shapes: x, y, dy, dx (N, C, HW); everything else (C). Channel c of sample n is the contiguous
// plane x + (n * C + c) * HW. One OpenMP thread owns whole channels, so the running statistics
// and the per-channel outputs are written without races.
#include "engine/cpu/batch_norm2d.h"

#include <cmath>

namespace lb::cpu {

namespace {

// Below this many elements waking the OpenMP threads costs more than the loop itself.
constexpr int64_t kParallelGrain = 1 << 14;

// Double-precision sums of one channel. For float32 data in 8 independent partial sums added at
// the end: one running sum is a chain of dependent adds (4 cycles each), lanes let the adds
// overlap and the compiler vectorise them; the double accumulator keeps the float result the
// same. float64 data (the oracles' precision; tests compare it bit for bit with a plain running
// sum) keeps one lane, in element order. f(n, i, v) maps element i of plane n to the term.
template <class T, class F>
double channel_sum(const T* x, int64_t c, int64_t N, int64_t C, int64_t HW, F f) {
  constexpr int kLanes = sizeof(T) == 4 ? 8 : 1;
  double lane[kLanes] = {};
  for (int64_t n = 0; n < N; ++n) {
    const T* xp = x + (n * C + c) * HW;  // xp: (HW), plane n of the channel
    int64_t i = 0;
    for (; i + kLanes <= HW; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lane[l] += f(n, i + l, xp[i + l]);
    for (; i < HW; ++i) lane[0] += f(n, i, xp[i]);
  }
  double sum = 0.0;
  for (double v : lane) sum += v;
  return sum;
}

// sum(dy) and sum(dy * (x - m)) of channel c in one pass over both tensors, lanes as above.
template <class T>
void channel_dot(const T* dy, const T* x, T m, int64_t c, int64_t N, int64_t C, int64_t HW, double& sum_dy,
                 double& sum_dy_xmu) {
  constexpr int kLanes = sizeof(T) == 4 ? 8 : 1;
  double s1[kLanes] = {}, s2[kLanes] = {};
  for (int64_t n = 0; n < N; ++n) {
    const T* gp = dy + (n * C + c) * HW;  // gp, xp: (HW), plane n of the channel
    const T* xp = x + (n * C + c) * HW;
    int64_t i = 0;
    for (; i + kLanes <= HW; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const double g = static_cast<double>(gp[i + l]);
        s1[l] += g;
        s2[l] += g * static_cast<double>(xp[i + l] - m);
      }
    for (; i < HW; ++i) {
      const double g = static_cast<double>(gp[i]);
      s1[0] += g;
      s2[0] += g * static_cast<double>(xp[i] - m);
    }
  }
  sum_dy = sum_dy_xmu = 0.0;
  for (int l = 0; l < kLanes; ++l) sum_dy += s1[l], sum_dy_xmu += s2[l];
}

// Two-pass mean and biased variance of channel c in double: subtracting the mean before squaring
// avoids the cancellation of E[x^2] - E[x]^2 when the mean is large against the spread.
template <class T>
void channel_moments(const T* x, int64_t c, const BatchNorm2dArgs& a, double& mean, double& var) {
  const double M = static_cast<double>(a.N * a.HW);
  mean = channel_sum(x, c, a.N, a.C, a.HW, [](int64_t, int64_t, T v) { return static_cast<double>(v); }) / M;
  const double m = mean;
  var = channel_sum(x, c, a.N, a.C, a.HW,
                    [m](int64_t, int64_t, T v) {
                      const double d = static_cast<double>(v) - m;
                      return d * d;
                    }) /
        M;
}

// y = (x - m) * k + s over channel c: the normalisation and the affine map in one pass.
template <class T>
void channel_normalise(const T* x, T* y, int64_t c, T m, T k, T s, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n) {
    const T* xp = x + (n * C + c) * HW;
    T* yp = y + (n * C + c) * HW;
    for (int64_t i = 0; i < HW; ++i) yp[i] = (xp[i] - m) * k + s;
  }
}

}  // namespace

template <class T>
void batch_norm2d_forward_train(const T* x, const T* weight, const T* bias, T* y, T* mean, T* invstd, T* running_mean,
                                T* running_var, const BatchNorm2dArgs& a) {
  const double M = static_cast<double>(a.N * a.HW);
#pragma omp parallel for schedule(static) if (a.N * a.C * a.HW > kParallelGrain)
  for (int64_t c = 0; c < a.C; ++c) {
    double m = 0.0, var = 0.0;
    channel_moments(x, c, a, m, var);
    const double is = 1.0 / std::sqrt(var + a.eps);
    mean[c] = static_cast<T>(m);
    invstd[c] = static_cast<T>(is);
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    const double b = bias ? static_cast<double>(bias[c]) : 0.0;
    channel_normalise(x, y, c, static_cast<T>(m), static_cast<T>(is * w), static_cast<T>(b), a.N, a.C, a.HW);
    if (running_mean) {
      const double keep = 1.0 - a.momentum;
      running_mean[c] = static_cast<T>(keep * running_mean[c] + a.momentum * m);
      running_var[c] = static_cast<T>(keep * running_var[c] + a.momentum * var * M / (M - 1.0));
    }
  }
}

template <class T>
void batch_norm2d_forward_eval(const T* x, const T* weight, const T* bias, const T* running_mean, const T* running_var,
                               T* y, T* invstd, const BatchNorm2dArgs& a) {
#pragma omp parallel for schedule(static) if (a.N * a.C * a.HW > kParallelGrain)
  for (int64_t c = 0; c < a.C; ++c) {
    const double is = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + a.eps);
    invstd[c] = static_cast<T>(is);
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    const double b = bias ? static_cast<double>(bias[c]) : 0.0;
    channel_normalise(x, y, c, running_mean[c], static_cast<T>(is * w), static_cast<T>(b), a.N, a.C, a.HW);
  }
}

template <class T>
void batch_norm2d_backward(const T* x, const T* dy, const T* mean, const T* invstd, const T* weight, T* dx, T* dweight,
                           T* dbias, const BatchNorm2dBackwardArgs& a) {
  const double M = static_cast<double>(a.N * a.HW);
  // sum(dy * xhat) is needed by dweight and, in training, by dx (the variance path).
  const bool need_dot = dweight || (dx && a.training);
  const bool need_sum = dbias || (dx && a.training);
#pragma omp parallel for schedule(static) if (a.N * a.C * a.HW > kParallelGrain)
  for (int64_t c = 0; c < a.C; ++c) {
    const T m = mean[c];
    const double is = static_cast<double>(invstd[c]);
    double sum_dy = 0.0, sum_dy_xmu = 0.0;  // sum(dy), sum(dy * (x - mean))
    if (need_dot) {
      channel_dot(dy, x, m, c, a.N, a.C, a.HW, sum_dy, sum_dy_xmu);
    } else if (need_sum) {
      sum_dy = channel_sum(dy, c, a.N, a.C, a.HW, [](int64_t, int64_t, T g) { return static_cast<double>(g); });
    }
    const double sum_dy_xhat = sum_dy_xmu * is;
    if (dweight) dweight[c] = static_cast<T>(sum_dy_xhat);
    if (dbias) dbias[c] = static_cast<T>(sum_dy);
    if (!dx) continue;
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    const T k = static_cast<T>(w * is);
    if (!a.training) {  // the statistics are constants: dx is dy scaled
      for (int64_t n = 0; n < a.N; ++n) {
        const int64_t off = (n * a.C + c) * a.HW;
        for (int64_t i = 0; i < a.HW; ++i) dx[off + i] = k * dy[off + i];
      }
      continue;
    }
    // dx = k * (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * xhat)): the last two terms are
    // the gradient flowing through the batch mean and the batch variance.
    const T mean_dy = static_cast<T>(sum_dy / M);
    const T coef = static_cast<T>(sum_dy_xhat / M * is);
    for (int64_t n = 0; n < a.N; ++n) {
      const int64_t off = (n * a.C + c) * a.HW;
      for (int64_t i = 0; i < a.HW; ++i) dx[off + i] = k * (dy[off + i] - mean_dy - (x[off + i] - m) * coef);
    }
  }
}

template <class T>
void add_relu_inplace(T* y, const T* residual, int64_t n) {
  // What add_forward then relu_forward compute (a + 1 * b is exactly a + b; v > 0 ? v : 0 maps NaN
  // to 0), in one pass instead of two.
  if (residual) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const T v = y[i] + residual[i];
      y[i] = v > T(0) ? v : T(0);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] > T(0) ? y[i] : T(0);
}

template <class T>
void relu_mask(const T* y, const T* dy, T* g, int64_t n) {
  // y > 0 exactly where relu's input was > 0 (relu_backward's argument), so y is all we need.
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  // dy loaded unconditionally: the select vectorises, a conditional load is a mispredicted branch.
  for (int64_t i = 0; i < n; ++i) {
    const T d = dy[i];
    g[i] = y[i] > T(0) ? d : T(0);
  }
}

#define LB_INSTANTIATE_BN(T)                                                                           \
  template void batch_norm2d_forward_train<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,        \
                                              const BatchNorm2dArgs&);                                 \
  template void batch_norm2d_forward_eval<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                             const BatchNorm2dArgs&);                                  \
  template void batch_norm2d_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, \
                                         const BatchNorm2dBackwardArgs&);                              \
  template void add_relu_inplace<T>(T*, const T*, int64_t);                                            \
  template void relu_mask<T>(const T*, const T*, T*, int64_t);
LB_INSTANTIATE_BN(float)
LB_INSTANTIATE_BN(double)
#undef LB_INSTANTIATE_BN

}  // namespace lb::cpu
