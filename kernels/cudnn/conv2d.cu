// cudnn/conv2d.cu: conv2d through cuDNN (see conv2d.cuh): forward, backward-input,
// backward-weight and backward-bias of x (N, C, H, W), w (K, C, R, S), y (N, K, P, Q), float32 NCHW.
//
// Convolution algorithms are chosen once per (device, shape, direction, math mode) with cuDNN's
// heuristics (cudnnGetConvolution*Algorithm_v7: no trial runs, so no device time is spent
// choosing): the first algorithm, in the heuristic's order, whose workspace fits kWorkspaceLimit
// and whose math type is allowed by the mode. The plan (descriptors and algorithm) is cached per
// thread; the workspace comes from the caching allocator at every call.
//
// Math modes. Fp32: CUDNN_FMA_MATH (cuDNN 8+ may otherwise use TF32 for float convolutions under
// CUDNN_DEFAULT_MATH). Tf32: CUDNN_TENSOR_OP_MATH (TF32 tensor cores for float data; we do not use
// ..._ALLOW_CONVERSION, which also lets cuDNN down-convert to fp16). Bf16: cuDNN has no fp32-data,
// bf16-math convolution (its bf16 convs take bf16 tensors), so a conv in Bf16 mode is refused with
// a one-line error.
#include "kernels/cudnn/conv2d.cuh"

#include <map>
#include <memory>
#include <tuple>

#include "kernels/common.cuh"
#include "kernels/cudnn/handles.cuh"

namespace lb::kernels::cudnn {

namespace {

using namespace detail;  // kernels/cudnn/handles.cuh

// Largest workspace a convolution algorithm may ask for.
constexpr size_t kWorkspaceLimit = size_t(1) << 30;

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

}  // namespace

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

}  // namespace lb::kernels::cudnn
