// lab/problems.cu: the kernel lab's problems: for conv2d (forward, backward-input,
// backward-weight), batchnorm2d (forward-train, backward) and max-pool (forward, backward), how
// to make the host data and run the CPU reference, and which variants to check and time
// (1 = the naive port of the CPU loop in lab/<op>.cu, then ours, then cuDNN). The other ops'
// problems are in problems_ops.cu and problems_optim.cu; problems_of() lists them all.
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/pool2d.h"
#include "kernels/batch_norm2d.cuh"
#include "kernels/conv2d.cuh"
#include "kernels/cudnn/batch_norm2d.cuh"
#include "kernels/cudnn/conv2d.cuh"
#include "kernels/cudnn/pool2d.cuh"
#include "kernels/pool2d.cuh"
#include "lab/conv2d_v2.cuh"
#include "lab/harness.cuh"

namespace lb::kernels::lab::detail {

namespace {

// ---- conv2d ----------------------------------------------------------------------------------------

double conv_flops(const LabCase& c) {
  const Conv2dShape& s = c.conv;
  return 2.0 * double(s.N) * s.K * s.P * s.Q * s.C * s.R * s.S;
}

// Variants 2..6 of one conv direction: fn(shape, dev, mode) for ours, cudnn_fn for cuDNN's.
template <class Ours, class Theirs>
std::vector<Variant> conv_variants(Variant naive, Ours ours, Theirs theirs) {
  std::vector<Variant> v{naive};
  // TF32 rounds inputs to 10 mantissa bits: relative errors of ~1e-3 over a C*R*S-term sum.
  v.push_back({"custom-fp32", 1e-4, false, false, true, [ours](const DevCase& d, int) { ours(d, MathMode::Fp32); }});
  v.push_back({"custom-tf32", 5e-3, true, false, true, [ours](const DevCase& d, int) { ours(d, MathMode::Tf32); }});
  // bf16 (8 mantissa bits) against the fp32 reference: ~3e-3 relative L2; % of peak is of bf16's (lab.cu).
  v.push_back({"custom-bf16", 2e-2, true, false, true, [ours](const DevCase& d, int) { ours(d, MathMode::Bf16); }});
  v.push_back({"cudnn-fp32", 1e-4, false, false, true, [theirs](const DevCase& d, int) { theirs(d, MathMode::Fp32); }});
  v.push_back({"cudnn-tf32", 5e-3, true, false, true, [theirs](const DevCase& d, int) { theirs(d, MathMode::Tf32); }});
  return v;
}

// The v2 skeleton (lab/conv2d_v2.cuh, lab-only until measured): v2-fp32 and v2-tf32, inserted
// before the cuDNN variants with custom-*'s tolerances.
template <class V2>
void add_v2_variants(std::vector<Variant>& v, V2 v2) {
  auto at = v.begin();
  while (at != v.end() && at->name != "cudnn-fp32") ++at;
  at = v.insert(at, {"v2-fp32", 1e-4, false, false, true, [v2](const DevCase& d, int) { v2(d, MathMode::Fp32); }});
  v.insert(at + 1, {"v2-tf32", 5e-3, true, false, true, [v2](const DevCase& d, int) { v2(d, MathMode::Tf32); }});
}

// conv2d's forward: y from x and w (no bias), for the shape `cur` points at.
Problem conv_forward_problem(const std::shared_ptr<Conv2dShape>& cur) {
  Problem fwd;
  fwd.direction = "forward";
  fwd.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.conv;
    const Conv2dShape s = lc.conv;
    Rng rng(seed);
    HostCase h;
    h.in = {random_vec(s.N * s.C * s.H * s.W, rng, -1, 1), random_vec(s.K * s.C * s.R * s.S, rng, -1, 1)};
    h.out = {std::vector<float>(size_t(s.N * s.K * s.P * s.Q))};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) {
      cpu::conv2d_forward<float>(cpu::Conv2dArgs{s}, h.in[0].data(), h.in[1].data(), nullptr, h.out[0].data());
    };
    return h;
  };
  fwd.variants = conv_variants(
      {"1", 1e-4, false, true, true,
       [cur](const DevCase& d, int b) { conv2d_forward1(*cur, d.I(0), d.I(1), nullptr, d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_forward(*cur, d.I(0), d.I(1), nullptr, d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_forward(*cur, d.I(0), d.I(1), nullptr, d.O(0), m); });
  add_v2_variants(fwd.variants, [cur](const DevCase& d, MathMode m) {
    lb::kernels::conv2d_v2_forward(*cur, d.I(0), d.I(1), nullptr, d.O(0), m);
  });
  return fwd;
}

// conv2d's backward-input: dx from dy and w.
Problem conv_backward_input_problem(const std::shared_ptr<Conv2dShape>& cur) {
  Problem bi;
  bi.direction = "backward-input";
  bi.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.conv;
    const Conv2dShape s = lc.conv;
    Rng rng(seed);
    HostCase h;
    h.in = {random_vec(s.N * s.K * s.P * s.Q, rng, -1, 1), random_vec(s.K * s.C * s.R * s.S, rng, -1, 1)};
    h.out = {std::vector<float>(size_t(s.N * s.C * s.H * s.W))};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) {
      cpu::conv2d_backward_input<float>(cpu::Conv2dArgs{s}, h.in[0].data(), h.in[1].data(), h.out[0].data());
    };
    return h;
  };
  bi.variants = conv_variants(
      {"1", 1e-4, false, true, true,
       [cur](const DevCase& d, int b) { conv2d_backward_input1(*cur, d.I(0), d.I(1), d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_backward_input(*cur, d.I(0), d.I(1), d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_backward_input(*cur, d.I(0), d.I(1), d.O(0), m); });
  add_v2_variants(bi.variants, [cur](const DevCase& d, MathMode m) {
    lb::kernels::conv2d_v2_backward_input(*cur, d.I(0), d.I(1), d.O(0), m);
  });
  return bi;
}

// conv2d's backward-weight: dw from x and dy.
Problem conv_backward_weight_problem(const std::shared_ptr<Conv2dShape>& cur) {
  Problem bw;
  bw.direction = "backward-weight";
  bw.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.conv;
    const Conv2dShape s = lc.conv;
    Rng rng(seed);
    HostCase h;
    h.in = {random_vec(s.N * s.C * s.H * s.W, rng, -1, 1), random_vec(s.N * s.K * s.P * s.Q, rng, -1, 1)};
    h.out = {std::vector<float>(size_t(s.K * s.C * s.R * s.S))};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) {
      cpu::conv2d_backward_weight<float>(cpu::Conv2dArgs{s}, h.in[0].data(), h.in[1].data(), h.out[0].data());
    };
    return h;
  };
  bw.variants = conv_variants(
      {"1", 1e-4, false, true, true,
       [cur](const DevCase& d, int b) { conv2d_backward_weight1(*cur, d.I(0), d.I(1), d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_backward_weight(*cur, d.I(0), d.I(1), d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_backward_weight(*cur, d.I(0), d.I(1), d.O(0), m); });
  add_v2_variants(bw.variants, [cur](const DevCase& d, MathMode m) {
    lb::kernels::conv2d_v2_backward_weight(*cur, d.I(0), d.I(1), d.O(0), m);
  });
  return bw;
}

std::vector<Problem> conv_problems(const LabCase& c) {
  // Variants capture the shape by value: the check and the timing call them with their own
  // DevCase, and the shape is re-read from `cur` which the harness sets before each phase.
  auto cur = std::make_shared<Conv2dShape>(c.conv);
  std::vector<Problem> ps = {conv_forward_problem(cur), conv_backward_input_problem(cur),
                             conv_backward_weight_problem(cur)};
  for (auto& p : ps) {
    p.flops = conv_flops;
    p.bytes = [](const LabCase&) { return 0.0; };
  }
  return ps;
}

// ---- batchnorm2d -----------------------------------------------------------------------------------

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

cpu::BatchNorm2dArgs bn_args(const BatchNormShape& s) { return {s, kEps, kMomentum}; }

std::vector<Problem> bn_problems(const LabCase& c) {
  auto cur = std::make_shared<BatchNormShape>(c.bn);
  std::vector<Problem> ps;
  Problem fwd;
  fwd.direction = "forward-train";
  fwd.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.bn;
    const BatchNormShape s = lc.bn;
    Rng rng(seed);
    HostCase h;
    // x centred away from zero: the batch mean is compared by relative error too.
    h.in = {random_vec(s.N * s.C * s.HW, rng, -1, 3), random_vec(s.C, rng, 0.5, 1.5), random_vec(s.C, rng, -1, 1),
            random_vec(s.C, rng, -1, 1), random_vec(s.C, rng, 0.5, 1.5)};
    h.out = {std::vector<float>(h.in[0].size()), std::vector<float>(s.C), std::vector<float>(s.C), h.in[3], h.in[4]};
    h.out_init = {-1, -1, -1, 3, 4};  // running_mean, running_var are updated in place
    h.cpu = [s](HostCase& h) {
      h.out[3] = h.in[3];
      h.out[4] = h.in[4];
      cpu::batch_norm2d_forward_train<float>(h.in[0].data(), h.in[1].data(), h.in[2].data(), h.out[0].data(),
                                             h.out[1].data(), h.out[2].data(), h.out[3].data(), h.out[4].data(),
                                             bn_args(s));
    };
    return h;
  };
  auto fwd_run = [cur](auto fn) {
    return [cur, fn](const DevCase& d, int) {
      fn(*cur, d.I(0), d.I(1), d.I(2), d.O(0), d.O(1), d.O(2), d.O(3), d.O(4), kEps, kMomentum);
    };
  };
  fwd.variants = {{"1", 1e-4, false, true, true,
                   [cur](const DevCase& d, int b) {
                     batch_norm2d_forward_train1(*cur, d.I(0), d.I(1), d.I(2), d.O(0), d.O(1), d.O(2), d.O(3), d.O(4),
                                                 kEps, kMomentum, b);
                   }},
                  {"custom-fp32", 1e-4, false, false, true, fwd_run(lb::kernels::batch_norm2d_forward_train)},
                  {"cudnn-fp32", 1e-4, false, false, true, fwd_run(cudnn::batch_norm2d_forward_train)}};
  fwd.bytes = [](const LabCase& lc) { return 2.0 * 4 * lc.bn.N * lc.bn.C * lc.bn.HW; };  // read x, write y
  ps.push_back(fwd);

  Problem bwd;
  bwd.direction = "backward";
  bwd.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.bn;
    const BatchNormShape s = lc.bn;
    Rng rng(seed);
    HostCase h;
    std::vector<float> x = random_vec(s.N * s.C * s.HW, rng, -1, 3), weight = random_vec(s.C, rng, 0.5, 1.5);
    std::vector<float> y(x.size()), mean(s.C), invstd(s.C);
    // The saved statistics the backward reads: the CPU forward's own.
    cpu::batch_norm2d_forward_train<float>(x.data(), weight.data(), nullptr, y.data(), mean.data(), invstd.data(),
                                           nullptr, nullptr, bn_args(s));
    h.in = {std::move(x), random_vec(s.N * s.C * s.HW, rng, -1, 1), mean, invstd, weight};
    h.out = {std::vector<float>(h.in[0].size()), std::vector<float>(s.C), std::vector<float>(s.C)};
    h.out_init = {-1, -1, -1};
    h.cpu = [s](HostCase& h) {
      const cpu::BatchNorm2dBackwardArgs a{s, true};
      cpu::batch_norm2d_backward<float>(h.in[0].data(), h.in[1].data(), h.in[2].data(), h.in[3].data(), h.in[4].data(),
                                        h.out[0].data(), h.out[1].data(), h.out[2].data(), a);
    };
    return h;
  };
  auto bwd_run = [cur](auto fn) {
    return [cur, fn](const DevCase& d, int) {
      fn(*cur, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.O(0), d.O(1), d.O(2), true);
    };
  };
  bwd.variants = {naive_variant([cur](const DevCase& d, int b) {
                    batch_norm2d_backward1(*cur, d.I(0), d.I(1), d.I(2), d.I(3), d.I(4), d.O(0), d.O(1), d.O(2), true,
                                           b);
                  }),
                  {"custom-fp32", 1e-4, false, false, true, bwd_run(lb::kernels::batch_norm2d_backward)},
                  {"cudnn-fp32", 1e-4, false, false, true, bwd_run(cudnn::batch_norm2d_backward)}};
  bwd.bytes = [](const LabCase& lc) { return 3.0 * 4 * lc.bn.N * lc.bn.C * lc.bn.HW; };  // read x, dy; write dx
  ps.push_back(bwd);
  for (auto& p : ps) p.flops = [](const LabCase&) { return 0.0; };
  return ps;
}

// ---- max-pool --------------------------------------------------------------------------------------

std::vector<Problem> pool_problems(const LabCase& c) {
  auto cur = std::make_shared<MaxPoolShape>(c.pool);
  std::vector<Problem> ps;
  Problem fwd;
  fwd.direction = "forward";
  fwd.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.pool;
    const MaxPoolShape s = lc.pool;
    Rng rng(seed);
    HostCase h;
    h.in = {random_vec(s.planes * s.H * s.W, rng, -1, 1)};  // continuous values: no ties
    h.out = {std::vector<float>(size_t(s.planes * s.P * s.Q))};
    h.out_i = {std::vector<int64_t>(size_t(s.planes * s.P * s.Q))};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) { cpu::max_pool2d_forward<float>(h.in[0].data(), h.out[0].data(), h.out_i[0].data(), s); };
    return h;
  };
  fwd.variants = {{"1", 1e-4, false, true, true,
                   [cur](const DevCase& d, int b) { max_pool2d_forward1(*cur, d.I(0), d.O(0), d.OI(0), b); }},
                  {"custom-fp32", 1e-4, false, false, true,
                   [cur](const DevCase& d, int) { lb::kernels::max_pool2d_forward(*cur, d.I(0), d.O(0), d.OI(0)); }},
                  {"cudnn-fp32", 1e-4, false, false, false,
                   [cur](const DevCase& d, int) { cudnn::max_pool2d_forward(*cur, d.I(0), d.O(0)); }}};
  fwd.bytes = [](const LabCase& lc) {
    return 4.0 * (lc.pool.planes * lc.pool.H * lc.pool.W + lc.pool.planes * lc.pool.P * lc.pool.Q);
  };
  ps.push_back(fwd);

  Problem bwd;
  bwd.direction = "backward";
  bwd.make = [cur](const LabCase& lc, uint64_t seed) {
    *cur = lc.pool;
    const MaxPoolShape s = lc.pool;
    Rng rng(seed);
    HostCase h;
    std::vector<float> x = random_vec(s.planes * s.H * s.W, rng, -1, 1), y(size_t(s.planes * s.P * s.Q));
    std::vector<int64_t> idx(y.size());
    cpu::max_pool2d_forward<float>(x.data(), y.data(), idx.data(), s);
    h.in = {random_vec(s.planes * s.P * s.Q, rng, -1, 1), std::move(x), std::move(y)};  // dy, x, y
    h.in_i = {std::move(idx)};
    h.out = {std::vector<float>(h.in[1].size())};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) { cpu::max_pool2d_backward<float>(h.in[0].data(), h.in_i[0].data(), h.out[0].data(), s); };
    return h;
  };
  bwd.variants = {
      naive_variant([cur](const DevCase& d, int b) { max_pool2d_backward1(*cur, d.I(0), d.II(0), d.O(0), b); }),
      {"custom-fp32", 1e-4, false, false, true,
       [cur](const DevCase& d, int) { lb::kernels::max_pool2d_backward(*cur, d.I(0), d.II(0), d.O(0)); }},
      {"cudnn-fp32", 1e-4, false, false, true,
       [cur](const DevCase& d, int) { cudnn::max_pool2d_backward(*cur, d.I(1), d.I(2), d.I(0), d.O(0)); }}};
  bwd.bytes = fwd.bytes;
  ps.push_back(bwd);
  for (auto& p : ps) p.flops = [](const LabCase&) { return 0.0; };
  return ps;
}

}  // namespace

std::vector<Problem> problems_of(const LabCase& c) {
  switch (c.op) {
    case OpKind::Conv2d:
      return conv_problems(c);
    case OpKind::BatchNorm2d: {
      std::vector<Problem> ps = bn_problems(c), extra = bn_extra_problems(c);
      ps.insert(ps.end(), extra.begin(), extra.end());
      return ps;
    }
    case OpKind::MaxPool2d:
      return pool_problems(c);
    case OpKind::Relu:
      return relu_problems(c);
    case OpKind::AvgPool2d:
      return avg_pool_problems(c);
    case OpKind::Linear:
      return linear_problems(c);
    case OpKind::CrossEntropy:
      return cross_entropy_problems(c);
    case OpKind::Sgd:
      return sgd_problems(c);
    case OpKind::AdamW:
      return adamw_problems(c);
  }
  return {};
}

}  // namespace lb::kernels::lab::detail
