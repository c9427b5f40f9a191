// progress.h: a progress bar for long work, with rate and ETA.
//
//   train 3/5 [##########----------]  23/37  412.0 img/s  ETA 0:12  loss 0.3124
//
// On a terminal it redraws one line (carriage return); when stderr is a file or pipe (CI logs)
// it prints a plain line at most every few seconds and at the end, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lb {

class ProgressBar {
 public:
  // `total` steps of `unit_per_step` units each (e.g. batches of 128 images: unit "img").
  ProgressBar(std::string label, int64_t total, std::string unit = "it", bool enabled = true);
  ~ProgressBar();
  // Advances by `steps` steps worth `units` units in all; `status` is appended ("loss 0.31").
  void update(int64_t steps, double units, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  void draw(bool final);
  std::string label_, unit_, status_;
  int64_t total_, done_ = 0;
  double units_ = 0.0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" or "4:05" for a number of seconds.
std::string format_duration(double seconds);

}  // namespace lb
