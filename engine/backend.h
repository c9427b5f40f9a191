// backend.h: which CUDA implementation the ops use, and in which math mode.
//
//   Custom  lightbox's own kernels (kernels/*.cu), the default
//   Cudnn   the same ops through cuDNN and cuBLAS (kernels/cudnn/), for comparison
//
// Ops without a cuDNN counterpart (pooling with indices, softmax, cross-entropy, the optimizer
// updates, elementwise) run the custom kernels under both. The math mode chooses plain fp32 or
// TF32 tensor cores for conv and linear (both backends). Process-wide settings, read at each op;
// the CLI sets them from --backend and --tf32 (tools/cli/device_options.h).
#pragma once

#include <string>

#include "kernels/shapes.h"

namespace lb {

enum class CudaBackend { Custom, Cudnn };

CudaBackend cuda_backend();
void set_cuda_backend(CudaBackend b);
CudaBackend parse_cuda_backend(const std::string& s);  // "custom" or "cudnn"; throws otherwise
const char* cuda_backend_name(CudaBackend b);

kernels::MathMode cuda_math_mode();
void set_cuda_math_mode(kernels::MathMode m);

}  // namespace lb
