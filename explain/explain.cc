// explain.cc: see explain.h.
#include "explain/explain.h"

#include <cmath>

#include "base/common.h"
#include "engine/autograd.h"
#include "engine/ops/ops.h"

namespace lb::explain {

ModelOutput parse_model_output(const std::string& s) {
  if (s == "logits") return ModelOutput::Logits;
  if (s == "probs") return ModelOutput::Probs;
  LB_THROW("model output '" << s << "' is not one of: logits, probs");
}

const char* to_string(ModelOutput m) { return m == ModelOutput::Logits ? "logits" : "probs"; }

Device model_device(nn::Module& model) {
  const std::vector<Tensor> params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

Tensor on_cpu(const Tensor& t) { return t.device().is_cpu() ? t : t.to(Device::cpu()); }

Tensor Explained::operator()(const Tensor& x) const {
  const Device dev = device();
  Tensor y = model(x.device() == dev ? x : x.to(dev));
  LB_CHECK(y.dim() == 2, "explain: the model must return (N, K) outputs, got " << shape_str(y.shape()));
  if (output == ModelOutput::Logits) return y;
  return multilabel ? sigmoid(y) : softmax(y, 1);
}

Tensor Explained::evaluate(const Tensor& x, int64_t batch) const {
  LB_CHECK(batch > 0, "explain: batch size must be positive, got " << batch);
  NoGradGuard no_grad;
  const int64_t n = x.size(0);
  Tensor out;
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t len = std::min(batch, n - s);
    Tensor y = on_cpu((*this)(x.slice0(s, len))).to(DType::Float64);
    if (!out.defined()) out = Tensor::empty({n, y.size(1)}, DType::Float64);
    std::copy(y.data<double>(), y.data<double>() + y.numel(), out.data<double>() + s * y.size(1));
  }
  return out;
}

BatchFn as_batch_fn(const Explained& f) {
  return [f](const Tensor& x) { return f.evaluate(x); };
}

Tensor completeness_gaps(const Tensor& values, const Tensor& outputs, const Tensor& expected) {
  LB_CHECK(
      values.dim() >= 3 && outputs.dim() == 2 && values.size(0) == outputs.size(0) && values.size(1) == outputs.size(1),
      "completeness_gaps: values " << shape_str(values.shape()) << " and outputs " << shape_str(outputs.shape())
                                   << " disagree");
  const int64_t N = values.size(0), K = values.size(1), F = values.numel() / (N * K);
  const bool per_image = expected.dim() == 2;
  LB_CHECK(
      per_image ? (expected.size(0) == N && expected.size(1) == K) : (expected.dim() == 1 && expected.size(0) == K),
      "completeness_gaps: expected " << shape_str(expected.shape()) << " must be (K,) or (N, K)");
  const Tensor v = values.to(DType::Float64), o = outputs.to(DType::Float64), e = expected.to(DType::Float64);
  Tensor gaps = Tensor::empty({N, K}, DType::Float64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const double* p = v.data<double>() + (n * K + k) * F;
      double s = 0;
      for (int64_t i = 0; i < F; ++i) s += p[i];
      const double base = per_image ? e.data<double>()[n * K + k] : e.data<double>()[k];
      gaps.data<double>()[n * K + k] = o.data<double>()[n * K + k] - base - s;
    }
  return gaps;
}

void check_images(const Tensor& x, const char* what) {
  LB_CHECK(x.defined() && x.dim() == 4, "explain: " << what << " must be (N, C, H, W) images, got "
                                                    << (x.defined() ? shape_str(x.shape()) : "nothing"));
  LB_CHECK(x.dtype() == DType::Float32, "explain: " << what << " must be float32 (model space), got " << x.str());
  LB_CHECK(x.size(0) > 0, "explain: " << what << " holds no images");
  const Tensor c = on_cpu(x);
  const float* p = c.data<float>();
  for (int64_t i = 0; i < c.numel(); ++i)
    LB_CHECK(std::isfinite(p[i]), "explain: " << what << " hold a non-finite value (NaN or inf) at flat index " << i
                                              << "; fix the input file");
}

void check_eval_mode(const nn::Module& model, const char* method) {
  LB_CHECK(!model.is_training(), method << ": the model is in training mode (batch norm would mix the images of "
                                        << "a batch); call model.eval() first");
}

Tensor channel_sum_upsampled(const Tensor& values, int64_t H, int64_t W) {
  LB_CHECK(values.dim() == 5,
           "channel_sum_upsampled: values must be (N, K, C, h, w), got " << shape_str(values.shape()));
  LB_CHECK(H > 0 && W > 0, "channel_sum_upsampled: target size must be positive");
  const Tensor v = values.to(DType::Float64);
  const int64_t N = v.size(0), K = v.size(1), C = v.size(2), h = v.size(3), w = v.size(4);
  Tensor out = Tensor::zeros({N, K, 1, H, W}, DType::Float64);
  for (int64_t nk = 0; nk < N * K; ++nk) {
    std::vector<double> sum(h * w, 0.0);
    const double* p = v.data<double>() + nk * C * h * w;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < h * w; ++i) sum[i] += p[c * h * w + i];
    double* o = out.data<double>() + nk * H * W;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) o[i * W + j] = sum[(i * h / H) * w + (j * w / W)];
  }
  return out;
}

std::string upsampling_label(int64_t h, int64_t w, int64_t H, int64_t W) {
  return std::to_string(h) + "x" + std::to_string(w) + " -> " + std::to_string(H) + "x" + std::to_string(W) +
         ", nearest";
}

}  // namespace lb::explain
