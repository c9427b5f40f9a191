// ops/pool2d.cc: max_pool2d (with indices) and adaptive_avg_pool2d: checks, forward dispatch and
// autograd nodes, side by side.
//
// Shapes: x (N, C, H, W); max pooling y, indices (N, C, P, Q); adaptive pooling y (N, C, OH, OW).
// The backward of max pooling needs only the indices (int64, saved version-checked, since
// max_pool2d_with_indices hands the same tensor to the caller) and the input shape; adaptive
// pooling needs only the shapes. Neither saves x, so an in-place op on x after pooling is safe.
// Accumulation rule: apply() returns a fresh dx; the engine sums it with other consumers' grads.
// Backends: both ops run our loops under every CPU backend, --backend onednn included, as they run
// our kernels under --backend cudnn: the indices (flat h * W + w, first maximum on a tie, NaN wins)
// are part of max pooling's contract, and oneDNN keeps an opaque workspace instead and skips NaN.
// oneDNN's max pooling is timed beside ours by `lightbox bench kernels --device cpu`
// (engine/cpu/onednn/pool2d.h says more).
// PyTorch's max_pool2d_with_indices and adaptive_avg_pool2d.
#include "engine/ops/pool2d.h"

#include <sstream>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/cpu/pool2d.h"
#include "kernels/pool2d.cuh"

namespace lb {

namespace {

// Rank, dtype and device of a pooling input. `op` names the caller in the message.
void check_pool_input(const char* op, const Tensor& x) {
  LB_CHECK(x.defined(), op << ": undefined input");
  LB_CHECK(x.device().is_cpu() || x.dtype() == DType::Float32,
           op << ": CUDA kernels take float32; got " << x.str() << " (float64 is for CPU checks)");
  LB_CHECK(x.dim() == 4, op << ": expected a 4-D input (N, C, H, W), got " << x.str());
  LB_CHECK(is_floating(x.dtype()), op << ": expected a float32 or float64 input, got " << x.str());
}

void check_grad_output(const char* op, const Tensor& dy, const Shape& out_shape, DType dtype) {
  LB_CHECK(dy.dtype() == dtype && dy.shape() == out_shape, op << ": backward got a gradient " << dy.str()
                                                              << " for an output of " << dtype_name(dtype)
                                                              << shape_str(out_shape));
}

cpu::MaxPool2dArgs max_pool_args(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  constexpr const char* op = "max_pool2d";
  check_pool_input(op, x);
  LB_CHECK(kernel > 0 && stride > 0 && padding >= 0, op << ": kernel " << kernel << " and stride " << stride
                                                        << " must be positive and padding " << padding
                                                        << " non-negative");
  LB_CHECK(padding <= kernel / 2, op << ": padding " << padding << " must be at most kernel / 2 = " << kernel / 2
                                     << " (kernel " << kernel << "), as in PyTorch");
  cpu::MaxPool2dArgs a;
  a.planes = x.size(0) * x.size(1);
  a.H = x.size(2);
  a.W = x.size(3);
  a.kernel = kernel;
  a.stride = stride;
  a.padding = padding;
  // Checked before the division: floor division of a negative numerator would round toward zero.
  const int64_t span_h = a.H + 2 * padding - kernel, span_w = a.W + 2 * padding - kernel;
  a.P = span_h >= 0 ? span_h / stride + 1 : 0;
  a.Q = span_w >= 0 ? span_w / stride + 1 : 0;
  LB_CHECK(a.P > 0 && a.Q > 0, op << ": input " << shape_str(x.shape()) << " is too small for k=" << kernel << " s="
                                  << stride << " p=" << padding << " (output would be " << a.P << "x" << a.Q << ")");
  return a;
}

// ---- autograd nodes -----------------------------------------------------------------------------

// max_pool2d: dx[index] += dy for every output; saves the indices only.
struct MaxPool2dNode : Node {
  cpu::MaxPool2dArgs args;
  SavedTensor indices;  // (N, C, P, Q) int64, flat h * W + w in the input plane
  const char* kind() const override { return "max_pool2d"; }
  std::string describe() const override {
    std::ostringstream os;
    os << "k=" << args.kernel << " s=" << args.stride << " p=" << args.padding;
    return os.str();
  }
  std::vector<Tensor> apply(const Tensor& dy) override {
    check_grad_output(kind(), dy, output_shape, input_dtypes[0]);
    Tensor iv = indices.unpack(kind(), "indices");
    Tensor dx = Tensor::empty(input_shapes[0], input_dtypes[0], dy.device());
    LB_CHECK(iv.device() == dy.device(), kind() << ": backward got a gradient on " << dy.device().str()
                                                << " for a forward on " << iv.device().str());
    if (dy.device().is_cuda()) {
      kernels::max_pool2d_backward(args, dy.data_ptr<float>(), iv.data_ptr<int64_t>(), dx.data_ptr<float>());
      return {dx};
    }
    LB_DISPATCH_FLOAT(dy.dtype(), "max_pool2d backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::max_pool2d_backward(dy.data<T>(), iv.data<int64_t>(), dx.data<T>(), args);
    });
    return {dx};
  }
  void release_saved() override { indices.reset(); }
};

// adaptive_avg_pool2d: every input of a bin receives dy / bin size; needs only the shapes.
struct AdaptiveAvgPool2dNode : Node {
  cpu::AdaptiveAvgPool2dArgs args;
  const char* kind() const override { return "adaptive_avg_pool2d"; }
  std::string describe() const override { return "out=" + std::to_string(args.OH) + "x" + std::to_string(args.OW); }
  std::vector<Tensor> apply(const Tensor& dy) override {
    check_grad_output(kind(), dy, output_shape, input_dtypes[0]);
    Tensor dx = Tensor::empty(input_shapes[0], input_dtypes[0], dy.device());
    if (dy.device().is_cuda()) {
      LB_CHECK(dy.dtype() == DType::Float32, kind() << ": CUDA kernels take float32; got " << dy.str());
      kernels::adaptive_avg_pool2d_backward(args, dy.data_ptr<float>(), dx.data_ptr<float>());
      return {dx};
    }
    LB_DISPATCH_FLOAT(dy.dtype(), "adaptive_avg_pool2d backward", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::adaptive_avg_pool2d_backward(dy.data<T>(), dx.data<T>(), args);
    });
    return {dx};
  }
};

}  // namespace

MaxPoolResult max_pool2d_with_indices(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const cpu::MaxPool2dArgs a = max_pool_args(x, kernel, stride, padding);
  const Shape out_shape{x.size(0), x.size(1), a.P, a.Q};
  MaxPoolResult r{Tensor::empty(out_shape, x.dtype(), x.device()), Tensor::empty(out_shape, DType::Int64, x.device())};
  if (x.device().is_cuda())
    kernels::max_pool2d_forward(a, x.data_ptr<float>(), r.output.data_ptr<float>(), r.indices.data_ptr<int64_t>());
  else
    LB_DISPATCH_FLOAT(x.dtype(), "max_pool2d", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::max_pool2d_forward(x.data<T>(), r.output.data<T>(), r.indices.data<int64_t>(), a);
    });
  if (needs_grad({x})) {
    auto node = std::make_shared<MaxPool2dNode>();
    node->args = a;
    set_history(r.output, node, {x});
    node->indices = SavedTensor(r.indices);
  }
  return r;
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return max_pool2d_with_indices(x, kernel, stride, padding).output;
}

MaxPool2dSettings max_pool2d_settings(const Node& node) {
  const auto* pool = dynamic_cast<const MaxPool2dNode*>(&node);
  LB_CHECK(pool != nullptr, "max_pool2d_settings: node '" << node.kind() << "' is not a max_pool2d node");
  return {pool->args.kernel, pool->args.stride, pool->args.padding};
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  constexpr const char* op = "adaptive_avg_pool2d";
  check_pool_input(op, x);
  LB_CHECK(out_h > 0 && out_w > 0, op << ": output size " << out_h << "x" << out_w << " must be positive (input "
                                      << shape_str(x.shape()) << ")");
  LB_CHECK(x.size(2) > 0 && x.size(3) > 0,
           op << ": input " << shape_str(x.shape()) << " has an empty plane; there is nothing to average");
  cpu::AdaptiveAvgPool2dArgs a;
  a.planes = x.size(0) * x.size(1);
  a.H = x.size(2);
  a.W = x.size(3);
  a.OH = out_h;
  a.OW = out_w;
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  if (x.device().is_cuda())
    kernels::adaptive_avg_pool2d_forward(a, x.data_ptr<float>(), y.data_ptr<float>());
  else
    LB_DISPATCH_FLOAT(x.dtype(), op, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cpu::adaptive_avg_pool2d_forward(x.data<T>(), y.data<T>(), a);
    });
  if (needs_grad({x})) {
    auto node = std::make_shared<AdaptiveAvgPool2dNode>();
    node->args = a;
    set_history(y, node, {x});
  }
  return y;
}

}  // namespace lb
