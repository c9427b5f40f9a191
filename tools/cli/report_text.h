// report_text.h: the plain-text tables the CLI prints, and the training-curve figures of a run.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "models/evaluate/compare_multi.h"
#include "models/evaluate/evaluate_model.h"
#include "models/evaluate/stats.h"

namespace lb::cli {

void print_evaluation(const eval::ModelEvaluation& ev, const std::vector<std::string>& class_names, std::ostream& os);
void print_comparison(const eval::Comparison& c, const std::string& name_a, const std::string& name_b,
                      std::ostream& os);
void print_multi_comparison(const eval::MultiComparison& c, const std::vector<std::string>& class_names,
                            const std::string& name_a, const std::string& name_b, std::ostream& os);
// Reads RUN/history.json and writes RUN/figures/loss.svg and RUN/figures/val_metrics.svg.
void write_training_curves(const std::string& run_dir);

}  // namespace lb::cli
