// progress.cc: see progress.h.
#include "engine/progress.h"

#include <atomic>
#include <utility>

namespace lb {

namespace {
// Set once by the program at start-up (progress.h), read by every ProgressBar.
ProgressRenderer& installed_renderer() {
  static ProgressRenderer renderer;
  return renderer;
}
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_cancel must be async-signal-safe");
}  // namespace

void request_cancel() { g_cancel.store(true, std::memory_order_relaxed); }
void clear_cancel() { g_cancel.store(false, std::memory_order_relaxed); }
bool cancel_requested() { return g_cancel.load(std::memory_order_relaxed); }

void set_progress_renderer(ProgressRenderer renderer) { installed_renderer() = std::move(renderer); }

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, bool enabled) {
  const ProgressRenderer& renderer = installed_renderer();
  if (enabled && renderer) view_ = renderer(label, total, unit);
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(int64_t steps, double units, const std::string& status) {
  if (cancel_requested()) throw Cancelled();
  if (view_) view_->update(steps, units, status);
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (view_) view_->finish(status);
}

}  // namespace lb
