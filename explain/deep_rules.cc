// deep_rules.cc: DeepLIFT's relu and max_pool2d rules on the CPU and on CUDA; see deep_rules.h.
//
// The CPU loops compute in the tensors' dtype, in the same order of operations as shap, so that
// shap's numbers are reproduced to float32 rounding. The CUDA kernels (kernels/deep_rules.cu)
// repeat those operations exactly, so a CUDA model's rules never leave the device.
#include "explain/deep_rules.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "base/common.h"
#include "engine/autograd.h"
#include "kernels/deep_rules.cuh"

namespace lb::explain {

namespace {

void check_rule_inputs(const char* op, const Tensor& u, const Tensor& y, const Tensor& g, const DeepPairing& pr) {
  LB_CHECK(u.dim() >= 1 && u.size(0) == pr.rows(),
           "deep: " << op << " saw " << u.str() << " in a pass of " << pr.rows()
                    << " rows; Deep needs a model that treats the rows of a batch independently");
  LB_CHECK(pr.n >= 0 && pr.bc > 0,
           "deep: " << op << " rule needs a pairing with bc > 0, got n " << pr.n << ", bc " << pr.bc);
  LB_CHECK(y.defined() && g.defined() && y.shape() == g.shape() && y.size(0) == u.size(0),
           "deep: " << op << " rule got u " << u.str() << ", y " << y.str() << ", g " << g.str());
  LB_CHECK(y.device() == u.device() && g.device() == u.device() && y.dtype() == u.dtype() && g.dtype() == u.dtype(),
           "deep: " << op << " rule needs u, y and g on one device in one dtype; got " << u.str() << ", " << y.str()
                    << ", " << g.str());
  LB_CHECK(u.device().is_cpu() || u.dtype() == DType::Float32,
           "deep: " << op << " rule on CUDA takes float32, got " << u.str());
}

kernels::DeepPairing to_kernel(const DeepPairing& pr) { return {pr.n, pr.bc}; }

// ---- relu: the rescale rule ------------------------------------------------------------------
// dx[r] = g[r] * (y_x - y_r) / (u_x - u_r), or g[r] * [u_r > 0] where |u_x - u_r| < eps.
template <class T>
void relu_rescale(const T* u, const T* y, const T* g, T* dx, int64_t per_row, const DeepPairing& pr) {
  std::fill(dx, dx + pr.n * per_row, T(0));
#pragma omp parallel for schedule(static)
  for (int64_t r = pr.n; r < pr.rows(); ++r) {
    const int64_t i = pr.image_row(r);
    const T *ux = u + i * per_row, *ur = u + r * per_row, *yx = y + i * per_row, *yr = y + r * per_row;
    const T* gr = g + r * per_row;
    T* d = dx + r * per_row;
    for (int64_t e = 0; e < per_row; ++e) {
      const T du = ux[e] - ur[e];
      d[e] = std::abs(du) < T(kDeepReluEps) ? (ur[e] > T(0) ? gr[e] : T(0)) : gr[e] * ((yx[e] - yr[e]) / du);
    }
  }
}

// ---- max_pool2d: credit routing ----------------------------------------------------------------
// g is the reference row's gradient for both credits: shap uses its x half's for A, which equals
// the reference half's except downstream of a ReLU fallback element (|Δu| < 1e-6), a ~1e-7 effect.
struct PoolShape {
  int64_t C, HW, PQ;
};

template <class T>
void maxpool_rescale(const T* u, const T* y, const int64_t* idx, const T* g, T* dx, const PoolShape& s,
                     const DeepPairing& pr, bool overwrite) {
  std::fill(dx, dx + pr.n * s.C * s.HW, T(0));
#pragma omp parallel
  {
    std::vector<T> A(s.HW), R(s.HW);  // credits routed to the image's / the reference's argmax
#pragma omp for schedule(static)
    for (int64_t plane = pr.n * s.C; plane < pr.rows() * s.C; ++plane) {
      const int64_t r = plane / s.C, c = plane % s.C, xplane = pr.image_row(r) * s.C + c;
      const T *ux = u + xplane * s.HW, *ur = u + plane * s.HW;
      const T *yx = y + xplane * s.PQ, *yr = y + plane * s.PQ, *gr = g + plane * s.PQ;
      const int64_t *ix = idx + xplane * s.PQ, *ir = idx + plane * s.PQ;
      std::fill(A.begin(), A.end(), T(0));
      std::fill(R.begin(), R.end(), T(0));
      for (int64_t o = 0; o < s.PQ; ++o) {
        const T cm = std::max(yx[o], yr[o]);
        const T a = gr[o] * (cm - yr[o]), b = gr[o] * (yx[o] - cm);
        if (overwrite) {
          A[ix[o]] = a;
          R[ir[o]] = b;
        } else {
          A[ix[o]] += a;
          R[ir[o]] += b;
        }
      }
      T* d = dx + plane * s.HW;
      for (int64_t j = 0; j < s.HW; ++j) {
        const T du = ux[j] - ur[j];
        d[j] = std::abs(du) < T(kDeepPoolEps) ? T(0) : (A[j] + R[j]) / du;
      }
    }
  }
}

}  // namespace

Tensor deep_relu_rule(const Tensor& u, const Tensor& y, const Tensor& g, const DeepPairing& pr) {
  check_rule_inputs("relu", u, y, g, pr);
  LB_CHECK(y.shape() == u.shape(), "deep: relu rule got u " << u.str() << " and y " << y.str());
  Tensor dx = Tensor::empty(u.shape(), u.dtype(), u.device());
  const int64_t per_row = u.size(0) == 0 ? 0 : u.numel() / u.size(0);
  if (u.device().is_cuda()) {
    kernels::deep_relu_rescale(to_kernel(pr), per_row, u.data_ptr<float>(), y.data_ptr<float>(), g.data_ptr<float>(),
                               static_cast<float>(kDeepReluEps), dx.data_ptr<float>());
    return dx;
  }
  LB_DISPATCH_FLOAT(u.dtype(), "deep relu rule", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    relu_rescale(u.data<T>(), y.data<T>(), g.data<T>(), dx.data<T>(), per_row, pr);
  });
  return dx;
}

Tensor deep_maxpool_rule(const Tensor& u, const Tensor& y, const Tensor& g, const MaxPool2dSettings& st,
                         const DeepPairing& pr, bool overwrite) {
  check_rule_inputs("max_pool2d", u, y, g, pr);
  Tensor indices;  // (rows, C, P, Q): re-pooled, as shap does; the recorded output has the values
  {
    NoGradGuard no_grad;
    indices = max_pool2d_with_indices(u, st.kernel, st.stride, st.padding).indices;
  }
  LB_CHECK(indices.shape() == y.shape(), "deep: max_pool2d rule got y " << y.str() << " but re-pooling u " << u.str()
                                                                        << " gives " << shape_str(indices.shape()));
  Tensor dx = Tensor::empty(u.shape(), u.dtype(), u.device());
  if (u.device().is_cuda()) {
    const kernels::DeepPoolShape s{u.size(1), u.size(2), u.size(3), y.size(2),
                                   y.size(3), st.kernel, st.stride, st.padding};
    kernels::deep_maxpool_rescale(to_kernel(pr), s, u.data_ptr<float>(), y.data_ptr<float>(),
                                  indices.data_ptr<int64_t>(), g.data_ptr<float>(), static_cast<float>(kDeepPoolEps),
                                  overwrite, dx.data_ptr<float>());
    return dx;
  }
  const PoolShape s{u.size(1), u.size(2) * u.size(3), y.size(2) * y.size(3)};
  LB_DISPATCH_FLOAT(u.dtype(), "deep max_pool2d rule", [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    maxpool_rescale(u.data<T>(), y.data<T>(), indices.data<int64_t>(), g.data<T>(), dx.data<T>(), s, pr, overwrite);
  });
  return dx;
}

}  // namespace lb::explain
