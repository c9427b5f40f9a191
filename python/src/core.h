// core.h: what every file of the Python module shares: tensors in and out of lightbox without
// copies, the scope a computing call runs in (GIL released, Ctrl-C turned into a cancellation),
// and JSON to Python values. The module is a thin layer: every number comes from the engine.
//
// Tensors (docs/12-python.md):
//   in   any object with DLPack or the buffer protocol (numpy, PyTorch CPU tensors) becomes an
//        lb::Tensor over the same memory when it is C-contiguous on the CPU with a supported
//        dtype (float32, float64, int64, uint8); the lb::Storage keeps the Python array alive.
//        A strided array is copied (the only copy, and the docstrings say so).
//   out  an lb::Tensor becomes a numpy array over its storage; the array keeps the tensor alive.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <mutex>
#include <optional>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "engine/progress.h"
#include "engine/tensor.h"

namespace lbpy {

namespace nb = nanobind;
using lb::Tensor;

// x as an lb::Tensor sharing its memory (copied only when strided); `what` names it in errors.
Tensor from_array(const nb::ndarray<>& x, const char* what);
// An explained or forwarded batch: (N, C, H, W) float32, finite, `channels` channels (0: any);
// the message is the CLI's ("expected float32 (N, 1, H, W) in model space, got ...").
Tensor images_from_array(const nb::ndarray<>& x, const char* what, int64_t channels);
// A numpy array over t's memory (t is made CPU and kept alive by the array).
nb::object to_numpy(const Tensor& t);
// A numpy array of t, or None when t is undefined.
nb::object to_numpy_or_none(const Tensor& t);

// Python values of a JSON document (via the json module: one exact mapping, no second parser).
nb::object json_to_python(const nlohmann::json& j);
nlohmann::json python_to_json(const nb::handle& o);

// A computing call: releases the GIL and, while it runs, makes SIGINT request a cancellation
// (engine/progress.h) instead of waiting for the call to return. Nested scopes share one handler.
class ComputeScope {
 public:
  ComputeScope();
  ~ComputeScope();
  ComputeScope(const ComputeScope&) = delete;
  ComputeScope& operator=(const ComputeScope&) = delete;

 private:
  std::optional<nb::gil_scoped_release> release_;
};

// Runs f() in a ComputeScope; a Ctrl-C seen during it ends as lb::Cancelled (KeyboardInterrupt in
// Python) even when f finished before any loop checked the flag.
template <class F>
auto compute(F&& f) {
  auto check = [] {
    if (lb::cancel_requested()) {
      lb::clear_cancel();
      throw lb::Cancelled();
    }
  };
  if constexpr (std::is_void_v<decltype(f())>) {
    {
      ComputeScope scope;
      f();
    }
    check();
  } else {
    std::optional<decltype(f())> r;
    {
      ComputeScope scope;
      r.emplace(f());
    }
    check();
    return std::move(*r);
  }
}

// The exception type lightbox.Error, made by the module's init.
void register_errors(nb::module_& m);

// The parts of the module, one per file.
void bind_tensor(nb::module_& m);
void bind_model(nb::module_& m);
void bind_explain(nb::module_& m);
void bind_evaluate(nb::module_& m);
void bind_train(nb::module_& m);

}  // namespace lbpy
