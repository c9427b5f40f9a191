// partition.h: shap's PartitionExplainer with the Image masker: Owen values over a fixed binary
// hierarchy of image boxes, estimated top-down under an evaluation budget (explainers.md 3).
//
// ---- Owen values ----------------------------------------------------------------------------
// The game: v(S) = f(image with the elements in S kept and every other element replaced by the
// reference, masker.h). Shapley values average each player's marginal contribution
// v(S + i) - v(S) over all n! orderings of the players. Owen values average only over the
// orderings that keep every group of a hierarchy contiguous; for a binary tree that means: at
// every internal node, either all of the left subtree comes before all of the right or the other
// way round, each with probability 1/2 (2^(n-1) orderings, exact_owen in exact.h enumerates them).
// Like Shapley values they are efficient: sum_p phi_p = v(all) - v(none) = f(x) - f(reference).
//
// ---- the tree (image_partition) --------------------------------------------------------------
// shap halves boxes recursively, biggest box first: rows while height >= width (and height > 1),
// else columns, else (single pixels only) channels. Features are shap's channels-last indices
// p = (row*W + col)*C + ch; nodes are numbered like a scipy linkage: leaves 0..M-1 (leaf p is
// feature p), internal nodes M..2M-2 in the order shap's heap pops them, root 2M-2. shap's builder
// hands out leaf ids in reverse, so the tree it really applies is its own geometry point-reflected
// (row -> H-1-row, ...). In image coordinates a range [lo, hi) of length w splits into
//   left  (first child)  = [hi - floor(w/2), hi)     the upper part
//   right (second child) = [lo, hi - floor(w/2))     the lower part, ceil(w/2) long
// image_partition reproduces shap's clustering matrix exactly (tests compare it to shap's).
//
// ---- the budgeted recursion (partition_explain) ----------------------------------------------
// An item is (context S, node N, lo = v(S), hi = v(S + N), weight w): "share w * (hi - lo) among
// N's pixels". The root item is (empty, root, f(reference), f(x), 1). Expanding an item evaluates
// v(S + L) and v(S + R) for N's children and replaces it by four half-weight items: L and R with
// their sibling absent (S, ...) and with it present (S + R for L, S + L for R). That is the Owen
// average over "L first" and "R first", and it telescopes: the four credits sum to the parent's,
// so efficiency holds at any budget. Items wait in a priority queue keyed by
//   -max_k |hi_k - lo_k| * w          (k over the explained outputs)
// so the biggest weighted change is split first. Batches hold at most batch_size masked images
// (2 per expanded item); leaves popped on the way take their credit for free; the children of a
// batch compete from the next batch on. The budget is max_evals - 2 masked images (f(x) and
// f(reference) are the other two); when it is spent, every queued item leaves w * (hi - lo) on its
// node. For 28x28x1, max_evals 300, batch 100 the calls hold 1, 1, 2, 8, 32, 100, 100, 56 images.
//
// ---- lower_credit ------------------------------------------------------------------------------
// Credit left on a node is spread over its pixels in proportion to size, top-down:
//   phi_p = credit[p] + sum over ancestors a of p of credit[a] / size(a)
// (computed as shap does: each child receives value * size_child / size_parent). Unexpanded
// nodes therefore paint uniform blocks: low budgets give blocky maps.
//
// Differences from shap (documented, tested): shap breaks exact priority ties with
// np.random.randn(); lightbox breaks them by push order (first pushed, first popped), so it is
// deterministic. Ties only arise when masks change nothing bit-for-bit; the tests use functions
// whose shap results do not depend on the seed, and there lightbox equals shap to 1e-12.
// Only fixed_context=None (shap's default) is implemented.
#pragma once

#include <cstdint>
#include <vector>

#include "explain/explain.h"
#include "explain/masker.h"

namespace lb::explain {

// A box of the image in NCHW coordinates: channels [z0, z1), rows [r0, r1), columns [c0, c1).
struct Box {
  int32_t z0 = 0, z1 = 0, r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  int64_t size() const { return int64_t(z1 - z0) * (r1 - r0) * (c1 - c0); }
};

struct PartitionTree {
  int64_t C = 0, H = 0, W = 0;
  int64_t M = 0;                     // leaves = features = C*H*W
  std::vector<int64_t> left, right;  // (2M-1) children of each node; -1 for leaves
  std::vector<int64_t> size;         // (2M-1) leaves under each node
  std::vector<Box> box;              // (2M-1) the elements of each node

  int64_t root() const { return 2 * M - 2; }
  int64_t nodes() const { return 2 * M - 1; }
  bool is_leaf(int64_t node) const { return node < M; }
  // shap's (M-1) x 4 clustering matrix, row-major: row r describes node M + r as
  // [left, right, distance (0), leaves].
  std::vector<double> clustering() const;
  // The scipy-linkage children of the internal nodes, (M-1) pairs (what exact_owen takes).
  std::vector<std::pair<int64_t, int64_t>> merges() const;
  // NCHW flat index (ch*H*W + row*W + col) of shap's feature p = (row*W + col)*C + ch.
  int64_t element_of(int64_t p) const;
};

// shap's maskers.Image(..., (H, W, C)).clustering for an image of C channels, H rows, W columns.
PartitionTree image_partition(int64_t C, int64_t H, int64_t W);

struct PartitionOptions {
  Masker masker;
  int64_t max_evals = 500;       // f evaluations per image, f(x) and f(reference) included
  int64_t batch_size = 10;       // masked images per f call (shap's default for images)
  std::vector<int64_t> outputs;  // explained output indices; empty = all K outputs
  bool progress = false;         // a ProgressBar over images on stderr
};

// What one image's recursion produced, in shap's channels-last feature order.
struct OwenResult {
  int64_t K = 0;                    // explained outputs (K_sel)
  std::vector<double> node_credit;  // (2M-1, K) credit left on each node: shap's hierarchical_values
  std::vector<double> values;       // (M, K) per-feature values after lower_credit
  std::vector<double> base;         // (K) f(reference)
  std::vector<double> full;         // (K) f(x)
  std::vector<int64_t> calls;       // images in each f call, in order: 1 (reference), 1 (x), batches
  int64_t evals = 0;                // masked images evaluated by the recursion
  int64_t expanded = 0;             // items split (2 evaluations each)
};

// One image x (1, C, H, W) float32 against its reference (masker.reference(x)). `outputs` as in
// PartitionOptions (empty = all outputs of f).
OwenResult owen_image(const BatchFn& f, const Tensor& x, const Tensor& reference, const PartitionTree& tree,
                      int64_t max_evals, int64_t batch_size, const std::vector<int64_t>& outputs);

// node_credit (2M-1, K) -> per-leaf values (M, K), spreading each node's credit over its leaves.
std::vector<double> lower_credit(const PartitionTree& tree, const std::vector<double>& node_credit, int64_t K);

// Every image of x (N, C, H, W) float32: values (N, K_sel, C, H, W), expected (N, K_sel) =
// f(reference), outputs (N, K_sel) = f(x), gaps (0 up to float64 rounding), settings.
Attribution partition_explain(const BatchFn& f, const Tensor& x, const PartitionOptions& opt);

// Its entry in the table of explainers (explain/registry.h): "partition", its options and its runner.
struct Explainer;
Explainer partition_explainer();

}  // namespace lb::explain
