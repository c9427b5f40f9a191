// augment.cc: see augment.h.
#include "engine/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

#include "base/strings.h"

namespace lb::data {

namespace {

constexpr const char* kKeys = "shift, translate, rotate, scale, gamma, noise, brightness, contrast, hflip, fill";

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Bilinear sample of plane p (H, W) at (y, x); outside the image reads black (Fill::Zero) or the
// nearest edge pixel (Fill::Border: clamping each neighbour equals clamping (y, x) first).
float sample_bilinear(const float* p, int64_t h, int64_t w, double y, double x, Fill fill) {
  const double fy = std::floor(y), fx = std::floor(x);
  const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
  const double dy = y - fy, dx = x - fx;
  auto at = [&](int64_t yy, int64_t xx) -> double {
    if (fill == Fill::Border) return p[std::clamp<int64_t>(yy, 0, h - 1) * w + std::clamp<int64_t>(xx, 0, w - 1)];
    return (yy < 0 || yy >= h || xx < 0 || xx >= w) ? 0.0 : p[yy * w + xx];
  };
  return static_cast<float>((1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x0 + 1)) +
                            dy * ((1 - dx) * at(y0 + 1, x0) + dx * at(y0 + 1, x0 + 1)));
}

}  // namespace

// Output pixel (i, j) reads the source at the inverse transform: shift by (-sy, -sx), then rotate
// by -angle about the centre.
void warp_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w, double angle_deg, double sy, double sx,
                Fill fill, double zoom) {
  const double a = angle_deg * M_PI / 180.0, ca = std::cos(a), sa = std::sin(a);
  const double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* s = src + ch * h * w;
    float* d = dst + ch * h * w;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const double y = i - sy - cy, x = j - sx - cx;
        d[i * w + j] = sample_bilinear(s, h, w, (ca * y + sa * x) / zoom + cy, (-sa * y + ca * x) / zoom + cx, fill);
      }
  }
}

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
}

AugmentConfig parse_augment(const std::string& spec) {
  AugmentConfig a;
  if (spec.empty() || spec == "none") return a;
  if (spec == "light") {
    a.shift = 2;
    a.rotate = 10.0;
    a.brightness = a.contrast = 0.1;
    return a;
  }
  for (const std::string& item : split(spec, ',')) {
    const auto eq = item.find('=');
    LB_CHECK(eq != std::string::npos, "--augment: expected key=value in '" << item << "' (keys: " << kKeys << ")");
    const std::string k = item.substr(0, eq), v = item.substr(eq + 1);
    // The whole value must be a number: "shift=2.5" or "rotate=10deg" is an error, not 2 or 10.
    auto number = [&](size_t used) {
      LB_CHECK(used == v.size(), "--augment: cannot parse the value in '" << item << "'");
    };
    size_t used = 0;
    try {
      if (k == "shift") {
        a.shift = std::stoll(v, &used);
        number(used);
      } else if (double* field = k == "rotate"       ? &a.rotate
                                 : k == "brightness" ? &a.brightness
                                 : k == "contrast"   ? &a.contrast
                                 : k == "translate"  ? &a.translate
                                 : k == "scale"      ? &a.scale
                                 : k == "gamma"      ? &a.gamma
                                 : k == "noise"      ? &a.noise
                                                     : nullptr) {
        *field = std::stod(v, &used);
        number(used);
      } else if (k == "fill") {
        LB_CHECK(v == "zero" || v == "black" || v == "border",
                 "--augment: fill takes zero (black) or border, got '" << v << "'");
        a.fill = v == "border" ? Fill::Border : Fill::Zero;
      } else if (k == "hflip") {
        LB_CHECK(v == "0" || v == "1" || v == "true" || v == "false" || v == "on" || v == "off",
                 "--augment: hflip takes 0 or 1 (or true/false, on/off), got '" << v << "'");
        a.hflip = v == "1" || v == "true" || v == "on";
      } else {
        LB_THROW("--augment: unknown key '" << k << "' (keys: " << kKeys << ")");
      }
    } catch (const std::logic_error&) {
      LB_THROW("--augment: cannot parse the value in '" << item << "'");
    }
  }
  for (double v : {a.scale, a.gamma, a.noise})
    LB_CHECK(v >= 0 && std::isfinite(v), "--augment: values must be finite and non-negative in '" << spec << "'");
  LB_CHECK(a.scale < 1, "--augment: scale must be below 1 (a zoom in [1 - scale, 1 + scale]) in '" << spec << "'");
  LB_CHECK(a.shift >= 0 && a.translate >= 0 && a.rotate >= 0 && a.brightness >= 0 && a.contrast >= 0 &&
               a.contrast < 1 && std::isfinite(a.translate) && std::isfinite(a.rotate) && std::isfinite(a.brightness),
           "--augment: values must be finite and non-negative (and contrast < 1) in '" << spec << "'");
  LB_CHECK(a.shift == 0 || a.translate == 0,
           "--augment: use shift (whole pixels) or translate (sub-pixel), not both, in '" << spec << "'");
  return a;
}

std::string describe(const AugmentConfig& a) {
  if (!a.enabled()) return "none";
  std::ostringstream os;
  os << "shift=" << a.shift << ",rotate=" << a.rotate << ",brightness=" << a.brightness << ",contrast=" << a.contrast
     << ",hflip=" << (a.hflip ? 1 : 0);
  // Only when set: descriptions of older configurations stay as they were.
  if (a.translate > 0) os << ",translate=" << a.translate;
  if (a.fill == Fill::Border) os << ",fill=border";
  if (a.scale > 0) os << ",scale=" << a.scale;
  if (a.gamma > 0) os << ",gamma=" << a.gamma;
  if (a.noise > 0) os << ",noise=" << a.noise;
  return os.str();
}

void augment_image(float* img, int64_t c, int64_t h, int64_t w, const AugmentConfig& a, Generator& gen,
                   float* scratch) {
  const int64_t n = c * h * w;
  const double angle = a.rotate > 0 ? gen.uniform(-a.rotate, a.rotate) : 0.0;
  const int64_t sy = a.shift > 0 ? static_cast<int64_t>(gen.next() % (2 * a.shift + 1)) - a.shift : 0;
  const int64_t sx = a.shift > 0 ? static_cast<int64_t>(gen.next() % (2 * a.shift + 1)) - a.shift : 0;
  // Drawn only when set (as scale's zoom below), so older specs see the draws they always saw.
  const double ty = a.translate > 0 ? gen.uniform(-a.translate, a.translate) : static_cast<double>(sy);
  const double tx = a.translate > 0 ? gen.uniform(-a.translate, a.translate) : static_cast<double>(sx);
  const double zoom = a.scale > 0 ? gen.uniform(1.0 - a.scale, 1.0 + a.scale) : 1.0;
  if (angle != 0.0 || ty != 0 || tx != 0 || zoom != 1.0) {
    warp_image(img, scratch, c, h, w, angle, ty, tx, a.fill, zoom);
    std::memcpy(img, scratch, sizeof(float) * n);
  }
  if (a.hflip && gen.uniform() < 0.5)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < h; ++i) std::reverse(img + (ch * h + i) * w, img + (ch * h + i + 1) * w);
  if (a.gamma > 0) {  // on [0, 1] pixels (the warp keeps them there)
    const double g = std::exp(gen.uniform(-a.gamma, a.gamma));
    for (int64_t i = 0; i < n; ++i) img[i] = static_cast<float>(std::pow(std::max(0.0f, img[i]), g));
  }
  if (a.contrast > 0) {
    const double f = gen.uniform(1.0 - a.contrast, 1.0 + a.contrast);
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += img[i];
    mean /= n;
    for (int64_t i = 0; i < n; ++i) img[i] = static_cast<float>(mean + f * (img[i] - mean));
  }
  if (a.brightness > 0) {
    const float b = static_cast<float>(gen.uniform(-a.brightness, a.brightness));
    for (int64_t i = 0; i < n; ++i) img[i] += b;
  }
  if (a.noise > 0)
    for (int64_t i = 0; i < n; ++i) img[i] += static_cast<float>(gen.normal(0.0, a.noise));
  for (int64_t i = 0; i < n; ++i) img[i] = std::min(1.0f, std::max(0.0f, img[i]));
}

}  // namespace lb::data
