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

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Bilinear sample of plane p (H, W) at (y, x); outside the image reads black (0).
float sample_bilinear(const float* p, int64_t h, int64_t w, double y, double x) {
  const double fy = std::floor(y), fx = std::floor(x);
  const int64_t y0 = static_cast<int64_t>(fy), x0 = static_cast<int64_t>(fx);
  const double dy = y - fy, dx = x - fx;
  auto at = [&](int64_t yy, int64_t xx) -> double {
    return (yy < 0 || yy >= h || xx < 0 || xx >= w) ? 0.0 : p[yy * w + xx];
  };
  return static_cast<float>((1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x0 + 1)) +
                            dy * ((1 - dx) * at(y0 + 1, x0) + dx * at(y0 + 1, x0 + 1)));
}

// Output pixel (i, j) reads the source at the inverse transform: rotate by -angle about the
// centre, then shift by (-sy, -sx).
void warp(const float* src, float* dst, int64_t c, int64_t h, int64_t w, double angle_deg, int64_t sy, int64_t sx) {
  const double a = angle_deg * M_PI / 180.0, ca = std::cos(a), sa = std::sin(a);
  const double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* s = src + ch * h * w;
    float* d = dst + ch * h * w;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const double y = i - sy - cy, x = j - sx - cx;
        d[i * w + j] = sample_bilinear(s, h, w, ca * y + sa * x + cy, -sa * y + ca * x + cx);
      }
  }
}

}  // namespace

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
}

AugmentConfig parse_augment(const std::string& spec) {
  AugmentConfig a;
  if (spec.empty() || spec == "none") return a;
  if (spec == "light") return {2, 10.0, 0.1, 0.1, false};
  for (const std::string& item : split(spec, ',')) {
    const auto eq = item.find('=');
    LB_CHECK(eq != std::string::npos,
             "--augment: expected key=value in '" << item << "' (keys: shift, rotate, brightness, contrast, hflip)");
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
      } else if (k == "rotate" || k == "brightness" || k == "contrast") {
        const double d = std::stod(v, &used);
        number(used);
        (k == "rotate" ? a.rotate : k == "brightness" ? a.brightness : a.contrast) = d;
      } else if (k == "hflip") {
        LB_CHECK(v == "0" || v == "1" || v == "true" || v == "false" || v == "on" || v == "off",
                 "--augment: hflip takes 0 or 1 (or true/false, on/off), got '" << v << "'");
        a.hflip = v == "1" || v == "true" || v == "on";
      } else {
        LB_THROW("--augment: unknown key '" << k << "' (keys: shift, rotate, brightness, contrast, hflip)");
      }
    } catch (const std::logic_error&) {
      LB_THROW("--augment: cannot parse the value in '" << item << "'");
    }
  }
  LB_CHECK(a.shift >= 0 && a.rotate >= 0 && a.brightness >= 0 && a.contrast >= 0 && a.contrast < 1,
           "--augment: values must be non-negative (and contrast < 1) in '" << spec << "'");
  return a;
}

std::string describe(const AugmentConfig& a) {
  if (!a.enabled()) return "none";
  std::ostringstream os;
  os << "shift=" << a.shift << ",rotate=" << a.rotate << ",brightness=" << a.brightness << ",contrast=" << a.contrast
     << ",hflip=" << (a.hflip ? 1 : 0);
  return os.str();
}

void augment_image(float* img, int64_t c, int64_t h, int64_t w, const AugmentConfig& a, Generator& gen,
                   float* scratch) {
  const int64_t n = c * h * w;
  const double angle = a.rotate > 0 ? gen.uniform(-a.rotate, a.rotate) : 0.0;
  const int64_t sy = a.shift > 0 ? static_cast<int64_t>(gen.next() % (2 * a.shift + 1)) - a.shift : 0;
  const int64_t sx = a.shift > 0 ? static_cast<int64_t>(gen.next() % (2 * a.shift + 1)) - a.shift : 0;
  if (angle != 0.0 || sy != 0 || sx != 0) {
    warp(img, scratch, c, h, w, angle, sy, sx);
    std::memcpy(img, scratch, sizeof(float) * n);
  }
  if (a.hflip && gen.uniform() < 0.5)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < h; ++i) std::reverse(img + (ch * h + i) * w, img + (ch * h + i + 1) * w);
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
  for (int64_t i = 0; i < n; ++i) img[i] = std::min(1.0f, std::max(0.0f, img[i]));
}

}  // namespace lb::data
