// cpu/cpu_info.h: what this CPU is and which of lightbox's instruction-set paths runs on it.
//
// Everything here is read from the CPUID instruction and the XGETBV register, never from a table
// of CPU models: a model table is what made Debian's OpenBLAS 0.3.21 run its SSE3 (Prescott)
// kernels on an Emerald Rapids Xeon, 4x below that machine's speed, because the table predates the
// chip. Feature bits are forward compatible: a CPU that sets the AVX-512F bit runs AVX-512F code,
// whatever its model number.
//
// The ISA path (engine/cpu/gemm.h's micro-kernels) is chosen once per process:
//   avx512   AVX-512F (+ FMA): 32 zmm registers of 16 floats
//   avx2     AVX2 + FMA: 16 ymm registers of 8 floats
//   generic  portable C++ the compiler vectorises for the baseline x86-64 (SSE2) or any target
// The environment variable LB_CPU_ISA=avx512|avx2|generic forces a path, so every path can be
// tested and timed on a machine that runs it; forcing one the CPU cannot run is an error.
#pragma once

#include <cstdint>
#include <string>

namespace lb::cpu {

enum class Isa { Generic, Avx2, Avx512 };

struct CpuInfo {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ... (CPUID leaf 0)
  std::string model;   // the brand string, e.g. "Intel(R) Xeon(R) Processor" (leaves 0x80000002-4)
  bool fma = false, avx2 = false;
  bool avx512f = false;  // AVX-512 Foundation, and the OS saves the zmm and opmask registers
  bool os_avx = false;   // the OS saves ymm registers (XCR0 bits 1, 2)
  // Data cache sizes in bytes per core (L3: the whole cache), from CPUID's deterministic cache
  // parameters (Intel leaf 4, AMD leaf 0x8000001D); 0 where the CPU does not say.
  int64_t l1d = 0, l2 = 0, l3 = 0;
};

// The facts of this CPU, read once.
const CpuInfo& cpu_info();

// The fastest path this CPU can run.
Isa best_isa();
// The path in use: LB_CPU_ISA if set (checked against the CPU), best_isa() otherwise. Read once.
Isa active_isa();
// Whether this CPU can run `isa` (tests force each supported path in turn).
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);  // "avx512", "avx2", "generic"
// Parses "avx512", "avx2" or "generic"; throws lb::Error naming the choices otherwise.
Isa parse_isa(const std::string& s);

// The core OpenBLAS chose for itself (openblas_get_corename(), e.g. "SkylakeX" or "Prescott"):
// OpenBLAS is the GEMM comparison, and a slow fallback there must be visible, not silent.
std::string openblas_core();

// One line for logs and benchmark JSON: "<model>, isa avx512 (best avx512), openblas SkylakeX".
std::string cpu_summary();

}  // namespace lb::cpu
