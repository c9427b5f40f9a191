// probe.cc: `lightbox probe`: one forward (and optionally one backward) with captured activations
// and gradients written as .npy, for researchers who want to look inside.
//
//   lightbox probe --weights W.safetensors --input X.npy [--train-mode] [--backward-output K]
//                  [--capture layer1,layer4] --out DIR
// writes logits.npy, probs.npy; with --backward-output K the gradient of sum_n logit_K w.r.t. the
// input (input_grad.npy); for each captured module NAME: NAME.input.npy, NAME.output.npy and, with
// a backward, NAME.input_grad.npy and NAME.output_grad.npy. X.npy is float32 (N, C, H, W) in model
// space (already normalised).
#include <filesystem>
#include <iostream>

#include "base/strings.h"
#include "engine/autograd.h"
#include "engine/io/npy.h"
#include "engine/nn/capture.h"
#include "engine/ops/ops.h"
#include "models/checkpoint.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct ProbeOptions {
  std::string weights, input, out, capture;
  bool train_mode = false;
  int64_t backward_output = -1;
  int threads = 0;
  DeviceOptions device;
};

int run_probe(const ProbeOptions& o) {
  apply_threads(o.threads);
  const Device dev = apply_device_options(o.device);
  models::Checkpoint ck = models::load_checkpoint(o.weights);
  Tensor x = io::load_npy(o.input);
  LB_CHECK(x.dtype() == DType::Float32 && x.dim() == 4 && x.size(1) == ck.meta.in_channels,
           o.input << ": expected float32 (N, " << ck.meta.in_channels << ", H, W) in model space, got " << x.str()
                   << "; convert with x.astype(np.float32)");
  for (double v : x.to_vector()) LB_CHECK(std::isfinite(v), o.input << ": contains NaN or inf; clean the input first");
  const std::vector<std::string> names = split(o.capture, ',', Empty::Skip);
  for (const auto& n : names)
    LB_CHECK(ck.model->find(n) != nullptr,
             "--capture: no module named '" << n << "' (try: conv1, layer1, layer4.1.conv2, fc)");
  const bool backward = o.backward_output >= 0;
  LB_CHECK(o.backward_output < ck.meta.num_classes, "--backward-output " << o.backward_output
                                                                         << " is not an output (the model has "
                                                                         << ck.meta.num_classes << ")");
  ck.model->train(o.train_mode);
  ck.model->to(dev);
  x = x.to(dev);  // the input gradient is taken with respect to this copy; every file is written from the CPU
  std::filesystem::create_directories(o.out);
  nn::Capture cap(names);
  if (backward) x.requires_grad_();
  Tensor logits;
  {
    std::unique_ptr<NoGradGuard> no_grad(backward ? nullptr : new NoGradGuard);
    logits = (*ck.model)(x);
  }
  const auto save = [&](const std::string& file, const Tensor& t) {
    io::save_npy(o.out + "/" + file, t.to(Device::cpu()));
  };
  save("logits.npy", logits.detach());
  {
    NoGradGuard g;
    save("probs.npy", softmax(logits.detach(), 1));
  }
  for (const auto& n : names) {
    save(n + ".input.npy", cap.at(n).input);
    save(n + ".output.npy", cap.at(n).output);
  }
  if (backward) {
    // d(sum over the batch of logit K)/d(everything): seed 1 at column K of every row.
    Tensor seed = Tensor::zeros(logits.shape());
    for (int64_t i = 0; i < logits.size(0); ++i) seed.data<float>()[i * logits.size(1) + o.backward_output] = 1.0f;
    seed = seed.to(dev);
    const auto taps = cap.gradients(logits, seed, /*retain_graph=*/true);
    save("input_grad.npy", autograd::grad({logits}, {x}, {seed})[0]);
    for (const auto& [n, g] : taps) {
      if (g.input_grad.defined()) save(n + ".input_grad.npy", g.input_grad);
      if (g.output_grad.defined()) save(n + ".output_grad.npy", g.output_grad);
    }
  }
  std::cout << "wrote " << o.out << "/logits.npy, probs.npy" << (backward ? ", input_grad.npy" : "")
            << (names.empty() ? "" : " and the captured modules' tensors") << "\n";
  return 0;
}

}  // namespace

Command probe_command() {
  return {"probe", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<ProbeOptions>();
            CLI::App* sub =
                app.add_subcommand("probe", "forward/backward with captured activations and gradients as .npy");
            sub->add_option("--weights", o->weights, "checkpoint (.safetensors)")->required();
            sub->add_option("--input", o->input, "float32 (N, C, H, W) .npy in model space")->required();
            sub->add_option("--out", o->out, "output folder")->required();
            sub->add_option("--capture", o->capture, "comma-separated module names (e.g. layer1,layer4)");
            sub->add_option("--backward-output", o->backward_output, "backward from the sum over the batch of logit K")
                ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
            sub->add_flag("--train-mode", o->train_mode, "run in training mode (batch statistics)");
            add_threads_option(sub, &o->threads);
            add_device_options(sub, &o->device);
            return [o] { return run_probe(*o); };
          }};
}

}  // namespace lb::cli
