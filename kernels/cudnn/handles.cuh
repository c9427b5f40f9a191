// cudnn/handles.cuh: what the cuDNN/cuBLAS comparison backend's files (conv2d.cu, batch_norm2d.cu,
// pool2d.cu, linear.cu) share, private to kernels/cudnn/: the status checks, the per-thread
// handles and the tensor descriptor.
//
// The backend runs cuDNN's legacy (v7-style) API, still shipped in cuDNN 9 (cudnn_cnn.h,
// cudnn_ops.h), and cuBLAS, on float32 NCHW / row-major data, on kernels::stream().
//
// Handles: one cudnnHandle_t and one cublasHandle_t per thread and device, created on first use
// and bound to the compute stream at every call (the stream is per device). handles() is an inline
// function of a named namespace, so its thread_local cache is one for the whole program, not one
// per file. Workspaces and scratch buffers come from the caching allocator (kernels/common.cuh's
// DeviceBuffer).
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <string>

#include "base/common.h"
#include "kernels/common.cuh"

namespace lb::kernels::cudnn::detail {

// The launch helpers every file of the backend uses (kernels/common.cuh), so that one
// `using namespace detail;` in each file brings in all it shares.
using kernels::detail::cuda_stream;
using kernels::detail::current_device;
using kernels::detail::DeviceBuffer;

// The call's name (the text before its first parenthesis) for one-line error messages.
inline std::string call_name(const char* call) {
  std::string s(call);
  return s.substr(0, s.find('('));
}

inline void check_cudnn(cudnnStatus_t st, const char* call, const char* where) {
  LB_CHECK(st == CUDNN_STATUS_SUCCESS, where << ": " << call_name(call) << " failed: " << cudnnGetErrorString(st));
}

inline void check_cublas(cublasStatus_t st, const char* call, const char* where) {
  LB_CHECK(st == CUBLAS_STATUS_SUCCESS, where << ": " << call_name(call) << " failed: " << cublasGetStatusString(st));
}

#define LB_CUDNN(where, call) ::lb::kernels::cudnn::detail::check_cudnn((call), #call, where)
#define LB_CUBLAS(where, call) ::lb::kernels::cudnn::detail::check_cublas((call), #call, where)

// alpha = 1 and beta = 0 / 1 of cuDNN's and cuBLAS's blend arguments, passed by address.
inline constexpr float kOne = 1.0f, kZero = 0.0f;

// cuDNN descriptors take int dimensions.
inline int to_int(int64_t v, const char* where) {
  LB_CHECK(v >= 0 && v <= INT32_MAX, where << ": dimension " << v << " does not fit cuDNN's int");
  return static_cast<int>(v);
}

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

// This thread's handles for the current device, bound to its compute stream. Deliberately leaked
// (one pair per thread and device, as PyTorch does): destroying them from a thread_local or static
// destructor can run after the CUDA driver has shut down.
inline Handles& handles(int device) {
  thread_local std::map<int, Handles*> per_device;
  Handles*& h = per_device[device];
  if (!h) h = new Handles();
  LB_CUDNN("cudnn backend", cudnnSetStream(h->dnn, cuda_stream()));
  LB_CUBLAS("cudnn backend", cublasSetStream(h->blas, cuda_stream()));
  return *h;
}

// A 4-D float NCHW tensor descriptor, destroyed with the object.
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

}  // namespace lb::kernels::cudnn::detail
