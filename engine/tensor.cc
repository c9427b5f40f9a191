// tensor.cc: Tensor construction, element access, copies and views.
#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "kernels/cast.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/runtime.cuh"

namespace lb {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  // A zero dimension makes the product 0 whatever the others hold (and must not overflow first).
  for (int64_t d : s)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : s)
    LB_CHECK(!__builtin_mul_overflow(n, d, &n),
             "tensor: shape " << shape_str(s) << " has more elements than int64 can count");
  return n;
}

namespace {

std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device dev) {
  for (int64_t d : shape) LB_CHECK(d >= 0, "tensor: negative dimension in shape " << shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), dev);
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

// Reads element i of a CPU buffer of any dtype as double.
double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::Float32:
      return static_cast<const float*>(p)[i];
    case DType::Float64:
      return static_cast<const double*>(p)[i];
    case DType::Int64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::UInt8:
      return static_cast<const uint8_t*>(p)[i];
  }
  return 0.0;
}

void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::Float32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      break;
    case DType::Float64:
      static_cast<double*>(p)[i] = v;
      break;
    case DType::Int64:
      static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v);
      break;
    case DType::UInt8:
      static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
      break;
  }
}

// A view: same storage (and so the same version counter), new shape and offset.
Tensor make_view(const Tensor& base, const Shape& shape, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

}  // namespace

// ---- factories ------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device dev) { return Tensor(make_impl(shape, dtype, dev)); }

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  LB_CHECK(storage != nullptr, "from_storage: no storage");
  for (int64_t d : shape) LB_CHECK(d >= 0, "from_storage: negative size in shape " << shape_str(shape));
  const size_t need = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  LB_CHECK(storage->nbytes() >= need, "from_storage: shape " << shape_str(shape) << " needs " << need
                                                             << " bytes, the storage has " << storage->nbytes());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device dev) { return full(shape, 0.0, dtype, dev); }

Tensor Tensor::ones(const Shape& shape, DType dtype, Device dev) { return full(shape, 1.0, dtype, dev); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device dev) {
  Tensor t = empty(shape, dtype, Device::cpu());
  t.fill_(value);
  return dev.is_cpu() ? t : t.to(dev);
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  LB_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
           "from_vector: " << values.size() << " values do not fill shape " << shape_str(shape));
  Tensor t = empty(shape, dtype);
  for (size_t i = 0; i < values.size(); ++i) store_from_double(t.raw_data(), dtype, i, values[i]);
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) store_from_double(t.raw_data(), dtype, i, static_cast<double>(i));
  return t;
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, double lo, double hi, DType dtype) {
  LB_CHECK(is_floating(dtype), "rand: dtype must be floating, got " << dtype_name(dtype));
  Tensor t = empty(shape, dtype);
  void* p = t.raw_data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) store_from_double(p, dtype, i, gen.uniform(lo, hi));
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, double mean, double std, DType dtype) {
  LB_CHECK(is_floating(dtype), "randn: dtype must be floating, got " << dtype_name(dtype));
  Tensor t = empty(shape, dtype);
  void* p = t.raw_data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) store_from_double(p, dtype, i, gen.normal(mean, std));
  return t;
}

// ---- metadata -------------------------------------------------------------------------------

void Tensor::check_defined(const char* what) const {
  LB_CHECK(impl_ != nullptr, "tensor: " << what << " called on an undefined tensor");
}

const Shape& Tensor::shape() const {
  check_defined("shape()");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < 0) d += n;
  LB_CHECK(d >= 0 && d < n, "tensor: dimension " << d << " out of range for shape " << shape_str(shape()));
  return impl_->shape[d];
}

DType Tensor::dtype() const {
  check_defined("dtype()");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined("device()");
  return impl_->storage->device();
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device().str();
}

// ---- data access ----------------------------------------------------------------------------

template <class T>
T* Tensor::data() {
  check_defined("data()");
  LB_CHECK(dtype_of<T>() == impl_->dtype,
           "tensor: data<" << dtype_name(dtype_of<T>()) << ">() on a " << dtype_name(impl_->dtype) << " tensor");
  LB_CHECK(device().is_cpu(), "tensor: data() needs a CPU tensor, this one is on " << device().str());
  return static_cast<T*>(impl_->storage->data()) + impl_->offset;
}

template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template int64_t* Tensor::data<int64_t>();
template uint8_t* Tensor::data<uint8_t>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const int64_t* Tensor::data<int64_t>() const;
template const uint8_t* Tensor::data<uint8_t>() const;

template <class T>
T* Tensor::data_ptr() {
  check_defined("data_ptr()");
  LB_CHECK(dtype_of<T>() == impl_->dtype,
           "tensor: data_ptr<" << dtype_name(dtype_of<T>()) << ">() on a " << dtype_name(impl_->dtype) << " tensor");
  return static_cast<T*>(impl_->storage->data()) + impl_->offset;
}

template <class T>
const T* Tensor::data_ptr() const {
  return const_cast<Tensor*>(this)->data_ptr<T>();
}

template float* Tensor::data_ptr<float>();
template int64_t* Tensor::data_ptr<int64_t>();
template const float* Tensor::data_ptr<float>() const;
template const int64_t* Tensor::data_ptr<int64_t>() const;

void* Tensor::raw_data() {
  check_defined("raw_data()");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(impl_->dtype);
}

const void* Tensor::raw_data() const { return const_cast<Tensor*>(this)->raw_data(); }

double Tensor::item() const {
  LB_CHECK(numel() == 1,
           "item: tensor has " << numel() << " elements (shape " << shape_str(shape()) << "), expected exactly one");
  return at(0);
}

double Tensor::at(int64_t i) const {
  LB_CHECK(i >= 0 && i < numel(), "at: index " << i << " out of range for " << str());
  if (!device().is_cpu()) return to(Device::cpu()).at(i);
  return load_as_double(raw_data(), dtype(), i);
}

std::vector<double> Tensor::to_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_vector();
  std::vector<double> v(numel());
  for (int64_t i = 0; i < numel(); ++i) v[i] = load_as_double(raw_data(), dtype(), i);
  return v;
}

// ---- versions and in-place ------------------------------------------------------------------

uint64_t Tensor::version() const {
  check_defined("version()");
  return impl_->storage->version();
}

void Tensor::mark_modified() {
  check_defined("mark_modified()");
  impl_->storage->bump_version();
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_()");
  if (!device().is_cpu()) {
    if (value == 0.0) {
      kernels::memset_zero(raw_data(), nbytes());  // all-zero bytes are 0 in every dtype
    } else if (dtype() == DType::Float32) {
      kernels::fill(data_ptr<float>(), static_cast<float>(value), numel());
    } else {
      copy_(Tensor::full(shape(), value, dtype()));
      return *this;
    }
    mark_modified();
    return *this;
  }
  void* p = raw_data();
  const int64_t n = numel();
  for (int64_t i = 0; i < n; ++i) store_from_double(p, dtype(), i, value);
  mark_modified();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_()");
  check_same_shape("copy_", *this, src);
  if (src.dtype() == dtype()) {
    copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  } else if (device().is_cuda() && src.device() == device()) {
    kernels::cast(src.raw_data(), src.dtype(), raw_data(), dtype(), numel());  // the loop below, on the GPU
  } else {
    LB_CHECK(device().is_cpu() && src.device().is_cpu(),
             "copy_: converting " << dtype_name(src.dtype()) << " to " << dtype_name(dtype())
                                  << " needs both tensors on the CPU or both on one CUDA device; got "
                                  << src.device().str() << " and " << device().str());
    for (int64_t i = 0; i < numel(); ++i)
      store_from_double(raw_data(), dtype(), i, load_as_double(src.raw_data(), src.dtype(), i));
  }
  mark_modified();
  return *this;
}

// ---- conversions and views ------------------------------------------------------------------

Tensor Tensor::clone() const {
  check_defined("clone()");
  Tensor t = empty(shape(), dtype(), device());
  copy_bytes(t.raw_data(), t.device(), raw_data(), device(), nbytes());
  return t;
}

Tensor Tensor::detach() const {
  check_defined("detach()");
  return make_view(*this, shape(), impl_->offset);
}

Tensor Tensor::to(Device dev) const {
  check_defined("to()");
  if (dev == device()) return *this;
  Tensor t = empty(shape(), dtype(), dev);
  copy_bytes(t.raw_data(), dev, raw_data(), device(), nbytes());
  return t;
}

Tensor Tensor::to(DType dt) const {
  check_defined("to()");
  if (dt == dtype()) return *this;
  Tensor t = empty(shape(), dt, device());
  t.copy_(*this);  // on CUDA: kernels::cast, the CPU's conversions without leaving the device
  return t;
}

Tensor Tensor::view(const Shape& new_shape) const {
  check_defined("view()");
  LB_CHECK(shape_numel(new_shape) == numel(), "view: cannot view " << shape_str(shape()) << " as "
                                                                   << shape_str(new_shape) << " (" << numel() << " vs "
                                                                   << shape_numel(new_shape) << " elements)");
  return make_view(*this, new_shape, impl_->offset);
}

Tensor Tensor::slice0(int64_t start, int64_t length) const {
  check_defined("slice0()");
  LB_CHECK(dim() >= 1, "slice0: needs at least one dimension, got a scalar");
  LB_CHECK(start >= 0 && length >= 0 && start + length <= shape()[0],
           "slice0: rows [" << start << ", " << start + length << ") out of range for " << shape_str(shape()));
  Shape s = shape();
  const int64_t row = s[0] == 0 ? 0 : numel() / s[0];
  s[0] = length;
  return make_view(*this, s, impl_->offset + start * row);
}

bool Tensor::same_storage(const Tensor& o) const {
  return defined() && o.defined() && impl_->storage == o.impl_->storage;
}

// ---- autograd ---------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined("requires_grad_()");
  LB_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad; call detach() first");
  LB_CHECK(!on || is_floating(dtype()),
           "requires_grad_: only floating tensors can require grad, got " << dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return defined() && impl_->grad_fn == nullptr; }

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn()");
  return impl_->grad_fn;
}

Tensor Tensor::grad() const {
  check_defined("grad()");
  return Tensor(impl_->grad);
}

void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad()");
  if (g.defined()) check_same_shape("set_grad", *this, g);
  impl_->grad = g.impl_ptr();
}

void Tensor::zero_grad() {
  check_defined("zero_grad()");
  impl_->grad.reset();
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph);
}

const std::string& Tensor::name() const {
  check_defined("name()");
  return impl_->name;
}

Tensor& Tensor::set_name(const std::string& n) {
  check_defined("set_name()");
  impl_->name = n;
  return *this;
}

// ---- checks ---------------------------------------------------------------------------------

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  LB_CHECK(a.defined() && b.defined(), op << ": undefined tensor");
  LB_CHECK(a.shape() == b.shape(), op << ": shape mismatch " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  LB_CHECK(a.dtype() == b.dtype(),
           op << ": dtype mismatch " << dtype_name(a.dtype()) << " vs " << dtype_name(b.dtype()));
}

void check_cpu(const char* op, const Tensor& t) {
  LB_CHECK(t.device().is_cpu(), op << ": expected a CPU tensor, got one on " << t.device().str());
}

}  // namespace lb
