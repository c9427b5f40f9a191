// exact.cc: see exact.h.
#include "explain/exact.h"

#include <cmath>

#include "engine/common.h"

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
  LB_CHECK(references.size(1) == x.size(1) && references.size(2) == x.size(2) && references.size(3) == x.size(3),
           "image_game: references " << shape_str(references.shape()) << " do not match the image "
                                     << shape_str(x.shape()));
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
  LB_CHECK(phi.size() == groups.size() * K, "spread_over_groups: " << phi.size() << " values for " << groups.size()
                                                                   << " groups of " << K << " outputs");
  const int64_t F = shape_numel(image_shape);
  Tensor out = Tensor::zeros({1, K, image_shape[1], image_shape[2], image_shape[3]}, DType::Float64);
  double* o = out.data<double>();
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t e : groups[g])
      for (int k = 0; k < K; ++k) o[k * F + e] = phi[g * K + k] / static_cast<double>(groups[g].size());
  return out;
}

}  // namespace lb::explain
