// graph.cc: `lightbox graph`: draws the autograd tape of one ResNet BasicBlock as Graphviz DOT.
//
// A teaching aid for docs/02-autograd.md: conv-bn-relu_-conv-bn, out += identity, relu_, with
// torchvision's parameter names, run once in training mode on a small random input.
#include <fstream>
#include <iostream>

#include "engine/autograd.h"
#include "engine/io/file.h"
#include "engine/ops/ops.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

struct GraphOptions {
  std::string out;  // empty: stdout
  int64_t channels = 4;
  int64_t size = 6;
};

int run_graph(const GraphOptions& o) {
  Generator gen(0);
  const int64_t c = o.channels;
  auto param = [&](const char* name, const Shape& s, double lo, double hi) {
    return Tensor::rand(s, gen, lo, hi).requires_grad_().set_name(name);
  };
  Tensor x = Tensor::randn({1, c, o.size, o.size}, gen).requires_grad_().set_name("x");
  Tensor w1 = param("conv1.weight", {c, c, 3, 3}, -0.3, 0.3), w2 = param("conv2.weight", {c, c, 3, 3}, -0.3, 0.3);
  Tensor g1 = param("bn1.weight", {c}, 0.5, 1.5), b1 = param("bn1.bias", {c}, -0.1, 0.1);
  Tensor g2 = param("bn2.weight", {c}, 0.5, 1.5), b2 = param("bn2.bias", {c}, -0.1, 0.1);
  Tensor out = conv2d(x, w1, Tensor(), 1, 1);
  out = batch_norm2d(out, g1, b1, Tensor(), Tensor(), /*training=*/true);
  relu_(out);
  out = conv2d(out, w2, Tensor(), 1, 1);
  out = batch_norm2d(out, g2, b2, Tensor(), Tensor(), true);
  add_(out, x);  // out += identity
  relu_(out);
  const std::string dot = autograd::to_dot(out);
  if (o.out.empty()) {
    std::cout << dot;
  } else {
    io::write_file_atomic(o.out, dot);
    std::cerr << "lightbox: wrote " << o.out << " (render with: dot -Tsvg " << o.out << " -o graph.svg)\n";
  }
  return 0;
}

}  // namespace

Command graph_command() {
  return {"graph", [](CLI::App& app) -> std::function<int()> {
            auto opts = std::make_shared<GraphOptions>();
            CLI::App* sub =
                app.add_subcommand("graph", "print the autograd graph of a ResNet BasicBlock (Graphviz DOT)");
            sub->add_option("--out", opts->out, "write the DOT here instead of stdout");
            sub->add_option("--channels", opts->channels, "channels of the block")->check(CLI::Range(1, 512));
            sub->add_option("--size", opts->size, "input height and width")->check(CLI::Range(3, 64));
            return [opts] { return run_graph(*opts); };
          }};
}

}  // namespace lb::cli
