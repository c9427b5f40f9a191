// lab/lab.cuh: the kernel lab: numbered variants of each op and direction, checked against the
// CPU backend before they are timed (llm.c's dev/cuda habit).
//
// Variants, per op and direction:
//   1            a naive port of the CPU loop, one thread per output (per channel where the CPU
//                loop reduces a channel: batchnorm), kernels in lab/<op>.cu
//   custom-fp32  lightbox's production kernel, MathMode::Fp32 (kernels/conv2d.cuh, ...)
//   custom-tf32  the same with TF32 tensor cores (conv and linear)
//   cudnn-fp32, cudnn-tf32   cuDNN through kernels/cudnn/<op>.cuh, the yardstick
//   cublas-fp32, cublas-tf32 cuBLAS SGEMM for linear (kernels/cudnn/linear.cuh)
//   cpu          the CPU backend itself (engine/cpu/), timed, never checked (it is the reference)
//
// The harness (lab.cu), for one LabCase (lab/cases.h): fills the inputs with random
// numbers on the host, computes the CPU reference once, then for every variant poisons the outputs
// (NaN bytes), runs it once (the naive ones at every block size of kBlockSizes), copies the
// outputs back and compares: relative L2 error |out - ref| / |ref| within 1e-4 (fp32) or 5e-3
// (tf32), no NaN. Only then is it timed: warm-up, then the median of up to `reps` runs timed with
// cudaEvents on kernels::stream(), the L2 cache flushed (a memset of twice its size) before each
// run, outside the timed region. A variant that fails its check is not timed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda_api.h"
#include "kernels/shapes.h"
#include "lab/cases.h"

namespace lb::kernels::lab {

// The block sizes every naive variant is checked at.
inline const std::vector<int>& kBlockSizes() {
  static const std::vector<int> sizes = {32, 64, 128, 256, 512, 1024};
  return sizes;
}
constexpr int kDefaultBlock = 256;  // the block size the naive variants are timed at

// ---- naive variants: float32 device pointers, launched on kernels::stream() ---------------------
// One file per op, named like the production kernels it is measured beside (kernels/<op>.cu).

// lab/conv2d.cu. x (N, C, H, W), w (K, C, R, S), bias (K) or null, y (N, K, P, Q).
LB_CUDA_API(void conv2d_forward1(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                                 int block))
LB_CUDA_API(void conv2d_backward_input1(const Conv2dShape& s, const float* dy, const float* w, float* dx, int block))
LB_CUDA_API(void conv2d_backward_weight1(const Conv2dShape& s, const float* x, const float* dy, float* dw, int block))

// lab/batch_norm2d.cu.
// batchnorm2d training forward, one thread per channel: x, y (N, C, HW); the rest (C).
LB_CUDA_API(void batch_norm2d_forward_train1(const BatchNormShape& s, const float* x, const float* weight,
                                             const float* bias, float* y, float* mean, float* invstd,
                                             float* running_mean, float* running_var, float eps, float momentum,
                                             int block))
// batchnorm2d backward (training, or eval with frozen statistics), one thread per channel:
// x, dy, dx (N, C, HW); mean, invstd, weight, dweight, dbias (C).
LB_CUDA_API(void batch_norm2d_backward1(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                                        const float* invstd, const float* weight, float* dx, float* dweight,
                                        float* dbias, bool training, int block))
// batchnorm2d eval forward, one thread per element: x, y (N, C, HW); the rest (C); invstd is written.
LB_CUDA_API(void batch_norm2d_forward_eval1(const BatchNormShape& s, const float* x, const float* weight,
                                            const float* bias, const float* running_mean, const float* running_var,
                                            float* y, float* invstd, float eps, int block))
// y = max(y + residual, 0) in place (the fused BN + add + ReLU epilogue), one thread per element:
// y, residual (n) or residual null.
LB_CUDA_API(void add_relu_inplace1(float* y, const float* residual, int64_t n, int block))

// lab/pool2d.cu.
// max-pool forward, one thread per output: x (planes, H, W), y and indices (planes, P, Q).
LB_CUDA_API(void max_pool2d_forward1(const MaxPoolShape& s, const float* x, float* y, int64_t* indices, int block))
// max-pool backward, one thread per input element gathering the outputs whose saved index is it:
// dy, indices (planes, P, Q), dx (planes, H, W).
LB_CUDA_API(void max_pool2d_backward1(const MaxPoolShape& s, const float* dy, const int64_t* indices, float* dx,
                                      int block))
// adaptive average pool, one thread per output (forward) or per input element (backward, a gather
// over the bins that hold it): x, dx (planes, H, W); y, dy (planes, OH, OW).
LB_CUDA_API(void adaptive_avg_pool2d_forward1(const AvgPoolShape& s, const float* x, float* y, int block))
LB_CUDA_API(void adaptive_avg_pool2d_backward1(const AvgPoolShape& s, const float* dy, float* dx, int block))

// lab/elementwise.cu. relu, one thread per element: x, y, dy, dx (n).
LB_CUDA_API(void relu_forward1(const float* x, float* y, int64_t n, int block))
LB_CUDA_API(void relu_backward1(const float* y, const float* dy, float* dx, int64_t n, int block))

// lab/linear.cu. One thread per output: x, dx (N, IN), w, dw (OUT, IN), bias, db (OUT) or null,
// y, dy (N, OUT).
LB_CUDA_API(void linear_forward1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias,
                                 float* y, int block))
LB_CUDA_API(void linear_backward_input1(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                                        int block))
LB_CUDA_API(void linear_backward_weight1(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                                         int block))
LB_CUDA_API(void linear_backward_bias1(int64_t N, int64_t OUT, const float* dy, float* db, int block))

// lab/softmax.cu.
// cross-entropy, one thread per row (kernels/softmax.cuh's contract): logits, log_probs, dlogits
// (N, C); target int64 (N); class_weight (C) or null; row_weight (N); loss and g (1).
LB_CUDA_API(void cross_entropy_forward1(const float* logits, const int64_t* target, const float* class_weight,
                                        int64_t N, int64_t C, float* log_probs, float* row_weight, float* loss,
                                        int block))
LB_CUDA_API(void cross_entropy_backward1(const float* log_probs, const int64_t* target, const float* row_weight,
                                         const float* g, int64_t N, int64_t C, float* dlogits, int block))

// lab/optim.cu.
// optimizer updates in place, one thread per element: p, g, buf, exp_avg, exp_avg_sq (n); buf null
// when momentum is 0. The CPU loops' rounding (engine/optim/sgd.cc, adamw.cc), op for op.
LB_CUDA_API(void sgd_update1(float* p, const float* g, float* buf, int64_t n, const SgdParams& o, int block))
LB_CUDA_API(void adamw_update1(float* p, const float* g, float* exp_avg, float* exp_avg_sq, int64_t n,
                               const AdamWParams& o, int block))

// ---- the harness (lab.cu) ------------------------------------------------------------------------

struct DeviceInfo {
  std::string name;
  int sm_count = 0, cc_major = 0, cc_minor = 0;
  double clock_ghz = 0;  // peak SM clock (cudaDevAttrClockRate)
  int64_t l2_bytes = 0;
  double peak_fp32_gflops = 0;  // SMs * 128 FMA/clk * 2 * clock
  double peak_tf32_gflops = 0;  // SMs * dense TF32 FMA/clk (512 on sm_80, 1024 on sm_90) * 2 * clock
  double peak_bf16_gflops = 0;  // twice TF32's: dense bf16 runs at 2x the TF32 rate on sm_80 and sm_90
  double peak_gbps = 0;         // memory clock * 2 (DDR) * bus width / 8
};

struct LabOptions {
  bool time = true;  // false: check only (the test)
  int reps = 20;     // timed runs at most (median)
  int warmup = 2;
  double variant_budget_s = 1.0;  // fewer reps for a variant whose single run is slow (naive at 224)
  bool cpu_time = true;           // time the CPU backend at the full batch
  int cpu_reps = 3;
  int64_t check_batch = 0;  // > 0: check on this many images (same layer shape), time the full batch
  uint64_t seed = 1;
};

struct LabResult {
  std::string layer, op, direction, variant, shape;
  bool checked = false, pass = false;
  double rel_err = -1, tol = 0;  // rel_err < 0: not checked
  int64_t check_batch = 0;       // images the check ran on
  double ms = -1;                // median, < 0: not timed
  int reps = 0;
  double flops = 0, bytes = 0;  // per run: 2 * MACs (conv), napkin bytes moved (bn, pool)
  double gflops = -1, gbps = -1;
  double pct_peak = -1;  // of fp32 / tf32 FLOP peak (conv) or memory bandwidth (bn, pool)
  std::string note;
};

LB_CUDA_API(DeviceInfo device_info())
// Checks (and, with o.time, times) every variant of every direction of one case.
LB_CUDA_API(std::vector<LabResult> run_case(const LabCase& c, const LabOptions& o))

}  // namespace lb::kernels::lab
