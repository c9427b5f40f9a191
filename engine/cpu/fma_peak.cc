// cpu/fma_peak.cc: see fma_peak.h. Each kernel runs `steps` rounds of `chains` independent
// updates a = a * b + c on registers; the accumulators start at distinct values (identical chains
// would let the compiler merge them into one) and b < 1 keeps them finite and away from denormals
// (a converges to c / (1 - b) = 1). The sum of the accumulators is returned so nothing is dead code.
#include "engine/cpu/fma_peak.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "engine/common.h"

namespace lb::cpu {

namespace {

#define LB_REPEAT12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define LB_REPEAT16(X) LB_REPEAT12(X) X(12) X(13) X(14) X(15)

constexpr float kB = 0.999999f, kC = 1e-6f;

__attribute__((target("avx512f,fma"))) float chains_avx512(int64_t steps) {
  const __m512 b = _mm512_set1_ps(kB), c = _mm512_set1_ps(kC);
#define LB_INIT(k) __m512 a##k = _mm512_set1_ps(1.0f + 0.01f * (k));
  LB_REPEAT16(LB_INIT)
#undef LB_INIT
  for (int64_t i = 0; i < steps; ++i) {
#define LB_STEP(k) a##k = _mm512_fmadd_ps(a##k, b, c);
    LB_REPEAT16(LB_STEP)
#undef LB_STEP
  }
  __m512 s = _mm512_setzero_ps();
#define LB_SUM(k) s = _mm512_add_ps(s, a##k);
  LB_REPEAT16(LB_SUM)
#undef LB_SUM
  alignas(64) float out[16];  // summed by hand: GCC 12's _mm512_reduce_add_ps warns of itself
  _mm512_store_ps(out, s);
  float r = 0;
  for (float v : out) r += v;
  return r;
}

__attribute__((target("avx2,fma"))) float chains_avx2(int64_t steps) {
  const __m256 b = _mm256_set1_ps(kB), c = _mm256_set1_ps(kC);
#define LB_INIT(k) __m256 a##k = _mm256_set1_ps(1.0f + 0.01f * (k));
  LB_REPEAT12(LB_INIT)
#undef LB_INIT
  for (int64_t i = 0; i < steps; ++i) {
#define LB_STEP(k) a##k = _mm256_fmadd_ps(a##k, b, c);
    LB_REPEAT12(LB_STEP)
#undef LB_STEP
  }
  __m256 s = _mm256_setzero_ps();
#define LB_SUM(k) s = _mm256_add_ps(s, a##k);
  LB_REPEAT12(LB_SUM)
#undef LB_SUM
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  float r = 0;
  for (float v : out) r += v;
  return r;
}

// Baseline x86-64 (SSE2): no FMA, so a multiply and an add, 2 FLOPs per lane per step.
float chains_generic(int64_t steps) {
  const __m128 b = _mm_set1_ps(kB), c = _mm_set1_ps(kC);
#define LB_INIT(k) __m128 a##k = _mm_set1_ps(1.0f + 0.01f * (k));
  LB_REPEAT12(LB_INIT)
#undef LB_INIT
  for (int64_t i = 0; i < steps; ++i) {
#define LB_STEP(k) a##k = _mm_add_ps(_mm_mul_ps(a##k, b), c);
    LB_REPEAT12(LB_STEP)
#undef LB_STEP
  }
  __m128 s = _mm_setzero_ps();
#define LB_SUM(k) s = _mm_add_ps(s, a##k);
  LB_REPEAT12(LB_SUM)
#undef LB_SUM
  alignas(16) float out[4];
  _mm_store_ps(out, s);
  return out[0] + out[1] + out[2] + out[3];
}

#undef LB_REPEAT16
#undef LB_REPEAT12

float run_chains(Isa isa, int64_t steps) {
  switch (isa) {
    case Isa::Avx512: return chains_avx512(steps);
    case Isa::Avx2: return chains_avx2(steps);
    case Isa::Generic: return chains_generic(steps);
  }
  return 0;
}

// Seconds for every thread to run `steps` rounds (the slowest thread sets the time).
double time_chains(Isa isa, int threads, int64_t steps) {
  float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += run_chains(isa, steps);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LB_CHECK(sink == sink, "FMA peak probe: the accumulators became NaN; this is a bug in engine/cpu/fma_peak.cc");
  return s;
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds, Isa isa) {
  LB_CHECK(isa_supported(isa), "FMA peak probe: this CPU cannot run the " << isa_name(isa) << " path; its best is "
                                                                          << isa_name(best_isa()));
  FmaPeak p;
  p.isa = isa;
  p.threads = threads > 0 ? threads : omp_get_max_threads();
  p.lanes = isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 4;
  p.chains = isa == Isa::Avx512 ? 16 : 12;
  // Calibrate on a short run, then size each of 3 runs to a third of the budget; keep the best.
  int64_t steps = 1 << 14;
  const double t = std::max(time_chains(isa, p.threads, steps), 1e-6);
  steps = std::max<int64_t>(steps, static_cast<int64_t>(steps * (seconds / 3) / t));
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    const double s = time_chains(isa, p.threads, steps);
    const double flops = 2.0 * p.lanes * p.chains * static_cast<double>(steps) * p.threads;
    best = std::max(best, flops / s * 1e-9);
  }
  p.gflops = best;
  p.gflops_per_thread = best / p.threads;
  return p;
}

}  // namespace lb::cpu
