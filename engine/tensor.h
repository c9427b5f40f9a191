// tensor.h: the Tensor handle.
//
// A Tensor is a cheap, copyable handle (a shared_ptr) to a TensorImpl, which holds:
//   storage  shared bytes + the version counter (engine/storage.h)
//   offset   first element inside the storage (views along dim 0 start later)
//   shape    contiguous row-major; NCHW for images
//   dtype    float32 first-class; float64 (CPU checks); int64 and uint8 for labels and masks
//   autograd requires_grad, grad, grad_fn (the tape node that made it), a name for graph dumps
//
// Every tensor is contiguous. Views (reshape, flatten, slice0, detach) share storage and so share
// the version counter. Copying a Tensor copies the handle, not the data: use clone() for that.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "engine/storage.h"

namespace lb {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 28, 28]"
int64_t shape_numel(const Shape& s);

class Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::Float32;

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;      // accumulated by backward() on leaves
  std::shared_ptr<Node> grad_fn;         // null for leaves
  std::weak_ptr<Node> grad_accumulator;  // leaves: the AccumulateGrad node, made on demand
  std::string name;                      // parameter name, shown by autograd::to_dot
  // Set on both ends of a differentiable view (lb::reshape of a tensor that requires grad).
  // In-place ops refuse such tensors: a write through one alias would bypass the other's
  // history and give a silently wrong gradient.
  bool grad_view_alias = false;
};

// A seeded random source. Passed explicitly to everything random (initialisers, shuffling,
// dropout-free augmentation) so that a run is reproducible from its --seed alone.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : eng_(seed) {}
  double uniform(double lo = 0.0, double hi = 1.0) { return std::uniform_real_distribution<double>(lo, hi)(eng_); }
  double normal(double mean = 0.0, double std = 1.0) { return std::normal_distribution<double>(mean, std)(eng_); }
  uint64_t next() { return eng_(); }
  std::mt19937_64& engine() { return eng_; }

 private:
  std::mt19937_64 eng_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories -------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device dev = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device dev = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device dev = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::Float32);
  // Copies values (converted to dtype) into a new CPU tensor; values.size() must match shape.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::Float32);
  static Tensor arange(int64_t n, DType dtype = DType::Int64);
  // A tensor over an existing storage from its first byte, without copying (Storage::wrap: memory
  // shared with another library); the storage must hold at least numel * dtype_size bytes.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype = DType::Float32);
  static Tensor rand(const Shape& shape, Generator& gen, double lo = 0.0, double hi = 1.0,
                     DType dtype = DType::Float32);
  static Tensor randn(const Shape& shape, Generator& gen, double mean = 0.0, double std = 1.0,
                      DType dtype = DType::Float32);

  // ---- metadata ----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  std::string str() const;  // "float32[2, 3] cpu" (for messages)

  // ---- data access (CPU) -------------------------------------------------------------------
  // data<T>() checks that T matches the dtype and that the tensor is on the CPU. Writing
  // through the pointer does not bump the version: call mark_modified() after such writes if
  // the tensor may have been saved for backward.
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  // data_ptr<T>() checks the dtype only: the pointer may be device memory (for kernels).
  template <class T>
  T* data_ptr();
  template <class T>
  const T* data_ptr() const;
  void* raw_data();
  const void* raw_data() const;
  double item() const;                    // single-element tensors, any dtype
  std::vector<double> to_vector() const;  // every element as double (for tests and printing)
  double at(int64_t flat_index) const;    // one element as double

  // ---- versions and in-place ---------------------------------------------------------------
  uint64_t version() const;
  void mark_modified();  // bumps the shared version counter
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // same shape; any devices; converts dtype on the CPU or within one CUDA device

  // ---- conversions and views ---------------------------------------------------------------
  Tensor clone() const;                                // new storage, no autograd history
  Tensor detach() const;                               // same storage and version counter, no history
  Tensor to(Device dev) const;                         // copy to a device (returns *this if already there)
  Tensor to(DType dtype) const;                        // converted copy (returns *this if same dtype)
  Tensor view(const Shape& shape) const;               // non-differentiable view; use lb::reshape in models
  Tensor slice0(int64_t start, int64_t length) const;  // rows [start, start+length), a view

  // ---- autograd ------------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // leaves only (freezing flips this on parameters)
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (like PyTorch's set_to_none=True)
  // Runs backward from this tensor. A non-scalar tensor needs an explicit gradient.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  const std::string& name() const;
  Tensor& set_name(const std::string& n);

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same_storage(const Tensor& o) const;

 private:
  void check_defined(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

// Throws unless a and b have the same shape; `op` names the caller in the message.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
void check_cpu(const char* op, const Tensor& t);

}  // namespace lb
