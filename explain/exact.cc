// exact.cc: see exact.h.
#include "explain/exact.h"

#include <cmath>

#include "base/common.h"

namespace lb::explain {

std::vector<double> exact_shapley(int n, int K, const GameFn& v, int64_t batch) {
  LB_CHECK(n >= 1 && n <= 20, "exact_shapley: " << n << " players; brute force needs 1..20");
  LB_CHECK(K >= 1 && batch >= 1, "exact_shapley: K and batch must be positive");
  const uint64_t total = uint64_t(1) << n;
  std::vector<double> values(total * K);
  for (uint64_t s0 = 0; s0 < total; s0 += batch) {
    const uint64_t len = std::min<uint64_t>(batch, total - s0);
    std::vector<std::vector<uint8_t>> masks(len, std::vector<uint8_t>(n));
    for (uint64_t m = 0; m < len; ++m)
      for (int i = 0; i < n; ++i) masks[m][i] = ((s0 + m) >> i) & 1;
    const std::vector<double> out = v(masks);
    LB_CHECK(out.size() == len * K, "exact_shapley: the game returned " << out.size() << " values for " << len
                                                                        << " coalitions of " << K << " outputs");
    std::copy(out.begin(), out.end(), values.begin() + s0 * K);
  }
  // weight(|S|) = |S|! (n-|S|-1)! / n!, through lgamma to stay exact enough at n = 20.
  std::vector<double> weight(n);
  for (int s = 0; s < n; ++s) weight[s] = std::exp(std::lgamma(s + 1.0) + std::lgamma(n - s) - std::lgamma(n + 1.0));
  std::vector<double> phi(static_cast<size_t>(n) * K, 0.0);
  for (uint64_t S = 0; S < total; ++S) {
    const int size = __builtin_popcountll(S);
    for (int i = 0; i < n; ++i) {
      if (S & (uint64_t(1) << i)) continue;
      const uint64_t with = S | (uint64_t(1) << i);
      for (int k = 0; k < K; ++k) phi[i * K + k] += weight[size] * (values[with * K + k] - values[S * K + k]);
    }
  }
  return phi;
}

ImageGame image_game(const BatchFn& f, const Tensor& x, const Tensor& references,
                     const std::vector<std::vector<int64_t>>& groups) {
  check_images(x, "image");
  check_images(references, "references");
  LB_CHECK(x.size(0) == 1, "image_game: one image at a time, got " << x.size(0));
  LB_CHECK(
      references.size(1) == x.size(1) && references.size(2) == x.size(2) && references.size(3) == x.size(3),
      "image_game: references " << shape_str(references.shape()) << " do not match the image " << shape_str(x.shape()));
  const int64_t F = x.numel(), B = references.size(0);
  std::vector<int> owner(F, -1);
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t e : groups[g]) {
      LB_CHECK(e >= 0 && e < F, "image_game: element " << e << " is outside the image (" << F << " elements)");
      LB_CHECK(owner[e] < 0, "image_game: element " << e << " is in two groups");
      owner[e] = static_cast<int>(g);
    }
  ImageGame game;
  game.n = static_cast<int>(groups.size());
  {
    const Tensor y = f(x).to(DType::Float64);
    game.K = static_cast<int>(y.size(1));
  }
  const Tensor xc = x.clone(), refs = references.clone();
  const int K = game.K;
  game.fn = [f, xc, refs, owner, F, B, K](const std::vector<std::vector<uint8_t>>& masks) {
    const int64_t M = static_cast<int64_t>(masks.size());
    Tensor batch = Tensor::empty({M * B, xc.size(1), xc.size(2), xc.size(3)});
    const float* xp = xc.data<float>();
    const float* rp = refs.data<float>();
    float* bp = batch.data<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t b = 0; b < B; ++b) {
        float* dst = bp + (m * B + b) * F;
        for (int64_t e = 0; e < F; ++e) dst[e] = (owner[e] < 0 || masks[m][owner[e]]) ? xp[e] : rp[b * F + e];
      }
    const Tensor y = f(batch).to(DType::Float64);
    LB_CHECK(y.dim() == 2 && y.size(0) == M * B && y.size(1) == K, "image_game: f returned " << shape_str(y.shape()));
    std::vector<double> out(M * K, 0.0);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t b = 0; b < B; ++b)
        for (int k = 0; k < K; ++k) out[m * K + k] += y.data<double>()[(m * B + b) * K + k] / static_cast<double>(B);
    return out;
  };
  return game;
}

Tensor spread_over_groups(const std::vector<double>& phi, int K, const Shape& image_shape,
                          const std::vector<std::vector<int64_t>>& groups) {
  LB_CHECK(image_shape.size() == 4 && image_shape[0] == 1, "spread_over_groups: image shape must be (1, C, H, W)");
  LB_CHECK(phi.size() == groups.size() * K,
           "spread_over_groups: " << phi.size() << " values for " << groups.size() << " groups of " << K << " outputs");
  const int64_t F = shape_numel(image_shape);
  Tensor out = Tensor::zeros({1, K, image_shape[1], image_shape[2], image_shape[3]}, DType::Float64);
  double* o = out.data<double>();
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t e : groups[g])
      for (int k = 0; k < K; ++k) o[k * F + e] = phi[g * K + k] / static_cast<double>(groups[g].size());
  return out;
}

}  // namespace lb::explain

// ---- exact_owen -----------------------------------------------------------------------------------
#include <map>
#include <unordered_map>

namespace lb::explain {

namespace {

// The players of `node` in the ordering picked by `flips` (bit r of flips: merge r puts its
// second child first), appended to `order`. An explicit stack: no recursion.
void hierarchy_order(int n, const std::vector<std::pair<int64_t, int64_t>>& merges, uint64_t flips,
                     std::vector<int>& order) {
  order.clear();
  std::vector<int64_t> stack = {2 * static_cast<int64_t>(n) - 2};
  while (!stack.empty()) {
    const int64_t node = stack.back();
    stack.pop_back();
    if (node < n) {
      order.push_back(static_cast<int>(node));
      continue;
    }
    const int64_t r = node - n;
    const bool second_first = (flips >> r) & 1;
    // pushed last = visited first
    stack.push_back(second_first ? merges[r].first : merges[r].second);
    stack.push_back(second_first ? merges[r].second : merges[r].first);
  }
}

}  // namespace

std::vector<double> exact_owen(int n, const std::vector<std::pair<int64_t, int64_t>>& merges, int K, const GameFn& v,
                               int64_t batch) {
  LB_CHECK(n >= 2 && n <= 18, "exact_owen: " << n << " players; brute force needs 2..18");
  LB_CHECK(static_cast<int>(merges.size()) == n - 1,
           "exact_owen: " << merges.size() << " merges for " << n << " players; a binary hierarchy has n - 1");
  LB_CHECK(K >= 1 && batch >= 1, "exact_owen: K and batch must be positive");
  std::vector<int> seen(2 * n - 1, 0);
  for (int r = 0; r < n - 1; ++r)
    for (int64_t c : {merges[r].first, merges[r].second}) {
      LB_CHECK(c >= 0 && c < n + r && !seen[c]++, "exact_owen: merge " << r << " has a bad or repeated child " << c);
    }
  // Every ordering, as the steps it takes: player i joins coalition P. The same step recurs in
  // many orderings, so steps are counted (exact integers) and each marginal contribution is
  // weighted by its count once: fewer evaluations and one rounding per distinct step.
  const uint64_t orderings = uint64_t(1) << (n - 1);
  std::unordered_map<uint64_t, int64_t> index;  // coalition bitmask -> row in `values`
  std::vector<uint64_t> coalitions;
  auto id_of = [&](uint64_t S) {
    auto [it, fresh] = index.emplace(S, static_cast<int64_t>(coalitions.size()));
    if (fresh) coalitions.push_back(S);
    return it->second;
  };
  std::map<uint64_t, uint64_t> count;  // (P << 20 | i) -> orderings taking that step (sorted: a fixed sum order)
  std::vector<int> order;
  for (uint64_t flips = 0; flips < orderings; ++flips) {
    hierarchy_order(n, merges, flips, order);
    uint64_t S = 0;
    for (int i : order) {
      ++count[(S << 20) | uint64_t(i)];
      S |= uint64_t(1) << i;
    }
  }
  std::vector<std::pair<int64_t, int64_t>> steps;  // (row of P, row of P + i), per counted step
  std::vector<int> player;
  std::vector<double> times;
  for (const auto& [key, c] : count) {
    const uint64_t S = key >> 20;
    const int i = static_cast<int>(key & 0xFFFFF);
    const int64_t before = id_of(S);
    steps.emplace_back(before, id_of(S | (uint64_t(1) << i)));
    player.push_back(i);
    times.push_back(static_cast<double>(c));
  }
  std::vector<double> values(coalitions.size() * K);
  for (size_t s0 = 0; s0 < coalitions.size(); s0 += batch) {
    const size_t len = std::min<size_t>(batch, coalitions.size() - s0);
    std::vector<std::vector<uint8_t>> masks(len, std::vector<uint8_t>(n));
    for (size_t m = 0; m < len; ++m)
      for (int i = 0; i < n; ++i) masks[m][i] = (coalitions[s0 + m] >> i) & 1;
    const std::vector<double> out = v(masks);
    LB_CHECK(out.size() == len * K, "exact_owen: the game returned " << out.size() << " values for " << len
                                                                     << " coalitions of " << K << " outputs");
    std::copy(out.begin(), out.end(), values.begin() + s0 * K);
  }
  std::vector<double> phi(static_cast<size_t>(n) * K, 0.0);
  for (size_t j = 0; j < steps.size(); ++j)
    for (int k = 0; k < K; ++k)
      phi[player[j] * K + k] += times[j] * (values[steps[j].second * K + k] - values[steps[j].first * K + k]);
  for (double& p : phi) p /= static_cast<double>(orderings);
  return phi;
}

}  // namespace lb::explain
