// evaluate.cc: data, predictions, sample selection (TP/FP/FN/TN), evaluation metrics and the
// statistical comparisons of two models, as `lightbox eval`, `explain --select` and `compare`
// compute them (engine/data/medmnist.h, models/predict.h, explain/select.h, models/evaluate/).
// Results are the engine's JSON records (what the CLI writes) as Python dicts.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "engine/data/medmnist.h"
#include "explain/select.h"
#include "models/checkpoint.h"
#include "models/evaluate/compare_multi.h"
#include "models/evaluate/multiclass.h"
#include "models/evaluate/stats.h"
#include "models/predict.h"
#include "python/src/core.h"

namespace lbpy {

namespace {

// A split of a MedMNIST .npz: uint8 images (N, H, W, C) and int64 labels (N,).
nb::dict load_split(const std::string& path, const std::string& split) {
  const lb::data::Dataset ds = compute([&] { return lb::data::load_medmnist(path); });
  const lb::data::Split& s = ds.split(split);
  nb::dict d;
  d["images"] = to_numpy(s.images);
  d["labels"] = to_numpy(s.labels);
  d["num_classes"] = ds.num_classes;
  return d;
}

nb::dict predict(lb::models::Checkpoint& ck, const std::string& path, const std::string& split, int64_t batch_size,
                 bool progress) {
  const lb::models::Predictions p = compute([&] {
    const lb::data::Dataset ds = lb::data::load_medmnist(path);
    return lb::models::predict(*ck.model, ds.split(split), ck.meta.norm, batch_size, progress);
  });
  nb::dict d;
  d["logits"] = to_numpy(p.logits);
  d["probs"] = to_numpy(p.probs);
  d["labels"] = to_numpy(p.labels);
  d["loss"] = p.loss;
  d["multilabel"] = p.multilabel;
  return d;
}

nb::list selection_list(const lb::explain::Selection& sel) {
  nb::list l;
  for (const lb::explain::Selected& s : sel.samples) {
    nb::dict d;
    d["index"] = s.index;
    d["cell"] = lb::explain::cell_name(s.cell);
    d["label"] = s.label;
    d["score"] = s.score;
    l.append(d);
  }
  return l;
}

// The cells one-vs-rest (explain/select.h): per sample, whether it belongs to the class, whether
// the model predicts it, and the model's probability of it. The Python layer derives these from
// (N,) binary scores, (N, K) multi-class probabilities or (N, L) multi-label ones.
nb::list select(const std::vector<int>& positive, const std::vector<int>& predicted, const std::vector<double>& scores,
                double threshold, const std::string& cells, int64_t per_cell, const std::string& order) {
  LB_CHECK(positive.size() == scores.size() && predicted.size() == scores.size(),
           "select: " << positive.size() << " labels but " << scores.size() << " scores; give one of each per sample");
  lb::explain::OneVsRest ovr;
  ovr.positive = positive;
  ovr.predicted = predicted;
  ovr.score = scores;
  ovr.threshold = threshold;
  return selection_list(lb::explain::select_cells(ovr, lb::explain::parse_cells(cells), per_cell,
                                                  lb::explain::parse_select_order(order)));
}

nb::object evaluate(const std::vector<double>& scores, const std::vector<int>& labels, double threshold, int resamples,
                    uint64_t seed, bool roc) {
  LB_CHECK(labels.size() == scores.size(),
           "evaluate: " << labels.size() << " labels but " << scores.size() << " scores; give one of each per sample");
  lb::eval::BootstrapOptions o;
  o.resamples = resamples;
  o.seed = seed;
  const auto ev = compute([&] { return lb::eval::evaluate(scores, labels, threshold, o); });
  return json_to_python(lb::eval::to_json(ev, roc));
}

// Multi-class (labels (N,), probs (N, K) softmax rows) or multi-label (labels (N, L) 0/1 flags,
// probs (N, L) sigmoid outputs): MedMNIST's ACC and AUC, per-class results (multiclass.h).
nb::object evaluate_classes(const std::vector<std::vector<double>>& probs, nb::object labels, int resamples,
                            uint64_t seed, bool roc) {
  lb::eval::BootstrapOptions o;
  o.resamples = resamples;
  o.seed = seed;
  const bool multilabel = nb::len(labels) > 0 && nb::hasattr(labels[0], "__len__");
  lb::eval::MultiEvaluation ev;
  if (multilabel) {
    const auto rows = nb::cast<std::vector<std::vector<int>>>(labels);
    ev = compute([&] { return lb::eval::evaluate_multilabel(probs, rows, o); });
  } else {
    const auto flat = nb::cast<std::vector<int>>(labels);
    ev = compute([&] { return lb::eval::evaluate_multiclass(probs, flat, o); });
  }
  return json_to_python(lb::eval::to_json(ev, roc));
}

nb::object compare(const std::vector<double>& scores_a, const std::vector<double>& scores_b,
                   const std::vector<int>& labels, double threshold_a, double threshold_b) {
  LB_CHECK(scores_a.size() == labels.size() && scores_b.size() == labels.size(),
           "compare: " << scores_a.size() << " and " << scores_b.size() << " scores for " << labels.size()
                       << " labels; both models must score every sample");
  const auto c =
      compute([&] { return lb::eval::compare_models(scores_a, scores_b, labels, threshold_a, threshold_b); });
  return json_to_python(lb::eval::to_json(c));
}

// Two multi-class (labels (N,)) or multi-label (labels (N, L) flags) models' probabilities on the
// same samples: McNemar on correctness and DeLong per class (models/evaluate/compare_multi.h).
nb::object compare_classes(const std::vector<std::vector<double>>& probs_a,
                           const std::vector<std::vector<double>>& probs_b, nb::object labels) {
  const bool multilabel = nb::len(labels) > 0 && nb::hasattr(labels[0], "__len__");
  const auto as_predictions = [&](const std::vector<std::vector<double>>& rows) {
    lb::models::Predictions p;
    const int64_t n = static_cast<int64_t>(rows.size()), k = n > 0 ? static_cast<int64_t>(rows[0].size()) : 0;
    std::vector<double> flat;
    for (const auto& r : rows) {
      LB_CHECK(static_cast<int64_t>(r.size()) == k, "compare: ragged probability rows; give an (N, K) array");
      flat.insert(flat.end(), r.begin(), r.end());
    }
    LB_CHECK(n > 0 && k > 0, "compare: no samples");
    p.probs = lb::Tensor::from_vector(flat, {n, k});
    p.logits = p.probs;
    p.multilabel = multilabel;
    std::vector<double> y;
    if (multilabel)
      for (const auto& row : nb::cast<std::vector<std::vector<int64_t>>>(labels))
        y.insert(y.end(), row.begin(), row.end());
    else
      for (int64_t v : nb::cast<std::vector<int64_t>>(labels)) y.push_back(static_cast<double>(v));
    LB_CHECK(static_cast<int64_t>(y.size()) == (multilabel ? n * k : n),
             "compare: " << y.size() << " label entries for " << n << " samples of " << k << " outputs");
    p.labels = lb::Tensor::from_vector(y, multilabel ? lb::Shape{n, k} : lb::Shape{n}, lb::DType::Int64);
    return p;
  };
  const auto c = compute([&] { return lb::eval::compare_multi(as_predictions(probs_a), as_predictions(probs_b)); });
  return json_to_python(lb::eval::to_json(c, {}));
}

}  // namespace

void bind_evaluate(nb::module_& m) {
  using namespace nb::literals;
  m.def("load_split", &load_split, "path"_a, "split"_a = "test");
  m.def("predict", &predict, "model"_a, "data"_a, "split"_a = "test", "batch_size"_a = 256, "progress"_a = false);
  m.def("select", &select, "positive"_a, "predicted"_a, "scores"_a, "threshold"_a, "cells"_a, "per_cell"_a, "order"_a);
  m.def("evaluate", &evaluate, "scores"_a, "labels"_a, "threshold"_a = 0.5, "resamples"_a = 1000, "seed"_a = 0,
        "roc"_a = true);
  m.def("evaluate_classes", &evaluate_classes, "probs"_a, "labels"_a, "resamples"_a = 1000, "seed"_a = 0,
        "roc"_a = true);
  m.def("compare", &compare, "scores_a"_a, "scores_b"_a, "labels"_a, "threshold_a"_a = 0.5, "threshold_b"_a = 0.5);
  m.def("compare_classes", &compare_classes, "probs_a"_a, "probs_b"_a, "labels"_a);
}

}  // namespace lbpy
