// cpu/conv2d.cc: the CPU convolution's entry points. Which path runs (cpu/conv2d.h):
//   float32 on lightbox's own GEMM (the default)    implicit GEMM, cpu/conv2d_implicit.cc, and
//                                                    Winograd F(4x4, 3x3), cpu/winograd.h, where
//                                                    it measured faster (winograd_pays below)
//   float64, or float32 under GemmBackend::OpenBlas im2col + BLAS GEMM, cpu/conv2d_im2col.cc
// and the bias gradient, a plain sum, for both.
#include "engine/cpu/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "engine/common.h"
#include "engine/cpu/conv2d_parts.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/winograd.h"

namespace lb::cpu {

namespace {

// LB_CPU_CONV=auto|implicit|winograd sets the start value (the CUDA tests' CPU references run
// `implicit`, the direct method, like the kernels they check: tests/CMakeLists.txt).
ConvAlgo algo_from_env() {
  const char* env = std::getenv("LB_CPU_CONV");
  return env == nullptr || *env == '\0' ? ConvAlgo::Auto : parse_conv_algo(env);
}

std::atomic<ConvAlgo>& algo() {
  static std::atomic<ConvAlgo> a{algo_from_env()};
  return a;
}

template <class T> bool implicit_path() {
  return std::is_same_v<T, float> && gemm_backend() == GemmBackend::Own;
}

enum class Direction { Forward, BackwardInput, BackwardWeight };

// Where Winograd F(4x4, 3x3) beat the implicit GEMM, single-threaded CPU time, batch 128, on an
// Intel Xeon (Emerald Rapids) and the table in cpu/winograd.cc: 3x3 stride-1 maps of 4x4 and up
// with 64 channels or more (0.36-0.82x the time forward and for the input gradient), the weight
// gradient from 128 channels (0.52-0.69x; at 64 it lost, 1.2x). On 2x2 and 1x1 maps the implicit
// GEMM multiplies only the taps that read the image and Winograd is 1.3-54x slower. F(2x2) was
// never faster than F(4x4); F(4x4)'s float32 error is 5-10x the direct method's (relative L2
// about 2e-6, tests/engine/test_winograd.cc), well inside the golden tests' tolerances.
bool winograd_pays(const Conv2dArgs& a, Direction d) {
  if (!winograd_supported(a)) return false;
  if (algo().load(std::memory_order_relaxed) == ConvAlgo::Winograd) return true;
  if (algo().load(std::memory_order_relaxed) == ConvAlgo::Implicit) return false;
  const int64_t channels = std::min(a.C, a.K);
  if (a.P < 4 || a.Q < 4 || channels < 64) return false;
  return d != Direction::BackwardWeight || channels >= 128;
}

}  // namespace

void set_conv_algo(ConvAlgo a) { algo().store(a, std::memory_order_relaxed); }
ConvAlgo conv_algo() { return algo().load(std::memory_order_relaxed); }

ConvAlgo parse_conv_algo(const std::string& s) {
  if (s == "auto") return ConvAlgo::Auto;
  if (s == "implicit") return ConvAlgo::Implicit;
  if (s == "winograd") return ConvAlgo::Winograd;
  LB_THROW("unknown CPU conv algorithm '" << s << "' (LB_CPU_CONV); choose auto, implicit or winograd");
}

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Auto: return "auto";
    case ConvAlgo::Implicit: return "implicit";
    case ConvAlgo::Winograd: return "winograd";
  }
  return "?";
}

template <class T> void conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>() && winograd_pays(a, Direction::Forward))
      return winograd_conv2d_forward(a, x, w, bias, y, WinogradTile::F4x4);
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_forward(a, x, w, bias, y);
  }
  conv_detail::im2col_conv2d_forward(a, x, w, bias, y);
}

template <class T> void conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>() && winograd_pays(a, Direction::BackwardInput))
      return winograd_conv2d_backward_input(a, dy, w, dx, WinogradTile::F4x4);
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_backward_input(a, dy, w, dx);
  }
  conv_detail::im2col_conv2d_backward_input(a, dy, w, dx);
}

template <class T> void conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>() && winograd_pays(a, Direction::BackwardWeight))
      return winograd_conv2d_backward_weight(a, x, dy, dw, WinogradTile::F4x4);
    if (implicit_path<T>()) return conv_detail::implicit_conv2d_backward_weight(a, x, dy, dw);
  }
  conv_detail::im2col_conv2d_backward_weight(a, x, dy, dw);
}

template <class T> void conv2d_backward_bias(const Conv2dArgs& a, const T* dy, T* db) {
  const int64_t pq = a.P * a.Q;
  // Accumulate in double: one channel sums N*P*Q terms (25k for a 128-image batch of 14x14 maps).
#pragma omp parallel for schedule(static) if (a.N * a.K * pq > (1 << 15))
  for (int64_t k = 0; k < a.K; ++k) {
    double acc = 0.0;
    for (int64_t n = 0; n < a.N; ++n) {
      const T* dyk = dy + (n * a.K + k) * pq;  // dyk: (P*Q)
      for (int64_t j = 0; j < pq; ++j) acc += static_cast<double>(dyk[j]);
    }
    db[k] = static_cast<T>(acc);
  }
}

#define LB_INSTANTIATE_CONV2D(T)                                                                       \
  template void conv2d_forward<T>(const Conv2dArgs&, const T*, const T*, const T*, T*);                \
  template void conv2d_backward_input<T>(const Conv2dArgs&, const T*, const T*, T*);                   \
  template void conv2d_backward_weight<T>(const Conv2dArgs&, const T*, const T*, T*);                  \
  template void conv2d_backward_bias<T>(const Conv2dArgs&, const T*, T*);
LB_INSTANTIATE_CONV2D(float)
LB_INSTANTIATE_CONV2D(double)
#undef LB_INSTANTIATE_CONV2D

}  // namespace lb::cpu
