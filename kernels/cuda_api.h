// cuda_api.h: how kernel entry points are declared so that a build without CUDA still links.
//
// Every kernels/<op>.cuh declares its host-side entry points with LB_CUDA_API(...). With CUDA the
// macro is a plain declaration, defined in the matching .cu file. Without CUDA it becomes an
// inline function that throws: no tensor can live on a GPU in such a build (Storage refuses), so
// the throw is only reachable through a programming error, and the message says so.
#pragma once

#include <cstdint>

#include "base/common.h"

namespace lb::kernels {
[[noreturn]] inline void throw_no_cuda() {
  LB_THROW("this lightbox was built without CUDA; rebuild with -DLB_CUDA=ON to run on a GPU");
}
}  // namespace lb::kernels

#ifdef LB_WITH_CUDA
#define LB_CUDA_API(...) __VA_ARGS__;
#else
#define LB_CUDA_API(...) \
  inline __VA_ARGS__ { ::lb::kernels::throw_no_cuda(); }
#endif
