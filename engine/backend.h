// backend.h: which implementation the ops use on each device, and in which math mode.
//
// CUDA:
//   Custom  lightbox's own kernels (kernels/*.cu), the default
//   Cudnn   the same ops through cuDNN and cuBLAS (kernels/cudnn/), for comparison
// CPU (float32 only; float64 always runs lightbox's loops, the exact oracles of the tests):
//   Own     lightbox's own loops and GEMM (engine/cpu/), the default
//   Onednn  conv2d, batch_norm2d and linear through oneDNN (engine/cpu/onednn/), for comparison
//
// Ops without a cuDNN counterpart (pooling with indices, softmax, cross-entropy, the optimizer
// updates, elementwise) run the custom kernels under both; likewise on the CPU, where max pooling
// keeps our loops under Onednn too (its indices are part of the op's contract; oneDNN keeps an
// opaque workspace and skips NaN, see engine/cpu/onednn/pool2d.h). The math mode chooses plain fp32,
// TF32 or bf16 tensor cores for conv and linear (kernels/shapes.h says exactly what each rounds).
// Process-wide settings, read at each op; the CLI sets them from --device, --backend, --tf32 and
// --bf16 (tools/cli/commands.h), refusing a backend on the wrong device (cudnn on the CPU, onednn
// on CUDA) before any work.
//
// The name cuda_math_mode() is older than Bf16: Fp32 and Tf32 only concern CUDA (the CPU ignores
// Tf32), but Bf16 also governs the CPU's float32 conv2d and linear, which then emulate the bf16
// GEMMs exactly (engine/cpu/conv2d.h), so a CPU run and the CPU tests see the CUDA numerics.
#pragma once

#include <string>

#include "kernels/shapes.h"

namespace lb {

enum class CudaBackend { Custom, Cudnn };

CudaBackend cuda_backend();
void set_cuda_backend(CudaBackend b);
CudaBackend parse_cuda_backend(const std::string& s);  // "custom" or "cudnn"; throws otherwise
const char* cuda_backend_name(CudaBackend b);

enum class CpuBackend { Own, Onednn };

CpuBackend cpu_backend();
void set_cpu_backend(CpuBackend b);
CpuBackend parse_cpu_backend(const std::string& s);  // "own" (also "custom") or "onednn"; throws otherwise
const char* cpu_backend_name(CpuBackend b);          // "own" or "onednn"

kernels::MathMode cuda_math_mode();
const char* math_mode_name(kernels::MathMode m);  // "fp32", "tf32" or "bf16" (JSON, meta files)
void set_cuda_math_mode(kernels::MathMode m);

}  // namespace lb
