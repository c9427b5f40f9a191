// dtype.h: element types and devices.
//
// float32 is the working type everywhere. float64 exists on the CPU so that tests can run
// finite-difference checks and naive references without rounding noise. int64 holds labels and
// max-pool indices; uint8 holds raw images and boolean masks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/common.h"

namespace lb {

enum class DType : uint8_t { Float32, Float64, Int64, UInt8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::UInt8:
      return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::UInt8:
      return "uint8";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

// dtype_of<T>() maps a C++ element type to its DType (used by Tensor::data<T>() checks).
template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::UInt8;
}

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// Parses "cpu", "cuda" or "cuda:N"; throws on anything else.
Device parse_device(const std::string& s);

}  // namespace lb

// LB_DISPATCH_FLOAT(dtype, op_name, body): runs `body` (a generic lambda taking a T* tag) with T =
// float or double, and throws a clear error for other dtypes. Used by every floating-point op.
#define LB_DISPATCH_FLOAT(dtype, op_name, ...)                                                          \
  [&] {                                                                                                 \
    auto lb_body_ = __VA_ARGS__;                                                                        \
    switch (dtype) {                                                                                    \
      case ::lb::DType::Float32:                                                                        \
        return lb_body_(static_cast<float*>(nullptr));                                                  \
      case ::lb::DType::Float64:                                                                        \
        return lb_body_(static_cast<double*>(nullptr));                                                 \
      default:                                                                                          \
        LB_THROW(op_name << ": expected a float32 or float64 tensor, got " << ::lb::dtype_name(dtype)); \
    }                                                                                                   \
  }()
