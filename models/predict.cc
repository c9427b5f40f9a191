// predict.cc: see predict.h.
#include "models/predict.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/ops.h"
#include "engine/progress.h"

namespace lb::models {

std::vector<double> Predictions::positive_scores() const { return scores_of(probs.size(1) > 1 ? 1 : 0); }

std::vector<int> Predictions::int_labels() const {
  LB_CHECK(!multilabel, "int_labels: a multi-label split has a row of flags per sample; use label_rows()");
  std::vector<int> l(labels.numel());
  for (int64_t i = 0; i < labels.numel(); ++i) l[i] = static_cast<int>(labels.data<int64_t>()[i]);
  return l;
}

std::vector<std::vector<double>> Predictions::prob_rows() const {
  const int64_t n = probs.size(0), k = probs.size(1);
  std::vector<std::vector<double>> rows(n, std::vector<double>(k));
  const float* p = probs.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) rows[i][j] = p[i * k + j];
  return rows;
}

std::vector<std::vector<int>> Predictions::label_rows() const {
  LB_CHECK(multilabel, "label_rows: a single-label split has one class index per sample; use int_labels()");
  const int64_t n = labels.size(0), k = labels.size(1);
  std::vector<std::vector<int>> rows(n, std::vector<int>(k));
  const int64_t* l = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) rows[i][j] = static_cast<int>(l[i * k + j]);
  return rows;
}

std::vector<double> Predictions::scores_of(int64_t k) const {
  const int64_t n = probs.size(0), c = probs.size(1);
  LB_CHECK(k >= 0 && k < c, "class " << k << " is not an output of this model (it has " << c << ")");
  std::vector<double> s(n);
  const float* p = probs.data<float>();
  for (int64_t i = 0; i < n; ++i) s[i] = p[i * c + k];
  return s;
}

std::vector<int> Predictions::one_vs_rest_labels(int64_t k) const {
  const int64_t n = labels.size(0), c = probs.size(1);
  LB_CHECK(k >= 0 && k < c, "class " << k << " is not an output of this model (it has " << c << ")");
  std::vector<int> l(n);
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) l[i] = multilabel ? static_cast<int>(y[i * c + k]) : static_cast<int>(y[i] == k);
  return l;
}

int64_t Predictions::predicted(int64_t i) const {
  const int64_t c = probs.size(1);
  const float* p = probs.data<float>() + i * c;
  return std::max_element(p, p + c) - p;
}

Tensor probabilities(const Tensor& logits, bool multilabel) {
  if (!multilabel) return softmax(logits, 1);
  Tensor out = Tensor::empty(logits.shape());
  const float* z = logits.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < logits.numel(); ++i) o[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double{z[i]})));
  return out;
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
  p.multilabel = split.multilabel();
  LB_CHECK(!p.multilabel || split.labels.size(1) == k, "predict: the " << split.name << " split has "
                                                                       << split.labels.size(1) << " labels per sample "
                                                                       << "but the model has " << k << " outputs");
  double loss_sum = 0.0;
  ProgressBar bar("eval " + split.name, (n + batch_size - 1) / batch_size, "img", progress);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    std::vector<int64_t> idx(b);
    for (int64_t i = 0; i < b; ++i) idx[i] = start + i;
    // The model runs where its parameters are; the small (b, k) logits come back to the CPU.
    Tensor logits = model(data::to_model_space(split, idx, norm).to(dev)).to(Device::cpu());
    Tensor probs = probabilities(logits, p.multilabel);
    std::memcpy(p.logits.data<float>() + start * k, logits.data<float>(), sizeof(float) * b * k);
    std::memcpy(p.probs.data<float>() + start * k, probs.data<float>(), sizeof(float) * b * k);
    const Tensor y = data::gather_labels(split, idx);
    loss_sum += (p.multilabel ? binary_cross_entropy_with_logits(logits, y) : cross_entropy(logits, y)).item() * b;
    bar.update(1, static_cast<double>(b));
  }
  bar.finish();
  p.loss = loss_sum / std::max<int64_t>(n, 1);
  model.train(was_training);
  return p;
}

}  // namespace lb::models
