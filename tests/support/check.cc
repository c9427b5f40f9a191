// check.cc: see check.h.
#include "tests/support/check.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <cstring>
#include <set>

#include "engine/autograd.h"
#include "engine/io/safetensors.h"

namespace lb::test {

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (!got.defined() || !want.defined()) return ::testing::AssertionFailure() << "undefined tensor";
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << shape_str(got.shape()) << " vs " << shape_str(want.shape());
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  double worst = -1.0;
  int64_t worst_i = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::fabs(g[i] - w[i]);
    const double excess = err - (atol + rtol * std::fabs(w[i]));
    if (!(excess <= 0.0) && (worst_i < 0 || excess > worst || std::isnan(err))) {
      worst = excess;
      worst_i = static_cast<int64_t>(i);
      if (std::isnan(err)) break;
    }
  }
  if (worst_i >= 0)
    return ::testing::AssertionFailure() << "element " << worst_i << " of " << shape_str(got.shape()) << ": got "
                                         << g[worst_i] << ", want " << w[worst_i] << " (atol " << atol << ", rtol "
                                         << rtol << ")";
  return ::testing::AssertionSuccess();
}

double rel_l2_error(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape()) return INFINITY;
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(g[i])) return INFINITY;
    num += (g[i] - w[i]) * (g[i] - w[i]);
    den += w[i] * w[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

Tensor random_tensor(const Shape& shape, uint64_t seed, DType dtype, double lo, double hi) {
  Generator gen(seed);
  return Tensor::rand(shape, gen, lo, hi, dtype);
}

::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs, double eps, double atol,
                                     double rtol) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.dtype() != DType::Float64)
      return ::testing::AssertionFailure() << "gradcheck needs float64 inputs, got " << t.str();
  Tensor out = f(inputs);
  // A random projection makes every output element matter with a distinct weight.
  Tensor r = random_tensor(out.shape(), 1234, DType::Float64, -1.0, 1.0);
  std::vector<Tensor> wanted;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) wanted.push_back(t);
  std::vector<Tensor> analytic = autograd::grad({out}, wanted, {r}, false, true);

  const std::vector<double> rv = r.to_vector();
  auto project = [&]() {
    NoGradGuard g;
    const std::vector<double> o = f(inputs).to_vector();
    double s = 0.0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * rv[i];
    return s;
  };
  for (size_t k = 0; k < wanted.size(); ++k) {
    Tensor x = wanted[k];
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = p[i];
      p[i] = orig + eps;
      const double fp = project();
      p[i] = orig - eps;
      const double fm = project();
      p[i] = orig;
      const double numeric = (fp - fm) / (2 * eps);
      const double a = analytic[k].defined() ? analytic[k].at(i) : 0.0;
      if (!(std::fabs(a - numeric) <= atol + rtol * std::fabs(numeric)))
        return ::testing::AssertionFailure()
               << "input " << k << " element " << i << ": analytic " << a << ", numeric " << numeric;
    }
  }
  return ::testing::AssertionSuccess();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an lb::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "errors are one line: " << msg;
  }
}

TempFolder::TempFolder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "lb";
  for (char& c : name)
    if (c == '/') c = '_';  // parameterised test names contain slashes
  path_ = std::filesystem::path(::testing::TempDir()) / ("lb_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(path_);
}

TempFolder::~TempFolder() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

::testing::AssertionResult same_tensors(const std::string& a, const std::string& b) {
  const io::SafeTensors x = io::load_safetensors(a), y = io::load_safetensors(b);
  if (x.tensors.size() != y.tensors.size())
    return ::testing::AssertionFailure() << x.tensors.size() << " vs " << y.tensors.size() << " tensors";
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    const auto& [ka, ta] = x.tensors[i];
    const auto& [kb, tb] = y.tensors[i];
    if (ka != kb || ta.shape() != tb.shape() || ta.dtype() != tb.dtype() ||
        std::memcmp(ta.raw_data(), tb.raw_data(), ta.nbytes()) != 0)
      return ::testing::AssertionFailure()
             << a << " vs " << b << ": tensor " << i << " (" << ka << " / " << kb << ") differs";
  }
  return ::testing::AssertionSuccess();
}

int count_kind(const Tensor& root, const std::string& kind) {
  std::vector<Node*> stack = {root.grad_fn().get()};
  std::set<Node*> seen;
  int n = 0;
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (!node || !seen.insert(node).second) continue;
    if (kind == node->kind()) ++n;
    for (const Edge& e : node->next_edges) stack.push_back(e.node.get());
  }
  return n;
}

}  // namespace lb::test
