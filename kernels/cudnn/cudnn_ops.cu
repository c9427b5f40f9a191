// cudnn/cudnn_ops.cu: the comparison backend (see cudnn_ops.cuh): conv2d, batchnorm2d and pooling
// through cuDNN's legacy (v7-style) API, still shipped in cuDNN 9 (cudnn_cnn.h, cudnn_ops.h), and
// the linear layer through cuBLAS SGEMM.
//
// Shapes (letters of this file): conv x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q); batchnorm
// x (N, C, HW), per-channel vectors (C); pooling (planes, H, W) -> (planes, P, Q); linear
// x (N, IN), w (OUT, IN), y (N, OUT), all float32, NCHW / row-major, on kernels::stream().
//
// Handles: one cudnnHandle_t and one cublasHandle_t per thread and device, created on first use
// and bound to the compute stream at every call (the stream is per device). Convolution
// algorithms are chosen once per (device, shape, direction, math mode) with cuDNN's heuristics
// (cudnnGetConvolution*Algorithm_v7: no trial runs, so no device time is spent choosing): the
// first algorithm, in the heuristic's order, whose workspace fits kWorkspaceLimit and whose math
// type is allowed by the mode. Workspaces come from the caching allocator (kernels/runtime.cuh).
//
// Math modes. Fp32: CUDNN_FMA_MATH (cuDNN 8+ may otherwise use TF32 for float convolutions under
// CUDNN_DEFAULT_MATH) and CUBLAS_DEFAULT_MATH (cuBLAS uses TF32 only when asked, or under
// NVIDIA_TF32_OVERRIDE=1). Tf32: CUDNN_TENSOR_OP_MATH (TF32 tensor cores for float data; we do not
// use ..._ALLOW_CONVERSION, which also lets cuDNN down-convert to fp16) and
// CUBLAS_TF32_TENSOR_OP_MATH. Bf16 (kernels/shapes.h): the linear layer runs cublasGemmEx on the
// float data with CUBLAS_COMPUTE_32F_FAST_16BF, which lets cuBLAS down-convert the inputs to bf16
// (its header says "to bfloat16 or TF32": a permission, not a promise, so this backend's bf16
// linear is at most as rounded as ours). cuDNN has no fp32-data, bf16-math convolution (its bf16
// convs take bf16 tensors), so a conv in Bf16 mode is refused with a one-line error.
//
// What cuDNN lacks is done by three small kernels below: eval-mode invstd = 1/sqrt(rv + eps),
// batchnorm backward with frozen statistics (training = false), and the linear bias add.
#include <cublas_v2.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/cudnn/cudnn_ops.cuh"

namespace lb::kernels::cudnn {

namespace {

// The call's name (the text before its first parenthesis) for one-line error messages.
std::string call_name(const char* call) {
  std::string s(call);
  return s.substr(0, s.find('('));
}

void check_cudnn(cudnnStatus_t st, const char* call, const char* where) {
  LB_CHECK(st == CUDNN_STATUS_SUCCESS, where << ": " << call_name(call) << " failed: " << cudnnGetErrorString(st));
}

void check_cublas(cublasStatus_t st, const char* call, const char* where) {
  LB_CHECK(st == CUBLAS_STATUS_SUCCESS, where << ": " << call_name(call) << " failed: " << cublasGetStatusString(st));
}

#define LB_CUDNN(where, call) check_cudnn((call), #call, where)
#define LB_CUBLAS(where, call) check_cublas((call), #call, where)

// Largest workspace a convolution algorithm may ask for.
constexpr size_t kWorkspaceLimit = size_t(1) << 30;

using kernels::detail::blocks_for;
using kernels::detail::cuda_stream;
using kernels::detail::current_device;
using kernels::detail::DeviceBuffer;
using kernels::detail::grid_for;

// cuDNN descriptors take int dimensions.
int to_int(int64_t v, const char* where) {
  LB_CHECK(v >= 0 && v <= INT32_MAX, where << ": dimension " << v << " does not fit cuDNN's int");
  return static_cast<int>(v);
}

// ---- RAII wrappers ----------------------------------------------------------------------------

struct Handles {
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  Handles() {
    LB_CUDNN("cudnn backend", cudnnCreate(&dnn));
    LB_CUBLAS("cudnn backend", cublasCreate(&blas));
  }
  // Never destroyed (see handles()): at process exit the CUDA context may already be gone.
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;
};

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int64_t n, int64_t c, int64_t h, int64_t w, const char* where) {
    LB_CUDNN(where, cudnnCreateTensorDescriptor(&d));
    LB_CUDNN(where, cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(n, where),
                                               to_int(c, where), to_int(h, where), to_int(w, where)));
  }
  ~TensorDesc() {
    if (d) cudnnDestroyTensorDescriptor(d);
  }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(int64_t k, int64_t c, int64_t r, int64_t s, const char* where) {
    LB_CUDNN(where, cudnnCreateFilterDescriptor(&d));
    LB_CUDNN(where, cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(k, where),
                                               to_int(c, where), to_int(r, where), to_int(s, where)));
  }
  ~FilterDesc() {
    if (d) cudnnDestroyFilterDescriptor(d);
  }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(int64_t pad, int64_t stride, cudnnMathType_t math, const char* where) {
    LB_CUDNN(where, cudnnCreateConvolutionDescriptor(&d));
    LB_CUDNN(where,
             cudnnSetConvolution2dDescriptor(d, to_int(pad, where), to_int(pad, where), to_int(stride, where),
                                             to_int(stride, where), 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    LB_CUDNN(where, cudnnSetConvolutionMathType(d, math));
  }
  ~ConvDesc() {
    if (d) cudnnDestroyConvolutionDescriptor(d);
  }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

struct PoolDesc {
  cudnnPoolingDescriptor_t d = nullptr;
  PoolDesc(cudnnPoolingMode_t mode, int64_t kh, int64_t kw, int64_t pad, int64_t sh, int64_t sw, const char* where) {
    LB_CUDNN(where, cudnnCreatePoolingDescriptor(&d));
    // NaN propagates through the maximum, as in PyTorch (and the CPU backend).
    LB_CUDNN(where,
             cudnnSetPooling2dDescriptor(d, mode, CUDNN_PROPAGATE_NAN, to_int(kh, where), to_int(kw, where),
                                         to_int(pad, where), to_int(pad, where), to_int(sh, where), to_int(sw, where)));
  }
  ~PoolDesc() {
    if (d) cudnnDestroyPoolingDescriptor(d);
  }
  PoolDesc(const PoolDesc&) = delete;
  PoolDesc& operator=(const PoolDesc&) = delete;
};

// This thread's handles for the current device, bound to its compute stream. Deliberately leaked
// (one pair per thread and device, as PyTorch does): destroying them from a thread_local or static
// destructor can run after the CUDA driver has shut down.
Handles& handles(int device) {
  thread_local std::map<int, Handles*> per_device;
  Handles*& h = per_device[device];
  if (!h) h = new Handles();
  LB_CUDNN("cudnn backend", cudnnSetStream(h->dnn, cuda_stream()));
  LB_CUBLAS("cudnn backend", cublasSetStream(h->blas, cuda_stream()));
  return *h;
}

// ---- convolution plans --------------------------------------------------------------------------

enum class Dir : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

// Bf16 has no cuDNN convolution on float tensors: say so at the first conv.
void refuse_bf16(MathMode mode) {
  LB_CHECK(mode != MathMode::Bf16,
           "--bf16 runs on lightbox's kernels; cuDNN's conv needs bfloat16 tensors: use --backend custom");
}

cudnnMathType_t conv_math(MathMode mode) { return mode == MathMode::Tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

// Fp32 mode must not run an algorithm that reports tensor-op math (TF32 inputs).
bool math_allowed(cudnnMathType_t algo_math, MathMode mode) {
  return mode == MathMode::Tf32 ||
         (algo_math != CUDNN_TENSOR_OP_MATH && algo_math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

// Descriptors and the chosen algorithm of one (device, shape, direction, mode).
struct ConvPlan {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  int algo = -1;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  size_t workspace = 0;
  ConvPlan(const Conv2dShape& s, MathMode mode, const char* where)
      : x(s.N, s.C, s.H, s.W, where),
        y(s.N, s.K, s.P, s.Q, where),
        w(s.K, s.C, s.R, s.S, where),
        conv(s.pad, s.stride, conv_math(mode), where) {}
};

using PlanKey =
    std::tuple<int, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

// Picks the first heuristic result that succeeded, fits the workspace limit and obeys the mode.
// Perf is one of cuDNN's three *AlgoPerf_t structs (same fields).
template <class Perf>
void pick(ConvPlan& p, const Perf* perf, int returned, MathMode mode, const char* where) {
  for (int i = 0; i < returned; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kWorkspaceLimit) continue;
    if (!math_allowed(perf[i].mathType, mode)) continue;
    p.algo = static_cast<int>(perf[i].algo);
    p.workspace = perf[i].memory;
    return;
  }
  LB_THROW(where << ": cuDNN's heuristics offered no algorithm within a " << (kWorkspaceLimit >> 20)
                 << " MiB workspace for this shape");
}

void choose_algorithm(cudnnHandle_t h, ConvPlan& p, Dir dir, MathMode mode, const char* where) {
  constexpr int kMaxAlgos = 16;
  int returned = 0;
  if (dir == Dir::Forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
    LB_CUDNN(where,
             cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.d, p.w.d, p.conv.d, p.y.d, kMaxAlgos, &returned, perf));
    pick(p, perf, returned, mode, where);
    LB_CUDNN(where,
             cudnnGetConvolutionForwardWorkspaceSize(h, p.x.d, p.w.d, p.conv.d, p.y.d,
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), &p.workspace));
  } else if (dir == Dir::BackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMaxAlgos];
    LB_CUDNN(where,
             cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.d, p.y.d, p.conv.d, p.x.d, kMaxAlgos, &returned, perf));
    pick(p, perf, returned, mode, where);
    LB_CUDNN(where,
             cudnnGetConvolutionBackwardDataWorkspaceSize(
                 h, p.w.d, p.y.d, p.conv.d, p.x.d, static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), &p.workspace));
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kMaxAlgos];
    LB_CUDNN(where, cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.d, p.y.d, p.conv.d, p.w.d, kMaxAlgos,
                                                                  &returned, perf));
    pick(p, perf, returned, mode, where);
    LB_CUDNN(where,
             cudnnGetConvolutionBackwardFilterWorkspaceSize(
                 h, p.x.d, p.y.d, p.conv.d, p.w.d, static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), &p.workspace));
  }
}

// The cached plan of this thread for (device, shape, direction, mode); chosen on first use.
ConvPlan& conv_plan(cudnnHandle_t h, int device, const Conv2dShape& s, Dir dir, MathMode mode, const char* where) {
  LB_CHECK(s.N > 0 && s.C > 0 && s.K > 0 && s.P > 0 && s.Q > 0,
           where << ": empty convolution N=" << s.N << " C=" << s.C << " K=" << s.K << " P=" << s.P << " Q=" << s.Q);
  thread_local std::map<PlanKey, std::unique_ptr<ConvPlan>> cache;
  const PlanKey key{device, static_cast<int>(dir), static_cast<int>(mode), s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride,
                    s.pad};
  auto& plan = cache[key];
  if (!plan) {
    auto p = std::make_unique<ConvPlan>(s, mode, where);
    // cuDNN's own output size must match the caller's P, Q.
    int n, k, pp, qq;
    LB_CUDNN(where, cudnnGetConvolution2dForwardOutputDim(p->conv.d, p->x.d, p->w.d, &n, &k, &pp, &qq));
    LB_CHECK(pp == s.P && qq == s.Q, where << ": output " << s.P << "x" << s.Q << " but cuDNN computes " << pp << "x"
                                           << qq << " (H=" << s.H << " W=" << s.W << " R=" << s.R << " S=" << s.S
                                           << " stride=" << s.stride << " pad=" << s.pad << ")");
    choose_algorithm(h, *p, dir, mode, where);
    plan = std::move(p);
  }
  return *plan;
}

// ---- small kernels for what cuDNN does not provide ----------------------------------------------

// invstd (C) = 1 / sqrt(running_var + eps), written by the eval forward.
__global__ void invstd_kernel(int64_t C, const float* running_var, float eps, float* invstd) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
}

constexpr int kReduceThreads = 256;

// Frozen-statistics backward, one block per channel c: dx = dy * weight * invstd, and (when
// wanted) dweight = sum dy * (x - mean) * invstd, dbias = sum dy over (N, HW). Sums in double,
// like the CPU backend. x, dy, dx (N, C, HW); mean, invstd, weight, dweight, dbias (C).
__global__ void bn_backward_frozen_kernel(int64_t N, int64_t C, int64_t HW, const float* x, const float* dy,
                                          const float* mean, const float* invstd, const float* weight, float* dx,
                                          float* dweight, float* dbias) {
  const int64_t c = blockIdx.x;
  const float is = invstd[c], m = mean ? mean[c] : 0.0f;
  const float scale = (weight ? weight[c] : 1.0f) * is;
  const bool sums = dweight != nullptr || dbias != nullptr;
  double s_dy = 0.0, s_dyx = 0.0;
  for (int64_t i = threadIdx.x; i < N * HW; i += blockDim.x) {
    const int64_t n = i / HW, j = i % HW;
    const int64_t at = (n * C + c) * HW + j;
    const float g = dy[at];
    if (dx) dx[at] = g * scale;
    if (sums) {
      s_dy += g;
      if (dweight) s_dyx += double(g) * double((x[at] - m) * is);
    }
  }
  if (!sums) return;
  __shared__ double sh_dy[kReduceThreads], sh_dyx[kReduceThreads];
  sh_dy[threadIdx.x] = s_dy;
  sh_dyx[threadIdx.x] = s_dyx;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sh_dy[threadIdx.x] += sh_dy[threadIdx.x + half];
      sh_dyx[threadIdx.x] += sh_dyx[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (dbias) dbias[c] = static_cast<float>(sh_dy[0]);
    if (dweight) dweight[c] = static_cast<float>(sh_dyx[0]);
  }
}

// y (N, OUT) += bias (OUT), broadcast over rows.
__global__ void add_bias_rows_kernel(int64_t N, int64_t OUT, const float* bias, float* y) {
  const int64_t total = N * OUT;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[i % OUT];
}

// Fills n floats with v (scratch weights of one, biases of zero).
__global__ void fill_kernel(int64_t n, float v, float* p) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) p[i] = v;
}

void fill(float* p, int64_t n, float v) {
  if (n <= 0) return;
  fill_kernel<<<blocks_for(n, 256), 256, 0, cuda_stream()>>>(n, v, p);
  LB_CUDA_CHECK_LAUNCH("fill_kernel");
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

// ---- conv2d --------------------------------------------------------------------------------------

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, MathMode mode) {
  const char* where = "cudnn::conv2d_forward";
  refuse_bf16(mode);
  const int device = current_device();
  Handles& h = handles(device);
  ConvPlan& p = conv_plan(h.dnn, device, s, Dir::Forward, mode, where);
  DeviceBuffer ws(p.workspace, device);
  LB_CUDNN(where, cudnnConvolutionForward(h.dnn, &kOne, p.x.d, x, p.w.d, w, p.conv.d,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), ws.get(), p.workspace, &kZero,
                                          p.y.d, y));
  if (bias) {
    TensorDesc b(1, s.K, 1, 1, where);
    LB_CUDNN(where, cudnnAddTensor(h.dnn, &kOne, b.d, bias, &kOne, p.y.d, y));
  }
}

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, MathMode mode) {
  const char* where = "cudnn::conv2d_backward_input";
  refuse_bf16(mode);
  const int device = current_device();
  Handles& h = handles(device);
  ConvPlan& p = conv_plan(h.dnn, device, s, Dir::BackwardData, mode, where);
  DeviceBuffer ws(p.workspace, device);
  LB_CUDNN(where, cudnnConvolutionBackwardData(h.dnn, &kOne, p.w.d, w, p.y.d, dy, p.conv.d,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), ws.get(),
                                               p.workspace, &kZero, p.x.d, dx));
}

void conv2d_backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, MathMode mode) {
  const char* where = "cudnn::conv2d_backward_weight";
  refuse_bf16(mode);
  const int device = current_device();
  Handles& h = handles(device);
  ConvPlan& p = conv_plan(h.dnn, device, s, Dir::BackwardFilter, mode, where);
  DeviceBuffer ws(p.workspace, device);
  LB_CUDNN(where, cudnnConvolutionBackwardFilter(h.dnn, &kOne, p.x.d, x, p.y.d, dy, p.conv.d,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws.get(),
                                                 p.workspace, &kZero, p.w.d, dw));
}

void conv2d_backward_bias(const Conv2dShape& s, const float* dy, float* db) {
  const char* where = "cudnn::conv2d_backward_bias";
  Handles& h = handles(current_device());
  TensorDesc dyd(s.N, s.K, s.P, s.Q, where), dbd(1, s.K, 1, 1, where);
  LB_CUDNN(where, cudnnConvolutionBackwardBias(h.dnn, &kOne, dyd.d, dy, &kZero, dbd.d, db));
}

// ---- batchnorm2d ---------------------------------------------------------------------------------
// x is described as (N, C, HW, 1): spatial batchnorm normalises over N, H, W whatever H and W are.

void batch_norm2d_forward_train(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                                float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                                float eps, float momentum) {
  const char* where = "cudnn::batch_norm2d_forward_train";
  LB_CHECK(s.N * s.HW > 1, where << ": needs more than one value per channel, got N=" << s.N << " HW=" << s.HW);
  LB_CHECK(eps >= CUDNN_BN_MIN_EPSILON,
           where << ": eps " << eps << " is below cuDNN's minimum " << CUDNN_BN_MIN_EPSILON);
  LB_CHECK((running_mean == nullptr) == (running_var == nullptr),
           where << ": running_mean and running_var must both be given or both be null");
  const int device = current_device();
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  // cuDNN needs a scale and a shift: affine=false is a weight of one and a bias of zero.
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device), zeros(bias ? 0 : s.C * sizeof(float), device);
  if (!weight) fill(ones.as<float>(), s.C, 1.0f);
  if (!bias) fill(zeros.as<float>(), s.C, 0.0f);
  // running = (1 - factor) * running + factor * batch, with the unbiased batch variance: PyTorch's
  // rule with factor = momentum. resultSaveInvVariance is 1 / sqrt(biased var + eps): our invstd.
  LB_CUDNN(where, cudnnBatchNormalizationForwardTraining(h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd.d, x, xd.d,
                                                         y, pd.d, weight ? weight : ones.as<float>(),
                                                         bias ? bias : zeros.as<float>(), double(momentum),
                                                         running_mean, running_var, double(eps), mean, invstd));
}

void batch_norm2d_forward_eval(const BatchNormShape& s, const float* x, const float* weight, const float* bias,
                               const float* running_mean, const float* running_var, float* y, float* invstd,
                               float eps) {
  const char* where = "cudnn::batch_norm2d_forward_eval";
  LB_CHECK(eps >= CUDNN_BN_MIN_EPSILON,
           where << ": eps " << eps << " is below cuDNN's minimum " << CUDNN_BN_MIN_EPSILON);
  const int device = current_device();
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device), zeros(bias ? 0 : s.C * sizeof(float), device);
  if (!weight) fill(ones.as<float>(), s.C, 1.0f);
  if (!bias) fill(zeros.as<float>(), s.C, 0.0f);
  LB_CUDNN(where, cudnnBatchNormalizationForwardInference(h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd.d, x, xd.d,
                                                          y, pd.d, weight ? weight : ones.as<float>(),
                                                          bias ? bias : zeros.as<float>(), running_mean, running_var,
                                                          double(eps)));
  if (invstd) {
    invstd_kernel<<<blocks_for(s.C, 256), 256, 0, cuda_stream()>>>(s.C, running_var, eps, invstd);
    LB_CUDA_CHECK_LAUNCH("invstd_kernel");
  }
}

void batch_norm2d_backward(const BatchNormShape& s, const float* x, const float* dy, const float* mean,
                           const float* invstd, const float* weight, float* dx, float* dweight, float* dbias,
                           bool training) {
  const char* where = "cudnn::batch_norm2d_backward";
  const int device = current_device();
  if (!training) {
    // Frozen statistics: cuDNN has no such mode.
    LB_CHECK(x != nullptr || dweight == nullptr, where << ": dweight needs x");
    if (s.C == 0 || (dx == nullptr && dweight == nullptr && dbias == nullptr)) return;
    bn_backward_frozen_kernel<<<static_cast<unsigned>(s.C), kReduceThreads, 0, cuda_stream()>>>(
        s.N, s.C, s.HW, x, dy, mean, invstd, weight, dx, dweight, dbias);
    LB_CUDA_CHECK_LAUNCH("bn_backward_frozen_kernel");
    return;
  }
  Handles& h = handles(device);
  TensorDesc xd(s.N, s.C, s.HW, 1, where), pd(1, s.C, 1, 1, where);
  // cuDNN always writes dx, dscale and dbias: scratch buffers stand in for those not wanted.
  DeviceBuffer ones(weight ? 0 : s.C * sizeof(float), device);
  DeviceBuffer scratch_dw(dweight ? 0 : s.C * sizeof(float), device),
      scratch_db(dbias ? 0 : s.C * sizeof(float), device);
  DeviceBuffer scratch_dx(dx ? 0 : s.N * s.C * s.HW * sizeof(float), device);
  if (!weight) fill(ones.as<float>(), s.C, 1.0f);
  // With the saved mean and invstd given, epsilon is not used; it must still pass cuDNN's check.
  LB_CUDNN(where, cudnnBatchNormalizationBackward(
                      h.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kZero, xd.d, x, xd.d, dy, xd.d,
                      dx ? dx : scratch_dx.as<float>(), pd.d, weight ? weight : ones.as<float>(),
                      dweight ? dweight : scratch_dw.as<float>(), dbias ? dbias : scratch_db.as<float>(),
                      std::max<double>(CUDNN_BN_MIN_EPSILON, 1e-5), mean, invstd));
}

// ---- pooling -------------------------------------------------------------------------------------

void max_pool2d_forward(const MaxPoolShape& s, const float* x, float* y) {
  const char* where = "cudnn::max_pool2d_forward";
  Handles& h = handles(current_device());
  PoolDesc pool(CUDNN_POOLING_MAX, s.kernel, s.kernel, s.padding, s.stride, s.stride, where);
  TensorDesc xd(s.planes, 1, s.H, s.W, where), yd(s.planes, 1, s.P, s.Q, where);
  int n, c, pp, qq;
  LB_CUDNN(where, cudnnGetPooling2dForwardOutputDim(pool.d, xd.d, &n, &c, &pp, &qq));
  LB_CHECK(pp == s.P && qq == s.Q,
           where << ": output " << s.P << "x" << s.Q << " but cuDNN computes " << pp << "x" << qq);
  LB_CUDNN(where, cudnnPoolingForward(h.dnn, pool.d, &kOne, xd.d, x, &kZero, yd.d, y));
}

void max_pool2d_backward(const MaxPoolShape& s, const float* x, const float* y, const float* dy, float* dx) {
  const char* where = "cudnn::max_pool2d_backward";
  Handles& h = handles(current_device());
  PoolDesc pool(CUDNN_POOLING_MAX, s.kernel, s.kernel, s.padding, s.stride, s.stride, where);
  TensorDesc xd(s.planes, 1, s.H, s.W, where), yd(s.planes, 1, s.P, s.Q, where);
  LB_CUDNN(where, cudnnPoolingBackward(h.dnn, pool.d, &kOne, yd.d, y, yd.d, dy, xd.d, x, &kZero, xd.d, dx));
}

void global_avg_pool2d_forward(const AvgPoolShape& s, const float* x, float* y) {
  const char* where = "cudnn::global_avg_pool2d_forward";
  LB_CHECK(s.OH == 1 && s.OW == 1, where << ": global pooling needs a 1x1 output, got " << s.OH << "x" << s.OW);
  Handles& h = handles(current_device());
  PoolDesc pool(CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING, s.H, s.W, 0, s.H, s.W, where);
  TensorDesc xd(s.planes, 1, s.H, s.W, where), yd(s.planes, 1, 1, 1, where);
  LB_CUDNN(where, cudnnPoolingForward(h.dnn, pool.d, &kOne, xd.d, x, &kZero, yd.d, y));
}

void global_avg_pool2d_backward(const AvgPoolShape& s, const float* dy, float* dx) {
  const char* where = "cudnn::global_avg_pool2d_backward";
  LB_CHECK(s.OH == 1 && s.OW == 1, where << ": global pooling needs a 1x1 output, got " << s.OH << "x" << s.OW);
  Handles& h = handles(current_device());
  PoolDesc pool(CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING, s.H, s.W, 0, s.H, s.W, where);
  TensorDesc xd(s.planes, 1, s.H, s.W, where), yd(s.planes, 1, 1, 1, where);
  // Average pooling's backward reads neither x nor y; cuDNN still takes their descriptors, and we
  // pass dy / dx as stand-ins for the data pointers.
  LB_CUDNN(where, cudnnPoolingBackward(h.dnn, pool.d, &kOne, yd.d, dy, yd.d, dy, xd.d, dx, &kZero, xd.d, dx));
}

// ---- linear (cuBLAS) -----------------------------------------------------------------------------
// cuBLAS is column-major; a row-major (rows, cols) matrix is the column-major (cols, rows) matrix,
// its transpose. So each row-major product A B is computed as the column-major B^T A^T.

namespace {

void set_blas_math(cublasHandle_t h, MathMode mode, const char* where) {
  LB_CUBLAS(where, cublasSetMathMode(h, mode == MathMode::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

// cublasSgemm's arguments (column-major, float, alpha = 1, beta = 0); Bf16 runs it as cublasGemmEx
// with CUBLAS_COMPUTE_32F_FAST_16BF on the same float data.
void blas_gemm(cublasHandle_t h, MathMode mode, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
               const float* A, int lda, const float* B, int ldb, float* C, int ldc, const char* where) {
  set_blas_math(h, mode, where);
  if (mode == MathMode::Bf16)
    LB_CUBLAS(where, cublasGemmEx(h, ta, tb, m, n, k, &kOne, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &kZero, C,
                                  CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
  else
    LB_CUBLAS(where, cublasSgemm(h, ta, tb, m, n, k, &kOne, A, lda, B, ldb, &kZero, C, ldc));
}

int blas_int(int64_t v, const char* where) { return to_int(v, where); }

}  // namespace

void linear_forward(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* w, const float* bias, float* y,
                    MathMode mode) {
  const char* where = "cudnn::linear_forward";
  if (N == 0 || OUT == 0) return;
  Handles& h = handles(current_device());
  // y^T (OUT, N) = W (OUT, IN) x^T (IN, N); w seen column-major is (IN, OUT), hence op T.
  blas_gemm(h.blas, mode, CUBLAS_OP_T, CUBLAS_OP_N, blas_int(OUT, where), blas_int(N, where), blas_int(IN, where), w,
            blas_int(IN, where), x, blas_int(IN, where), y, blas_int(OUT, where), where);
  if (bias) {
    add_bias_rows_kernel<<<grid_for(N * OUT, 256, 4096), 256, 0, cuda_stream()>>>(N, OUT, bias, y);
    LB_CUDA_CHECK_LAUNCH("add_bias_rows_kernel");
  }
}

void linear_backward_input(int64_t N, int64_t IN, int64_t OUT, const float* dy, const float* w, float* dx,
                           MathMode mode) {
  const char* where = "cudnn::linear_backward_input";
  if (N == 0 || IN == 0) return;
  Handles& h = handles(current_device());
  // dx^T (IN, N) = W^T (IN, OUT) dy^T (OUT, N): both already in that form column-major.
  blas_gemm(h.blas, mode, CUBLAS_OP_N, CUBLAS_OP_N, blas_int(IN, where), blas_int(N, where), blas_int(OUT, where), w,
            blas_int(IN, where), dy, blas_int(OUT, where), dx, blas_int(IN, where), where);
}

void linear_backward_weight(int64_t N, int64_t IN, int64_t OUT, const float* x, const float* dy, float* dw,
                            MathMode mode) {
  const char* where = "cudnn::linear_backward_weight";
  if (IN == 0 || OUT == 0) return;
  Handles& h = handles(current_device());
  if (N == 0) {
    LB_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(IN * OUT) * sizeof(float), cuda_stream()));
    return;
  }
  // dW^T (IN, OUT) = x^T (IN, N) dy (N, OUT); dy seen column-major is dy^T (OUT, N), hence op T.
  blas_gemm(h.blas, mode, CUBLAS_OP_N, CUBLAS_OP_T, blas_int(IN, where), blas_int(OUT, where), blas_int(N, where), x,
            blas_int(IN, where), dy, blas_int(OUT, where), dw, blas_int(IN, where), where);
}

}  // namespace lb::kernels::cudnn
