// predict.cc: see predict.h.
#include "models/predict.h"

#include <algorithm>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/progress.h"

namespace lb::models {

std::vector<double> Predictions::positive_scores() const {
  const int64_t n = probs.size(0), k = probs.size(1);
  std::vector<double> s(n);
  const float* p = probs.data<float>();
  for (int64_t i = 0; i < n; ++i) s[i] = p[i * k + (k > 1 ? 1 : 0)];
  return s;
}

std::vector<int> Predictions::int_labels() const {
  std::vector<int> l(labels.numel());
  for (int64_t i = 0; i < labels.numel(); ++i) l[i] = static_cast<int>(labels.data<int64_t>()[i]);
  return l;
}

Predictions predict(ResNet18& model, const data::Split& split, data::Normalization norm, int64_t batch_size,
                    bool progress) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t n = split.size(), k = model.num_classes();
  const Device dev = model.parameters().front().device();
  Predictions p;
  p.logits = Tensor::empty({n, k});
  p.probs = Tensor::empty({n, k});
  p.labels = split.labels.clone();
  double loss_sum = 0.0;
  ProgressBar bar("eval " + split.name, (n + batch_size - 1) / batch_size, "img", progress);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    std::vector<int64_t> idx(b);
    for (int64_t i = 0; i < b; ++i) idx[i] = start + i;
    // The model runs where its parameters are; the small (b, k) logits come back to the CPU.
    Tensor logits = model(data::to_model_space(split, idx, norm).to(dev)).to(Device::cpu());
    Tensor probs = softmax(logits, 1);
    std::memcpy(p.logits.data<float>() + start * k, logits.data<float>(), sizeof(float) * b * k);
    std::memcpy(p.probs.data<float>() + start * k, probs.data<float>(), sizeof(float) * b * k);
    loss_sum += cross_entropy(logits, data::gather_labels(split, idx)).item() * b;
    bar.update(1, static_cast<double>(b));
  }
  bar.finish();
  p.loss = loss_sum / std::max<int64_t>(n, 1);
  model.train(was_training);
  return p;
}

}  // namespace lb::models
