// conv2d_v2.cu: host launchers of the v2 implicit-GEMM conv skeleton (lab/conv2d_v2.cuh;
// device code in conv2d_v2_impl.cuh, index math in conv2d_v2_problems.cuh). Lab-only: nothing in
// engine/ calls these; `lightbox bench kernels` checks them against the CPU and times them.
//
//   direction        M (rows)      Ncols   red        grid z        falls back to v1
//   forward          N*P*Q         K       T*C        1             bf16
//   backward_input   N*Hc*Wc       C       Tc*K       stride^2      bf16, C <= 8, stride > 4
//   backward_weight  K             C*T     N*P*Q      split-K       bf16
//
// forward and backward_input first copy w into the layout their B tiles read coalesced
// (WeightLayout: one small extra kernel and a K*C*R*S workspace per call). The tile is 128 x 128,
// or 128 x 64 when Ncols <= 64 (choose_bn). At BN = 128 the kernels need more than the default
// 48 KB of dynamic shared memory (3 stages x 16.5 KB), set per launch with cudaFuncSetAttribute.
// There is no 16-byte cp.async path, so no alignment condition to check on the host.
#include "lab/conv2d_v2.cuh"

#include "kernels/common.cuh"
#include "kernels/conv2d.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"
#include "lab/conv2d_v2_impl.cuh"

namespace lb::kernels {

namespace {

using namespace conv_v2;

using detail::cuda_stream;
using detail::device_attribute;
using detail::DeviceBuffer;
using detail::grid_for;

// Tensor cores (tf32) from sm_80 on; below that Tf32 means fp32.
bool use_tf32(MathMode mode) { return detail::device_mode(mode) == MathMode::Tf32; }

template <class Prob, int BN, bool kTf32>
void launch_one(const Prob& prob, dim3 grid, int chunk) {
  const size_t bytes = static_cast<size_t>(smem_floats<BN>) * sizeof(float);
  auto kern = conv2d_v2_kernel<Prob, BN, kTf32>;
  LB_CUDA_CHECK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  kern<<<grid, kThreads, bytes, cuda_stream()>>>(prob, chunk);
}

// One launch over the (M, Ncols) tile grid with `zdim` slices (split-K) or stride classes.
template <class Prob>
void launch_v2(const Prob& prob, int zdim, int chunk, bool tf32, const char* name) {
  const int bn = choose_bn(prob.Ncols);
  const int64_t gm = (prob.M + kBM - 1) / kBM, gn = (prob.Ncols + bn - 1) / bn;
  LB_CHECK(gm < (int64_t(1) << 31) && gn <= 65535 && zdim <= 65535,
           name << ": grid " << gm << "x" << gn << "x" << zdim << " too large");
  const dim3 grid(static_cast<unsigned>(gm), static_cast<unsigned>(gn), static_cast<unsigned>(zdim));
  if (bn == 64) {
    if (tf32)
      launch_one<Prob, 64, true>(prob, grid, chunk);
    else
      launch_one<Prob, 64, false>(prob, grid, chunk);
  } else {
    if (tf32)
      launch_one<Prob, 128, true>(prob, grid, chunk);
    else
      launch_one<Prob, 128, false>(prob, grid, chunk);
  }
  LB_CUDA_CHECK_LAUNCH(name);
}

// The weights in the layout the gather problems read (conv2d_v2_problems.cuh, WeightLayout): one
// pass over K*C*R*S floats (2.4M at most in ResNet18), so that B tiles load coalesced.
struct WeightOperand : DeviceBuffer {
  WeightOperand(const Conv2dShape& s, const float* w, WeightLayout layout)
      : DeviceBuffer(static_cast<size_t>(s.K * s.C * s.R * s.S) * sizeof(float)) {
    const int64_t n = s.K * s.C * s.R * s.S;
    if (n == 0) return;
    conv2d_v2_transpose_weights_kernel<<<grid_for(n, kThreads, 4096), kThreads, 0, cuda_stream()>>>(
        w, static_cast<int>(s.K), static_cast<int>(s.C), static_cast<int>(s.R * s.S), layout, as<float>());
    LB_CUDA_CHECK_LAUNCH("conv2d_v2_transpose_weights_kernel");
  }
};

}  // namespace

void conv2d_v2_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                       MathMode mode) {
  if (mode == MathMode::Bf16) return conv2d_forward(s, x, w, bias, y, mode);
  if (s.N * s.K * s.P * s.Q == 0) return;
  const Plan plan = make_plan(s, "conv2d_v2_forward");
  const bool tf32 = use_tf32(mode);
  const WeightOperand wt(s, w, WeightLayout::kForward);
  // red == 0 (no live tap, or C == 0): the kernel skips the loop and writes the bias.
  if (plan.d.C % kBK == 0)
    launch_v2(forward_problem<true>(plan, x, wt.as<float>(), bias, y), 1, 0, tf32, "conv2d_v2_forward (fast)");
  else
    launch_v2(forward_problem<false>(plan, x, wt.as<float>(), bias, y), 1, 0, tf32, "conv2d_v2_forward");
}

void conv2d_v2_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, MathMode mode) {
  if (mode == MathMode::Bf16 || s.C <= 8 || s.stride > kMaxPhase) return conv2d_backward_input(s, dy, w, dx, mode);
  if (s.N * s.C * s.H * s.W == 0) return;
  const Plan plan = make_plan(s, "conv2d_v2_backward_input");
  const bool tf32 = use_tf32(mode);
  const int classes = plan.d.stride * plan.d.stride;  // a class without taps writes zeros
  const WeightOperand wt(s, w, WeightLayout::kBackwardInput);
  if (plan.d.K % kBK == 0)
    launch_v2(backward_input_problem<true>(plan, dy, wt.as<float>(), dx), classes, 0, tf32,
              "conv2d_v2_backward_input (fast)");
  else
    launch_v2(backward_input_problem<false>(plan, dy, wt.as<float>(), dx), classes, 0, tf32,
              "conv2d_v2_backward_input");
}

void conv2d_v2_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, MathMode mode) {
  if (mode == MathMode::Bf16) return conv2d_backward_weight(s, x, dy, dw, mode);
  const int64_t dw_count = s.K * s.C * s.R * s.S;
  if (dw_count == 0) return;
  const Plan plan = make_plan(s, "conv2d_v2_backward_weight");
  const ConvDims& d = plan.d;
  if (d.T == 0 || static_cast<int64_t>(d.N) * d.PQ == 0) {
    memset_zero(dw, dw_count * sizeof(float));
    return;
  }
  WeightProblem prob = weight_problem(plan, x, dy);
  const int bn = choose_bn(prob.Ncols);
  const int64_t tiles_mn = ((prob.M + kBM - 1) / kBM) * ((prob.Ncols + bn - 1) / bn);
  int splits = 1, chunk = 0;
  weight_splits(tiles_mn, prob.red, device_attribute(cudaDevAttrMultiProcessorCount), splits, chunk);
  const bool tf32 = use_tf32(mode);
  if (splits == 1 && plan.all_live) {  // the compact layout is dw's own
    prob.out = dw;
    launch_v2(prob, 1, chunk, tf32, "conv2d_v2_backward_weight");
    return;
  }
  const int64_t kct = static_cast<int64_t>(prob.M) * prob.Ncols;
  DeviceBuffer ws(static_cast<size_t>(splits) * kct * sizeof(float));  // (splits, K, C*T)
  prob.out = ws.as<float>();
  launch_v2(prob, splits, chunk, tf32, "conv2d_v2_backward_weight");
  if (!plan.all_live) memset_zero(dw, dw_count * sizeof(float));  // dead taps: exactly 0
  conv2d_v2_weight_reduce_kernel<<<grid_for(kct, kThreads, 4096), kThreads, 0, cuda_stream()>>>(ws.as<float>(), splits,
                                                                                                d, plan.taps, dw);
  LB_CUDA_CHECK_LAUNCH("conv2d_v2_weight_reduce_kernel");
}

}  // namespace lb::kernels
