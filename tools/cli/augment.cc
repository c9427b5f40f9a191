// augment.cc: `lightbox augment`: a PNG sheet of what an --augment spec does to training images,
// exactly as the trainer's loader makes them (engine/data/medmnist.h's to_model_space, seeded by
// (seed, epoch, index)), before normalisation. Each row is one train image: the original, then
// its augmented form in epochs 1, 2, ... of a run with that --seed.
//
//   lightbox augment --augment translate=2,rotate=10,fill=border --out augment.png
//   lightbox augment --augment light --count 4 --views 8 --seed 3 --out light.png
#include <iostream>
#include <numeric>

#include "engine/data/augment.h"
#include "engine/data/medmnist.h"
#include "engine/io/png.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct AugmentOptions {
  std::string data = "data/pneumoniamnist.npz", spec = "light", out;
  uint64_t seed = 0;
  int64_t count = 6, views = 7, zoom = 4;
};

// Copies one (C, H, W) image in [0, 1] into the RGB sheet at (r0, c0), each pixel a zoom x zoom
// block (grey images fill all three channels).
void paint(uint8_t* sheet, int64_t sheet_w, int64_t r0, int64_t c0, const float* img, int64_t c, int64_t h, int64_t w,
           int64_t zoom) {
  for (int64_t i = 0; i < h * zoom; ++i)
    for (int64_t j = 0; j < w * zoom; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        const float v = img[(c == 3 ? k : 0) * h * w + (i / zoom) * w + j / zoom];
        sheet[((r0 + i) * sheet_w + c0 + j) * 3 + k] = static_cast<uint8_t>(std::lround(255.0f * v));
      }
}

int run_augment(const AugmentOptions& o) {
  const data::AugmentConfig aug = data::parse_augment(o.spec);
  const data::Dataset ds = data::load_medmnist(o.data);
  const data::Split& train = ds.train;
  const int64_t count = std::min(o.count, train.size()), c = train.channels(), h = train.height(), w = train.width();
  std::vector<int64_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0);
  const data::Normalization identity{0.0, 1.0};  // pixel / 255: the augmented pixels themselves
  const int64_t gap = 2, cell_h = h * o.zoom + gap, cell_w = w * o.zoom + gap;
  const int64_t sheet_h = count * cell_h + gap, sheet_w = (1 + o.views) * cell_w + gap;
  Tensor sheet = Tensor::full({sheet_h, sheet_w, 3}, 255, DType::UInt8);
  for (int64_t v = 0; v <= o.views; ++v) {
    // Column 0 is the image as stored; column v >= 1 is epoch v - 1 of a run seeded o.seed.
    const Tensor x = data::to_model_space(train, idx, identity, v == 0 ? nullptr : &aug, o.seed, v - 1);
    for (int64_t r = 0; r < count; ++r)
      paint(sheet.data<uint8_t>(), sheet_w, gap + r * cell_h, gap + v * cell_w, x.data<float>() + r * c * h * w, c, h,
            w, o.zoom);
  }
  io::save_png(o.out, sheet);
  std::cout << "wrote " << o.out << ": " << count << " train images of " << o.data << ", each as stored and in "
            << o.views << " epochs of --augment " << data::describe(aug) << " --seed " << o.seed << "\n";
  return 0;
}

}  // namespace

Command augment_command() {
  return {
      "augment", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<AugmentOptions>();
        CLI::App* sub = app.add_subcommand(
            "augment", "a PNG sheet of train images as an --augment spec changes them, epoch by epoch");
        sub->add_option("--augment", o->spec, "the spec, as lightbox train takes it (docs/05)")->capture_default_str();
        sub->add_option("--data", o->data, "MedMNIST .npz")->capture_default_str();
        sub->add_option("--out", o->out, "the PNG to write")->required();
        sub->add_option("--seed", o->seed, "the run's --seed")->capture_default_str();
        sub->add_option("--count", o->count, "train images (rows)")->check(CLI::Range(1, 64))->capture_default_str();
        sub->add_option("--views", o->views, "epochs shown per image (columns after the original)")
            ->check(CLI::Range(1, 32))
            ->capture_default_str();
        sub->add_option("--zoom", o->zoom, "pixels per image pixel")->check(CLI::Range(1, 16))->capture_default_str();
        return [o] { return run_augment(*o); };
      }};
}

}  // namespace lb::cli
