// cpu/cpu_info.cc: CPUID and XGETBV, read once (see cpu_info.h). x86-64 only; on any other
// architecture every query answers "generic" and no cache sizes.
#include "engine/cpu/cpu_info.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>

#include "base/common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LB_X86 1
#endif

namespace lb::cpu {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

#ifdef LB_X86
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned sub = 0) {
  Regs r;
  __cpuid_count(leaf, sub, r.a, r.b, r.c, r.d);
  return r;
}

// XCR0: which register states the OS saves on a context switch. A CPU with AVX-512 under an OS
// (or hypervisor) that does not save zmm registers must not run AVX-512 code.
uint64_t xgetbv0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

// Deterministic cache parameters: one sub-leaf per cache, until type 0 ("no more caches").
// Size = ways * partitions * line size * sets, each field stored minus one.
void read_caches(unsigned leaf, CpuInfo& info) {
  for (unsigned sub = 0; sub < 16; ++sub) {
    const Regs r = cpuid(leaf, sub);
    const unsigned type = r.a & 0x1f;  // 1 data, 2 instruction, 3 unified
    if (type == 0) break;
    if (type == 2) continue;
    const unsigned level = (r.a >> 5) & 0x7;
    const int64_t ways = ((r.b >> 22) & 0x3ff) + 1, parts = ((r.b >> 12) & 0x3ff) + 1, line = (r.b & 0xfff) + 1;
    const int64_t sets = int64_t(r.c) + 1;
    const int64_t size = ways * parts * line * sets;
    if (level == 1) info.l1d = size;
    if (level == 2) info.l2 = size;
    if (level == 3) info.l3 = size;
  }
}

CpuInfo read_cpu_info() {
  CpuInfo info;
  const Regs r0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &r0.b, 4);
  std::memcpy(vendor + 4, &r0.d, 4);
  std::memcpy(vendor + 8, &r0.c, 4);
  info.vendor = vendor;
  const unsigned max_leaf = r0.a;
  const unsigned max_ext = cpuid(0x80000000).a;
  if (max_ext >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    info.model = trim(brand);
  }
  if (max_leaf >= 1) {
    const Regs r1 = cpuid(1);
    const bool osxsave = (r1.c >> 27) & 1;
    const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    info.os_avx = (xcr0 & 0x6) == 0x6;             // SSE and AVX (ymm) state
    const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;  // + opmask, upper zmm0-15, zmm16-31
    info.fma = info.os_avx && ((r1.c >> 12) & 1);
    if (max_leaf >= 7) {
      const Regs r7 = cpuid(7, 0);
      info.avx2 = info.os_avx && ((r7.b >> 5) & 1);
      info.avx512f = os_avx512 && info.fma && ((r7.b >> 16) & 1);
    }
  }
  if (info.vendor == "AuthenticAMD" || info.vendor == "HygonGenuine") {
    if (max_ext >= 0x8000001D) read_caches(0x8000001D, info);
  } else if (max_leaf >= 4) {
    read_caches(4, info);
  }
  return info;
}
#else
CpuInfo read_cpu_info() { return CpuInfo{"unknown", "non-x86 CPU"}; }
#endif

Isa choose_active_isa() {
  const char* env = std::getenv("LB_CPU_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  const Isa isa = parse_isa(env);
  LB_CHECK(isa_supported(isa), "LB_CPU_ISA=" << env << ": this CPU (" << cpu_info().model << ") cannot run the " << env
                                             << " path; its best is " << isa_name(best_isa())
                                             << ". Unset LB_CPU_ISA or choose a supported path");
  return isa;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const CpuInfo info = read_cpu_info();
  return info;
}

bool isa_supported(Isa isa) {
  const CpuInfo& c = cpu_info();
  switch (isa) {
    case Isa::Avx512:
      return c.avx512f && c.fma;
    case Isa::Avx2:
      return c.avx2 && c.fma;
    case Isa::Generic:
      return true;
  }
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  if (isa_supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Generic;
}

Isa active_isa() {
  static const Isa isa = choose_active_isa();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    case Isa::Generic:
      return "generic";
  }
  return "?";
}

Isa parse_isa(const std::string& s) {
  if (s == "avx512") return Isa::Avx512;
  if (s == "avx2") return Isa::Avx2;
  if (s == "generic") return Isa::Generic;
  LB_THROW("unknown CPU ISA path '" << s << "'; choose avx512, avx2 or generic");
}

std::string openblas_core() {
  const char* name = openblas_get_corename();
  return name ? trim(name) : std::string("unknown");
}

std::string cpu_summary() {
  const CpuInfo& c = cpu_info();
  return c.model + ", isa " + isa_name(active_isa()) + " (best " + isa_name(best_isa()) + "), openblas " +
         openblas_core();
}

}  // namespace lb::cpu
