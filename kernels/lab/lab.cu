// lab/lab.cu: the kernel lab's harness (see lab.cuh): check every variant against the CPU backend,
// then time it.
//
// One (op, direction) of one LabCase becomes a HostCase: its inputs, filled on the host with
// random numbers, and a closure that runs the CPU backend (engine/cpu/) into host outputs. The
// check runs that closure once for the reference (on check_batch images when asked: 224x224
// layers are checked on 2 images of the same layer shape, the CPU reference of a full batch
// taking minutes), uploads the inputs, and runs each variant on poisoned outputs. The timing
// builds the HostCase again at the full batch, uploads it without running the CPU, and times the
// variants that passed. The CPU backend is timed (std::chrono, median) on its own full-batch
// HostCase.
#include <algorithm>
#include <chrono>
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
#include "kernels/cuda_check.cuh"
#include "kernels/cudnn/cudnn_ops.cuh"
#include "kernels/lab/lab.cuh"
#include "kernels/pool2d.cuh"
#include "kernels/runtime.cuh"

namespace lb::kernels::lab {

namespace {

cudaStream_t compute_stream() { return static_cast<cudaStream_t>(lb::kernels::stream()); }

void sync(const char* what) {
  cudaError_t e = cudaStreamSynchronize(compute_stream());
  LB_CHECK(e == cudaSuccess, what << ": " << cudaGetErrorString(e));
}

// A plain cudaMalloc'd buffer (the lab does not go through the caching allocator, so that the
// variants' own workspace allocations are what the allocator sees).
struct DevBuf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DevBuf(size_t n) : bytes(n) {
    if (n) LB_CUDA_CHECK(cudaMalloc(&p, n));
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  float* f() const { return static_cast<float*>(p); }
  int64_t* i() const { return static_cast<int64_t*>(p); }
};

// splitmix64: a fast, seedable stream of uniform numbers (the 224x224 stem has 200M elements).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float((next() >> 40) * (1.0 / 16777216.0)); }
};

std::vector<float> random_vec(int64_t n, Rng& rng, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = rng.uniform(lo, hi);
  return v;
}

// ---- one (op, direction) on the host ---------------------------------------------------------------

struct HostCase {
  std::vector<std::vector<float>> in;       // float inputs
  std::vector<std::vector<int64_t>> in_i;   // int64 inputs (max-pool indices)
  std::vector<std::vector<float>> out;      // float outputs (CPU results after cpu())
  std::vector<std::vector<int64_t>> out_i;  // int64 outputs
  std::vector<int> out_init;                // per float output: input it starts from (in-place), or -1
  std::function<void(HostCase&)> cpu;       // the CPU backend: in -> out
};

// The same, uploaded: variants read in[k] and write out[k].
struct DevCase {
  std::vector<std::unique_ptr<DevBuf>> in, in_i, out, out_i;
  explicit DevCase(const HostCase& h) {
    for (const auto& v : h.in) in.push_back(upload(v.data(), v.size() * sizeof(float)));
    for (const auto& v : h.in_i) in_i.push_back(upload(v.data(), v.size() * sizeof(int64_t)));
    for (const auto& v : h.out) out.push_back(std::make_unique<DevBuf>(v.size() * sizeof(float)));
    for (const auto& v : h.out_i) out_i.push_back(std::make_unique<DevBuf>(v.size() * sizeof(int64_t)));
  }
  static std::unique_ptr<DevBuf> upload(const void* src, size_t bytes) {
    auto b = std::make_unique<DevBuf>(bytes);
    if (bytes) LB_CUDA_CHECK(cudaMemcpyAsync(b->p, src, bytes, cudaMemcpyHostToDevice, compute_stream()));
    return b;
  }
  const float* I(int k) const { return in[k]->f(); }
  const int64_t* II(int k) const { return in_i[k]->i(); }
  float* O(int k) const { return out[k]->f(); }
  int64_t* OI(int k) const { return out_i[k]->i(); }
};

struct Variant {
  std::string name;
  double tol = 1e-4;
  bool tf32 = false, naive = false;
  bool writes_out_i = true;  // cuDNN's max-pool returns no indices
  std::function<void(const DevCase&, int block)> run;
};

// What one (op, direction) is: its host data, its variants and its cost per run.
struct Problem {
  std::string direction;
  std::function<HostCase(const LabCase&, uint64_t seed)> make;
  std::vector<Variant> variants;
  std::function<double(const LabCase&)> flops, bytes;
};

// ---- conv2d ----------------------------------------------------------------------------------------

cpu::Conv2dArgs cpu_args(const Conv2dShape& s) { return {s.N, s.C, s.H, s.W, s.K, s.R, s.S, s.stride, s.pad, s.P, s.Q}; }

double conv_flops(const LabCase& c) {
  const Conv2dShape& s = c.conv;
  return 2.0 * double(s.N) * s.K * s.P * s.Q * s.C * s.R * s.S;
}

// Variants 2..5 of one conv direction: fn(shape, dev, mode) for ours, cudnn_fn for cuDNN's.
template <class Ours, class Theirs>
std::vector<Variant> conv_variants(Variant naive, Ours ours, Theirs theirs) {
  std::vector<Variant> v{naive};
  // TF32 rounds inputs to 10 mantissa bits: relative errors of ~1e-3 over a C*R*S-term sum.
  v.push_back({"custom-fp32", 1e-4, false, false, true, [ours](const DevCase& d, int) { ours(d, MathMode::Fp32); }});
  v.push_back({"custom-tf32", 5e-3, true, false, true, [ours](const DevCase& d, int) { ours(d, MathMode::Tf32); }});
  v.push_back({"cudnn-fp32", 1e-4, false, false, true, [theirs](const DevCase& d, int) { theirs(d, MathMode::Fp32); }});
  v.push_back({"cudnn-tf32", 5e-3, true, false, true, [theirs](const DevCase& d, int) { theirs(d, MathMode::Tf32); }});
  return v;
}

std::vector<Problem> conv_problems(const LabCase& c) {
  // Variants capture the shape by value: the check and the timing call them with their own
  // DevCase, and the shape is re-read from `cur` which the harness sets before each phase.
  auto cur = std::make_shared<Conv2dShape>(c.conv);
  std::vector<Problem> ps;
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
    h.cpu = [s](HostCase& h) { cpu::conv2d_forward<float>(cpu_args(s), h.in[0].data(), h.in[1].data(), nullptr, h.out[0].data()); };
    return h;
  };
  fwd.variants = conv_variants(
      {"1", 1e-4, false, true, true, [cur](const DevCase& d, int b) { conv2d_forward1(*cur, d.I(0), d.I(1), nullptr, d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_forward(*cur, d.I(0), d.I(1), nullptr, d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_forward(*cur, d.I(0), d.I(1), nullptr, d.O(0), m); });
  ps.push_back(fwd);

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
    h.cpu = [s](HostCase& h) { cpu::conv2d_backward_input<float>(cpu_args(s), h.in[0].data(), h.in[1].data(), h.out[0].data()); };
    return h;
  };
  bi.variants = conv_variants(
      {"1", 1e-4, false, true, true, [cur](const DevCase& d, int b) { conv2d_backward_input1(*cur, d.I(0), d.I(1), d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_backward_input(*cur, d.I(0), d.I(1), d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_backward_input(*cur, d.I(0), d.I(1), d.O(0), m); });
  ps.push_back(bi);

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
    h.cpu = [s](HostCase& h) { cpu::conv2d_backward_weight<float>(cpu_args(s), h.in[0].data(), h.in[1].data(), h.out[0].data()); };
    return h;
  };
  bw.variants = conv_variants(
      {"1", 1e-4, false, true, true, [cur](const DevCase& d, int b) { conv2d_backward_weight1(*cur, d.I(0), d.I(1), d.O(0), b); }},
      [cur](const DevCase& d, MathMode m) { lb::kernels::conv2d_backward_weight(*cur, d.I(0), d.I(1), d.O(0), m); },
      [cur](const DevCase& d, MathMode m) { cudnn::conv2d_backward_weight(*cur, d.I(0), d.I(1), d.O(0), m); });
  ps.push_back(bw);
  for (auto& p : ps) {
    p.flops = conv_flops;
    p.bytes = [](const LabCase&) { return 0.0; };
  }
  return ps;
}

// ---- batchnorm2d -----------------------------------------------------------------------------------

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

cpu::BatchNorm2dArgs bn_args(const BatchNormShape& s) {
  cpu::BatchNorm2dArgs a;
  a.N = s.N;
  a.C = s.C;
  a.HW = s.HW;
  a.eps = kEps;
  a.momentum = kMomentum;
  return a;
}

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
  fwd.variants = {
      {"1", 1e-4, false, true, true,
       [cur](const DevCase& d, int b) {
         batch_norm2d_forward_train1(*cur, d.I(0), d.I(1), d.I(2), d.O(0), d.O(1), d.O(2), d.O(3), d.O(4), kEps,
                                     kMomentum, b);
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
      cpu::BatchNorm2dBackwardArgs a;
      a.N = s.N;
      a.C = s.C;
      a.HW = s.HW;
      a.training = true;
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
  bwd.variants = {{"custom-fp32", 1e-4, false, false, true, bwd_run(lb::kernels::batch_norm2d_backward)},
                  {"cudnn-fp32", 1e-4, false, false, true, bwd_run(cudnn::batch_norm2d_backward)}};
  bwd.bytes = [](const LabCase& lc) { return 3.0 * 4 * lc.bn.N * lc.bn.C * lc.bn.HW; };  // read x, dy; write dx
  ps.push_back(bwd);
  for (auto& p : ps) p.flops = [](const LabCase&) { return 0.0; };
  return ps;
}

// ---- max-pool --------------------------------------------------------------------------------------

cpu::MaxPool2dArgs pool_args(const MaxPoolShape& s) {
  cpu::MaxPool2dArgs a;
  a.planes = s.planes;
  a.H = s.H;
  a.W = s.W;
  a.P = s.P;
  a.Q = s.Q;
  a.kernel = s.kernel;
  a.stride = s.stride;
  a.padding = s.padding;
  return a;
}

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
    h.cpu = [s](HostCase& h) { cpu::max_pool2d_forward<float>(h.in[0].data(), h.out[0].data(), h.out_i[0].data(), pool_args(s)); };
    return h;
  };
  fwd.variants = {
      {"1", 1e-4, false, true, true, [cur](const DevCase& d, int b) { max_pool2d_forward1(*cur, d.I(0), d.O(0), d.OI(0), b); }},
      {"custom-fp32", 1e-4, false, false, true,
       [cur](const DevCase& d, int) { lb::kernels::max_pool2d_forward(*cur, d.I(0), d.O(0), d.OI(0)); }},
      {"cudnn-fp32", 1e-4, false, false, false, [cur](const DevCase& d, int) { cudnn::max_pool2d_forward(*cur, d.I(0), d.O(0)); }}};
  fwd.bytes = [](const LabCase& lc) { return 4.0 * (lc.pool.planes * lc.pool.H * lc.pool.W + lc.pool.planes * lc.pool.P * lc.pool.Q); };
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
    cpu::max_pool2d_forward<float>(x.data(), y.data(), idx.data(), pool_args(s));
    h.in = {random_vec(s.planes * s.P * s.Q, rng, -1, 1), std::move(x), std::move(y)};  // dy, x, y
    h.in_i = {std::move(idx)};
    h.out = {std::vector<float>(h.in[1].size())};
    h.out_init = {-1};
    h.cpu = [s](HostCase& h) { cpu::max_pool2d_backward<float>(h.in[0].data(), h.in_i[0].data(), h.out[0].data(), pool_args(s)); };
    return h;
  };
  bwd.variants = {
      {"custom-fp32", 1e-4, false, false, true,
       [cur](const DevCase& d, int) { lb::kernels::max_pool2d_backward(*cur, d.I(0), d.II(0), d.O(0)); }},
      {"cudnn-fp32", 1e-4, false, false, true,
       [cur](const DevCase& d, int) { cudnn::max_pool2d_backward(*cur, d.I(1), d.I(2), d.I(0), d.O(0)); }}};
  bwd.bytes = fwd.bytes;
  ps.push_back(bwd);
  for (auto& p : ps) p.flops = [](const LabCase&) { return 0.0; };
  return ps;
}

std::vector<Problem> problems_of(const LabCase& c) {
  switch (c.op) {
    case OpKind::Conv2d: return conv_problems(c);
    case OpKind::BatchNorm2d: return bn_problems(c);
    case OpKind::MaxPool2d: return pool_problems(c);
  }
  return {};
}

// ---- checking -------------------------------------------------------------------------------------

// Poisons every output (0xFF bytes: NaN floats, -1 indices) or restores its in-place start value.
void prepare_outputs(const HostCase& h, const DevCase& d) {
  for (size_t k = 0; k < d.out.size(); ++k) {
    const int init = h.out_init[k];
    if (init >= 0)
      LB_CUDA_CHECK(cudaMemcpyAsync(d.out[k]->p, h.in[init].data(), d.out[k]->bytes, cudaMemcpyHostToDevice,
                                    compute_stream()));
    else
      LB_CUDA_CHECK(cudaMemsetAsync(d.out[k]->p, 0xFF, d.out[k]->bytes, compute_stream()));
  }
  for (const auto& b : d.out_i) LB_CUDA_CHECK(cudaMemsetAsync(b->p, 0xFF, b->bytes, compute_stream()));
}

// |out - ref| / |ref| (L2); NaN in out gives NaN.
double rel_l2(const std::vector<float>& out, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) return NAN;
    const double d = double(out[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// The worst relative error over a variant's outputs; an index that differs counts as 1 (failure).
double compare(const HostCase& h, const DevCase& d, bool with_indices) {
  double worst = 0;
  for (size_t k = 0; k < d.out.size(); ++k) {
    std::vector<float> got(h.out[k].size());
    LB_CUDA_CHECK(cudaMemcpyAsync(got.data(), d.out[k]->p, d.out[k]->bytes, cudaMemcpyDeviceToHost, compute_stream()));
    sync("lab: copying an output back");
    const double e = rel_l2(got, h.out[k]);
    if (std::isnan(e)) return NAN;
    worst = std::max(worst, e);
  }
  if (!with_indices) return worst;
  for (size_t k = 0; k < d.out_i.size(); ++k) {
    std::vector<int64_t> got(h.out_i[k].size());
    LB_CUDA_CHECK(cudaMemcpyAsync(got.data(), d.out_i[k]->p, d.out_i[k]->bytes, cudaMemcpyDeviceToHost, compute_stream()));
    sync("lab: copying indices back");
    if (got != h.out_i[k]) worst = std::max(worst, 1.0);
  }
  return worst;
}

// Runs one variant on poisoned outputs at every launch configuration it has; returns the worst error.
double check_variant(const Variant& v, const HostCase& h, const DevCase& d) {
  const std::vector<int> configs = v.naive ? kBlockSizes() : std::vector<int>{0};
  double worst = 0;
  for (int block : configs) {
    prepare_outputs(h, d);
    v.run(d, block);
    sync(("lab: " + v.name).c_str());
    const double e = compare(h, d, v.writes_out_i);
    if (std::isnan(e)) return NAN;
    worst = std::max(worst, e);
  }
  return worst;
}

// ---- timing ----------------------------------------------------------------------------------------

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    LB_CUDA_CHECK(cudaEventCreate(&start));
    LB_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

// Median milliseconds of `run` over up to o.reps runs, the L2 flushed before each, outside the
// timed region. A variant whose first timed run is slow gets fewer runs (o.variant_budget_s).
double time_ms(const std::function<void()>& run, const LabOptions& o, DevBuf& flush, int* reps_done) {
  Events ev;
  for (int i = 0; i < std::max(1, o.warmup); ++i) run();
  std::vector<float> ms;
  int reps = o.reps;
  for (int i = 0; i < reps; ++i) {
    LB_CUDA_CHECK(cudaMemsetAsync(flush.p, i & 0xFF, flush.bytes, compute_stream()));
    LB_CUDA_CHECK(cudaEventRecord(ev.start, compute_stream()));
    run();
    LB_CUDA_CHECK(cudaEventRecord(ev.stop, compute_stream()));
    LB_CUDA_CHECK(cudaEventSynchronize(ev.stop));
    float t = 0;
    LB_CUDA_CHECK(cudaEventElapsedTime(&t, ev.start, ev.stop));
    ms.push_back(t);
    if (i == 0 && t > 0) reps = std::clamp(int(o.variant_budget_s * 1e3 / t), 1, o.reps);
  }
  *reps_done = static_cast<int>(ms.size());
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double cpu_time_ms(const Problem& p, const LabCase& c, const LabOptions& o) {
  HostCase h = p.make(c, o.seed + 1000);
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, o.cpu_reps); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    h.cpu(h);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void fill_rates(LabResult& r, const DeviceInfo& dev, bool tf32) {
  if (r.ms <= 0) return;
  if (r.flops > 0) {
    r.gflops = r.flops / (r.ms * 1e6);
    const double peak = tf32 ? dev.peak_tf32_gflops : dev.peak_fp32_gflops;
    if (r.variant != "cpu" && peak > 0) r.pct_peak = 100.0 * r.gflops / peak;
  }
  if (r.bytes > 0) {
    r.gbps = r.bytes / (r.ms * 1e6);
    if (r.variant != "cpu" && dev.peak_gbps > 0) r.pct_peak = 100.0 * r.gbps / dev.peak_gbps;
  }
}

}  // namespace

DeviceInfo device_info() {
  int dev = 0;
  LB_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  LB_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  DeviceInfo d;
  d.name = prop.name;
  d.sm_count = prop.multiProcessorCount;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.l2_bytes = prop.l2CacheSize;
  // cudaDeviceProp lost clockRate and memoryClockRate in CUDA 13: ask the attributes (kHz).
  int clock_khz = 0, mem_khz = 0, bus_bits = 0;
  LB_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
  LB_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, dev));
  LB_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev));
  d.clock_ghz = clock_khz * 1e-6;
  // 128 fp32 FMA per SM per clock on sm_80 and sm_90 (H100 SXM: 132 * 128 * 2 * 1.98 GHz = 67 TFLOP/s).
  d.peak_fp32_gflops = d.sm_count * 128.0 * 2 * d.clock_ghz;
  // Dense TF32 tensor-core FMA per SM per clock: 512 on A100, 1024 on H100/H200 (NVIDIA quotes
  // 495 TFLOP/s for H100 SXM at its 1.83 GHz tensor boost; at the reported max clock this is a bit more).
  const double tf32_fma = prop.major >= 9 ? 1024.0 : prop.major == 8 && prop.minor == 0 ? 512.0 : 256.0;
  d.peak_tf32_gflops = d.sm_count * tf32_fma * 2 * d.clock_ghz;
  d.peak_gbps = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) * 1e-9;
  return d;
}

std::vector<LabResult> run_case(const LabCase& c, const LabOptions& o) {
  const DeviceInfo dev = device_info();
  const int64_t full_n = batch_of(c);
  const int64_t check_n = o.check_batch > 0 ? std::min(o.check_batch, full_n) : full_n;
  const LabCase check_case = with_batch(c, check_n);
  std::vector<LabResult> out;
  std::vector<Problem> problems = problems_of(c);
  for (Problem& p : problems) {
    std::vector<LabResult> rows;
    // Check: the CPU reference once, then every variant against it.
    {
      HostCase h = p.make(check_case, o.seed);
      h.cpu(h);
      DevCase d(h);
      for (const Variant& v : p.variants) {
        LabResult r;
        r.layer = c.layer;
        r.op = op_name(c.op);
        r.direction = p.direction;
        r.variant = v.name;
        r.shape = describe(c);
        r.tol = v.tol;
        r.check_batch = check_n;
        r.flops = p.flops(c);
        r.bytes = p.bytes(c);
        if (check_n < full_n) r.note = "checked on N=" + std::to_string(check_n);
        try {
          r.rel_err = check_variant(v, h, d);
          r.checked = true;
          r.pass = !std::isnan(r.rel_err) && r.rel_err <= v.tol;
          if (std::isnan(r.rel_err)) r.note = "NaN in the output";
        } catch (const lb::Error& e) {
          r.note = e.what();
        }
        rows.push_back(r);
      }
    }
    // Time the variants that passed, on the full batch.
    if (o.time) {
      HostCase h = p.make(c, o.seed);
      DevCase d(h);
      prepare_outputs(h, d);
      DevBuf flush(size_t(std::max<int64_t>(dev.l2_bytes, 1 << 20)) * 2);
      for (size_t k = 0; k < p.variants.size(); ++k) {
        LabResult& r = rows[k];
        if (!r.pass) continue;
        const Variant& v = p.variants[k];
        try {
          r.ms = time_ms([&] { v.run(d, kDefaultBlock); }, o, flush, &r.reps);
          fill_rates(r, dev, v.tf32);
        } catch (const lb::Error& e) {
          r.note = e.what();
        }
      }
      if (o.cpu_time) {
        LabResult r;
        r.layer = c.layer;
        r.op = op_name(c.op);
        r.direction = p.direction;
        r.variant = "cpu";
        r.shape = describe(c);
        r.flops = p.flops(c);
        r.bytes = p.bytes(c);
        r.ms = cpu_time_ms(p, c, o);
        r.reps = std::max(1, o.cpu_reps);
        r.note = "reference";
        fill_rates(r, dev, false);
        rows.push_back(r);
      }
    }
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

}  // namespace lb::kernels::lab
