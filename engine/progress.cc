// progress.cc: see progress.h.
#include "engine/progress.h"

#include <utility>

namespace lb {

namespace {
// Set once by the program at start-up (progress.h), read by every ProgressBar.
ProgressRenderer& installed_renderer() {
  static ProgressRenderer renderer;
  return renderer;
}
}  // namespace

void set_progress_renderer(ProgressRenderer renderer) { installed_renderer() = std::move(renderer); }

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, bool enabled) {
  const ProgressRenderer& renderer = installed_renderer();
  if (enabled && renderer) view_ = renderer(label, total, unit);
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(int64_t steps, double units, const std::string& status) {
  if (view_) view_->update(steps, units, status);
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (view_) view_->finish(status);
}

}  // namespace lb
