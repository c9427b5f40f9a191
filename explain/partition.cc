// partition.cc: see partition.h.
#include "explain/partition.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <queue>
#include <tuple>

#include "base/common.h"
#include "engine/progress.h"
#include "explain/registry.h"

namespace lb::explain {

// ---- the tree ---------------------------------------------------------------------------------

std::vector<double> PartitionTree::clustering() const {
  std::vector<double> z((M - 1) * 4);
  for (int64_t r = 0; r < M - 1; ++r) {
    z[r * 4 + 0] = static_cast<double>(left[M + r]);
    z[r * 4 + 1] = static_cast<double>(right[M + r]);
    z[r * 4 + 2] = 0.0;
    z[r * 4 + 3] = static_cast<double>(size[M + r]);
  }
  return z;
}

std::vector<std::pair<int64_t, int64_t>> PartitionTree::merges() const {
  std::vector<std::pair<int64_t, int64_t>> m;
  for (int64_t node = M; node < nodes(); ++node) m.emplace_back(left[node], right[node]);
  return m;
}

int64_t PartitionTree::element_of(int64_t p) const {
  const int64_t ch = p % C, pixel = p / C;
  return ch * H * W + pixel;  // pixel = row*W + col
}

PartitionTree image_partition(int64_t C, int64_t H, int64_t W) {
  LB_CHECK(C >= 1 && H >= 1 && W >= 1 && C * H * W >= 2 && C * H * W < (int64_t(1) << 30),
           "image_partition: an image of " << C << "x" << H << "x" << W << " elements cannot be partitioned");
  PartitionTree t;
  t.C = C, t.H = H, t.W = W, t.M = C * H * W;
  const int64_t M = t.M;
  t.left.assign(2 * M - 1, -1);
  t.right.assign(2 * M - 1, -1);
  t.size.assign(2 * M - 1, 1);
  t.box.resize(2 * M - 1);
  // shap's builder, in its own coordinates x = row, y = column, z = channel: a min-heap on
  // (-size, xmin, xmax, ymin, ymax, zmin, zmax); these keys are unique, so the pop order (and the
  // node numbering) is fully determined. The popped box gets id `ind + M`, ind counting down from
  // M-2: internal nodes pop first (bigger), then leaves in flat order, ids M-1, M-2, ..., 0.
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
  struct Entry {
    Key key;
    int64_t parent;  // the parent's id, -1 for the root
    bool is_left;
    bool operator>(const Entry& o) const { return key > o.key; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> q;
  q.push({Key{-M, 0, H, 0, W, 0, C}, -1, false});
  for (int64_t ind = M - 2; !q.empty(); --ind) {
    const Entry e = q.top();
    q.pop();
    const auto [neg_size, x0, x1, y0, y1, z0, z1] = e.key;
    const int64_t id = ind + M;
    if (e.parent >= 0) (e.is_left ? t.left : t.right)[e.parent] = id;
    // The point reflection: builder box [x0, x1) is image rows [H - x1, H - x0), and so on.
    t.box[id] =
        Box{int32_t(C - z1), int32_t(C - z0), int32_t(H - x1), int32_t(H - x0), int32_t(W - y1), int32_t(W - y0)};
    t.size[id] = -neg_size;
    if (-neg_size == 1) {
      LB_CHECK(id == M - 1 - ((x0 * W + y0) * C + z0), "image_partition: leaf order broke (internal error)");
      continue;
    }
    Key l = e.key, r = e.key;  // split the first axis that can be halved; left = lower half
    if (x1 - x0 >= y1 - y0 && x1 - x0 > 1) {
      std::get<2>(l) = std::get<1>(r) = x0 + (x1 - x0) / 2;
    } else if (y1 - y0 > 1) {
      std::get<4>(l) = std::get<3>(r) = y0 + (y1 - y0) / 2;
    } else {
      std::get<6>(l) = std::get<5>(r) = z0 + (z1 - z0) / 2;
    }
    for (Key* k : {&l, &r})
      std::get<0>(*k) = -(std::get<2>(*k) - std::get<1>(*k)) * (std::get<4>(*k) - std::get<3>(*k)) *
                        (std::get<6>(*k) - std::get<5>(*k));
    q.push({l, id, true});
    q.push({r, id, false});
  }
  return t;
}

std::vector<double> lower_credit(const PartitionTree& t, const std::vector<double>& node_credit, int64_t K) {
  LB_CHECK(static_cast<int64_t>(node_credit.size()) == t.nodes() * K,
           "lower_credit: " << node_credit.size() << " credits for " << t.nodes() << " nodes x " << K << " outputs");
  // A parent's id is always larger than its children's (the builder numbers in pop order, biggest
  // first, leaves last), so one descending sweep sees every parent before its children.
  std::vector<double> value = node_credit;  // (2M-1, K): own credit, then plus what the parent passed
  for (int64_t node = t.root(); node >= t.M; --node) {
    const int64_t l = t.left[node], r = t.right[node];
    for (int64_t k = 0; k < K; ++k) {
      const double v = value[node * K + k];
      value[l * K + k] += v * static_cast<double>(t.size[l]) / static_cast<double>(t.size[node]);
      value[r * K + k] += v * static_cast<double>(t.size[r]) / static_cast<double>(t.size[node]);
    }
  }
  value.resize(t.M * K);
  return value;
}

// ---- the Owen recursion -------------------------------------------------------------------------

namespace {

// A context (the set of elements kept at x) is a chain of tree nodes: link i adds `node` to the
// context `prev` (-1 = nothing kept). Contexts share their prefixes, so an item costs O(1).
struct ContextLink {
  int64_t prev;
  int64_t node;
};

// "share w * (hi - lo) among node's leaves, given that ctx is kept"; lo and hi index the store of
// evaluated outputs (K doubles each).
struct Item {
  double priority;  // -max_k |hi_k - lo_k| * w: most negative pops first
  int64_t order;    // push order: the deterministic tie-break
  int64_t node, ctx, lo, hi;
  double w;
  bool operator>(const Item& o) const { return priority != o.priority ? priority > o.priority : order > o.order; }
};

class OwenRun {
 public:
  OwenRun(const BatchFn& f, const Tensor& x, const Tensor& reference, const PartitionTree& tree)
      : f_(f), x_(x), ref_(reference), t_(tree) {}

  OwenResult run(int64_t max_evals, int64_t batch_size, const std::vector<int64_t>& outputs);

 private:
  // f on `n` images -> their selected outputs appended to the store; returns the first's index.
  int64_t evaluate(const Tensor& images);
  // Writes the image that keeps ctx + node into dst (C*H*W floats).
  void masked_image(int64_t ctx, int64_t node, float* dst) const;
  void copy_box(const Box& b, float* dst) const;
  void push(int64_t node, int64_t ctx, int64_t lo, int64_t hi, double w);
  void credit(const Item& it);  // leaves w * (hi - lo) on the item's node
  const double* out(int64_t i) const { return store_.data() + i * K_; }

  const BatchFn& f_;
  const Tensor& x_;
  const Tensor& ref_;
  const PartitionTree& t_;
  std::vector<int64_t> outputs_;  // selected columns of f's output
  int64_t K_ = 0;                 // outputs_.size()
  std::vector<double> store_;     // (evaluations, K) selected outputs of every f evaluation
  std::vector<ContextLink> links_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue_;
  int64_t pushed_ = 0;
  OwenResult res_;
};

int64_t OwenRun::evaluate(const Tensor& images) {
  const int64_t n = images.size(0);
  const Tensor y = f_(images).to(DType::Float64);
  LB_CHECK(y.dim() == 2 && y.size(0) == n,
           "partition: f returned " << shape_str(y.shape()) << " for " << n << " images; it must return (n, K)");
  if (outputs_.empty()) {  // the first call fixes K and, without a selection, explains all outputs
    for (int64_t k = 0; k < y.size(1); ++k) outputs_.push_back(k);
  }
  const int64_t Kf = y.size(1);
  for (int64_t o : outputs_)
    LB_CHECK(o >= 0 && o < Kf, "partition: output index " << o << " is out of range for f's " << Kf << " outputs");
  K_ = static_cast<int64_t>(outputs_.size());
  const int64_t first = static_cast<int64_t>(store_.size()) / K_;
  const double* p = y.data<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o : outputs_) {
      LB_CHECK(std::isfinite(p[i * Kf + o]), "partition: f returned a non-finite output (NaN or inf)");
      store_.push_back(p[i * Kf + o]);
    }
  res_.calls.push_back(n);
  return first;
}

void OwenRun::copy_box(const Box& b, float* dst) const {
  const int64_t H = t_.H, W = t_.W, len = b.c1 - b.c0;
  const float* x = x_.data<float>();
  for (int64_t z = b.z0; z < b.z1; ++z)
    for (int64_t r = b.r0; r < b.r1; ++r) {
      const int64_t at = (z * H + r) * W + b.c0;
      std::memcpy(dst + at, x + at, len * sizeof(float));
    }
}

void OwenRun::masked_image(int64_t ctx, int64_t node, float* dst) const {
  std::memcpy(dst, ref_.data<float>(), t_.M * sizeof(float));
  copy_box(t_.box[node], dst);
  for (int64_t c = ctx; c >= 0; c = links_[c].prev) copy_box(t_.box[links_[c].node], dst);
}

void OwenRun::push(int64_t node, int64_t ctx, int64_t lo, int64_t hi, double w) {
  double change = 0.0;  // shap: -np.max(np.abs(hi - lo)) * w
  for (int64_t k = 0; k < K_; ++k) change = std::max(change, std::abs(out(hi)[k] - out(lo)[k]));
  queue_.push(Item{-change * w, pushed_++, node, ctx, lo, hi, w});
}

void OwenRun::credit(const Item& it) {
  double* d = res_.node_credit.data() + it.node * K_;
  for (int64_t k = 0; k < K_; ++k) d[k] += (out(it.hi)[k] - out(it.lo)[k]) * it.w;
}

OwenResult OwenRun::run(int64_t max_evals, int64_t batch_size, const std::vector<int64_t>& outputs) {
  outputs_ = outputs;
  const int64_t lo0 = evaluate(ref_), hi0 = evaluate(x_);  // two single-image calls, as shap
  res_.K = K_;
  res_.base.assign(out(lo0), out(lo0) + K_);
  res_.full.assign(out(hi0), out(hi0) + K_);
  res_.node_credit.assign(t_.nodes() * K_, 0.0);
  const int64_t budget = max_evals - 2, F = t_.M;
  queue_.push(Item{0.0, pushed_++, t_.root(), -1, lo0, hi0, 1.0});
  std::vector<Item> batch;
  auto images_planned = [&] { return 2 * static_cast<int64_t>(batch.size()); };
  while (!queue_.empty()) {
    if (res_.evals >= budget) {  // out of budget: every waiting item keeps its credit
      for (; !queue_.empty(); queue_.pop()) credit(queue_.top());
      break;
    }
    batch.clear();
    // shap's condition, in images: room in the batch and in the budget for one more item.
    while (!queue_.empty() && images_planned() < batch_size && res_.evals + images_planned() < budget) {
      const Item it = queue_.top();
      queue_.pop();
      if (t_.is_leaf(it.node))
        credit(it);  // a leaf cannot be split: free
      else
        batch.push_back(it);
    }
    if (batch.empty()) continue;
    // Two masked images per item: keep ctx + left child (m10), keep ctx + right child (m01).
    const int64_t n = 2 * static_cast<int64_t>(batch.size());
    Tensor images = Tensor::empty({n, t_.C, t_.H, t_.W});
    for (size_t i = 0; i < batch.size(); ++i) {
      masked_image(batch[i].ctx, t_.left[batch[i].node], images.data<float>() + (2 * i) * F);
      masked_image(batch[i].ctx, t_.right[batch[i].node], images.data<float>() + (2 * i + 1) * F);
    }
    const int64_t first = evaluate(images);
    res_.evals += n;
    res_.expanded += static_cast<int64_t>(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const Item& it = batch[i];
      const int64_t L = t_.left[it.node], R = t_.right[it.node];
      const int64_t f10 = first + 2 * i, f01 = f10 + 1;
      const int64_t with_l = static_cast<int64_t>(links_.size()), with_r = with_l + 1;
      links_.push_back({it.ctx, L});
      links_.push_back({it.ctx, R});
      const double w2 = it.w / 2;
      push(L, it.ctx, it.lo, f10, w2);  // L first: L joins without R
      push(R, it.ctx, it.lo, f01, w2);  // R first: R joins without L
      push(L, with_r, f01, it.hi, w2);  // R first: L joins after R
      push(R, with_l, f10, it.hi, w2);  // L first: R joins after L
    }
  }
  res_.values = lower_credit(t_, res_.node_credit, K_);
  return res_;
}

}  // namespace

OwenResult owen_image(const BatchFn& f, const Tensor& x, const Tensor& reference, const PartitionTree& tree,
                      int64_t max_evals, int64_t batch_size, const std::vector<int64_t>& outputs) {
  LB_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == tree.C && x.size(2) == tree.H && x.size(3) == tree.W,
           "partition: image " << shape_str(x.shape()) << " does not match the tree's (1, " << tree.C << ", " << tree.H
                               << ", " << tree.W << ")");
  check_same_shape("partition", x, reference);
  LB_CHECK(x.dtype() == DType::Float32 && reference.dtype() == DType::Float32,
           "partition: image and reference must be float32");
  LB_CHECK(max_evals >= 4, "partition: max_evals " << max_evals << " is too small: it must be at least 4 (f(x), "
                                                   << "f(reference) and the two halves of one split); raise it");
  LB_CHECK(batch_size >= 1, "partition: batch_size must be at least 1, got " << batch_size);
  OwenRun run(f, x, reference, tree);
  return run.run(max_evals, batch_size, outputs);
}

Attribution partition_explain(const BatchFn& f, const Tensor& x, const PartitionOptions& opt) {
  check_images(x, "images");
  LB_CHECK(f, "partition: no function to explain");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const PartitionTree tree = image_partition(C, H, W);
  const Tensor xc = on_cpu(x);  // the masks are built on the host; f moves each batch to the model
  Attribution a;
  a.method = "partition";
  std::vector<int64_t> evals;
  ProgressBar bar("partition", N, "img", opt.progress);
  for (int64_t n = 0; n < N; ++n) {
    const Tensor xi = xc.slice0(n, 1);
    const OwenResult r = owen_image(f, xi, opt.masker.reference(xi), tree, opt.max_evals, opt.batch_size, opt.outputs);
    const int64_t K = r.K, M = tree.M;
    if (n == 0) {
      a.values = Tensor::zeros({N, K, C, H, W}, DType::Float64);
      a.expected = Tensor::empty({N, K}, DType::Float64);
      a.outputs = Tensor::empty({N, K}, DType::Float64);
    }
    double* v = a.values.data<double>() + n * K * M;
    for (int64_t p = 0; p < M; ++p)  // shap's channels-last feature p -> NCHW element
      for (int64_t k = 0; k < K; ++k) v[k * M + tree.element_of(p)] = r.values[p * K + k];
    std::copy(r.base.begin(), r.base.end(), a.expected.data<double>() + n * K);
    std::copy(r.full.begin(), r.full.end(), a.outputs.data<double>() + n * K);
    evals.push_back(r.evals + 2);
    bar.update(1, 1.0);
  }
  bar.finish();
  a.gaps = completeness_gaps(a.values, a.outputs, a.expected);
  std::vector<int64_t> outputs = opt.outputs;
  if (outputs.empty())
    for (int64_t k = 0; k < a.values.size(1); ++k) outputs.push_back(k);
  a.settings = {{"masker", opt.masker.str()},   {"max_evals", opt.max_evals},
                {"batch_size", opt.batch_size}, {"outputs", outputs},
                {"fixed_context", nullptr},     {"tie_break", "push order (shap: np.random.randn)"},
                {"evaluations", evals}};
  return a;
}

// ---- the registry entry -------------------------------------------------------------------------

Explainer partition_explainer() {
  Explainer e;
  e.name = e.title = "partition";
  e.description =
      "shap's PartitionExplainer: Owen values over a hierarchy of image boxes, hidden by a masker, under an "
      "evaluation budget";
  e.layers = false;  // the masker hides pixels of the image
  e.options = {{"max-evals", int64_t{500}, "partition: model evaluations per image", ""},
               {"masker", std::string(),
                "partition: blur:K, blur:KXxKY, blur(KX,KY) or constant:V (default blur:image size)", ""}};
  e.run = [](const Explained& f, const Tensor& x, const Tensor&, const ExplainerSettings& s) {
    PartitionOptions o;
    const std::string& masker = s.text("masker");
    o.masker = Masker::parse(masker.empty() ? "blur:" + std::to_string(x.size(3)) : masker);
    o.max_evals = s.integer("max-evals");
    if (s.batch_size > 0) o.batch_size = s.batch_size;
    o.progress = s.progress;
    return partition_explain(as_batch_fn(f), x, o);
  };
  return e;
}

}  // namespace lb::explain
