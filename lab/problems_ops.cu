// lab/problems_ops.cu: the kernel lab's problems for batchnorm2d's eval forward and the fused
// BN + add + ReLU passes, relu, the adaptive average pool, linear and cross-entropy: host data,
// the CPU reference (engine/cpu/, and lb::cross_entropy for the loss), and the variants to check
// and time: 1 (lab/<op>.cu), ours (kernels/*.cuh), cuDNN / cuBLAS where they have the op.
//
// Shapes: batchnorm and relu x (N, C, HW) (the layer after each ResNet18 conv); average pool
// (planes = N * 512, h, h) -> (planes, 1, 1); linear x (N, 512), w (2, 512); cross-entropy logits
// (N, 2). Every buffer is float32 except the int64 targets.
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/elementwise.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/pool2d.h"
#include "engine/cpu/softmax.h"
#include "engine/ops/softmax.h"
#include "kernels/batch_norm2d.cuh"
#include "kernels/cudnn/batch_norm2d.cuh"
#include "kernels/cudnn/linear.cuh"
#include "kernels/cudnn/pool2d.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/linear.cuh"
#include "kernels/pool2d.cuh"
#include "kernels/softmax.cuh"
#include "lab/harness.cuh"

namespace lb::kernels::lab::detail {

Problem make_problem(const std::string& direction, const CurrentCase& cur,
                     std::function<HostCase(const LabCase&, Rng&)> make, std::vector<Variant> variants,
                     std::function<double(const LabCase&)> bytes, std::function<double(const LabCase&)> flops) {
  Problem p;
  p.direction = direction;
  p.make = [cur, make](const LabCase& lc, uint64_t seed) {
    *cur = lc;
    Rng rng(seed);
    return make(lc, rng);
  };
  p.variants = std::move(variants);
  p.bytes = std::move(bytes);
  p.flops = flops ? std::move(flops) : [](const LabCase&) { return 0.0; };
  return p;
}

namespace {

// ---- batchnorm2d: eval forward, fused BN + add + ReLU ------------------------------------------------

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

int64_t bn_numel(const LabCase& c) { return c.bn.N * c.bn.C * c.bn.HW; }
cpu::BatchNorm2dArgs bn_cpu(const BatchNormShape& s) { return {s, kEps, kMomentum}; }

// in: x (N, C, HW), weight, bias, running_mean, running_var (C), residual (N, C, HW).
HostCase bn_inputs(const LabCase& lc, Rng& rng) {
  const BatchNormShape s = lc.bn;
  HostCase h;
  h.in = {random_vec(bn_numel(lc), rng, -1, 3), random_vec(s.C, rng, 0.5, 1.5), random_vec(s.C, rng, -1, 1),
          random_vec(s.C, rng, -1, 1),          random_vec(s.C, rng, 0.5, 1.5), random_vec(bn_numel(lc), rng, -1, 1)};
  return h;
}

// Eval forward, plain (relu = false: out y, invstd) or fused with the residual add and ReLU.
Problem bn_eval_problem(const CurrentCase& cur, bool relu) {
  auto make = [relu](const LabCase& lc, Rng& rng) {
    HostCase h = bn_inputs(lc, rng);
    h.out = {std::vector<float>(size_t(bn_numel(lc))), std::vector<float>(size_t(lc.bn.C))};
    h.out_init = {-1, -1};
    h.cpu = [s = lc.bn, relu](HostCase& h) {
      cpu::batch_norm2d_forward_eval<float>(h.in[0].data(), h.in[1].data(), h.in[2].data(), h.in[3].data(),
                                            h.in[4].data(), h.out[0].data(), h.out[1].data(), bn_cpu(s));
      if (relu) cpu::add_relu_inplace<float>(h.out[0].data(), h.in[5].data(), int64_t(h.out[0].size()));
    };
    return h;
  };
  std::vector<Variant> v{naive_variant([cur, relu](const DevCase& d, int b) {
    batch_norm2d_forward_eval1(cur->bn, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.O(0), d.O(1), kEps, b);
    if (relu) add_relu_inplace1(d.O(0), d.I(5), bn_numel(*cur), b);
  })};
  if (relu) {
    v.push_back(fixed_variant("custom-fp32", [cur](const DevCase& d) {
      batch_norm2d_relu_forward_eval(cur->bn, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.I(5), d.O(0), d.O(1), kEps);
    }));
  } else {
    for (auto [name, fn] : {std::pair{"custom-fp32", &lb::kernels::batch_norm2d_forward_eval},
                            std::pair{"cudnn-fp32", &cudnn::batch_norm2d_forward_eval}})
      v.push_back(fixed_variant(name, [cur, fn = fn](const DevCase& d) {
        fn(cur->bn, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.O(0), d.O(1), kEps);
      }));
  }
  // Read x (and the residual), write y.
  return make_problem(relu ? "relu-add-forward-eval" : "forward-eval", cur, make, v,
                      [relu](const LabCase& lc) { return (relu ? 3.0 : 2.0) * 4 * bn_numel(lc); });
}

// Training forward of y = relu(bn(x) + residual): out y, mean, invstd, running_mean, running_var.
Problem bn_relu_train_problem(const CurrentCase& cur) {
  auto make = [](const LabCase& lc, Rng& rng) {
    HostCase h = bn_inputs(lc, rng);
    h.out = {std::vector<float>(size_t(bn_numel(lc))), std::vector<float>(lc.bn.C), std::vector<float>(lc.bn.C),
             h.in[3], h.in[4]};
    h.out_init = {-1, -1, -1, 3, 4};  // running_mean, running_var are updated in place
    h.cpu = [s = lc.bn](HostCase& h) {
      h.out[3] = h.in[3];
      h.out[4] = h.in[4];
      cpu::batch_norm2d_forward_train<float>(h.in[0].data(), h.in[1].data(), h.in[2].data(), h.out[0].data(),
                                             h.out[1].data(), h.out[2].data(), h.out[3].data(), h.out[4].data(),
                                             bn_cpu(s));
      cpu::add_relu_inplace<float>(h.out[0].data(), h.in[5].data(), int64_t(h.out[0].size()));
    };
    return h;
  };
  std::vector<Variant> v{naive_variant([cur](const DevCase& d, int b) {
                           batch_norm2d_forward_train1(cur->bn, d.I(0), d.I(1), d.I(2), d.O(0), d.O(1), d.O(2), d.O(3),
                                                       d.O(4), kEps, kMomentum, b);
                           add_relu_inplace1(d.O(0), d.I(5), bn_numel(*cur), b);
                         }),
                         fixed_variant("custom-fp32", [cur](const DevCase& d) {
                           batch_norm2d_relu_forward_train(cur->bn, d.I(0), d.I(1), d.I(2), d.I(5), d.O(0), d.O(1),
                                                           d.O(2), d.O(3), d.O(4), kEps, kMomentum);
                         })};
  return make_problem("relu-add-forward-train", cur, make, v,
                      [](const LabCase& lc) { return 3.0 * 4 * bn_numel(lc); });  // read x, residual; write y
}

// Backward of y = relu(bn(x) + residual) in training: in x, y, dy (N, C, HW), mean, invstd,
// weight (C); out dx, dweight, dbias, dresidual.
Problem bn_relu_backward_problem(const CurrentCase& cur) {
  auto make = [](const LabCase& lc, Rng& rng) {
    HostCase fwd = bn_inputs(lc, rng);
    const BatchNormShape s = lc.bn;
    const int64_t n = bn_numel(lc);
    std::vector<float> y(size_t(n), 0.0f), mean(s.C), invstd(s.C);
    // The saved y, mean and invstd the backward reads: the CPU forward's own.
    cpu::batch_norm2d_forward_train<float>(fwd.in[0].data(), fwd.in[1].data(), fwd.in[2].data(), y.data(), mean.data(),
                                           invstd.data(), nullptr, nullptr, bn_cpu(s));
    cpu::add_relu_inplace<float>(y.data(), fwd.in[5].data(), n);
    HostCase h;
    h.in = {fwd.in[0], std::move(y), random_vec(n, rng, -1, 1), mean, invstd, fwd.in[1]};
    h.out = {std::vector<float>(size_t(n)), std::vector<float>(s.C), std::vector<float>(s.C),
             std::vector<float>(size_t(n))};
    h.out_init = {-1, -1, -1, -1};
    h.cpu = [s](HostCase& h) {
      // g = dy masked by y > 0 is the residual's gradient, and what flows into batchnorm.
      cpu::relu_mask<float>(h.in[1].data(), h.in[2].data(), h.out[3].data(), int64_t(h.out[3].size()));
      cpu::batch_norm2d_backward<float>(h.in[0].data(), h.out[3].data(), h.in[3].data(), h.in[4].data(), h.in[5].data(),
                                        h.out[0].data(), h.out[1].data(), h.out[2].data(),
                                        cpu::BatchNorm2dBackwardArgs{s, true});
    };
    return h;
  };
  std::vector<Variant> v{naive_variant([cur](const DevCase& d, int b) {
                           relu_backward1(d.I(1), d.I(2), d.O(3), bn_numel(*cur), b);  // the mask is relu's backward
                           batch_norm2d_backward1(cur->bn, d.I(0), d.O(3), d.I(3), d.I(4), d.I(5), d.O(0), d.O(1),
                                                  d.O(2), true, b);
                         }),
                         fixed_variant("custom-fp32", [cur](const DevCase& d) {
                           batch_norm2d_relu_backward(cur->bn, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.I(5), d.O(0),
                                                      d.O(1), d.O(2), d.O(3), true);
                         })};
  return make_problem("relu-add-backward", cur, make, v,
                      [](const LabCase& lc) { return 5.0 * 4 * bn_numel(lc); });  // read x, y, dy; write dx, dres
}

// ---- relu ---------------------------------------------------------------------------------------------

std::vector<Problem> relu_list(const CurrentCase& cur) {
  auto fwd_make = [](const LabCase& lc, Rng& rng) {
    HostCase h;
    h.in = {random_vec(bn_numel(lc), rng, -1, 1)};
    h.out = {std::vector<float>(h.in[0].size())};
    h.out_init = {-1};
    h.cpu = [](HostCase& h) { cpu::relu_forward<float>(h.in[0].data(), h.out[0].data(), int64_t(h.in[0].size())); };
    return h;
  };
  auto bwd_make = [](const LabCase& lc, Rng& rng) {
    HostCase h;
    std::vector<float> y = random_vec(bn_numel(lc), rng, -1, 1);
    cpu::relu_forward<float>(y.data(), y.data(), int64_t(y.size()));  // a relu output: half zeros
    h.in = {std::move(y), random_vec(bn_numel(lc), rng, -1, 1)};
    h.out = {std::vector<float>(h.in[0].size())};
    h.out_init = {-1};
    h.cpu = [](HostCase& h) {
      cpu::relu_backward<float>(h.in[0].data(), h.in[1].data(), h.out[0].data(), int64_t(h.in[0].size()));
    };
    return h;
  };
  return {
      make_problem(
          "forward", cur, fwd_make,
          {naive_variant([cur](const DevCase& d, int b) { relu_forward1(d.I(0), d.O(0), bn_numel(*cur), b); }),
           fixed_variant("custom-fp32", [cur](const DevCase& d) { relu_forward(d.I(0), d.O(0), bn_numel(*cur)); })},
          [](const LabCase& lc) { return 2.0 * 4 * bn_numel(lc); }),
      make_problem(
          "backward", cur, bwd_make,
          {naive_variant([cur](const DevCase& d, int b) { relu_backward1(d.I(0), d.I(1), d.O(0), bn_numel(*cur), b); }),
           fixed_variant("custom-fp32",
                         [cur](const DevCase& d) { relu_backward(d.I(0), d.I(1), d.O(0), bn_numel(*cur)); })},
          [](const LabCase& lc) { return 3.0 * 4 * bn_numel(lc); })};
}

// ---- adaptive average pool ----------------------------------------------------------------------------

int64_t avg_in(const LabCase& c) { return c.avg.planes * c.avg.H * c.avg.W; }
int64_t avg_out(const LabCase& c) { return c.avg.planes * c.avg.OH * c.avg.OW; }

std::vector<Problem> avg_pool_list(const CurrentCase& cur) {
  auto fwd_make = [](const LabCase& lc, Rng& rng) {
    HostCase h;
    h.in = {random_vec(avg_in(lc), rng, -1, 1)};
    h.out = {std::vector<float>(size_t(avg_out(lc)))};
    h.out_init = {-1};
    h.cpu = [s = lc.avg](HostCase& h) { cpu::adaptive_avg_pool2d_forward<float>(h.in[0].data(), h.out[0].data(), s); };
    return h;
  };
  auto bwd_make = [](const LabCase& lc, Rng& rng) {
    HostCase h;
    h.in = {random_vec(avg_out(lc), rng, -1, 1)};
    h.out = {std::vector<float>(size_t(avg_in(lc)))};
    h.out_init = {-1};
    h.cpu = [s = lc.avg](HostCase& h) { cpu::adaptive_avg_pool2d_backward<float>(h.in[0].data(), h.out[0].data(), s); };
    return h;
  };
  std::vector<Variant> fwd{
      naive_variant([cur](const DevCase& d, int b) { adaptive_avg_pool2d_forward1(cur->avg, d.I(0), d.O(0), b); }),
      fixed_variant("custom-fp32", [cur](const DevCase& d) { adaptive_avg_pool2d_forward(cur->avg, d.I(0), d.O(0)); })};
  std::vector<Variant> bwd{
      naive_variant([cur](const DevCase& d, int b) { adaptive_avg_pool2d_backward1(cur->avg, d.I(0), d.O(0), b); }),
      fixed_variant("custom-fp32",
                    [cur](const DevCase& d) { adaptive_avg_pool2d_backward(cur->avg, d.I(0), d.O(0)); })};
  // cuDNN has the global pool only (ResNet18's: every plane to 1x1).
  if (cur->avg.OH == 1 && cur->avg.OW == 1) {
    fwd.push_back(fixed_variant(
        "cudnn-fp32", [cur](const DevCase& d) { cudnn::global_avg_pool2d_forward(cur->avg, d.I(0), d.O(0)); }));
    bwd.push_back(fixed_variant(
        "cudnn-fp32", [cur](const DevCase& d) { cudnn::global_avg_pool2d_backward(cur->avg, d.I(0), d.O(0)); }));
  }
  auto bytes = [](const LabCase& lc) { return 4.0 * (avg_in(lc) + avg_out(lc)); };
  return {make_problem("forward", cur, fwd_make, fwd, bytes), make_problem("backward", cur, bwd_make, bwd, bytes)};
}

// ---- linear -------------------------------------------------------------------------------------------

// One GEMM direction of y = x W^T + b: its inputs' sizes, output size, the CPU call, the naive
// kernel, ours and cuBLAS's (null for the bias, which is a column sum, not a GEMM).
struct LinearDirection {
  const char* name;
  std::function<std::vector<int64_t>(const MatShape&)> in_sizes;
  std::function<int64_t(const MatShape&)> out_size;
  std::function<void(const MatShape&, HostCase&)> cpu;
  std::function<void(const MatShape&, const DevCase&, int)> naive;
  std::function<void(const MatShape&, const DevCase&, MathMode)> ours, theirs;
};

std::vector<LinearDirection> linear_directions() {
  using S = const MatShape&;
  return {
      {"forward",
       [](S m) {
         return std::vector<int64_t>{m.N * m.IN, m.OUT * m.IN, m.OUT};
       },
       [](S m) { return m.N * m.OUT; },
       [](S m, HostCase& h) {
         cpu::linear_forward<float>(m.N, m.IN, m.OUT, h.in[0].data(), h.in[1].data(), h.in[2].data(), h.out[0].data());
       },
       [](S m, const DevCase& d, int b) { linear_forward1(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.I(2), d.O(0), b); },
       [](S m, const DevCase& d, MathMode md) { linear_forward(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.I(2), d.O(0), md); },
       [](S m, const DevCase& d, MathMode md) {
         cudnn::linear_forward(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.I(2), d.O(0), md);
       }},
      {"backward-input",
       [](S m) {
         return std::vector<int64_t>{m.N * m.OUT, m.OUT * m.IN};
       },
       [](S m) { return m.N * m.IN; },
       [](S m, HostCase& h) {
         cpu::linear_backward_input<float>(m.N, m.IN, m.OUT, h.in[0].data(), h.in[1].data(), h.out[0].data());
       },
       [](S m, const DevCase& d, int b) { linear_backward_input1(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), b); },
       [](S m, const DevCase& d, MathMode md) { linear_backward_input(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), md); },
       [](S m, const DevCase& d, MathMode md) {
         cudnn::linear_backward_input(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), md);
       }},
      {"backward-weight",
       [](S m) {
         return std::vector<int64_t>{m.N * m.IN, m.N * m.OUT};
       },
       [](S m) { return m.OUT * m.IN; },
       [](S m, HostCase& h) {
         cpu::linear_backward_weight<float>(m.N, m.IN, m.OUT, h.in[0].data(), h.in[1].data(), h.out[0].data());
       },
       [](S m, const DevCase& d, int b) { linear_backward_weight1(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), b); },
       [](S m, const DevCase& d, MathMode md) { linear_backward_weight(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), md); },
       [](S m, const DevCase& d, MathMode md) {
         cudnn::linear_backward_weight(m.N, m.IN, m.OUT, d.I(0), d.I(1), d.O(0), md);
       }},
      {"backward-bias", [](S m) { return std::vector<int64_t>{m.N * m.OUT}; }, [](S m) { return m.OUT; },
       [](S m, HostCase& h) { cpu::linear_backward_bias<float>(m.N, m.OUT, h.in[0].data(), h.out[0].data()); },
       [](S m, const DevCase& d, int b) { linear_backward_bias1(m.N, m.OUT, d.I(0), d.O(0), b); },
       [](S m, const DevCase& d, MathMode) { linear_backward_bias(m.N, m.OUT, d.I(0), d.O(0)); }, nullptr},
  };
}

std::vector<Problem> linear_list(const CurrentCase& cur) {
  std::vector<Problem> ps;
  for (const LinearDirection& dir : linear_directions()) {
    auto make = [dir](const LabCase& lc, Rng& rng) {
      HostCase h;
      for (int64_t n : dir.in_sizes(lc.mat)) h.in.push_back(random_vec(n, rng, -1, 1));
      h.out = {std::vector<float>(size_t(dir.out_size(lc.mat)))};
      h.out_init = {-1};
      h.cpu = [m = lc.mat, cpu = dir.cpu](HostCase& h) { cpu(m, h); };
      return h;
    };
    std::vector<Variant> v{naive_variant([cur, f = dir.naive](const DevCase& d, int b) { f(cur->mat, d, b); })};
    // TF32 rounds the inputs to 10 mantissa bits: ~1e-3 relative error over a 512-term sum.
    const bool gemm = dir.theirs != nullptr;
    // Ours, then cuBLAS's (the conv tables' order), each in fp32 and, for the GEMMs, TF32.
    for (const auto& [lib, f] : {std::pair{"custom", dir.ours}, std::pair{"cublas", dir.theirs}}) {
      if (!f) continue;
      for (MathMode md : {MathMode::Fp32, MathMode::Tf32}) {
        const bool tf32 = md == MathMode::Tf32;
        if (tf32 && !gemm) continue;
        v.push_back(fixed_variant(
            std::string(lib) + (tf32 ? "-tf32" : "-fp32"), [cur, f = f, md](const DevCase& d) { f(cur->mat, d, md); },
            tf32 ? 5e-3 : 1e-4, tf32));
      }
    }
    // 2 * N * IN * OUT for the GEMMs; the bias gradient's N * OUT additions.
    auto flops = [gemm](const LabCase& lc) {
      return gemm ? 2.0 * lc.mat.N * lc.mat.IN * lc.mat.OUT : double(lc.mat.N) * lc.mat.OUT;
    };
    ps.push_back(make_problem(
        dir.name, cur, make, v, [](const LabCase&) { return 0.0; }, flops));
  }
  return ps;
}

// ---- cross-entropy ------------------------------------------------------------------------------------

// logits (N, C) in [-3, 3], class weights (C) in [0.5, 1.5], targets (N) in [0, C); log_probs
// (N, C) from the CPU's log-softmax; row_weight[i] = w[t_i] / sum_j w[t_j] (the definition in
// kernels/softmax.cuh, which engine/ops/softmax.cc's CPU path keeps in double).
struct CrossEntropyData {
  std::vector<float> logits, class_weight, log_probs, row_weight;
  std::vector<int64_t> target;
};

std::vector<float> row_weights(const std::vector<float>& class_weight, const std::vector<int64_t>& target) {
  double total = 0.0;
  for (int64_t t : target) total += class_weight[t];
  std::vector<float> w;
  for (int64_t t : target) w.push_back(float(class_weight[t] / total));
  return w;
}

CrossEntropyData ce_data(const MatShape& m, Rng& rng) {
  CrossEntropyData e;
  e.logits = random_vec(m.N * m.OUT, rng, -3, 3);
  e.class_weight = random_vec(m.OUT, rng, 0.5, 1.5);
  for (int64_t i = 0; i < m.N; ++i) e.target.push_back(int64_t(rng.next() % uint64_t(m.OUT)));
  e.log_probs.resize(e.logits.size());
  cpu::softmax_forward<float>(e.logits.data(), e.log_probs.data(), cpu::AxisView{m.N, m.OUT, 1}, true);
  e.row_weight = row_weights(e.class_weight, e.target);
  return e;
}

template <class T>
Tensor host_tensor(const std::vector<T>& v, const Shape& shape, DType dtype) {
  return Tensor::from_vector(std::vector<double>(v.begin(), v.end()), shape, dtype);
}

// The CPU op itself (engine/ops/softmax.cc): the loss, and with g the logits' gradient g * dloss.
Tensor cpu_cross_entropy(const MatShape& m, const std::vector<float>& logits, const std::vector<int64_t>& target,
                         const std::vector<float>& class_weight, const float* g) {
  Tensor x = host_tensor(logits, {m.N, m.OUT}, DType::Float32);
  x.requires_grad_(g != nullptr);
  const Tensor loss = lb::cross_entropy(x, host_tensor(target, {m.N}, DType::Int64),
                                        host_tensor(class_weight, {m.OUT}, DType::Float32));
  if (!g) return loss;
  loss.backward(Tensor::scalar(*g));
  return x.grad();
}

void copy_out(const Tensor& t, std::vector<float>& out) {
  const float* p = t.data<float>();
  out.assign(p, p + t.numel());
}

std::vector<Problem> cross_entropy_list(const CurrentCase& cur) {
  // in: logits, class_weight; in_i: target; out: log_probs, row_weight, loss (1).
  auto fwd_make = [](const LabCase& lc, Rng& rng) {
    CrossEntropyData e = ce_data(lc.mat, rng);
    HostCase h;
    h.in = {e.logits, e.class_weight};
    h.in_i = {e.target};
    h.out = {std::vector<float>(e.logits.size()), std::vector<float>(size_t(lc.mat.N)), std::vector<float>(1)};
    h.out_init = {-1, -1, -1};
    h.cpu = [m = lc.mat](HostCase& h) {
      cpu::softmax_forward<float>(h.in[0].data(), h.out[0].data(), cpu::AxisView{m.N, m.OUT, 1}, true);
      h.out[1] = row_weights(h.in[1], h.in_i[0]);
      h.out[2][0] = float(cpu_cross_entropy(m, h.in[0], h.in_i[0], h.in[1], nullptr).item());
    };
    return h;
  };
  // in: log_probs, row_weight, g (1), then the logits and class weights the CPU op starts from;
  // in_i: target; out: dlogits.
  auto bwd_make = [](const LabCase& lc, Rng& rng) {
    CrossEntropyData e = ce_data(lc.mat, rng);
    HostCase h;
    h.in = {e.log_probs, e.row_weight, random_vec(1, rng, 0.5, 2), e.logits, e.class_weight};
    h.in_i = {e.target};
    h.out = {std::vector<float>(e.logits.size())};
    h.out_init = {-1};
    h.cpu = [m = lc.mat](HostCase& h) {
      copy_out(cpu_cross_entropy(m, h.in[3], h.in_i[0], h.in[4], h.in[2].data()), h.out[0]);
    };
    return h;
  };
  std::vector<Variant> fwd{
      naive_variant([cur](const DevCase& d, int b) {
        cross_entropy_forward1(d.I(0), d.II(0), d.I(1), cur->mat.N, cur->mat.OUT, d.O(0), d.O(1), d.O(2), b);
      }),
      fixed_variant("custom-fp32", [cur](const DevCase& d) {
        cross_entropy_forward(d.I(0), d.II(0), d.I(1), cur->mat.N, cur->mat.OUT, d.O(0), d.O(1), d.O(2));
      })};
  std::vector<Variant> bwd{naive_variant([cur](const DevCase& d, int b) {
                             cross_entropy_backward1(d.I(0), d.II(0), d.I(1), d.I(2), cur->mat.N, cur->mat.OUT, d.O(0),
                                                     b);
                           }),
                           fixed_variant("custom-fp32", [cur](const DevCase& d) {
                             cross_entropy_backward(d.I(0), d.II(0), d.I(1), d.I(2), cur->mat.N, cur->mat.OUT, d.O(0));
                           })};
  auto bytes = [](const LabCase& lc) { return 2.0 * 4 * lc.mat.N * lc.mat.OUT; };  // read logits, write (d)logits
  return {make_problem("forward", cur, fwd_make, fwd, bytes), make_problem("backward", cur, bwd_make, bwd, bytes)};
}

}  // namespace

std::vector<Problem> bn_extra_problems(const LabCase& c) {
  auto cur = std::make_shared<LabCase>(c);
  return {bn_eval_problem(cur, false), bn_relu_train_problem(cur), bn_eval_problem(cur, true),
          bn_relu_backward_problem(cur)};
}

std::vector<Problem> relu_problems(const LabCase& c) { return relu_list(std::make_shared<LabCase>(c)); }
std::vector<Problem> avg_pool_problems(const LabCase& c) { return avg_pool_list(std::make_shared<LabCase>(c)); }
std::vector<Problem> linear_problems(const LabCase& c) { return linear_list(std::make_shared<LabCase>(c)); }
std::vector<Problem> cross_entropy_problems(const LabCase& c) {
  return cross_entropy_list(std::make_shared<LabCase>(c));
}

}  // namespace lb::kernels::lab::detail
