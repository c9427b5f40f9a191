// evaluate_model.cc: see evaluate_model.h.
#include "models/evaluate/evaluate_model.h"

#include <filesystem>

#include "engine/io/file.h"
#include "models/evaluate/plots.h"

namespace lb::eval {

using nlohmann::json;

void check_compatible(const lb::models::Checkpoint& ck, const lb::data::Dataset& ds, const std::string& weights) {
  LB_CHECK(ck.meta.in_channels == ds.train.channels(),
           weights << " takes " << ck.meta.in_channels << "-channel images but " << ds.path << " has "
                   << ds.train.channels() << "-channel ones; use a checkpoint trained on this data");
  LB_CHECK(ds.num_classes <= ck.meta.num_classes, ds.path << " has labels up to " << ds.num_classes - 1 << " but "
                                                          << weights << " predicts " << ck.meta.num_classes
                                                          << " classes; use a checkpoint trained on this data");
  const data::Task task = model_task(ck, ds);
  LB_CHECK(task == ds.task || (task == data::Task::MultiClass && ds.task == data::Task::Binary),
           weights << " was trained for a " << data::task_name(task) << " task but " << ds.path << " is "
                   << data::task_name(ds.task) << "; use a checkpoint trained on this data");
  LB_CHECK(task != data::Task::MultiLabel || ck.meta.num_classes == ds.num_classes,
           weights << " has " << ck.meta.num_classes << " outputs but " << ds.path << " has " << ds.num_classes
                   << " labels per sample; use a checkpoint trained on this data");
}

data::Task model_task(const lb::models::Checkpoint& ck, const lb::data::Dataset& ds) {
  if (ck.meta.task_stored) return ck.meta.task;
  // A file without a task entry: its output count says binary or multi-class, unless the data
  // is multi-label (which no tensor can tell).
  if (ds.task == data::Task::MultiLabel) return data::Task::MultiLabel;
  return ck.meta.num_classes > 2 ? data::Task::MultiClass : data::Task::Binary;
}

ModelEvaluation evaluate_checkpoint(lb::models::Checkpoint& ck, const lb::data::Dataset& ds, const EvaluateOptions& o) {
  check_compatible(ck, ds, "the checkpoint");
  ModelEvaluation ev;
  ev.split = o.split;
  ev.task = model_task(ck, ds);
  ev.tta = o.tta;
  const auto predict = [&](const data::Split& split) {
    return lb::models::predict_tta(*ck.model, split, ck.meta.norm, o.tta, 256, o.progress);
  };
  BootstrapOptions bo;
  bo.resamples = o.bootstrap;
  bo.seed = o.seed;
  if (!ev.binary()) {
    ev.predictions = predict(ds.split(o.split));
    const auto probs = ev.predictions.prob_rows();
    ev.multi = ev.task == data::Task::MultiLabel ? evaluate_multilabel(probs, ev.predictions.label_rows(), bo)
                                                 : evaluate_multiclass(probs, ev.predictions.int_labels(), bo);
    return ev;
  }
  const auto val = predict(ds.val);
  ev.val_point = youden_threshold(val.positive_scores(), val.int_labels());
  ev.predictions = o.split == "val" ? val : predict(ds.split(o.split));
  const auto score = ev.predictions.positive_scores();
  const auto label = ev.predictions.int_labels();
  ev.at_half = evaluate(score, label, 0.5, bo);
  ev.at_val_threshold = evaluate(score, label, ev.val_point.threshold, bo);
  return ev;
}

json ModelEvaluation::to_json() const {
  if (!binary())
    return {{"split", split},
            {"task", data::task_name(task)},
            {"loss", predictions.loss},
            {"tta", tta},
            {"multi", eval::to_json(multi, /*include_roc=*/true)}};
  return {{"task", data::task_name(task)},
          {"split", split},
          {"loss", predictions.loss},
          {"tta", tta},
          {"val_youden", eval::to_json(val_point)},
          {"at_0.5", eval::to_json(at_half, /*include_roc=*/true)},
          {"at_val_threshold", eval::to_json(at_val_threshold, false)}};
}

namespace {

// roc.svg with a curve per class (per label), and for a multi-class model the K x K confusion.svg.
void write_multi_figures(const ModelEvaluation& ev, const std::vector<std::string>& class_names, const std::string& dir,
                         const std::string& title) {
  const MultiEvaluation& m = ev.multi;
  const std::vector<RocSeries> series = class_roc_series(m, class_names);
  const std::string kind = m.multilabel ? "per label" : "one-vs-rest per class";
  save_svg(dir + "/roc.svg", roc_svg(series, "ROC on " + ev.split + ", " + kind + " (" + title + ")"));
  if (!m.multilabel)
    save_svg(
        dir + "/confusion.svg",
        confusion_matrix_svg(m.confusion, class_names, title + ", " + ev.split + " (rows: true, columns: predicted)"));
}

}  // namespace

void write_evaluation(const ModelEvaluation& ev, const std::vector<std::string>& class_names, const std::string& dir,
                      const std::string& title) {
  std::filesystem::create_directories(dir);
  json j = ev.to_json();
  j["class_names"] = class_names;
  io::write_file_atomic(dir + "/metrics.json", j.dump(2) + "\n");
  if (!ev.binary()) return write_multi_figures(ev, class_names, dir, title);
  RocSeries s;
  s.name = title;
  s.roc = ev.at_half.roc;
  s.auc = ev.at_half.auc;
  if (!s.roc.fpr.empty()) s.point = operating_point_at(s.roc, ev.val_point.threshold);
  save_svg(dir + "/roc.svg", roc_svg({s}, "ROC on " + ev.split + " (" + title + ")"));
  const std::array<std::string, 2> names = {class_names.size() > 0 ? class_names[0] : "0",
                                            class_names.size() > 1 ? class_names[1] : "1"};
  char t[128];
  std::snprintf(t, sizeof t, "%s, %s, threshold %.3f (chosen on val)", title.c_str(), ev.split.c_str(),
                ev.val_point.threshold);
  save_svg(dir + "/confusion.svg", confusion_svg(ev.at_val_threshold.confusion, t, names));
}

}  // namespace lb::eval
