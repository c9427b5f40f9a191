// evaluate/plots.h: the evaluation figures as hand-built SVG text: ROC curves, a confusion
// matrix heatmap and training curves.
//
// Why SVG by hand: a figure is a few dozen shapes, the report embeds it inline in HTML, it scales
// without blurring (every figure has a viewBox), and no plotting library or Python is needed.
// The figures follow the habits of matplotlib / sklearn's RocCurveDisplay and
// ConfusionMatrixDisplay: true class on rows, predicted class on columns, the chance diagonal
// dashed. The multi-class figures (a K x K matrix, one ROC curve per class) are the same figures
// grown to K classes: Okabe-Ito colours plus dash patterns past 8 curves. Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), safe
// for the common red-green colour vision deficiencies the seed report worries about; the heatmap
// is ColorBrewer's sequential "Blues", and its text switches to white on dark cells.
// Fonts: font-family sans-serif. Numbers in coordinates carry 2 decimals.
#pragma once

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "models/evaluate/metrics.h"
#include "models/evaluate/multiclass.h"

namespace lb::eval {

// The Okabe-Ito colours in the order lightbox uses them (blue, vermillion, bluish green, orange,
// reddish purple, sky blue, black, yellow; yellow last because it is faint on white). Wraps.
std::string okabe_ito(size_t i);

// The stroke-dasharray of series i in a many-line figure: "" (solid) for the first 8, which the
// 8 Okabe-Ito colours tell apart; then the colours repeat and each further group of 8 gets its
// own pattern (dash-dot "9 3 2 3", dotted "2 3", long dashes "12 4"), none of them the chance
// line's "6 4". So 14 per-class ROC curves differ by colour or by pattern, which still works for
// a reader who sees neither the hues nor a grey-scale print well. Series i uses okabe_ito(i).
std::string series_dash(size_t i);

// "Nice" axis ticks (Heckbert, "Nice numbers for graph labels", Graphics Gems 1990): steps of
// 1, 2 or 5 times a power of ten, covering [lo, hi] with about `target` ticks.
struct Ticks {
  double lo = 0, hi = 1, step = 0.2;
  std::vector<double> values;
  int decimals = 1;  // enough to tell neighbouring ticks apart
};
Ticks nice_ticks(double lo, double hi, int target = 6);

// ---- ROC ----------------------------------------------------------------------------------------------

struct RocSeries {
  std::string name;  // legend text: "<name> (AUC 0.953)"
  RocCurve roc;
  double auc = 0;
  std::optional<OperatingPoint> point;  // a dot labelled "t=0.62: sens 0.95, spec 0.81"
};

// Curves are styled by okabe_ito(i) and series_dash(i). With up to 4 series the legend sits in the
// plot's lower right (the binary figures); with more it moves to the right of the plot, one row
// per series, so per-class curves (up to 14 and more) are not covered by it.
std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title = "ROC curve");

// One series per class of a multi-class or multi-label evaluation, named class_names[i] (empty:
// "class 0", "class 1", ...), without operating points. A class whose AUC is undefined has no
// curve and is left out: MultiEvaluation::undefined_auc_classes says how many.
std::vector<RocSeries> class_roc_series(const MultiEvaluation& ev, const std::vector<std::string>& class_names = {});

// ---- confusion matrix -----------------------------------------------------------------------------------

// Rows: true class (0 = class_names[0], 1 = class_names[1]); columns: predicted class. Each cell
// shows its count and its share of the true class (row percentage: for the positive row that is
// the sensitivity, for the negative row the specificity), shaded by that share.
std::string confusion_svg(const Confusion& cm, const std::string& title = "Confusion matrix",
                          const std::array<std::string, 2>& class_names = {"normal", "pneumonia"});

// K x K (multi-class, MultiEvaluation::confusion): rows = true class, columns = predicted class,
// class_names[i] naming row i and column i. Each cell shows its count and its share of the row
// (the per-class recall on the diagonal), shaded by that share with the single-hue "Blues" scale,
// which reads in order for every colour vision and in grey scale; white text on dark cells. A row
// with no samples shows "n/a". The matrix keeps about 520 px whatever K is (cells of 40 to 150 px,
// fonts with them), and column names turn to -45 degrees when they do not fit their cell, so 14
// classes stay readable. Throws on a non-square matrix, a negative count or a name count != K.
std::string confusion_matrix_svg(const std::vector<std::vector<int64_t>>& cm,
                                 const std::vector<std::string>& class_names,
                                 const std::string& title = "Confusion matrix");

// ---- training curves -----------------------------------------------------------------------------------

struct CurveSeries {
  std::string name;
  std::vector<double> y;  // NaN = no value at that epoch: the line breaks there
  std::vector<double> x;  // empty: 1, 2, ..., y.size() (epochs)
};

struct CurvesOptions {
  std::string title;
  std::string x_label = "epoch";
  std::string y_label;
  double marker_x = std::numeric_limits<double>::quiet_NaN();  // e.g. the best epoch; NaN: none
  std::string marker_label = "best";
};

// Series drawn as lines, with a dot per point when a series has at most 100 points.
std::string curves_svg(const std::vector<CurveSeries>& series, const CurvesOptions& options = {});

// Writes through io::write_file_atomic.
void save_svg(const std::string& path, const std::string& svg);

// Text made safe for SVG/HTML element content and attribute values: & < > " ' as entities.
std::string xml_escape(const std::string& s);

}  // namespace lb::eval
