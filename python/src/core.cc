// core.cc: the module's entry point and what core.h declares: tensor conversion, the compute
// scope, JSON values, and the one exception type.
#include "python/src/core.h"

#include <cmath>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace lbpy {

namespace {

lb::DType dtype_of(const nb::ndarray<>& x, const char* what) {
  const nb::dlpack::dtype d = x.dtype();
  if (d == nb::dtype<float>()) return lb::DType::Float32;
  if (d == nb::dtype<double>()) return lb::DType::Float64;
  if (d == nb::dtype<int64_t>()) return lb::DType::Int64;
  if (d == nb::dtype<uint8_t>()) return lb::DType::UInt8;
  LB_THROW(what << ": dtype (code " << int(d.code) << ", " << int(d.bits)
                << " bits) is not one lightbox holds; use float32, float64, int64 or uint8");
}

bool c_contiguous(const nb::ndarray<>& x) {
  int64_t expect = 1;
  for (size_t d = x.ndim(); d-- > 0;) {
    if (x.shape(d) != 1 && x.stride(d) != expect) return false;
    expect *= static_cast<int64_t>(x.shape(d));
  }
  return true;
}

// Copies a strided array element by element into a new contiguous tensor.
Tensor copy_strided(const nb::ndarray<>& x, const lb::Shape& shape, lb::DType dt) {
  Tensor t = Tensor::empty(shape, dt);
  const size_t item = lb::dtype_size(dt);
  const auto* src = static_cast<const char*>(x.data());
  auto* dst = static_cast<char*>(t.raw_data());
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < shape.size(); ++d) off += idx[d] * x.stride(d);
    std::memcpy(dst + i * item, src + off * static_cast<int64_t>(item), item);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return t;
}

std::mutex g_signal_mu;
int g_depth = 0;
struct sigaction g_previous;
extern "C" void on_sigint(int) { lb::request_cancel(); }

}  // namespace

Tensor from_array(const nb::ndarray<>& x, const char* what) {
  LB_CHECK(x.device_type() == nb::device::cpu::value,
           what << ": the array is on another device (DLPack device type " << x.device_type()
                << "); lightbox's Python calls take CPU memory: move it with .cpu()");
  const lb::DType dt = dtype_of(x, what);
  lb::Shape shape;
  for (size_t d = 0; d < x.ndim(); ++d) shape.push_back(static_cast<int64_t>(x.shape(d)));
  if (!c_contiguous(x)) return copy_strided(x, shape, dt);
  auto keep = std::make_shared<nb::ndarray<>>(x);  // released under the GIL (nanobind takes it)
  const size_t nbytes = static_cast<size_t>(lb::shape_numel(shape)) * lb::dtype_size(dt);
  return Tensor::from_storage(lb::Storage::wrap(x.data(), nbytes, lb::Device::cpu(), keep), shape, dt);
}

Tensor images_from_array(const nb::ndarray<>& x, const char* what, int64_t channels) {
  const bool ok =
      x.dtype() == nb::dtype<float>() && x.ndim() == 4 && (channels == 0 || int64_t(x.shape(1)) == channels);
  if (!ok) {
    std::string got = "an array of " + std::to_string(x.ndim()) + " dimensions";
    if (x.dtype() != nb::dtype<float>()) got += " that is not float32";
    LB_THROW(what << ": expected float32 (N, " << (channels ? std::to_string(channels) : std::string("C"))
                  << ", H, W) in model space, got " << got << "; convert with x.astype(np.float32)");
  }
  Tensor t = from_array(x, what);
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    LB_CHECK(std::isfinite(p[i]), what << ": contains NaN or inf; clean the input first");
  return t;
}

nb::object to_numpy(const Tensor& t0) {
  const Tensor t = t0.to(lb::Device::cpu()).detach();
  nb::dlpack::dtype dt;
  switch (t.dtype()) {
    case lb::DType::Float32:
      dt = nb::dtype<float>();
      break;
    case lb::DType::Float64:
      dt = nb::dtype<double>();
      break;
    case lb::DType::Int64:
      dt = nb::dtype<int64_t>();
      break;
    case lb::DType::UInt8:
      dt = nb::dtype<uint8_t>();
      break;
    default:
      LB_THROW("to_numpy: " << t.str() << " has no numpy dtype here; convert it to float32 first");
  }
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  auto* keep = new Tensor(t);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return nb::cast(
      nb::ndarray<nb::numpy>(const_cast<void*>(t.raw_data()), shape.size(), shape.data(), owner, nullptr, dt));
}

nb::object to_numpy_or_none(const Tensor& t) { return t.defined() ? to_numpy(t) : nb::none(); }

nb::object json_to_python(const nlohmann::json& j) {
  return nb::module_::import_("json").attr("loads")(nb::str(j.dump().c_str()));
}

nlohmann::json python_to_json(const nb::handle& o) {
  const nb::str text = nb::borrow<nb::str>(nb::module_::import_("json").attr("dumps")(o));
  return nlohmann::json::parse(text.c_str());
}

ComputeScope::ComputeScope() {
  {
    std::lock_guard<std::mutex> lock(g_signal_mu);
    if (g_depth++ == 0) {
      lb::clear_cancel();
      struct sigaction sa;
      std::memset(&sa, 0, sizeof sa);
      sa.sa_handler = on_sigint;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, &g_previous);
    }
  }
  release_.emplace();
}

ComputeScope::~ComputeScope() {
  release_.reset();
  std::lock_guard<std::mutex> lock(g_signal_mu);
  if (--g_depth == 0) sigaction(SIGINT, &g_previous, nullptr);
}

void register_errors(nb::module_& m) {
  // Kept for the life of the process (never decref'd after the interpreter is gone).
  static PyObject* error = nb::exception<lb::Error>(m, "Error", PyExc_RuntimeError).release().ptr();
  // Tried before the lb::Error translator: a cancelled call is a KeyboardInterrupt, as Ctrl-C
  // is everywhere else in Python.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const lb::Cancelled& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const nlohmann::json::exception& e) {  // a config or metadata value of the wrong type
      PyErr_SetString(error, e.what());
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(error, e.what());
    } catch (const std::out_of_range& e) {
      PyErr_SetString(error, e.what());
    }
  });
}

}  // namespace lbpy

NB_MODULE(_core, m) {
  m.doc() = "lightbox's C++ engine (python/src); use the lightbox package, which wraps it";
  lbpy::register_errors(m);
  lbpy::bind_tensor(m);
  lbpy::bind_model(m);
  lbpy::bind_explain(m);
  lbpy::bind_evaluate(m);
  lbpy::bind_train(m);
}
