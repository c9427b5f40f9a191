// progress_bar.cc: see progress_bar.h. Moved from engine/progress.cc, where it drew the bar from
// inside the library; the lines it draws are unchanged.
#include "tools/cli/progress_bar.h"

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <utility>

namespace lb::cli {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                  (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

TerminalProgress::TerminalProgress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  if (tty_) draw(false);
}

void TerminalProgress::update(int64_t steps, double units, const std::string& status) {
  done_ += steps;
  units_ += units;
  if (!status.empty()) status_ = status;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if ((tty_ && since >= 0.1) || (!tty_ && since >= 5.0)) draw(false);
}

void TerminalProgress::finish(const std::string& status) {
  if (!status.empty()) status_ = status;
  draw(true);
}

void TerminalProgress::draw(bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double rate = elapsed > 0 ? units_ / elapsed : 0.0;
  const double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  const double eta = done_ > 0 ? elapsed * (total_ - done_) / done_ : NAN;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(std::round(std::min(1.0, frac) * kWidth));
  std::string bar(filled, '#');
  bar += std::string(kWidth - filled, '-');
  char line[512];
  std::snprintf(line, sizeof line, "%s [%s] %4lld/%lld  %.1f %s/s  %s %s  %s", label_.c_str(), bar.c_str(),
                (long long)done_, (long long)total_, rate, unit_.c_str(), final ? "took" : "ETA",
                format_duration(final ? elapsed : eta).c_str(), status_.c_str());
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

ProgressRenderer terminal_progress() {
  return [](const std::string& label, int64_t total, const std::string& unit) -> std::unique_ptr<ProgressView> {
    return std::make_unique<TerminalProgress>(label, total, unit);
  };
}

}  // namespace lb::cli
