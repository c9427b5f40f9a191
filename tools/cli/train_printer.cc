// train_printer.cc: see train_printer.h. Every line is written exactly as the trainer printed it
// when it still printed (std::cerr and std::fprintf(stderr, ...) share one unbuffered stream).
#include "tools/cli/train_printer.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "engine/data/medmnist.h"

namespace lb::cli {

void TrainPrinter::config_missing(const std::string& out) {
  std::cerr << "lightbox: " << out << " holds no run yet (no config.json); starting it from the flags given\n";
}

void TrainPrinter::imagenet_init(const models::InitReport& report, const std::string& conv1, int64_t in_channels) {
  for (const auto& name : report.adapted)
    std::cerr << "lightbox: " << name << " adapted from ImageNet (--conv1 " << conv1 << ", 3 -> " << in_channels
              << " channel(s))\n";
  for (const auto& name : report.reinitialised)
    std::cerr << "lightbox: " << name << " re-initialised"
              << (name == "conv1.weight" ? " (--conv1 random)" : " (new classifier head)") << "\n";
}

// The data line, then one line per split: its size and each class's count and share (for a
// multi-label set, how many images carry each label).
void TrainPrinter::run_start(const models::RunStart& start) {
  const bool multilabel = start.task == data::task_name(data::Task::MultiLabel);
  std::cerr << "lightbox: " << start.data << ", " << start.height << "x" << start.width << "x" << start.channels << ", "
            << start.num_classes << (multilabel ? " labels (multi-label)" : " classes") << "\n";
  for (const models::RunStart::Split& s : start.splits) {
    std::cerr << "  " << s.name << ": " << s.size << " images (";
    for (size_t k = 0; k < s.counts.size(); ++k)
      std::fprintf(stderr, "%s%s %lld, %.1f%%", k ? "; " : "", start.class_names[k].c_str(), (long long)s.counts[k],
                   100.0 * s.counts[k] / std::max<int64_t>(s.size, 1));
    std::cerr << ")\n";
  }
}

void TrainPrinter::resumed(const std::string& out, int64_t epochs_done, int64_t batches_done) {
  std::cerr << "lightbox: resuming " << out << " after epoch " << epochs_done
            << (batches_done ? ", batch " + std::to_string(batches_done) : std::string()) << "\n";
}

void TrainPrinter::nothing_to_resume(const std::string& out) {
  std::cerr << "lightbox: " << out << " has no finished epoch yet; starting at epoch 1\n";
}

void TrainPrinter::epoch_start(int64_t epoch, int64_t epochs, int64_t batches) {
  bar_ = std::make_unique<ProgressBar>("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), batches, "img",
                                       progress_);
}

void TrainPrinter::batch_end(int64_t images, double mean_loss) {
  char status[64];
  std::snprintf(status, sizeof status, "loss %.4f", mean_loss);
  if (bar_) bar_->update(1, static_cast<double>(images), status);
}

void TrainPrinter::batches_end() {
  if (bar_) bar_->finish();
}

void TrainPrinter::epoch_end(const models::EpochRecord& r, int64_t epochs, bool improved) {
  std::fprintf(stderr, "epoch %lld/%lld  train loss %.4f acc %.4f | val loss %.4f acc %.4f auc %.4f%s\n",
               (long long)r.epoch, (long long)epochs, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.val_auc,
               improved ? "  (best)" : "");
}

void TrainPrinter::stop_after(int64_t epochs) {
  std::cerr << "lightbox: stopping after " << epochs << " epoch(s) as asked; continue with --resume\n";
}

void TrainPrinter::interrupted(const models::Interruption& w) {
  std::cerr << "lightbox: interrupted: saved the state at epoch " << w.epoch << ", batch " << w.batch << " of "
            << w.batches << " to " << w.path << "; continue with: lightbox train --out " << w.out << " --resume\n";
}

void TrainPrinter::early_stop(int64_t patience) {
  std::cerr << "lightbox: early stop: no better val AUC for " << patience << " epochs\n";
}

}  // namespace lb::cli
