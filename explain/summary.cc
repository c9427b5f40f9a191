// summary.cc: see summary.h.
#include "explain/summary.h"

#include <cmath>
#include <limits>

#include "base/common.h"

namespace lb::explain {

std::vector<Ellipse> lung_ellipses() { return {{0.30, 0.52, 0.18, 0.34}, {0.70, 0.52, 0.18, 0.34}}; }

Tensor lung_mask(int64_t H, int64_t W) {
  LB_CHECK(H > 0 && W > 0, "lung_mask: size must be positive, got " << H << "x" << W);
  Tensor m = Tensor::zeros({H, W}, DType::UInt8);
  const auto ellipses = lung_ellipses();
  for (int64_t i = 0; i < H; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const double x = (j + 0.5) / W, y = (i + 0.5) / H;
      for (const Ellipse& e : ellipses) {
        const double u = (x - e.cx) / e.rx, v = (y - e.cy) / e.ry;
        if (u * u + v * v <= 1.0) m.data<uint8_t>()[i * W + j] = 1;
      }
    }
  return m;
}

std::vector<std::vector<CellNumbers>> summarise(const Attribution& a, const Tensor& maps) {
  const Tensor v = a.values.to(DType::Float64), m = maps.to(DType::Float64);
  LB_CHECK(
      v.dim() == 5 && m.dim() == 5 && m.size(2) == 1 && v.size(0) == m.size(0) && v.size(1) == m.size(1),
      "summarise: values " << v.str() << " and maps " << m.str() << " must be (N, K, C, h, w) and (N, K, 1, H, W)");
  const int64_t N = v.size(0), K = v.size(1), per = v.numel() / (N * K), H = m.size(3), W = m.size(4);
  const Tensor mask = lung_mask(H, W);
  int64_t inside = 0;
  for (int64_t i = 0; i < H * W; ++i) inside += mask.data<uint8_t>()[i];
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<CellNumbers>> out(N, std::vector<CellNumbers>(K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      CellNumbers& c = out[n][k];
      const double* p = v.data<double>() + (n * K + k) * per;
      for (int64_t i = 0; i < per; ++i) (p[i] > 0 ? c.positive : c.negative) += p[i];
      c.net = c.positive + c.negative;
      const double* q = m.data<double>() + (n * K + k) * H * W;
      double in = 0, all = 0;
      for (int64_t i = 0; i < H * W; ++i) {
        all += std::fabs(q[i]);
        if (mask.data<uint8_t>()[i]) in += std::fabs(q[i]);
      }
      c.lung_share = all > 0 ? in / all : nan;
      c.lung_area = static_cast<double>(inside) / static_cast<double>(H * W);
      c.output = a.outputs.defined() ? a.outputs.to(DType::Float64).data<double>()[n * K + k] : nan;
      c.expected = !a.expected.defined()   ? nan
                   : a.expected.dim() == 1 ? a.expected.to(DType::Float64).data<double>()[k]
                                           : a.expected.to(DType::Float64).data<double>()[n * K + k];
      c.gap = a.gaps.defined() ? a.gaps.to(DType::Float64).data<double>()[n * K + k] : nan;
    }
  return out;
}

nlohmann::json to_json(const CellNumbers& c) {
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  return {{"positive", num(c.positive)}, {"negative", num(c.negative)},     {"net", num(c.net)},
          {"gap", num(c.gap)},           {"lung_share", num(c.lung_share)}, {"lung_area", num(c.lung_area)},
          {"output", num(c.output)},     {"expected", num(c.expected)}};
}

}  // namespace lb::explain
