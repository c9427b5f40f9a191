// deep_rules.cu: DeepLIFT's rescale rules for relu and max_pool2d, the CPU rules of
// explain/deep_rules.cc ported to the GPU.
//
// Shapes (the letters of this file): a pass has rows = n + n*bc; relu's tensors are (rows,
// per_row); max-pool's u and dx are (rows, C, H, W), its y, g and indices (rows, C, P, Q).
//
// Both kernels are one thread per dx element. The CPU's max-pool rule scatters each window's
// credit to its argmax (A[idx[o]] += ...); here every input position gathers instead: it visits
// the few windows that contain it in row-major order and takes the credits of those whose argmax
// it is, so the sums are added in the CPU's order (and the overwrite mode's last window wins, as
// on the CPU) with no atomics. Every operation is an explicit round-to-nearest intrinsic so that
// nvcc cannot contract a multiply and an add into an FMA: the results are the CPU's bits.
#include <cuda_runtime.h>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/deep_rules.cuh"

namespace lb::kernels {

namespace {

using detail::cuda_stream;
using detail::grid_for;

constexpr int kThreads = 256;
constexpr int64_t kGridCap = 1 << 20;  // grid-stride loops: at most this many blocks

// dx (rows, per_row); rows [0, n) are images and get 0.
__global__ void deep_relu_rescale_kernel(DeepPairing pr, int64_t per_row, const float* u, const float* y,
                                         const float* g, float eps, float* dx) {
  const int64_t total = (pr.n + pr.n * pr.bc) * per_row;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = e / per_row;
    if (r < pr.n) {
      dx[e] = 0.f;
      continue;
    }
    const int64_t x_e = ((r - pr.n) / pr.bc) * per_row + (e - r * per_row);  // same element of the image row
    const float du = __fsub_rn(u[x_e], u[e]);
    dx[e] = fabsf(du) < eps ? (u[e] > 0.f ? g[e] : 0.f) : __fmul_rn(g[e], __fdiv_rn(__fsub_rn(y[x_e], y[e]), du));
  }
}

// dx (rows, C, H, W); one thread per input position of a plane.
__global__ void deep_maxpool_rescale_kernel(DeepPairing pr, DeepPoolShape s, const float* u, const float* y,
                                            const int64_t* indices, const float* g, float eps, bool overwrite,
                                            float* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q, plane_n = pr.n * s.C;
  const int64_t total = (pr.n + pr.n * pr.bc) * s.C * HW;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t plane = e / HW, j = e - plane * HW;
    if (plane < plane_n) {
      dx[e] = 0.f;
      continue;
    }
    const int64_t r = plane / s.C, xplane = ((r - pr.n) / pr.bc) * s.C + (plane - r * s.C);
    const float *yx = y + xplane * PQ, *yr = y + plane * PQ, *gr = g + plane * PQ;
    const int64_t *ix = indices + xplane * PQ, *ir = indices + plane * PQ;
    // The windows (p, q) that contain (h, w): p * stride - padding <= h < p * stride - padding + kernel.
    const int64_t hp = j / s.W + s.padding, wp = j % s.W + s.padding;
    const int64_t p_lo = hp < s.kernel ? 0 : (hp - s.kernel) / s.stride + 1;
    const int64_t q_lo = wp < s.kernel ? 0 : (wp - s.kernel) / s.stride + 1;
    const int64_t p_hi = min(hp / s.stride, s.P - 1), q_hi = min(wp / s.stride, s.Q - 1);
    float A = 0.f, R = 0.f;  // credits routed here as the image's / the reference's argmax
    for (int64_t p = p_lo; p <= p_hi; ++p) {
      for (int64_t q = q_lo; q <= q_hi; ++q) {
        const int64_t o = p * s.Q + q;
        if (ix[o] != j && ir[o] != j) continue;
        const float cm = yx[o] < yr[o] ? yr[o] : yx[o];  // std::max(yx, yr), NaN included
        if (ix[o] == j) {
          const float a = __fmul_rn(gr[o], __fsub_rn(cm, yr[o]));
          A = overwrite ? a : __fadd_rn(A, a);
        }
        if (ir[o] == j) {
          const float b = __fmul_rn(gr[o], __fsub_rn(yx[o], cm));
          R = overwrite ? b : __fadd_rn(R, b);
        }
      }
    }
    const float du = __fsub_rn(u[xplane * HW + j], u[e]);
    dx[e] = fabsf(du) < eps ? 0.f : __fdiv_rn(__fadd_rn(A, R), du);
  }
}

}  // namespace

void deep_relu_rescale(const DeepPairing& pr, int64_t per_row, const float* u, const float* y, const float* g,
                       float eps, float* dx) {
  const int64_t total = (pr.n + pr.n * pr.bc) * per_row;
  if (total == 0) return;
  deep_relu_rescale_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(pr, per_row, u, y, g,
                                                                                                eps, dx);
  LB_CUDA_CHECK_LAUNCH("deep_relu_rescale_kernel");
}

void deep_maxpool_rescale(const DeepPairing& pr, const DeepPoolShape& s, const float* u, const float* y,
                          const int64_t* indices, const float* g, float eps, bool overwrite, float* dx) {
  const int64_t total = (pr.n + pr.n * pr.bc) * s.C * s.H * s.W;
  if (total == 0) return;
  deep_maxpool_rescale_kernel<<<grid_for(total, kThreads, kGridCap), kThreads, 0, cuda_stream()>>>(
      pr, s, u, y, indices, g, eps, overwrite, dx);
  LB_CUDA_CHECK_LAUNCH("deep_maxpool_rescale_kernel");
}

}  // namespace lb::kernels
