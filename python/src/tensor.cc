// tensor.cc: lightbox.Tensor, an lb::Tensor seen from Python. It exists so that sharing memory is
// visible and testable: Tensor(a) views a numpy array or a PyTorch CPU tensor, t.numpy() and
// np.asarray(t) view the tensor, torch.from_dlpack(t) hands it to PyTorch; none of them copies.
#include "python/src/core.h"

#include <nanobind/stl/string.h>

namespace lbpy {

namespace {

nb::tuple shape_tuple(const Tensor& t) {
  nb::list l;
  for (int64_t d : t.shape()) l.append(d);
  return nb::tuple(l);
}

}  // namespace

void bind_tensor(nb::module_& m) {
  using namespace nb::literals;
  nb::class_<Tensor>(m, "Tensor",
                     "An engine tensor (contiguous, row-major). Made from a numpy array or any DLPack "
                     "object; shares its memory when it is C-contiguous float32/float64/int64/uint8 on "
                     "the CPU and copies a strided one.")
      .def(
          "__init__", [](Tensor* self, nb::ndarray<> a) { new (self) Tensor(from_array(a, "lightbox.Tensor")); },
          "array"_a, "View `array` (numpy, PyTorch CPU, anything with DLPack or the buffer protocol) without a copy.")
      .def_prop_ro("shape", &shape_tuple, "The shape as a tuple.")
      .def_prop_ro(
          "dtype", [](const Tensor& t) { return std::string(lb::dtype_name(t.dtype())); },
          "'float32', 'float64', 'int64' or 'uint8'.")
      .def_prop_ro(
          "version", [](const Tensor& t) { return t.version(); },
          "The storage's version counter (bumped by the engine's in-place writes).")
      .def("numpy", &to_numpy, nb::sig("def numpy(self) -> numpy.typing.NDArray"),
           "A numpy array over the same memory (no copy); it keeps the tensor alive.")
      .def(
          "__array__", [](const Tensor& t, nb::handle, nb::handle) { return to_numpy(t); }, "dtype"_a = nb::none(),
          "copy"_a = nb::none())
      .def(
          "__dlpack__", [](const Tensor& t, nb::kwargs kw) { return to_numpy(t).attr("__dlpack__")(**kw); }, "kw"_a,
          "DLPack capsule over the same memory (torch.from_dlpack(t) shares it).")
      .def("__dlpack_device__", [](const Tensor&) { return nb::make_tuple(1, 0); })
      .def("__repr__", [](const Tensor& t) { return "lightbox.Tensor(" + t.str() + ")"; })
      .def(
          "shares_memory", [](const Tensor& a, const Tensor& b) { return a.same_storage(b); }, "other"_a,
          "True when both tensors view one storage.");
}

}  // namespace lbpy
