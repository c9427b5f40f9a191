// conv2d.cu: lightbox's own conv2d kernels: implicit GEMM for the forward and both backward
// passes, a split-K weight gradient, a shuffle-reduced bias gradient.
//
// Shapes: x (N, C, H, W), w (K, C, R, S), y / dy (N, K, P, Q); cross-correlation with zero
// padding and a square stride, the semantics of engine/cpu/conv2d.cc (PyTorch's conv2d).
//
//   direction        GEMM: M          x Ncols    over red       written
//   forward          N*P*Q (pixels)   K          C*T            y  (+ bias)
//   backward_input   N*Hc*Wc (pixels  C          K*Tc           dx, one GEMM per stride class
//                    of one class)                                 (blockIdx.z = class)
//   backward_weight  K                C*T        N*P*Q          dw (split-K, deterministic)
//   backward_bias    one block per k, a fixed-order sum over N*P*Q                    db
//
// T is the number of live filter taps (those that read the image for at least one output): all
// R*S of them except on small maps; on the 1x1 maps of layer4 at 28x28 (H = W = P = Q = 1) only
// the centre tap lives and every direction runs as a plain GEMM over C (or K) on the strided
// weight view, with dw's dead taps set to exactly 0 (the CPU backend's rule). The device code,
// tile sizes and index math are in kernels/conv2d_impl.cuh.
//
// MathMode::Tf32 runs the same kernel with wmma m16n16k8 tf32 fragments (fp32 accumulation) in
// all three GEMM directions on sm_80 and newer; elsewhere it falls back to fp32. MathMode::Bf16
// (kernels/shapes.h) likewise, with the tiles rounded to bf16 on their way into shared memory and
// wmma m16n16k16 bf16 fragments (fp32 accumulation), sm_80+ or fp32. The bias gradient is a plain
// fp32 sum (no tensor cores) in every mode. Every output is overwritten (the autograd engine
// accumulates), and every result is the same bits from run to run: no atomics anywhere, split-K
// partials are summed in split order.
//
// backward_input splits dx by stride phase (h mod stride, w mod stride): each class is its own
// GEMM over only the taps that reach it (Tc of T; at stride 2 a quarter of the work of gathering
// every tap and multiplying the stride holes), all classes in one launch. A class without taps
// writes zeros, e.g. 3 of the 4 classes of a 1x1 stride-2 downsample. Strides above kMaxPhase (4)
// keep the plain gather. For few input channels (C <= 8: the stem) a direct kernel replaces the
// GEMM (which would fill C of its 64 tile columns): one thread per 8 dx pixels of one class,
// looping over k and the class's taps with w[:, c] in shared memory; it is fp32 FMA in every mode
// (in Bf16 mode on bf16-rounded w and dy, so its result is still the bf16 GEMM's).
//
// Known costs: grids of few blocks (forward on layer4's 1x1 maps: N*P*Q = 128) do not fill the
// card, only the weight gradient splits K.
#include "kernels/conv2d.cuh"

#include <algorithm>

#include "kernels/common.cuh"
#include "kernels/conv2d_impl.cuh"
#include "kernels/conv2d_plan.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"

namespace lb::kernels {

namespace {

using namespace conv_impl;

// The stride classes of backward_input (BwdInputPhaseProblem): for each phase a of each axis, the
// live taps t with (a + pad - t) divisible by the stride. They are consecutive in the class (the
// outputs a class tap reaches shift by one position per stride), which the kernel relies on.
Phases make_phases(const Plan& plan) {
  const ConvDims& d = plan.d;
  Phases ph{};
  auto axis = [&](const int* live, int nlive, PhaseAxis& ax) {
    for (int a = 0; a < d.stride; ++a) {
      int n = 0, first = 0;
      for (int i = 0; i < nlive; ++i) {
        const int t = live[i];
        if ((a + d.pad - t) % d.stride != 0) continue;  // also right for negative a + pad - t
        if (n == 0) first = t;
        LB_CHECK(t == first + n * d.stride, "conv2d_backward_input: live taps of a stride class are not consecutive");
        ++n;
      }
      ax.first[a] = first, ax.n[a] = n;
      ax.off[a] = n > 0 ? (a + d.pad - first) / d.stride : 0;  // exact (possibly negative)
    }
  };
  axis(plan.taps.r, plan.taps.nr, ph.rows);
  axis(plan.taps.s, plan.taps.ns, ph.cols);
  for (int a = 0; a < d.stride; ++a) {
    ph.dns[a] = make_fastdiv(ph.cols.n[a]);
    for (int b = 0; b < d.stride; ++b) {
      ph.T[a * d.stride + b] = ph.rows.n[a] * ph.cols.n[b];
      ph.dT[a * d.stride + b] = make_fastdiv(ph.T[a * d.stride + b]);
    }
  }
  return ph;
}

using detail::cuda_stream;
using detail::device_attribute;
using detail::device_mode;
using detail::DeviceBuffer;
using detail::grid_for;

// One launch of the skeleton over the (M, Ncols) tile grid, `splits` slices of `chunk` reductions.
// (For BwdInputPhaseProblem `splits` is the number of stride classes and `chunk` is unused.)
template <class Prob>
void launch_igemm(const Prob& prob, int splits, int chunk, MathMode mode, const char* name) {
  const int64_t gm = (prob.M + kBM - 1) / kBM, gn = (prob.Ncols + kBN - 1) / kBN;
  LB_CHECK(gn <= 65535 && splits <= 65535, name << ": grid " << gm << "x" << gn << "x" << splits << " too large");
  const dim3 grid(static_cast<unsigned>(gm), static_cast<unsigned>(gn), static_cast<unsigned>(splits));
  if (mode == MathMode::Bf16)
    conv2d_igemm_kernel<Prob, MathMode::Bf16><<<grid, kThreads, 0, cuda_stream()>>>(prob, chunk);
  else if (mode == MathMode::Tf32)
    conv2d_igemm_kernel<Prob, MathMode::Tf32><<<grid, kThreads, 0, cuda_stream()>>>(prob, chunk);
  else
    conv2d_igemm_kernel<Prob, MathMode::Fp32><<<grid, kThreads, 0, cuda_stream()>>>(prob, chunk);
  LB_CUDA_CHECK_LAUNCH(name);
}

// Split-K for the weight gradient: enough slices that the grid covers every SM about four
// times (four 256-thread blocks fit one SM), but at least 8 tiles (128 reductions) per slice.
int weight_grad_splits(int64_t tiles_mn, int64_t red) {
  const int64_t ktiles = (red + kBK - 1) / kBK;
  const int64_t want = 4 * device_attribute(cudaDevAttrMultiProcessorCount);
  int64_t splits = std::min<int64_t>((want + tiles_mn - 1) / tiles_mn, std::max<int64_t>(1, ktiles / 8));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(splits, 256)));
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, MathMode mode) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  const Plan plan = make_plan(s, "conv2d_forward");
  FwdProblem prob{x, w, bias, y, plan.d, plan.taps, 0, 0, 0};
  prob.M = plan.d.N * plan.d.PQ, prob.Ncols = plan.d.K, prob.red = plan.d.C * plan.d.T;
  // red == 0 (no live tap, or C == 0): the kernel skips the loop and writes the bias.
  launch_igemm(prob, 1, prob.red, device_mode(mode), "conv2d_forward (conv2d_igemm_kernel)");
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, MathMode mode) {
  if (s.N * s.C * s.H * s.W == 0) return;
  const Plan plan = make_plan(s, "conv2d_backward_input");
  const ConvDims& d = plan.d;
  const int st = d.stride;
  const int Hc = (d.H + st - 1) / st, Wc = (d.W + st - 1) / st;
  // Few input channels: the direct kernel (fp32 FMA; bf16-rounded operands in Bf16 mode).
  const int64_t rowblocks = (Hc + kDirRows - 1) / kDirRows;
  if (d.C <= kDirectMaxC && static_cast<int64_t>(d.K) * d.RS <= kDirectMaxWeights &&
      static_cast<int64_t>(d.N) * d.C <= 65535 && static_cast<int64_t>(st) * st * rowblocks <= 65535) {
    const dim3 grid(static_cast<unsigned>((Wc + 31) / 32), static_cast<unsigned>(st * st * rowblocks),
                    static_cast<unsigned>(d.N * d.C));
    const size_t smem = static_cast<size_t>(d.K) * d.RS * sizeof(float);
    // Bf16 rounds the operands here too (where the GEMMs would: sm_80+), so that the stem's dx
    // follows the same numerics as the GEMM directions.
    if (device_mode(mode) == MathMode::Bf16)
      conv2d_backward_input_direct_kernel<true>
          <<<grid, kThreads, smem, cuda_stream()>>>(dy, w, dx, d, Hc, static_cast<int>(rowblocks));
    else
      conv2d_backward_input_direct_kernel<false>
          <<<grid, kThreads, smem, cuda_stream()>>>(dy, w, dx, d, Hc, static_cast<int>(rowblocks));
    LB_CUDA_CHECK_LAUNCH("conv2d_backward_input_direct_kernel");
    return;
  }
  if (st <= kMaxPhase) {  // one GEMM per stride class, blockIdx.z = class
    BwdInputPhaseProblem prob{dy, w, dx, d, make_phases(plan), Hc, Wc, Hc * Wc, {}, {}, 0, d.C};
    prob.dHWc = make_fastdiv(prob.HWc), prob.dWc = make_fastdiv(Wc);
    prob.M = d.N * prob.HWc;
    // A class with no taps (K*Tc == 0) writes zeros.
    launch_igemm(prob, st * st, 0, device_mode(mode), "conv2d_backward_input (conv2d_igemm_kernel, phases)");
    return;
  }
  BwdInputProblem prob{dy, w, dx, d, plan.taps, 0, 0, 0};
  prob.M = d.N * d.HW, prob.Ncols = d.C, prob.red = d.K * d.T;
  // red == 0: the kernel writes zeros.
  launch_igemm(prob, 1, prob.red, device_mode(mode), "conv2d_backward_input (conv2d_igemm_kernel)");
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, MathMode mode) {
  const int64_t dw_count = s.K * s.C * s.R * s.S;
  if (dw_count == 0) return;
  const Plan plan = make_plan(s, "conv2d_backward_weight");
  const ConvDims& d = plan.d;
  const int64_t red = static_cast<int64_t>(d.N) * d.PQ;
  if (d.T == 0 || red == 0) {  // no tap ever reads the image, or no images: the gradient is 0
    memset_zero(dw, dw_count * sizeof(float));
    return;
  }
  BwdWeightProblem prob{x, dy, nullptr, d, plan.taps, d.K, d.C * d.T, static_cast<int>(red)};
  const int64_t tiles_mn = ((prob.M + kBM - 1) / kBM) * ((prob.Ncols + kBN - 1) / kBN);
  int splits = weight_grad_splits(tiles_mn, red);
  const int64_t ktiles = (red + kBK - 1) / kBK;
  const int64_t chunk = ((ktiles + splits - 1) / splits) * kBK;  // a whole number of tiles per slice
  splits = static_cast<int>((red + chunk - 1) / chunk);          // no empty trailing slice
  const MathMode dm = device_mode(mode);
  if (splits == 1 && plan.all_live) {  // the compact layout is dw's own: write it directly
    prob.out = dw;
    launch_igemm(prob, 1, static_cast<int>(chunk), dm, "conv2d_backward_weight (conv2d_igemm_kernel)");
    return;
  }
  const int64_t kct = static_cast<int64_t>(prob.M) * prob.Ncols;
  DeviceBuffer ws(static_cast<size_t>(splits) * kct * sizeof(float));  // (splits, K, C*T)
  prob.out = ws.as<float>();
  launch_igemm(prob, splits, static_cast<int>(chunk), dm, "conv2d_backward_weight (conv2d_igemm_kernel)");
  if (!plan.all_live) memset_zero(dw, dw_count * sizeof(float));  // dead taps: exactly 0
  conv2d_backward_weight_reduce_kernel<<<grid_for(kct, kThreads, 4096), kThreads, 0, cuda_stream()>>>(
      ws.as<float>(), splits, d, plan.taps, dw);
  LB_CUDA_CHECK_LAUNCH("conv2d_backward_weight_reduce_kernel");
}

void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db) {
  if (s.K == 0) return;
  const int64_t pq = s.P * s.Q, total = s.N * pq;
  LB_CHECK(total < kIndexLimit && s.K <= 0x7fffffff,
           "conv2d_backward_bias: N*P*Q = " << total << " too large for 32-bit indices");
  conv2d_backward_bias_kernel<<<static_cast<unsigned>(s.K), kThreads, 0, cuda_stream()>>>(
      dy, static_cast<int>(s.K), static_cast<int>(pq), static_cast<int>(total), make_fastdiv(static_cast<uint32_t>(pq)),
      db);
  LB_CUDA_CHECK_LAUNCH("conv2d_backward_bias_kernel");
}

}  // namespace lb::kernels
