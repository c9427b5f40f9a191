// backend.cc: see backend.h.
#include "engine/backend.h"

#include <atomic>

#include "base/common.h"

namespace lb {

namespace {
std::atomic<CudaBackend> g_backend{CudaBackend::Custom};
std::atomic<CpuBackend> g_cpu_backend{CpuBackend::Own};
std::atomic<kernels::MathMode> g_math{kernels::MathMode::Fp32};
}  // namespace

CudaBackend cuda_backend() { return g_backend.load(); }
void set_cuda_backend(CudaBackend b) { g_backend.store(b); }

CudaBackend parse_cuda_backend(const std::string& s) {
  if (s == "custom") return CudaBackend::Custom;
  if (s == "cudnn") return CudaBackend::Cudnn;
  LB_THROW("backend: unknown '" << s << "'; use custom (lightbox's kernels) or cudnn (cuDNN and cuBLAS)");
}

const char* cuda_backend_name(CudaBackend b) { return b == CudaBackend::Cudnn ? "cudnn" : "custom"; }
CpuBackend cpu_backend() { return g_cpu_backend.load(); }
void set_cpu_backend(CpuBackend b) { g_cpu_backend.store(b); }

CpuBackend parse_cpu_backend(const std::string& s) {
  if (s == "own" || s == "custom") return CpuBackend::Own;
  if (s == "onednn") return CpuBackend::Onednn;
  LB_THROW("CPU backend: unknown '" << s << "'; use own (lightbox's loops) or onednn (oneDNN)");
}

const char* cpu_backend_name(CpuBackend b) { return b == CpuBackend::Onednn ? "onednn" : "own"; }

const char* math_mode_name(kernels::MathMode m) {
  return m == kernels::MathMode::Tf32 ? "tf32" : m == kernels::MathMode::Bf16 ? "bf16" : "fp32";
}

kernels::MathMode cuda_math_mode() { return g_math.load(); }
void set_cuda_math_mode(kernels::MathMode m) { g_math.store(m); }

}  // namespace lb
