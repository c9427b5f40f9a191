// masker.cc: see masker.h.
#include "explain/masker.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "base/common.h"
#include "base/strings.h"

namespace lb::explain {

namespace {

const char* kSpellings = "blur:K, blur:KXxKY, blur(KX,KY) or constant:V (e.g. blur:28, constant:0)";

// A whole positive number, the entire string ("28"); -1 otherwise.
int parse_kernel(const std::string& s) {
  if (s.empty() || s.size() > 6) return -1;
  for (char ch : s)
    if (ch < '0' || ch > '9') return -1;
  const int v = std::atoi(s.c_str());
  return v >= 1 ? v : -1;
}

// The shortest decimal spelling that reads back as the same double ("0", "0.25", "-1.5").
std::string shortest(double v) {
  for (int digits = 1; digits <= 17; ++digits) {
    std::ostringstream os;
    os.precision(digits);
    os << v;
    if (std::strtod(os.str().c_str(), nullptr) == v) return os.str();
  }
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

}  // namespace

Masker Masker::parse(const std::string& spec) {
  Masker m;
  std::string kx, ky;
  if (spec.rfind("blur:", 0) == 0) {
    const std::string rest = spec.substr(5);
    const size_t x = rest.find('x');
    kx = rest.substr(0, x);
    ky = x == std::string::npos ? kx : rest.substr(x + 1);
  } else if (spec.rfind("blur(", 0) == 0 && spec.back() == ')') {
    const std::string rest = spec.substr(5, spec.size() - 6);
    const std::vector<std::string> sizes = split(rest, ',');
    LB_CHECK(sizes.size() == 2, "masker '" << spec << "' needs two kernel sizes, blur(KX,KY); use " << kSpellings);
    kx = sizes[0];
    ky = sizes[1];
    while (!ky.empty() && ky.front() == ' ') ky.erase(ky.begin());  // shap's "blur(28, 28)"
  } else if (spec.rfind("constant:", 0) == 0) {
    const std::string v = spec.substr(9);
    char* end = nullptr;
    const double fill = v.empty() ? NAN : std::strtod(v.c_str(), &end);
    LB_CHECK(!v.empty() && end && *end == '\0' && std::isfinite(fill),
             "masker '" << spec << "': the constant must be a finite number; use " << kSpellings);
    m.kind = Kind::Constant;
    m.fill = fill;
    return m;
  } else {
    LB_THROW("unknown masker '" << spec << "'; use " << kSpellings);
  }
  m.kind = Kind::Blur;
  m.kx = parse_kernel(kx);
  m.ky = parse_kernel(ky);
  LB_CHECK(m.kx > 0 && m.ky > 0,
           "masker '" << spec << "': blur kernel sizes must be positive whole numbers; use " << kSpellings);
  return m;
}

std::string Masker::str() const {
  if (kind == Kind::Constant) return "constant:" + shortest(fill);
  if (kx == ky) return "blur:" + std::to_string(kx);
  return "blur:" + std::to_string(kx) + "x" + std::to_string(ky);
}

Tensor Masker::reference(const Tensor& image) const {
  LB_CHECK(image.defined() && image.dim() == 4 && image.dtype() == DType::Float32,
           "masker: the image must be (N, C, H, W) float32, got " << (image.defined() ? image.str() : "nothing"));
  if (kind == Kind::Blur) return box_blur(image, kx, ky);
  return Tensor::full(image.shape(), static_cast<float>(fill), DType::Float32);
}

int64_t reflect101(int64_t i, int64_t n) {
  if (n == 1) return 0;
  // OpenCV's borderInterpolate for BORDER_REFLECT_101: fold until inside (kernels wider than
  // twice the image fold more than once).
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

Tensor box_blur(const Tensor& image, int kx, int ky) {
  LB_CHECK(image.defined() && (image.dim() == 3 || image.dim() == 4) && image.dtype() == DType::Float32,
           "box_blur: the image must be (C, H, W) or (N, C, H, W) float32, got "
               << (image.defined() ? image.str() : "nothing"));
  LB_CHECK(kx >= 1 && ky >= 1, "box_blur: kernel " << kx << "x" << ky << " must be at least 1x1");
  check_cpu("box_blur", image);
  const int64_t H = image.size(-2), W = image.size(-1), planes = image.numel() / (H * W);
  const int64_t ax = kx / 2, ay = ky / 2;  // the anchor: the kernel centre, ksize // 2
  const double scale = 1.0 / (static_cast<double>(kx) * ky);
  // Source column / row of each window tap, border folded in once: col_of[c * kx + t] reads
  // column reflect101(c - ax + t).
  std::vector<int64_t> col_of(W * kx), row_of(H * ky);
  for (int64_t c = 0; c < W; ++c)
    for (int t = 0; t < kx; ++t) col_of[c * kx + t] = reflect101(c - ax + t, W);
  for (int64_t r = 0; r < H; ++r)
    for (int t = 0; t < ky; ++t) row_of[r * ky + t] = reflect101(r - ay + t, H);

  Tensor out = Tensor::empty(image.shape(), DType::Float32);
  const float* src = image.data<float>();
  float* dst = out.data<float>();
  std::vector<double> rows(H * W);  // (H, W) horizontal window sums of one plane
  for (int64_t p = 0; p < planes; ++p) {
    const float* x = src + p * H * W;
    for (int64_t s = 0; s < H; ++s)
      for (int64_t c = 0; c < W; ++c) {
        double sum = 0.0;
        for (int t = 0; t < kx; ++t) sum += x[s * W + col_of[c * kx + t]];
        rows[s * W + c] = sum;
      }
    float* y = dst + p * H * W;
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        double sum = 0.0;
        for (int t = 0; t < ky; ++t) sum += rows[row_of[r * ky + t] * W + c];
        y[r * W + c] = static_cast<float>(sum * scale);
      }
  }
  return out;
}

Tensor apply_mask(const Tensor& image, const Tensor& reference, const std::vector<uint8_t>& keep) {
  check_same_shape("apply_mask", image, reference);
  LB_CHECK(image.dtype() == DType::Float32 && reference.dtype() == DType::Float32,
           "apply_mask: image and reference must be float32");
  LB_CHECK(static_cast<int64_t>(keep.size()) == image.numel(),
           "apply_mask: " << keep.size() << " mask flags for an image of " << image.numel() << " elements");
  Tensor out = Tensor::empty(image.shape(), DType::Float32);
  const float* x = image.data<float>();
  const float* ref = reference.data<float>();
  float* o = out.data<float>();
  for (int64_t e = 0; e < image.numel(); ++e) o[e] = keep[e] ? x[e] : ref[e];
  return out;
}

}  // namespace lb::explain
