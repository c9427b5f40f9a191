// cpu/fma_peak.h: this machine's fp32 peak, measured: the yardstick every "% of peak" in
// `lightbox bench kernels --device cpu` is a share of.
//
// A core's peak is FLOPs per cycle x clock. FLOPs per cycle = FMA ports x vector lanes x 2 (an FMA
// is a multiply and an add): a Skylake-SP / Sapphire Rapids core with two 512-bit FMA ports does
// 2 x 16 x 2 = 64 per cycle; an AVX2 core with two 256-bit ports 2 x 8 x 2 = 32. The clock is the
// hard part: it depends on the instruction mix (AVX-512 licences), the number of busy cores,
// turbo, and on a cloud VM on the neighbours. So the peak is not computed from a table but run: a
// loop of independent FMAs on registers only (no memory traffic), on as many threads as the
// benchmark uses, for the ISA path lightbox runs (cpu::active_isa()). Each thread times itself
// between a barrier and its last FMA; a run counts the sum of the threads' rates when they computed
// side by side, and the best of many 1-2 ms runs is the peak (fma_peak.cc says why).
//
// Independent chains: an FMA's result is ready `latency` cycles after it starts (4 on Intel cores
// since Skylake, 4-5 on AMD's), and each port starts one per cycle, so at least ports x latency
// accumulators must be in flight to keep every port busy; the probe uses 16 (AVX-512: 32 zmm
// registers) or 12 (AVX2: 16 ymm registers, 2 kept for the operands), room for latency 6-8. The
// generic path (baseline x86-64: SSE2, no FMA) runs a multiply and a dependent add per step on
// 4-wide registers, 2 FLOPs per lane per step, also with 12 chains.
//
// The functions are compiled for their ISA with __attribute__((target(...))) (no build flags) and
// only the one active_isa() names is ever called, so the file runs on any x86-64.
#pragma once

#include "engine/cpu/cpu_info.h"

namespace lb::cpu {

struct FmaPeak {
  Isa isa = Isa::Generic;
  int threads = 1;
  int lanes = 4;      // floats per register
  int chains = 12;    // independent accumulators per thread
  double gflops = 0;  // all threads together (the best of many short runs)
  double gflops_per_thread = 0;
  // Whether some run had every thread computing at the same time. False on a machine too busy to
  // give the threads their cores together: gflops is then a wall-clock rate, a lower bound.
  bool side_by_side = false;
};

// Runs the probe for `isa` (active_isa() by default) on `threads` OpenMP threads (0 = all),
// for about `seconds` in all, as many short runs; the fastest counts (fma_peak.cc says why).
// Throws if `isa` is not supported here.
FmaPeak measure_fma_peak(int threads = 0, double seconds = 0.3, Isa isa = active_isa());

}  // namespace lb::cpu
