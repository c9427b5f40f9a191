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

void check_tta_views(int views) {
  LB_CHECK(views == 1 || views == 5 || views == 9,
           "--tta must be 1 (off), 5 (one-pixel shifts) or 9 (with diagonals), got " << views);
}

int run_tta_views(const nlohmann::json& run_config) {
  if (!run_config.is_object() || !run_config.contains("tta")) return 1;
  const nlohmann::json& v = run_config.at("tta");
  if (!v.is_number_integer()) return 1;
  const int64_t n = v.get<int64_t>();
  return n == 5 || n == 9 ? static_cast<int>(n) : 1;
}

data::Split shifted_split(const data::Split& split, int64_t dy, int64_t dx) {
  data::Split out = split;
  out.images = Tensor::empty(split.images.shape(), DType::UInt8);  // every byte is written below
  const int64_t n = split.size(), h = split.height(), w = split.width(), c = split.channels();
  const uint8_t* s = split.images.data<uint8_t>();
  uint8_t* d = out.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = std::clamp<int64_t>(y - dy, 0, h - 1);
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = std::clamp<int64_t>(x - dx, 0, w - 1);
        std::memcpy(d + ((i * h + y) * w + x) * c, s + ((i * h + sy) * w + sx) * c, static_cast<size_t>(c));
      }
    }
  return out;
}

Predictions predict_tta(ResNet18& model, const data::Split& split, data::Normalization norm, int views,
                        int64_t batch_size, bool progress) {
  check_tta_views(views);
  if (views == 1) return predict(model, split, norm, batch_size, progress);
  static const int64_t kShifts[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
  Predictions p;
  std::vector<double> sum;
  for (int v = 0; v < views; ++v) {
    const Predictions one =
        v == 0 ? predict(model, split, norm, batch_size, progress)
               : predict(model, shifted_split(split, kShifts[v][0], kShifts[v][1]), norm, batch_size, progress);
    if (v == 0) {
      p = one;
      sum.assign(static_cast<size_t>(one.probs.numel()), 0.0);
    }
    const float* q = one.probs.data<float>();
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += q[i];
  }
  const int64_t n = p.probs.size(0), k = p.probs.size(1);
  float* probs = p.probs.data<float>();
  float* logits = p.logits.data<float>();
  const int64_t* y = p.labels.data<int64_t>();
  double loss = 0.0;
  constexpr double kTiny = 1e-30;  // log(0) would be -inf; a probability this small is one anyway
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const double m = sum[static_cast<size_t>(i * k + j)] / views;
      probs[i * k + j] = static_cast<float>(m);
      const double lp = std::log(std::max(m, kTiny)), lq = std::log(std::max(1.0 - m, kTiny));
      if (p.multilabel) {
        logits[i * k + j] = static_cast<float>(lp - lq);
        loss -= y[i * k + j] == 1 ? lp : lq;
      } else {
        logits[i * k + j] = static_cast<float>(lp);
        if (y[i] == j) loss -= lp;
      }
    }
  p.loss = loss / static_cast<double>(std::max<int64_t>(n * (p.multilabel ? k : 1), 1));
  return p;
}

}  // namespace lb::models
