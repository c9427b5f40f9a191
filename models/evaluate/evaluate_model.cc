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
  LB_CHECK(ck.meta.num_classes == 2, weights << " has " << ck.meta.num_classes
                                             << " classes; lightbox's clinical evaluation is binary (2 classes)");
}

ModelEvaluation evaluate_checkpoint(lb::models::Checkpoint& ck, const lb::data::Dataset& ds, const EvaluateOptions& o) {
  check_compatible(ck, ds, "the checkpoint");
  ModelEvaluation ev;
  ev.split = o.split;
  const auto val = lb::models::predict(*ck.model, ds.val, ck.meta.norm, 256, o.progress);
  ev.val_point = youden_threshold(val.positive_scores(), val.int_labels());
  ev.predictions =
      o.split == "val" ? val : lb::models::predict(*ck.model, ds.split(o.split), ck.meta.norm, 256, o.progress);
  BootstrapOptions bo;
  bo.resamples = o.bootstrap;
  bo.seed = o.seed;
  const auto score = ev.predictions.positive_scores();
  const auto label = ev.predictions.int_labels();
  ev.at_half = evaluate(score, label, 0.5, bo);
  ev.at_val_threshold = evaluate(score, label, ev.val_point.threshold, bo);
  return ev;
}

json ModelEvaluation::to_json() const {
  return {{"split", split},
          {"loss", predictions.loss},
          {"val_youden", eval::to_json(val_point)},
          {"at_0.5", eval::to_json(at_half, /*include_roc=*/true)},
          {"at_val_threshold", eval::to_json(at_val_threshold, false)}};
}

void write_evaluation(const ModelEvaluation& ev, const std::vector<std::string>& class_names, const std::string& dir,
                      const std::string& title) {
  std::filesystem::create_directories(dir);
  io::write_file_atomic(dir + "/metrics.json", ev.to_json().dump(2) + "\n");
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
