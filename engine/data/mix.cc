// mix.cc: see mix.h.
#include "engine/data/mix.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include <stdexcept>

namespace lb::data {

namespace {

constexpr double kMaxAlpha = 100.0;

// The box cutmix pastes: rows [y0, y1), columns [x0, x1) of an h x w image.
struct Box {
  int64_t y0, y1, x0, x1;
  int64_t area() const { return (y1 - y0) * (x1 - x0); }
};

// A box with sides sqrt(1 - lam) H and sqrt(1 - lam) W around a uniform centre, clipped to the image.
Box cut_box(int64_t h, int64_t w, double lam, Generator& gen) {
  const double r = std::sqrt(1.0 - lam);
  const auto ch = static_cast<int64_t>(static_cast<double>(h) * r),
             cw = static_cast<int64_t>(static_cast<double>(w) * r);
  const auto cy = static_cast<int64_t>(gen.uniform(0.0, static_cast<double>(h)));
  const auto cx = static_cast<int64_t>(gen.uniform(0.0, static_cast<double>(w)));
  return {std::clamp<int64_t>(cy - ch / 2, 0, h), std::clamp<int64_t>(cy + ch / 2, 0, h),
          std::clamp<int64_t>(cx - cw / 2, 0, w), std::clamp<int64_t>(cx + cw / 2, 0, w)};
}

}  // namespace

MixConfig parse_mix(const std::string& spec) {
  MixConfig m;
  if (spec.empty() || spec == "none") return m;
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  double alpha = NAN;
  if (colon != std::string::npos) {
    const std::string v = spec.substr(colon + 1);
    try {
      size_t used = 0;
      alpha = std::stod(v, &used);
      if (used != v.size()) alpha = NAN;
    } catch (const std::logic_error&) {
      alpha = NAN;
    }
  }
  LB_CHECK((kind == "mixup" || kind == "cutmix") && alpha > 0 && alpha <= kMaxAlpha,
           "--mix must be none, mixup:ALPHA or cutmix:ALPHA with ALPHA in (0, "
               << kMaxAlpha << "] (e.g. mixup:0.2, cutmix:1), got '" << spec << "'");
  m.kind = kind == "mixup" ? MixConfig::Kind::Mixup : MixConfig::Kind::Cutmix;
  m.alpha = alpha;
  return m;
}

double sample_beta(double a, double b, Generator& gen) {
  LB_CHECK(a > 0 && b > 0, "sample_beta: both shapes must be positive, got " << a << " and " << b);
  const double x = std::gamma_distribution<double>(a, 1.0)(gen.engine());
  const double y = std::gamma_distribution<double>(b, 1.0)(gen.engine());
  // Both draws underflow to 0 only for tiny shapes; the two halves are then equally likely.
  if (x + y == 0.0) return gen.uniform() < 0.5 ? 0.0 : 1.0;
  return x / (x + y);
}

Mixed mix_batch(Tensor& x, const Tensor& y, const MixConfig& m, Generator& gen) {
  LB_CHECK(x.dim() == 4 && x.dtype() == DType::Float32 && x.device().is_cpu(),
           "mix_batch: x must be a float32 CPU batch (B, C, H, W), got " << x.str());
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  LB_CHECK(y.dim() == 1 && y.size(0) == n && y.dtype() == DType::Int64,
           "mix_batch: y must be int64 (" << n << "), one class per image, got " << y.str());
  Mixed out;
  out.perm.resize(n);
  for (int64_t i = 0; i < n; ++i) out.perm[i] = i;
  out.y2 = y.clone();
  if (!m.enabled()) return out;
  out.lam = sample_beta(m.alpha, m.alpha, gen);
  for (int64_t i = n - 1; i > 0; --i)  // Fisher-Yates
    std::swap(out.perm[i], out.perm[static_cast<int64_t>(gen.next() % static_cast<uint64_t>(i + 1))]);
  const int64_t* yl = y.data<int64_t>();
  int64_t* y2 = out.y2.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) y2[i] = yl[out.perm[i]];

  const Tensor src = x.clone();  // every image blends with an unblended partner
  const float* s = src.data<float>();
  float* d = x.data<float>();
  const int64_t img = c * h * w;
  if (m.kind == MixConfig::Kind::Mixup) {
    const auto a = static_cast<float>(out.lam), b = static_cast<float>(1.0 - out.lam);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < img; ++k) d[i * img + k] = a * s[i * img + k] + b * s[out.perm[i] * img + k];
  } else {
    const Box box = cut_box(h, w, out.lam, gen);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t r = box.y0; r < box.y1; ++r)
          for (int64_t q = box.x0; q < box.x1; ++q) {
            const int64_t off = (ch * h + r) * w + q;
            d[i * img + off] = s[out.perm[i] * img + off];
          }
    out.lam = 1.0 - static_cast<double>(box.area()) / static_cast<double>(h * w);
  }
  x.mark_modified();
  return out;
}

}  // namespace lb::data
