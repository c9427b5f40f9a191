// phantom.cc: `lightbox phantom`: a synthetic chest X-ray dataset with known lesions
// (engine/data/phantom.h), written as a MedMNIST .npz that `lightbox train --data` reads.
//
//   lightbox phantom --out phantom.npz                       # PneumoniaMNIST's sizes and class shares, 28x28
//   lightbox phantom --out small.npz --size 16 --train 64 --val 16 --test 16 --seed 3
//   lightbox phantom --out shortcut.npz --shortcut           # a corner marker that tracks the label in train only
//   lightbox phantom --out p.npz --samples samples.png       # also a sheet: images over their lesion masks
//
// The .npz holds {train,val,test}_{images,labels,masks} (masks uint8 (N, H, W), 1 on a lesion) and,
// with --shortcut, {split}_markers.
#include <iostream>

#include "engine/data/phantom.h"
#include "engine/io/npz.h"
#include "engine/io/png.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct PhantomOptions {
  std::string out, samples;
  data::PhantomSpec spec;
  int64_t sample_count = 8;
  bool quiet = false;
};

// A sheet of `count` train images (first normal ones, then pneumonia ones, alternating), each
// drawn twice: as is (grey) and with its lesion mask tinted red. Rows of two panels, scaled x4.
Tensor sample_sheet(const std::vector<std::pair<std::string, Tensor>>& arrays, int64_t count) {
  Tensor images, labels, masks;
  for (const auto& [k, t] : arrays) {
    if (k == "train_images") images = t;
    if (k == "train_labels") labels = t;
    if (k == "train_masks") masks = t;
  }
  const int64_t N = images.size(0), S = images.size(1), Z = 4, gap = 2;
  std::vector<int64_t> pick;
  for (int64_t want = 0; static_cast<int64_t>(pick.size()) < count && want < 2 * count; ++want) {
    const int64_t cls = want % 2;  // alternate normal / pneumonia
    for (int64_t n = 0; n < N; ++n) {
      if (labels.data<uint8_t>()[n] != cls || std::find(pick.begin(), pick.end(), n) != pick.end()) continue;
      pick.push_back(n);
      break;
    }
  }
  const int64_t cols = 4, rows = (static_cast<int64_t>(pick.size()) + 1) / 2;  // 2 images (4 panels) per row
  const int64_t cell = S * Z + gap, Hs = rows * cell + gap, Ws = cols * cell + gap;
  Tensor sheet = Tensor::full({Hs, Ws, 3}, 255, DType::UInt8);
  uint8_t* o = sheet.data<uint8_t>();
  for (size_t q = 0; q < pick.size(); ++q) {
    const int64_t n = pick[q], r0 = gap + static_cast<int64_t>(q / 2) * cell;
    for (int64_t panel = 0; panel < 2; ++panel) {
      const int64_t c0 = gap + (static_cast<int64_t>(q % 2) * 2 + panel) * cell;
      for (int64_t i = 0; i < S * Z; ++i)
        for (int64_t j = 0; j < S * Z; ++j) {
          const int64_t e = n * S * S + (i / Z) * S + j / Z;
          const uint8_t v = images.data<uint8_t>()[e];
          const bool lesion = panel == 1 && masks.data<uint8_t>()[e];
          uint8_t* px = o + ((r0 + i) * Ws + c0 + j) * 3;
          px[0] = lesion ? static_cast<uint8_t>(std::min(255, v / 2 + 128)) : v;
          px[1] = lesion ? static_cast<uint8_t>(v / 2) : v;
          px[2] = lesion ? static_cast<uint8_t>(v / 2) : v;
        }
    }
  }
  return sheet;
}

int run_phantom(const PhantomOptions& o) {
  const auto arrays = data::make_phantom(o.spec, !o.quiet);
  io::save_npz(o.out, arrays);
  std::cout << "wrote " << o.out << ": " << o.spec.size << "x" << o.spec.size << ", train " << o.spec.train << " / val "
            << o.spec.val << " / test " << o.spec.test << ", seed " << o.spec.seed
            << (o.spec.shortcut ? ", with the shortcut marker" : "") << "\n";
  if (!o.samples.empty()) {
    io::save_png(o.samples, sample_sheet(arrays, o.sample_count));
    std::cout << "wrote " << o.samples << "\n";
  }
  return 0;
}

}  // namespace

Command phantom_command() {
  return {
      "phantom", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<PhantomOptions>();
        CLI::App* sub = app.add_subcommand("phantom", "a synthetic chest X-ray dataset with ground-truth lesion masks");
        sub->add_option("--out", o->out, "the .npz to write")->required();
        sub->add_option("--seed", o->spec.seed, "dataset seed")->capture_default_str();
        sub->add_option("--size", o->spec.size, "image height and width")
            ->check(CLI::Range(8, 1024))
            ->capture_default_str();
        sub->add_option("--train", o->spec.train, "training images")
            ->check(CLI::Range(int64_t(1), int64_t(1) << 24))
            ->capture_default_str();
        sub->add_option("--val", o->spec.val, "validation images")
            ->check(CLI::Range(int64_t(0), int64_t(1) << 24))
            ->capture_default_str();
        sub->add_option("--test", o->spec.test, "test images")
            ->check(CLI::Range(int64_t(0), int64_t(1) << 24))
            ->capture_default_str();
        sub->add_flag("--shortcut", o->spec.shortcut,
                      "add a corner marker that tracks the label in train/val, not in test");
        sub->add_option("--samples", o->samples, "also write a PNG sheet of train images beside their lesion masks");
        sub->add_option("--sample-count", o->sample_count, "images on the sheet")
            ->check(CLI::Range(2, 64))
            ->capture_default_str();
        sub->add_flag("--quiet", o->quiet, "no progress bar");
        return [o] { return run_phantom(*o); };
      }};
}

}  // namespace lb::cli
