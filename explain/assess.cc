// assess.cc: see assess.h.
#include "explain/assess.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "engine/autograd.h"
#include "explain/registry.h"

namespace lb::explain {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_pair(const std::vector<double>& attr, const std::vector<uint8_t>& mask, const char* what) {
  LB_CHECK(!attr.empty() && attr.size() == mask.size(),
           what << ": the map has " << attr.size() << " elements and the mask " << mask.size() << "; they must match");
}

// Average ranks (1-based), ties sharing the mean of the ranks they span.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t t = i; t <= j; ++t) r[idx[t]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

// ---- localisation ------------------------------------------------------------------------------

double positive_share(const std::vector<double>& attr, const std::vector<uint8_t>& mask) {
  check_pair(attr, mask, "positive_share");
  double in = 0, all = 0;
  for (size_t e = 0; e < attr.size(); ++e) {
    const double p = std::max(attr[e], 0.0);
    all += p;
    if (mask[e]) in += p;
  }
  return all > 0 ? in / all : kNaN;
}

double pointing_game(const std::vector<double>& attr, const std::vector<uint8_t>& mask) {
  check_pair(attr, mask, "pointing_game");
  const size_t top = static_cast<size_t>(std::max_element(attr.begin(), attr.end()) - attr.begin());
  return mask[top] ? 1.0 : 0.0;
}

double detection_auc(const std::vector<double>& attr, const std::vector<uint8_t>& mask) {
  check_pair(attr, mask, "detection_auc");
  // Mann-Whitney: U = (sum of the positives' ranks) - n_pos (n_pos + 1) / 2, with average ranks.
  const std::vector<double> r = ranks(attr);
  double n_pos = 0, rank_sum = 0;
  for (size_t e = 0; e < attr.size(); ++e)
    if (mask[e]) n_pos += 1, rank_sum += r[e];
  const double n_neg = static_cast<double>(attr.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return kNaN;
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

// ---- faithfulness ------------------------------------------------------------------------------

const char* to_string(CurveKind k) { return k == CurveKind::Deletion ? "deletion" : "insertion"; }

std::vector<int64_t> attribution_order(const std::vector<double>& attr) {
  std::vector<int64_t> idx(attr.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return attr[a] > attr[b]; });
  return idx;
}

std::vector<int64_t> random_order(int64_t n, uint64_t seed) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  Generator g(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[g.next() % static_cast<uint64_t>(i + 1)]);
  return idx;
}

double trapezoid(const std::vector<double>& x, const std::vector<double>& y) {
  LB_CHECK(x.size() == y.size(), "trapezoid: " << x.size() << " x values but " << y.size() << " y values");
  double area = 0;
  for (size_t i = 1; i < x.size(); ++i) area += 0.5 * (x[i] - x[i - 1]) * (y[i] + y[i - 1]);
  return area;
}

Curve perturbation_curve(const BatchFn& f, const Tensor& x, const Tensor& reference, const std::vector<int64_t>& order,
                         int64_t output, CurveKind kind, int64_t steps, int64_t batch) {
  LB_CHECK(x.defined() && x.dtype() == DType::Float32 && x.dim() >= 2 && x.size(0) == 1,
           "perturbation_curve: x must be float32 (1, ...), got " << (x.defined() ? x.str() : "undefined"));
  LB_CHECK(reference.defined() && reference.shape() == x.shape() && reference.dtype() == DType::Float32,
           "perturbation_curve: the reference must match x " << x.str() << ", got "
                                                             << (reference.defined() ? reference.str() : "undefined"));
  const int64_t n = x.numel();
  LB_CHECK(static_cast<int64_t>(order.size()) == n,
           "perturbation_curve: the order has " << order.size() << " entries for " << n << " elements");
  LB_CHECK(steps >= 1 && steps <= n, "perturbation_curve: steps must be 1.." << n << ", got " << steps);
  LB_CHECK(batch >= 1, "perturbation_curve: batch must be positive");
  // Insertion is deletion with the two images swapped: start from the reference, write x in.
  const float* from = (kind == CurveKind::Deletion ? x : reference).data<float>();
  const float* to = (kind == CurveKind::Deletion ? reference : x).data<float>();
  Shape bshape = x.shape();
  Curve c;
  std::vector<float> cur(from, from + n);
  int64_t done = 0;
  for (int64_t s0 = 0; s0 <= steps; s0 += batch) {
    const int64_t B = std::min(batch, steps + 1 - s0);
    bshape[0] = B;
    Tensor xb = Tensor::empty(bshape);  // (B, ...) the images after steps s0 .. s0 + B - 1
    for (int64_t b = 0; b < B; ++b) {
      const int64_t s = s0 + b, upto = std::llround(static_cast<double>(s) * n / steps);
      for (; done < upto; ++done) {
        const int64_t e = order[done];
        LB_CHECK(e >= 0 && e < n, "perturbation_curve: order entry " << e << " is outside 0.." << n - 1);
        cur[e] = to[e];
      }
      std::copy(cur.begin(), cur.end(), xb.data<float>() + b * n);
      c.fraction.push_back(static_cast<double>(upto) / static_cast<double>(n));
    }
    const Tensor out = f(xb);  // (B, K)
    LB_CHECK(out.dim() == 2 && out.size(0) == B && output >= 0 && output < out.size(1),
             "perturbation_curve: output " << output << " of a model returning " << shape_str(out.shape()));
    for (int64_t b = 0; b < B; ++b) c.output.push_back(out.at(b * out.size(1) + output));
  }
  c.auc = trapezoid(c.fraction, c.output);
  return c;
}

// ---- sanity helpers ----------------------------------------------------------------------------

// spearman() lives in explain/compare.cc (the same definition: average ranks, NaN when constant).

double ssim(const std::vector<double>& a, const std::vector<double>& b, int64_t H, int64_t W, int64_t window) {
  LB_CHECK(static_cast<int64_t>(a.size()) == H * W && static_cast<int64_t>(b.size()) == H * W,
           "ssim: expected two " << H << "x" << W << " maps, got " << a.size() << " and " << b.size() << " elements");
  LB_CHECK(window >= 3 && window % 2 == 1 && window <= std::min(H, W),
           "ssim: the window must be odd, >= 3 and fit the " << H << "x" << W << " map, got " << window);
  const auto [lo_a, hi_a] = std::minmax_element(a.begin(), a.end());
  const auto [lo_b, hi_b] = std::minmax_element(b.begin(), b.end());
  double L = std::max(*hi_a, *hi_b) - std::min(*lo_a, *lo_b);
  if (L <= 0) L = 1;
  const double C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  const double np = static_cast<double>(window * window), cov_norm = np / (np - 1);
  double total = 0;
  int64_t count = 0;
  for (int64_t r = 0; r + window <= H; ++r)
    for (int64_t c = 0; c + window <= W; ++c) {
      double ma = 0, mb = 0, maa = 0, mbb = 0, mab = 0;
      for (int64_t i = r; i < r + window; ++i)
        for (int64_t j = c; j < c + window; ++j) {
          const double x = a[i * W + j], y = b[i * W + j];
          ma += x, mb += y, maa += x * x, mbb += y * y, mab += x * y;
        }
      ma /= np, mb /= np, maa /= np, mbb /= np, mab /= np;
      const double va = cov_norm * (maa - ma * ma), vb = cov_norm * (mbb - mb * mb), vab = cov_norm * (mab - ma * mb);
      total += ((2 * ma * mb + C1) * (2 * vab + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      ++count;
    }
  return total / static_cast<double>(count);
}

const std::vector<std::string>& cascade_stages() {
  static const std::vector<std::string> s = {"fc", "layer4", "layer3", "layer2", "layer1", "stem"};
  return s;
}

void randomize_stage(models::ResNet18& model, const std::string& stage, uint64_t seed) {
  const auto& st = cascade_stages();
  LB_CHECK(std::find(st.begin(), st.end(), stage) != st.end(),
           "randomize_stage: unknown stage '" << stage << "'; use fc, layer4, layer3, layer2, layer1 or stem");
  Generator gen(seed);
  models::ResNet18 fresh(model.in_channels(), model.num_classes(), gen, model.width());
  std::vector<std::string> prefixes =
      stage == "stem" ? std::vector<std::string>{"conv1.", "bn1."} : std::vector<std::string>{stage + "."};
  nn::StateDict sd;
  for (const auto& [name, t] : fresh.named_parameters())
    for (const auto& p : prefixes)
      if (name.rfind(p, 0) == 0) sd.emplace_back(name, t.detach());
  NoGradGuard ng;
  model.load_state_dict(sd, /*strict=*/false);
}

std::vector<double> abs_map(const std::vector<double>& values, int64_t C, int64_t h, int64_t w, int64_t H, int64_t W) {
  LB_CHECK(static_cast<int64_t>(values.size()) == C * h * w,
           "abs_map: " << values.size() << " values for a (" << C << ", " << h << ", " << w << ") map");
  std::vector<double> out(H * W, 0.0);
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int64_t ci = i * h / H, cj = j * w / W;
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::fabs(values[(c * h + ci) * w + cj]);
      out[i * W + j] = s;
    }
  return out;
}

// ---- running the explainers ----------------------------------------------------------------------

Attribution explain_for_assess(const std::string& method, const Explained& f, const Tensor& x, const Tensor& background,
                               const MethodSettings& s) {
  ExplainerSettings r;
  r.layer = s.layer;
  r.seed = s.seed;
  r.progress = s.progress;
  r.batch_size = method == "partition" ? kAssessPartitionBatch : 0;  // 0: each method's own default
  r.options = {{"nsamples", s.nsamples},
               {"max-evals", s.max_evals},
               {"masker", s.masker},
               {"steps", s.steps},
               {"layer-mode", std::string("expected")}};
  return run_explainer(method, f, x, background, r);
}

std::vector<double> map_of(const Attribution& a, int64_t n, int64_t k) { return map_of(a.values, n, k); }

std::vector<double> map_of(const Tensor& v, int64_t n, int64_t k) {
  LB_CHECK(v.defined() && v.dim() == 5 && n >= 0 && n < v.size(0) && k >= 0 && k < v.size(1),
           "map_of: no slice (" << n << ", " << k << ") in values " << shape_str(v.shape()));
  const int64_t per = v.size(2) * v.size(3) * v.size(4);
  const Tensor vd = v.to(DType::Float64);
  const double* p = vd.data<double>() + (n * v.size(1) + k) * per;
  return std::vector<double>(p, p + per);
}

}  // namespace lb::explain
