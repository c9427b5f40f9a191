// select.h: which test images to explain. The seed report explained one true positive, false
// positive, false negative and true negative each, picked by indexing the cells of the test
// confusion matrix by hand; `lightbox explain --select tp,fp,fn,tn --per-cell n` does it for you.
//
// Binary models only (class 1 = positive, "pneumonia"): a sample is predicted positive when its
// class-1 probability is >= the threshold (0.5 by default, as the confusion matrix in `lightbox
// eval` uses).
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
  int label;     // true class
  double score;  // class-1 probability
};

struct Selection {
  std::vector<Selected> samples;         // cell by cell in the requested order, then by SelectOrder
  std::vector<std::string> short_cells;  // "fn: 1 of 2" for cells with fewer samples than asked
};

// labels (0/1) and scores (class-1 probabilities) for every sample of the split.
Selection select_cells(const std::vector<int>& labels, const std::vector<double>& scores, double threshold,
                       const std::vector<Cell>& cells, int64_t per_cell, SelectOrder order = SelectOrder::First);

}  // namespace lb::explain
