// nn/fusion.cc: see fusion.h.
#include "engine/nn/fusion.h"

#include <atomic>

#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/nn/module.h"

namespace lb::nn {

namespace {
// Atomic: a data-loader thread may run a model while the main thread flips the switch in a test.
std::atomic<bool> g_fusion{true};
std::atomic<bool> g_folding{true};
}  // namespace

void set_fusion(bool on) { g_fusion.store(on, std::memory_order_relaxed); }
bool fusion_enabled() { return g_fusion.load(std::memory_order_relaxed); }

bool can_fuse(std::initializer_list<const Module*> modules) {
  if (!fusion_enabled() || io_recording()) return false;
  if (!Capture::active()) return true;
  for (const Module* m : modules)
    if (m && Capture::wants(m->path())) return false;
  return true;
}

void set_folding(bool on) { g_folding.store(on, std::memory_order_relaxed); }
bool folding_enabled() { return g_folding.load(std::memory_order_relaxed); }

bool can_fold(std::initializer_list<const Module*> modules) {
  if (!folding_enabled() || !can_fuse(modules)) return false;
  for (const Module* m : modules)
    if (m && m->is_training()) return false;
  return true;
}

}  // namespace lb::nn
