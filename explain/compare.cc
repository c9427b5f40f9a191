// compare.cc: see compare.h.
#include "explain/compare.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/common.h"

namespace lb::explain {

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double avg = 0.5 * (static_cast<double>(i) + static_cast<double>(j)) + 1;  // ranks start at 1
    for (size_t t = i; t <= j; ++t) r[order[t]] = avg;
    i = j + 1;
  }
  return r;
}

std::vector<size_t> top_indices(const std::vector<double>& v, int64_t k) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return std::fabs(v[i]) > std::fabs(v[j]); });
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  LB_CHECK(a.size() == b.size() && a.size() >= 2,
           "spearman: needs two series of the same length >= 2, got " << a.size() << " and " << b.size());
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), mean = (n + 1) / 2;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  // a constant series has no ordering: the correlation is undefined
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : std::nan("");
}

double top_k_overlap(const std::vector<double>& a, const std::vector<double>& b, int64_t k) {
  LB_CHECK(a.size() == b.size() && k >= 1 && k <= static_cast<int64_t>(a.size()),
           "top_k_overlap: k = " << k << " for series of " << a.size() << " and " << b.size());
  const auto ta = top_indices(a, k), tb = top_indices(b, k);
  std::vector<size_t> both;
  std::set_intersection(ta.begin(), ta.end(), tb.begin(), tb.end(), std::back_inserter(both));
  return static_cast<double>(both.size()) / static_cast<double>(k);
}

std::vector<std::vector<MapAgreement>> compare_maps(const Tensor& a, const Tensor& b, double top_fraction) {
  LB_CHECK(a.dim() == 5 && a.shape() == b.shape(),
           "compare_maps: maps must be (N, K, 1, H, W) of one shape, got " << a.str() << " and " << b.str());
  LB_CHECK(top_fraction > 0 && top_fraction <= 1, "compare_maps: top fraction must be in (0, 1], got " << top_fraction);
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  const int64_t N = a.size(0), K = a.size(1), P = a.numel() / (N * K);
  const int64_t k = std::max<int64_t>(1, std::llround(top_fraction * static_cast<double>(P)));
  std::vector<std::vector<MapAgreement>> out(N, std::vector<MapAgreement>(K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < K; ++j) {
      const double* p = x.data<double>() + (n * K + j) * P;
      const double* q = y.data<double>() + (n * K + j) * P;
      const std::vector<double> va(p, p + P), vb(q, q + P);
      out[n][j] = {spearman(va, vb), top_k_overlap(va, vb, k), k};
    }
  return out;
}

Tensor difference_maps(const Tensor& a, const Tensor& b) {
  LB_CHECK(a.shape() == b.shape(), "difference_maps: shapes differ: " << a.str() << " and " << b.str());
  const Tensor x = a.to(DType::Float64), y = b.to(DType::Float64);
  Tensor d = Tensor::empty(a.shape(), DType::Float64);
  for (int64_t i = 0; i < a.numel(); ++i) d.data<double>()[i] = y.data<double>()[i] - x.data<double>()[i];
  return d;
}

nlohmann::json to_json(const MapAgreement& m) {
  return {{"spearman", std::isfinite(m.spearman) ? nlohmann::json(m.spearman) : nlohmann::json(nullptr)},
          {"top_k_overlap", m.top_k},
          {"k", m.k}};
}

}  // namespace lb::explain
