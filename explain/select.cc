// select.cc: see select.h.
#include "explain/select.h"

#include <algorithm>
#include <cmath>

#include "base/common.h"
#include "base/strings.h"

namespace lb::explain {

const char* cell_name(Cell c) {
  switch (c) {
    case Cell::TP:
      return "tp";
    case Cell::FP:
      return "fp";
    case Cell::FN:
      return "fn";
    case Cell::TN:
      return "tn";
  }
  return "?";
}

std::vector<Cell> parse_cells(const std::string& spec) {
  std::vector<Cell> cells;
  for (std::string item : split(spec, ',')) {
    std::transform(item.begin(), item.end(), item.begin(), ::tolower);
    Cell c;
    if (item == "tp")
      c = Cell::TP;
    else if (item == "fp")
      c = Cell::FP;
    else if (item == "fn")
      c = Cell::FN;
    else if (item == "tn")
      c = Cell::TN;
    else
      LB_THROW("--select: '" << item << "' is not a confusion-matrix cell; use a comma list of tp, fp, fn, tn");
    LB_CHECK(std::find(cells.begin(), cells.end(), c) == cells.end(), "--select: '" << item << "' is listed twice");
    cells.push_back(c);
  }
  LB_CHECK(!cells.empty(), "--select: empty; use e.g. tp,fp,fn,tn");
  return cells;
}

SelectOrder parse_select_order(const std::string& s) {
  if (s == "first") return SelectOrder::First;
  if (s == "confident") return SelectOrder::Confident;
  LB_THROW("--select-order '" << s << "' is not one of: first, confident");
}

Selection select_cells(const OneVsRest& in, const std::vector<Cell>& cells, int64_t per_cell, SelectOrder order) {
  LB_CHECK(in.positive.size() == in.score.size() && in.predicted.size() == in.score.size(),
           "select_cells: " << in.positive.size() << " labels, " << in.predicted.size() << " predictions and "
                            << in.score.size() << " scores");
  LB_CHECK(per_cell > 0, "--per-cell must be positive, got " << per_cell);
  std::vector<std::vector<Selected>> by_cell(4);
  for (size_t i = 0; i < in.score.size(); ++i) {
    LB_CHECK(in.positive[i] == 0 || in.positive[i] == 1,
             "select_cells: label " << in.positive[i] << " at sample " << i << "; one-vs-rest labels are 0 or 1");
    LB_CHECK(std::isfinite(in.score[i]), "select_cells: the model's score for sample " << i << " is not finite");
    const bool pred = in.predicted[i] != 0;
    const Cell c = in.positive[i] ? (pred ? Cell::TP : Cell::FN) : (pred ? Cell::FP : Cell::TN);
    by_cell[static_cast<int>(c)].push_back({static_cast<int64_t>(i), c, in.positive[i], in.score[i]});
  }
  Selection sel;
  for (Cell c : cells) {
    auto& v = by_cell[static_cast<int>(c)];
    if (order == SelectOrder::Confident)
      std::stable_sort(v.begin(), v.end(), [&](const Selected& a, const Selected& b) {
        return std::fabs(a.score - in.threshold) > std::fabs(b.score - in.threshold);
      });
    const int64_t take = std::min<int64_t>(per_cell, static_cast<int64_t>(v.size()));
    sel.samples.insert(sel.samples.end(), v.begin(), v.begin() + take);
    if (take < per_cell)
      sel.short_cells.push_back(std::string(cell_name(c)) + ": " + std::to_string(take) + " of " +
                                std::to_string(per_cell));
  }
  return sel;
}

Selection select_cells(const std::vector<int>& labels, const std::vector<double>& scores, double threshold,
                       const std::vector<Cell>& cells, int64_t per_cell, SelectOrder order) {
  LB_CHECK(labels.size() == scores.size(),
           "select_cells: " << labels.size() << " labels but " << scores.size() << " scores");
  OneVsRest in{labels, std::vector<int>(scores.size()), scores, threshold};
  for (size_t i = 0; i < scores.size(); ++i) in.predicted[i] = scores[i] >= threshold;
  for (size_t i = 0; i < labels.size(); ++i)
    LB_CHECK(labels[i] == 0 || labels[i] == 1,
             "select_cells: label " << labels[i] << " at sample " << i << "; TP/FP/FN/TN needs a binary (0/1) task");
  return select_cells(in, cells, per_cell, order);
}

}  // namespace lb::explain
