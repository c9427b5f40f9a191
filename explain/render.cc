// render.cc: see render.h.
#include "explain/render.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/common.h"

namespace lb::explain {

Colormap parse_colormap(const std::string& s) {
  if (s == "blue-orange") return Colormap::BlueOrange;
  if (s == "shap") return Colormap::ShapRedBlue;
  LB_THROW("colormap '" << s << "' is not one of: blue-orange, shap");
}

const char* to_string(Colormap c) { return c == Colormap::BlueOrange ? "blue-orange" : "shap"; }

namespace {

struct Anchor {
  double t, r, g, b;
};

Rgb interpolate(const std::vector<Anchor>& a, double t) {
  t = std::clamp(t, -1.0, 1.0);
  size_t i = 0;
  while (i + 2 < a.size() && t > a[i + 1].t) ++i;
  const double u = (t - a[i].t) / (a[i + 1].t - a[i].t);
  auto mix = [&](double x, double y) { return static_cast<uint8_t>(std::lround(x + (y - x) * u)); };
  return {mix(a[i].r, a[i + 1].r), mix(a[i].g, a[i + 1].g), mix(a[i].b, a[i + 1].b)};
}

}  // namespace

Rgb colormap_at(Colormap c, double t) {
  // Blue (negative) to orange (positive) through a light neutral; lightness falls monotonically
  // from the middle to each end, so magnitude reads as darkness at any colour vision.
  static const std::vector<Anchor> blue_orange = {
      {-1.0, 33, 76, 146}, {-0.5, 103, 153, 207}, {0.0, 242, 240, 236}, {0.5, 236, 153, 66}, {1.0, 150, 70, 8}};
  static const std::vector<Anchor> shap = {{-1.0, 30, 136, 229}, {0.0, 255, 255, 255}, {1.0, 255, 13, 87}};
  return interpolate(c == Colormap::BlueOrange ? blue_orange : shap, t);
}

double shared_vmax(const Tensor& maps) {
  const Tensor m = maps.to(DType::Float64);
  if (m.numel() == 0) return 1.0;
  std::vector<double> mags(m.numel());
  for (int64_t i = 0; i < m.numel(); ++i) mags[i] = std::fabs(m.data<double>()[i]);
  const size_t q = std::min(mags.size() - 1, static_cast<size_t>(std::floor(0.999 * (mags.size() - 1))));
  std::nth_element(mags.begin(), mags.begin() + q, mags.end());
  return mags[q] > 0 ? mags[q] : 1.0;
}

namespace {

void check_grid_inputs(const Tensor& images, const Tensor& maps, const GridOptions& opt) {
  LB_CHECK(images.dim() == 4 && images.dtype() == DType::Float32,
           "attribution_grid: images must be float32 (N, C, H, W)");
  LB_CHECK(maps.dim() == 5 && maps.size(2) == 1 && maps.size(0) == images.size(0) && maps.size(3) == images.size(2) &&
               maps.size(4) == images.size(3),
           "attribution_grid: maps " << shape_str(maps.shape()) << " must be (N, K, 1, H, W) for images "
                                     << shape_str(images.shape()));
  LB_CHECK(opt.scale >= 1 && opt.scale <= 64, "attribution_grid: scale must be 1..64");
  LB_CHECK(opt.opacity >= 0 && opt.opacity <= 1, "attribution_grid: opacity must be in [0, 1]");
}

}  // namespace

Tensor overlay_cell(const Tensor& images, const Tensor& maps, int64_t n, int64_t k, double vmax,
                    const GridOptions& opt) {
  check_grid_inputs(images, maps, opt);
  const int64_t C = images.size(1), H = images.size(2), W = images.size(3), K = maps.size(1);
  LB_CHECK(n >= 0 && n < images.size(0) && k < K, "overlay_cell: image " << n << " output " << k << " out of range");
  // grey: channel mean, min-max scaled per image
  std::vector<double> grey(H * W, 0.0);
  const float* img = images.data<float>() + n * C * H * W;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) grey[i] += img[c * H * W + i] / C;
  const auto [lo, hi] = std::minmax_element(grey.begin(), grey.end());
  const double range = *hi - *lo > 0 ? *hi - *lo : 1.0, glo = *lo;
  Tensor out = Tensor::empty({H, W, 3}, DType::UInt8);
  uint8_t* o = out.data<uint8_t>();
  const Tensor m = k >= 0 ? maps.to(DType::Float64) : Tensor();
  for (int64_t i = 0; i < H * W; ++i) {
    const double g = (grey[i] - glo) / range;
    if (k < 0) {
      o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = static_cast<uint8_t>(std::lround(255 * g));
      continue;
    }
    // faint X-ray underlay, attribution colour on top with opacity growing with |v|
    const double v = m.data<double>()[(n * K + k) * H * W + i] / vmax;
    const Rgb c = colormap_at(opt.colormap, v);
    const double under = 255 * (0.55 + 0.45 * g);
    const double a = opt.opacity * std::min(1.0, std::fabs(v));
    auto blend = [&](double cc) { return static_cast<uint8_t>(std::lround(under * (1 - a) + cc * a)); };
    o[3 * i] = blend(c.r), o[3 * i + 1] = blend(c.g), o[3 * i + 2] = blend(c.b);
  }
  return out;
}

Grid attribution_grid(const Tensor& images, const Tensor& maps, const GridOptions& opt) {
  check_grid_inputs(images, maps, opt);
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3), K = maps.size(1);
  const double vmax = opt.vmax > 0 ? opt.vmax : shared_vmax(maps);
  const int s = opt.scale, pad = 2 * s, bar = 3 * s;
  const int64_t cell = W * s, cols = 1 + K;
  const int64_t width = pad + cols * (cell + pad), height = pad + N * (H * s + pad) + bar + pad;
  Tensor out = Tensor::full({height, width, 3}, 255, DType::UInt8);
  uint8_t* o = out.data<uint8_t>();
  auto put = [&](int64_t y, int64_t x, Rgb c) {
    uint8_t* p = o + (y * width + x) * 3;
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  };
  for (int64_t n = 0; n < N; ++n) {
    const int64_t y0 = pad + n * (H * s + pad);
    for (int64_t col = 0; col < cols; ++col) {
      const Tensor px = overlay_cell(images, maps, n, col - 1, vmax, opt);
      const uint8_t* p = px.data<uint8_t>();
      const int64_t x0 = pad + col * (cell + pad);
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          const uint8_t* q = p + (i * W + j) * 3;
          for (int dy = 0; dy < s; ++dy)
            for (int dx = 0; dx < s; ++dx) put(y0 + i * s + dy, x0 + j * s + dx, {q[0], q[1], q[2]});
        }
    }
  }
  // colourbar under the attribution columns: -m .. +m, with a dark tick at 0
  const int64_t by = height - pad - bar, bx0 = pad + cell + pad, bx1 = width - pad;
  for (int64_t x = bx0; x < bx1; ++x) {
    const double t = -1.0 + 2.0 * (x - bx0) / std::max<int64_t>(1, bx1 - bx0 - 1);
    const Rgb c = colormap_at(opt.colormap, t);
    for (int64_t y = by; y < by + bar; ++y) put(y, x, c);
  }
  for (int64_t y = by - s; y < by + bar + s; ++y) put(y, (bx0 + bx1) / 2, {40, 40, 40});
  return {out, vmax};
}

}  // namespace lb::explain
