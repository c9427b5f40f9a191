// cudnn/pool2d.cu: max and global average pooling through cuDNN (see pool2d.cuh): x, dx
// (planes, H, W) and y, dy (planes, P, Q), described to cuDNN as (planes, 1, H, W), float32.
#include "kernels/cudnn/pool2d.cuh"

#include "kernels/common.cuh"
#include "kernels/cudnn/handles.cuh"

namespace lb::kernels::cudnn {

namespace {

using namespace detail;  // kernels/cudnn/handles.cuh

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

}  // namespace

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

}  // namespace lb::kernels::cudnn
