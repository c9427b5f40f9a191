// model.cc: lightbox.Model, a ResNet18 with its metadata (models/checkpoint.h): load a checkpoint
// or converted ImageNet weights, build a fresh one, call it on images, probe it as `lightbox
// probe` does (captured activations, gradients of one output), and share its weights with numpy
// or PyTorch through state_dict().
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <memory>
#include <optional>

#include "engine/autograd.h"
#include "engine/nn/capture.h"
#include "engine/ops/ops.h"
#include "models/checkpoint.h"
#include "models/weights.h"
#include "python/src/core.h"

namespace lbpy {

namespace {

using lb::models::Checkpoint;

Checkpoint fresh_resnet18(int64_t in_channels, int64_t num_classes, int64_t width, uint64_t seed) {
  LB_CHECK(in_channels > 0 && num_classes > 0 && width > 0,
           "resnet18: in_channels, num_classes and width must be positive, got " << in_channels << ", " << num_classes
                                                                                 << ", " << width);
  lb::Generator gen(seed);
  Checkpoint ck;
  ck.model = std::make_shared<lb::models::ResNet18>(in_channels, num_classes, gen, width);
  ck.model->eval();
  ck.meta.in_channels = in_channels;
  ck.meta.num_classes = num_classes;
  ck.meta.width = width;
  ck.meta.class_names = lb::models::default_class_names("", num_classes);
  return ck;
}

nb::dict load_imagenet(Checkpoint& ck, const std::string& path, const std::string& conv1, uint64_t seed) {
  lb::models::check_conv1_mode(conv1);
  lb::Generator gen(seed);
  const lb::models::InitReport r = compute([&] { return lb::models::load_imagenet(*ck.model, path, conv1, gen); });
  nb::dict d;
  d["reinitialised"] = r.reinitialised;
  d["adapted"] = r.adapted;
  return d;
}

// The forward of Model.__call__: eval mode, no tape, logits (N, K) float32.
lb::Tensor logits_of(Checkpoint& ck, const lb::Tensor& x) {
  ck.model->eval();
  lb::NoGradGuard no_grad;
  return (*ck.model)(x);
}

// The benchmark's yardstick: seconds per forward timed inside C++ (no Python in the loop).
double bench_forward(Checkpoint& ck, nb::ndarray<> x, int64_t reps) {
  const lb::Tensor t = images_from_array(x, "x", ck.meta.in_channels);
  return compute([&] {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < reps; ++i) logits_of(ck, t);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(reps);
  });
}

struct ProbeResult {
  std::map<std::string, lb::Tensor> tensors;
};

// `lightbox probe`'s computation (tools/cli/probe.cc), returning what it writes as .npy files.
ProbeResult probe(Checkpoint& ck, lb::Tensor x, const std::vector<std::string>& names,
                  std::optional<int64_t> backward_output, bool train_mode) {
  for (const auto& n : names)
    LB_CHECK(ck.model->find(n) != nullptr,
             "capture: no module named '" << n << "' (try: conv1, layer1, layer4.1.conv2, fc)");
  const bool backward = backward_output.has_value();
  LB_CHECK(!backward || (*backward_output >= 0 && *backward_output < ck.meta.num_classes),
           "backward_output " << backward_output.value_or(0) << " is not an output (the model has "
                              << ck.meta.num_classes << ")");
  ck.model->train(train_mode);
  struct Restore {
    lb::models::ResNet18& m;
    ~Restore() { m.eval(); }
  } restore{*ck.model};
  x = x.detach();  // the input gradient is taken with respect to this handle
  lb::nn::Capture cap(names);
  if (backward) x.requires_grad_();
  lb::Tensor logits;
  {
    std::unique_ptr<lb::NoGradGuard> no_grad(backward ? nullptr : new lb::NoGradGuard);
    logits = (*ck.model)(x);
  }
  ProbeResult r;
  r.tensors["logits"] = logits.detach();
  {
    lb::NoGradGuard g;
    r.tensors["probs"] = lb::softmax(logits.detach(), 1);
  }
  for (const auto& n : names) {
    r.tensors[n + ".input"] = cap.at(n).input;
    r.tensors[n + ".output"] = cap.at(n).output;
  }
  if (!backward) return r;
  lb::Tensor seed = lb::Tensor::zeros(logits.shape());  // d(sum over the batch of logit K)
  for (int64_t i = 0; i < logits.size(0); ++i) seed.data<float>()[i * logits.size(1) + *backward_output] = 1.0f;
  const auto taps = cap.gradients(logits, seed, /*retain_graph=*/true);
  r.tensors["input_grad"] = lb::autograd::grad({logits}, {x}, {seed})[0];
  for (const auto& [n, g] : taps) {
    if (g.input_grad.defined()) r.tensors[n + ".input_grad"] = g.input_grad;
    if (g.output_grad.defined()) r.tensors[n + ".output_grad"] = g.output_grad;
  }
  return r;
}

nb::dict to_dict(const std::map<std::string, lb::Tensor>& m) {
  nb::dict d;
  for (const auto& [k, t] : m) d[k.c_str()] = to_numpy(t);
  return d;
}

nb::dict state_dict(const Checkpoint& ck) {
  nb::dict d;
  for (const auto& [k, t] : ck.model->state_dict()) d[k.c_str()] = to_numpy(t);
  return d;
}

void load_state_dict(Checkpoint& ck, const nb::dict& d, bool strict) {
  lb::nn::StateDict sd;
  for (auto [k, v] : d) {
    const std::string key = nb::cast<std::string>(k);
    sd.emplace_back(key, from_array(nb::cast<nb::ndarray<>>(v), key.c_str()));
  }
  const lb::nn::LoadReport rep = compute([&] { return ck.model->load_state_dict(sd, strict); });
  (void)rep;
}

nb::dict meta_dict(const Checkpoint& ck) {
  const auto& m = ck.meta;
  nb::dict d;
  d["arch"] = m.arch;
  d["in_channels"] = m.in_channels;
  d["num_classes"] = m.num_classes;
  d["width"] = m.width;
  d["normalization"] = nb::make_tuple(m.norm.mean, m.norm.std);
  d["class_names"] = m.class_names;
  d["image_size"] = m.image_size;
  d["config"] = json_to_python(m.config);
  return d;
}

}  // namespace

void bind_model(nb::module_& m) {
  using namespace nb::literals;
  nb::class_<Checkpoint>(m, "Model", "A ResNet18 and what is known about it (models/checkpoint.h).")
      .def(
          "__call__",
          [](Checkpoint& ck, nb::ndarray<> x) {
            const lb::Tensor t = images_from_array(x, "x", ck.meta.in_channels);
            return to_numpy(compute([&] { return logits_of(ck, t); }));
          },
          "x"_a, nb::sig("def __call__(self, x: numpy.typing.ArrayLike) -> numpy.typing.NDArray[numpy.float32]"),
          "Logits (N, K) float32 of images x (N, C, H, W) float32 in model space, eval mode.")
      .def(
          "probe",
          [](Checkpoint& ck, nb::ndarray<> x, const std::vector<std::string>& capture,
             std::optional<int64_t> backward_output, bool train_mode) {
            const lb::Tensor t = images_from_array(x, "x", ck.meta.in_channels);
            return to_dict(compute([&] { return probe(ck, t, capture, backward_output, train_mode); }).tensors);
          },
          "x"_a, "capture"_a = std::vector<std::string>(), "backward_output"_a = nb::none(), "train_mode"_a = false,
          nb::sig("def probe(self, x: numpy.typing.ArrayLike, capture: collections.abc.Sequence[str] = [], "
                  "backward_output: int | None = None, train_mode: bool = False) -> dict[str, numpy.typing.NDArray]"),
          "One forward (and a backward) as `lightbox probe` does. x: (N, C, H, W) float32 in model space.\n"
          "Returns {name: array}: logits, probs (N, K); for each captured module NAME (conv1, layer1,\n"
          "layer4.1.conv2, fc, ...) NAME.input and NAME.output; with backward_output=k the gradients of\n"
          "sum_n logit_k: input_grad (N, C, H, W), NAME.input_grad, NAME.output_grad. Eval mode unless\n"
          "train_mode (as `lightbox probe --train-mode`: batch statistics, which also update batch norm's\n"
          "running statistics).")
      .def("state_dict", &state_dict, nb::sig("def state_dict(self) -> dict[str, numpy.typing.NDArray[numpy.float32]]"),
           "{name: array} with torchvision's names; each array is a view of the model's tensor (writing\n"
           "it changes the model). Load into torchvision with {k: torch.from_numpy(v)}.")
      .def("load_state_dict", &load_state_dict, "state"_a, "strict"_a = true,
           "Copy {name: array} (numpy, torch CPU) into the model. strict: every key must match; a shape\n"
           "mismatch names the key and both shapes; nothing is written unless everything fits.")
      .def(
          "save",
          [](const Checkpoint& ck, const std::string& path) { lb::models::save_checkpoint(path, *ck.model, ck.meta); },
          "path"_a, "Write a lightbox checkpoint (safetensors, torchvision names, metadata).")
      .def("load_imagenet", &load_imagenet, "path"_a, "conv1"_a = "sum", "seed"_a = 0,
           "Load converted ImageNet weights (tools/convert_weights.py, or timm's): conv1 summed to grey\n"
           "(conv1=sum|mean|red|random), fc re-initialised when the class count differs. Returns\n"
           "{'adapted': [...], 'reinitialised': [...]}.")
      .def_prop_ro("meta", &meta_dict,
                   "arch, in_channels, num_classes, width, normalization (mean, std), class_names, image_size, config")
      .def("__repr__", [](const Checkpoint& ck) { return ck.model->repr(); });
  m.def(
      "load", [](const std::string& path) { return compute([&] { return lb::models::load_checkpoint(path); }); },
      "path"_a);
  m.def("_bench_forward", &bench_forward, "model"_a, "x"_a, "reps"_a = 10);
  m.def("resnet18", &fresh_resnet18, "in_channels"_a = 1, "num_classes"_a = 2, "width"_a = 64, "seed"_a = 0);
}

}  // namespace lbpy
