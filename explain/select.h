// select.h: which test images to explain. The seed report explained one true positive, false
// positive, false negative and true negative each, picked by indexing the cells of the test
// confusion matrix by hand; `lightbox explain --select tp,fp,fn,tn --per-cell n` does it for you.
//
// The cells are one-vs-rest for one class k: a sample is positive when it belongs to k (its label,
// or its flag k in a multi-label set) and predicted positive when the model says k. For a binary
// model k is class 1 ("pneumonia") and "says k" means a class-1 probability >= the threshold
// (0.5 by default, as the confusion matrix in `lightbox eval` uses); for a multi-class model it
// means argmax = k, for a multi-label one probability of k >= the threshold. `lightbox explain
// --class K` chooses k; without it a multi-class or multi-label model judges every sample on its
// own predicted class (tools/cli/explain.cc), so a sample is TP (right) or FP (wrong).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lb::explain {

enum class Cell { TP, FP, FN, TN };
const char* cell_name(Cell c);  // "tp", "fp", "fn", "tn"
// "tp,fp,fn,tn" (any subset, any order, no repeats) -> cells; a clear error otherwise.
std::vector<Cell> parse_cells(const std::string& spec);

// first: the lowest dataset indices in each cell (the seed's way, reproducible by hand);
// confident: the samples furthest from the threshold (the model's clearest cases of each kind).
enum class SelectOrder { First, Confident };
SelectOrder parse_select_order(const std::string& s);

struct Selected {
  int64_t index;  // in the split
  Cell cell;
  int label;     // 1 when the sample belongs to the class, else 0 (binary: the true class)
  double score;  // the model's probability of the class
};

struct Selection {
  std::vector<Selected> samples;         // cell by cell in the requested order, then by SelectOrder
  std::vector<std::string> short_cells;  // "fn: 1 of 2" for cells with fewer samples than asked
};

// Per sample of the split: whether it belongs to the class (0/1), whether the model predicts the
// class (0/1), and the model's probability of it. SelectOrder::Confident ranks by
// |score - threshold|.
struct OneVsRest {
  std::vector<int> positive, predicted;
  std::vector<double> score;
  double threshold = 0.5;
};
Selection select_cells(const OneVsRest& samples, const std::vector<Cell>& cells, int64_t per_cell,
                       SelectOrder order = SelectOrder::First);

// Binary form: labels (0/1) and scores (class-1 probabilities); predicted = score >= threshold.
Selection select_cells(const std::vector<int>& labels, const std::vector<double>& scores, double threshold,
                       const std::vector<Cell>& cells, int64_t per_cell, SelectOrder order = SelectOrder::First);

}  // namespace lb::explain
