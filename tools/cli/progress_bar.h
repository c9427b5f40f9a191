// progress_bar.h: the progress bar `lightbox` draws on stderr for every long loop, library code's
// included (engine/progress.h: main() installs terminal_progress() as the renderer), with rate
// and ETA:
//
//   train 3/5 [##########----------]  23/37  412.0 img/s  ETA 0:12  loss 0.3124
//
// On a terminal it redraws one line (carriage return) at most ten times a second; when stderr is
// a file or pipe (CI logs) it prints a plain line at most every five seconds and at the end, so
// logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/progress.h"

namespace lb::cli {

class TerminalProgress : public ProgressView {
 public:
  TerminalProgress(std::string label, int64_t total, std::string unit);
  void update(int64_t steps, double units, const std::string& status) override;
  void finish(const std::string& status) override;

 private:
  void draw(bool final);
  std::string label_, unit_, status_;
  int64_t total_, done_ = 0;
  double units_ = 0.0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// The renderer that opens a TerminalProgress per loop, for set_progress_renderer().
ProgressRenderer terminal_progress();

// "1:02:03" or "4:05" for a number of seconds; "?" for a negative or non-finite one.
std::string format_duration(double seconds);

}  // namespace lb::cli
