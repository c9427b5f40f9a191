// weights.cc: see weights.h.
#include "models/weights.h"

#include <cmath>

#include "base/notes.h"
#include "engine/io/safetensors.h"
#include "engine/nn/init.h"

namespace lb::models {

namespace {

Tensor* find_entry(nn::StateDict& sd, const std::string& key) {
  for (auto& [k, t] : sd)
    if (k == key) return &t;
  return nullptr;
}

Tensor model_tensor(const ResNet18& model, const std::string& key) {
  for (const auto& [k, t] : model.state_dict())
    if (k == key) return t;
  LB_THROW("ResNet18 has no tensor " << key);
}

// conv1 (64, C, 7, 7) -> (64, 1, 7, 7) by sum, mean or the red channel, accumulated in float64 and
// rounded once to float32 (the engine's parameter dtype).
Tensor adapt_conv1(const Tensor& w_file, const std::string& mode) {
  const Tensor w = w_file.to(DType::Float32);
  const int64_t k = w.size(0), c = w.size(1), rs = w.size(2) * w.size(3);
  Tensor out = Tensor::zeros({k, 1, w.size(2), w.size(3)}, DType::Float32);
  const float* src = w.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t o = 0; o < k; ++o)
    for (int64_t i = 0; i < rs; ++i) {
      double acc = 0;
      if (mode == "red") {
        acc = src[(o * c) * rs + i];
      } else {
        for (int64_t ch = 0; ch < c; ++ch) acc += src[(o * c + ch) * rs + i];
        if (mode == "mean") acc /= static_cast<double>(c);
      }
      dst[o * rs + i] = static_cast<float>(acc);
    }
  return out;
}

}  // namespace

void check_conv1_mode(const std::string& mode) {
  LB_CHECK(mode == "sum" || mode == "mean" || mode == "red" || mode == "random",
           "--conv1 must be sum, mean, red or random, got '" << mode << "'");
}

InitReport load_imagenet(ResNet18& model, const std::string& path, const std::string& conv1_mode, Generator& gen) {
  check_conv1_mode(conv1_mode);
  io::SafeTensors st = io::load_safetensors(path);
  // The metadata is free text; the tensors say what the file is (checkpoint.h). A foreign `arch` is
  // noted once the strict load below has matched every tensor, and named if it has not.
  const std::string arch = st.metadata.count("arch") ? st.metadata.at("arch") : std::string("resnet18");
  nn::StateDict& sd = st.tensors;
  InitReport report;

  // conv1: the channel adaptation (or the model's own init with --conv1 random).
  if (Tensor* w = find_entry(sd, "conv1.weight")) {
    const Tensor mine = model_tensor(model, "conv1.weight");
    const int64_t cm = model.in_channels();
    if (conv1_mode == "random") {
      *w = mine.clone();
      report.reinitialised.push_back("conv1.weight");
    } else if (w->dim() == 4 && w->size(1) != cm && w->size(0) == mine.size(0) && w->size(2) == mine.size(2) &&
               w->size(3) == mine.size(3)) {
      LB_CHECK(cm == 1, path << ": conv1.weight takes " << w->size(1) << " channels and the model " << cm
                             << "; only a 1-channel model is adapted (--conv1 sum, mean or red), use --conv1 random "
                             << "to keep the model's own conv1");
      *w = adapt_conv1(*w, conv1_mode);
      report.adapted.push_back("conv1.weight");
    }
  }

  // fc: a different class count gets a fresh nn.Linear default init.
  Tensor* fw = find_entry(sd, "fc.weight");
  Tensor* fb = find_entry(sd, "fc.bias");
  const Tensor my_fw = model_tensor(model, "fc.weight");
  if (fw != nullptr && fw->dim() == 2 && fw->size(1) == my_fw.size(1) && fw->size(0) != my_fw.size(0)) {
    Tensor nw = Tensor::empty(my_fw.shape());
    nn::init::kaiming_uniform_(nw, gen, nn::init::FanMode::FanIn, nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0));
    *fw = nw;
    report.reinitialised.push_back("fc.weight");
    if (fb != nullptr && fb->dim() == 1 && fb->size(0) != my_fw.size(0)) {
      Tensor nb = Tensor::empty({my_fw.size(0)});
      const double bound = 1.0 / std::sqrt(static_cast<double>(my_fw.size(1)));
      nn::init::uniform_(nb, -bound, bound, gen);
      *fb = nb;
      report.reinitialised.push_back("fc.bias");
    }
  }

  try {
    model.load_state_dict(sd, /*strict=*/true);
  } catch (const Error& e) {
    LB_THROW(path << ": " << e.what() << " (expected torchvision's resnet18"
                  << (arch == "resnet18" ? std::string() : ", and its metadata names the architecture '" + arch + "'")
                  << "; convert with tools/convert_weights.py)");
  }
  if (arch != "resnet18")
    note(path + ": metadata arch '" + arch +
         "' is not lightbox's 'resnet18'; ignored, since every tensor matches ResNet18's names and shapes");
  return report;
}

}  // namespace lb::models
