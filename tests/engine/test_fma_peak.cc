// test_fma_peak.cc: the FMA peak probe (engine/cpu/fma_peak.h) behind the "% of peak" column of
// `lightbox bench kernels --device cpu`: on every ISA path this machine runs, one thread, a short
// budget, it reports the path's vector width and a rate a real core can reach.
#include <gtest/gtest.h>

#include "engine/cpu/cpu_info.h"
#include "engine/cpu/fma_peak.h"

namespace lb {
namespace {

// Every x86-64 core sustains > 1 GFLOP/s on registers; none exceeds 4 FMA ports x 16 lanes x 2 x
// 6 GHz = 768. A rate outside means a wrong FLOP count or a loop the compiler removed.
TEST(FmaPeak, ReportsAPossibleRateOnEveryIsaPath) {
  for (cpu::Isa isa : {cpu::Isa::Generic, cpu::Isa::Avx2, cpu::Isa::Avx512}) {
    if (!cpu::isa_supported(isa)) continue;
    SCOPED_TRACE(cpu::isa_name(isa));
    const cpu::FmaPeak p = cpu::measure_fma_peak(1, 0.05, isa);
    EXPECT_EQ(p.threads, 1);
    EXPECT_EQ(p.lanes, isa == cpu::Isa::Avx512 ? 16 : isa == cpu::Isa::Avx2 ? 8 : 4);
    EXPECT_GT(p.gflops_per_thread, 1.0);
    EXPECT_LT(p.gflops_per_thread, 768.0);
    EXPECT_DOUBLE_EQ(p.gflops, p.gflops_per_thread);
    EXPECT_TRUE(p.side_by_side);  // one thread always computes "side by side" with itself
  }
}

}  // namespace
}  // namespace lb
