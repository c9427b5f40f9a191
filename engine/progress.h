// progress.h: how library code reports the progress of a long loop, without printing.
//
// A loop (an epoch of evaluation, an explainer over its images, the phantom generator) makes a
// ProgressBar with a label, its number of steps and a unit, calls update() after each step and
// finish() at the end (the destructor finishes one left open). What becomes of those reports is
// the program's choice: it installs a ProgressRenderer once, at start-up, and every ProgressBar
// made afterwards opens a ProgressView from it. `lightbox` installs the terminal bar of
// tools/cli/progress_bar.h,
//
//   train 3/5 [##########----------]  23/37  412.0 img/s  ETA 0:12  loss 0.3124
//
// a Python binding could install one that feeds tqdm, and with none installed (a test, any other
// program linking the library) progress goes nowhere: library code never prints (base/common.h).
//
// Cancellation rides on the same calls: a long loop reports progress between its batches, so
// ProgressBar::update is where it can stop cleanly. request_cancel() (a signal handler may call
// it: it only stores an atomic flag) makes the next update() of any loop throw lb::Cancelled; the
// Python binding sets it on Ctrl-C while the engine computes (docs/12-python.md). Training has its
// own stop request that saves a resumable state first (models/train.h, stop_requested).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/common.h"

namespace lb {

// Thrown by ProgressBar::update once request_cancel() was called: the loop stops between batches.
class Cancelled : public Error {
 public:
  Cancelled() : Error("interrupted: the computation was cancelled") {}
};

// The cancellation flag (one for the process). clear_cancel() before a call that may be cancelled.
void request_cancel();  // async-signal-safe
void clear_cancel();
bool cancel_requested();

// One loop's progress as a renderer shows it.
class ProgressView {
 public:
  virtual ~ProgressView() = default;
  // `steps` more steps are done, worth `units` units in all; `status` ("loss 0.31") replaces the
  // previous one unless empty.
  virtual void update(int64_t steps, double units, const std::string& status) = 0;
  // The loop is over (called once).
  virtual void finish(const std::string& status) = 0;
};

// Opens the view of a loop of `total` steps labelled `label`, counted in `unit` ("img").
using ProgressRenderer =
    std::function<std::unique_ptr<ProgressView>(const std::string& label, int64_t total, const std::string& unit)>;

// Installs the renderer every ProgressBar made from now on uses (an empty one: none). Call it at
// start-up, before any thread makes a ProgressBar.
void set_progress_renderer(ProgressRenderer renderer);

// A loop's progress report, as library code holds it: forwards to the installed renderer's view.
class ProgressBar {
 public:
  // `total` steps of `unit`s (e.g. batches of 128 images: unit "img"). enabled = false (a
  // --quiet run) opens no view even when a renderer is installed.
  ProgressBar(std::string label, int64_t total, std::string unit = "it", bool enabled = true);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Advances by `steps` steps worth `units` units in all; `status` is appended ("loss 0.31").
  // Throws lb::Cancelled when request_cancel() was called (enabled or not).
  void update(int64_t steps, double units, const std::string& status = "");
  void finish(const std::string& status = "");

 private:
  std::unique_ptr<ProgressView> view_;  // null: nobody is watching
  bool finished_ = false;
};

}  // namespace lb
