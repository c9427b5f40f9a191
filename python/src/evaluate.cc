// evaluate.cc: data, predictions, sample selection (TP/FP/FN/TN), evaluation metrics and the
// statistical comparisons of two models, as `lightbox eval`, `explain --select` and `compare`
// compute them (engine/data/medmnist.h, models/predict.h, explain/select.h, models/evaluate/).
// Results are the engine's JSON records (what the CLI writes) as Python dicts.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "engine/data/medmnist.h"
#include "explain/select.h"
#include "models/checkpoint.h"
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

nb::list select(const std::vector<int>& labels, const std::vector<double>& scores, const std::string& cells,
                int64_t per_cell, double threshold, const std::string& order) {
  LB_CHECK(labels.size() == scores.size(),
           "select: " << labels.size() << " labels but " << scores.size() << " scores; give one of each per sample");
  const lb::explain::Selection sel = lb::explain::select_cells(
      labels, scores, threshold, lb::explain::parse_cells(cells), per_cell, lb::explain::parse_select_order(order));
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

nb::object compare(const std::vector<double>& scores_a, const std::vector<double>& scores_b,
                   const std::vector<int>& labels, double threshold_a, double threshold_b) {
  LB_CHECK(scores_a.size() == labels.size() && scores_b.size() == labels.size(),
           "compare: " << scores_a.size() << " and " << scores_b.size() << " scores for " << labels.size()
                       << " labels; both models must score every sample");
  const auto c =
      compute([&] { return lb::eval::compare_models(scores_a, scores_b, labels, threshold_a, threshold_b); });
  return json_to_python(lb::eval::to_json(c));
}

}  // namespace

void bind_evaluate(nb::module_& m) {
  using namespace nb::literals;
  m.def("load_split", &load_split, "path"_a, "split"_a = "test");
  m.def("predict", &predict, "model"_a, "data"_a, "split"_a = "test", "batch_size"_a = 256, "progress"_a = false);
  m.def("select", &select, "labels"_a, "scores"_a, "cells"_a = "tp,fp,fn,tn", "per_cell"_a = 1, "threshold"_a = 0.5,
        "order"_a = "first");
  m.def("evaluate", &evaluate, "scores"_a, "labels"_a, "threshold"_a = 0.5, "resamples"_a = 1000, "seed"_a = 0,
        "roc"_a = true);
  m.def("compare", &compare, "scores_a"_a, "scores_b"_a, "labels"_a, "threshold_a"_a = 0.5, "threshold_b"_a = 0.5);
}

}  // namespace lbpy
