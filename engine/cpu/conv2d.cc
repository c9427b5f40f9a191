// cpu/conv2d.cc: the CPU convolution's entry points. Which path runs (cpu/conv2d.h):
//   float32 on lightbox's own GEMM (the default)    implicit GEMM, cpu/conv2d_implicit.cc, and
//                                                    Winograd, cpu/winograd.h, where it measured
//                                                    faster (winograd_tile below)
//   float64, or float32 under GemmBackend::OpenBlas im2col + BLAS GEMM, cpu/conv2d_im2col.cc
// and the bias gradient, a plain sum, for both.
#include "engine/cpu/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <string>
#include <type_traits>

#include "base/common.h"
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

template <class T>
bool implicit_path() {
  return std::is_same_v<T, float> && gemm_backend() == GemmBackend::Own;
}

enum class Direction { Forward, BackwardInput, BackwardWeight };

// Which Winograd tile, if any, a convolution runs (std::nullopt: the implicit GEMM).
//   Auto: F(2x2, 3x3) only, whose float32 error equals the direct method's (relative L2 ~2e-7,
//     tests/engine/test_winograd.cc), so every golden test keeps its tolerance; and only where it
//     measured faster than the implicit GEMM (single-threaded CPU time, Intel Xeon Emerald Rapids,
//     cpu/winograd.cc): 3x3 stride-1 maps of 7x7 and up with 128 channels or more forward and for
//     the input gradient (0.5-0.76x), the weight gradient from 256 (0.68-0.82x). ResNet18 at 28x28
//     never qualifies (its 4x4 maps with 128 channels measured 0.89-1.03x); at 224x224 layers 2-4 do.
//   Winograd: F(4x4, 3x3) where it measured faster: 0.36-0.82x the time from 4x4 maps and 64
//     channels up (the weight gradient from 128; on 2x2 and 1x1 maps it is 1.3-54x slower than
//     the implicit GEMM, which multiplies only the taps that read the image), but with a float32
//     error 5-10x the direct method's (relative L2 ~2e-6), which a random-init ResNet's gradients
//     amplify past the PyTorch golden tests' tolerances. Opt-in (LB_CPU_CONV=winograd).
std::optional<WinogradTile> winograd_tile(const Conv2dArgs& a, Direction d) {
  const ConvAlgo choice = algo().load(std::memory_order_relaxed);
  if (!winograd_supported(a) || choice == ConvAlgo::Implicit) return std::nullopt;
  const int64_t channels = std::min(a.C, a.K);
  if (choice == ConvAlgo::Winograd) {
    if (a.P < 4 || a.Q < 4 || channels < 64) return std::nullopt;
    if (d == Direction::BackwardWeight && channels < 128) return std::nullopt;
    return WinogradTile::F4x4;
  }
  if (a.P < 7 || a.Q < 7 || channels < 128) return std::nullopt;
  if (d == Direction::BackwardWeight && channels < 256) return std::nullopt;
  return WinogradTile::F2x2;
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
    case ConvAlgo::Auto:
      return "auto";
    case ConvAlgo::Implicit:
      return "implicit";
    case ConvAlgo::Winograd:
      return "winograd";
  }
  return "?";
}

template <class T>
void conv2d_forward(const Conv2dArgs& a, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>()) {
      if (const auto tile = winograd_tile(a, Direction::Forward))
        return winograd_conv2d_forward(a, x, w, bias, y, *tile);
      return conv_detail::implicit_conv2d_forward(a, x, w, bias, y);
    }
  }
  conv_detail::im2col_conv2d_forward(a, x, w, bias, y);
}

template <class T>
void conv2d_backward_input(const Conv2dArgs& a, const T* dy, const T* w, T* dx) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>()) {
      if (const auto tile = winograd_tile(a, Direction::BackwardInput))
        return winograd_conv2d_backward_input(a, dy, w, dx, *tile);
      return conv_detail::implicit_conv2d_backward_input(a, dy, w, dx);
    }
  }
  conv_detail::im2col_conv2d_backward_input(a, dy, w, dx);
}

template <class T>
void conv2d_backward_weight(const Conv2dArgs& a, const T* x, const T* dy, T* dw) {
  if constexpr (std::is_same_v<T, float>) {
    if (implicit_path<T>()) {
      if (const auto tile = winograd_tile(a, Direction::BackwardWeight))
        return winograd_conv2d_backward_weight(a, x, dy, dw, *tile);
      return conv_detail::implicit_conv2d_backward_weight(a, x, dy, dw);
    }
  }
  conv_detail::im2col_conv2d_backward_weight(a, x, dy, dw);
}

template <class T>
void conv2d_backward_bias(const Conv2dArgs& a, const T* dy, T* db) {
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

#define LB_INSTANTIATE_CONV2D(T)                                                        \
  template void conv2d_forward<T>(const Conv2dArgs&, const T*, const T*, const T*, T*); \
  template void conv2d_backward_input<T>(const Conv2dArgs&, const T*, const T*, T*);    \
  template void conv2d_backward_weight<T>(const Conv2dArgs&, const T*, const T*, T*);   \
  template void conv2d_backward_bias<T>(const Conv2dArgs&, const T*, T*);
LB_INSTANTIATE_CONV2D(float)
LB_INSTANTIATE_CONV2D(double)
#undef LB_INSTANTIATE_CONV2D

}  // namespace lb::cpu
