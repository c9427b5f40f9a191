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
#include <utility>
#include <vector>

#include "base/common.h"

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
    case Isa::Avx512:
      return chains_avx512(steps);
    case Isa::Avx2:
      return chains_avx2(steps);
    case Isa::Generic:
      return chains_generic(steps);
  }
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One run: after a barrier every thread runs `steps` rounds and times itself, so a thread that
// the OS wakes late does not stretch the others' times. Returns each thread's [start, end).
std::vector<std::pair<double, double>> run_threads(Isa isa, int threads, int64_t steps) {
  std::vector<std::pair<double, double>> spans(static_cast<size_t>(threads), {0.0, 0.0});
  float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
#pragma omp barrier
    const double start = seconds_since(t0);
    sink += run_chains(isa, steps);
    spans[static_cast<size_t>(omp_get_thread_num())] = {start, seconds_since(t0)};
  }
  LB_CHECK(sink == sink, "FMA peak probe: the accumulators became NaN; this is a bug in engine/cpu/fma_peak.cc");
  return spans;
}

// FLOP/s of one run. When the threads ran side by side (their common span covers 90% of the
// longest one) each thread's own rate counts and they add up: two hyperthreads of one core then
// share its FMA ports and each shows half. Otherwise only the wall time from the first start to
// the last end is trusted.
double run_rate(const std::vector<std::pair<double, double>>& spans, double flops_per_thread, bool& side_by_side) {
  double first = 1e30, last = 0, latest_start = 0, earliest_end = 1e30, longest = 0, sum = 0;
  for (const auto& [a, b] : spans) {
    first = std::min(first, a);
    last = std::max(last, b);
    latest_start = std::max(latest_start, a);
    earliest_end = std::min(earliest_end, b);
    longest = std::max(longest, b - a);
    sum += flops_per_thread / std::max(b - a, 1e-9);
  }
  side_by_side = earliest_end - latest_start >= 0.9 * longest;
  if (side_by_side) return sum;
  return flops_per_thread * static_cast<double>(spans.size()) / std::max(last - first, 1e-9);
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
  // Many short runs (1 to 2 ms each) and the fastest one counts: a run that another process
  // preempts is slower, never faster, so on a shared machine the best run is the one that had the
  // cores to itself, as the short kernel timings of the bench mostly do. One long run would
  // instead measure the machine's average load. The steps double until the fastest thread of a
  // run takes a millisecond.
  int64_t steps = 1 << 10;
  for (; steps < (int64_t{1} << 32); steps *= 2) {
    double fastest = 1e30;
    for (const auto& [a, b] : run_threads(isa, p.threads, steps)) fastest = std::min(fastest, b - a);
    if (fastest >= 1e-3) break;
  }
  const double flops = 2.0 * p.lanes * p.chains * static_cast<double>(steps);  // per thread and run
  // On a busy machine a run with every thread side by side may take a while to come: up to four
  // times the budget is spent waiting for one.
  double best = 0;
  bool seen_side_by_side = false;
  const auto t0 = std::chrono::steady_clock::now();
  for (int run = 0; run < 5 || seconds_since(t0) < (seen_side_by_side ? 1 : 4) * seconds; ++run) {
    bool side_by_side = false;
    best = std::max(best, run_rate(run_threads(isa, p.threads, steps), flops, side_by_side) * 1e-9);
    seen_side_by_side |= side_by_side;
  }
  p.gflops = best;
  p.gflops_per_thread = best / p.threads;
  p.side_by_side = seen_side_by_side;
  return p;
}

}  // namespace lb::cpu
