// bench_kernels_cpu.cc: `lightbox bench kernels --device cpu`: lightbox's CPU backend beside its
// two yardsticks, on every ResNet18 layer shape (docs/11-cpu-yardsticks.md reads the table).
//
// The layers are the CUDA lab's (lab/cases.h: every distinct conv, batch norm and max pool
// of ResNet18 with a 1-channel stem, and the fc layer) at 28x28 (and/or 224x224), batch --batch
// (128). For each layer and direction, implementations:
//   own              lightbox's conv (engine/cpu/conv2d.h) on its own GEMM (engine/cpu/gemm.h)
//   onednn           what --backend onednn runs per call (engine/cpu/onednn/): the primitive
//                    descriptor made (the primitive comes from oneDNN's cache), our NCHW buffers
//                    reordered into oneDNN's blocked layouts, the primitive, the result reordered back
//   onednn-blocked   (conv) the primitive alone on its own layouts: what a network that kept every
//                    tensor in oneDNN's layouts would pay; the reorders are not timed
//   openblas-im2col  (conv, fc) our conv and linear with cpu::set_gemm_backend(OpenBlas): the
//                    classic materialised im2col + cblas_sgemm
// Each one runs once (its output checked against own's: relative L2 error within kTol), then
// --warmup - 1 more times, then --reps times; the median counts. GFLOP/s use one FLOP count per
// direction for every implementation, the direct convolution's 2*N*K*C*R*S*P*Q (2*N*IN*OUT for fc),
// so the rates compare; "% peak" is a share of the FMA peak measured on the same threads first
// (engine/cpu/fma_peak.h). Exits 1 if an implementation fails its check.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/common.h"
#include "engine/cpu/batch_norm2d.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/cpu_info.h"
#include "engine/cpu/fma_peak.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/onednn/batch_norm2d.h"
#include "engine/cpu/onednn/conv2d.h"
#include "engine/cpu/onednn/linear.h"
#include "engine/cpu/onednn/pool2d.h"
#include "engine/cpu/pool2d.h"
#include "engine/io/file.h"
#include "lab/cases.h"
#include "tools/cli/bench_kernels.h"
#include "tools/cli/commands.h"

namespace lb::cli {

namespace {

using kernels::lab::LabCase;
using kernels::lab::OpKind;
using Buf = std::vector<float>;

// fp32 sums of up to C*R*S = 4608 products in another order differ from ours by ~1e-6 relative;
// a wrong tap, channel or image is off by > 1e-2.
constexpr double kTol = 1e-4;

struct Measured {
  std::string impl;
  double ms = 0, rel_err = 0;  // rel_err: against own's output (0 for own)
  std::string kernel;          // oneDNN's implementation name, when known
};

struct Row {
  std::string layer, op, direction, shape;
  double flops = 0;  // 0: not a FLOP-bound op (batch norm, pooling): no GFLOP/s
  std::vector<Measured> impls;
};

struct Bench {
  const CpuKernelBenchOptions& o;
  cpu::onednn::Context ctx;
  std::vector<Row> rows;
};

Buf random_buf(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Buf v(static_cast<size_t>(n));
  for (float& x : v) x = u(gen);
  return v;
}

double rel_l2(const Buf& got, const Buf& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Sets the GEMM backend for its lifetime and restores the one before.
struct GemmBackendScope {
  cpu::GemmBackend saved = cpu::gemm_backend();
  explicit GemmBackendScope(cpu::GemmBackend b) { cpu::set_gemm_backend(b); }
  ~GemmBackendScope() { cpu::set_gemm_backend(saved); }
};

// Runs `first` once (then `out` is compared with `want`, own's output, when given), `again` for the
// remaining warm-ups and the timed runs; the median ms of the timed ones.
Measured measure(const Bench& b, const std::string& impl, const std::function<void()>& first,
                 const std::function<void()>& again, const Buf& out, const Buf* want) {
  Measured m;
  m.impl = impl;
  first();
  if (want) m.rel_err = rel_l2(out, *want);
  for (int i = 1; i < b.o.warmup; ++i) again();
  std::vector<double> ms;
  for (int i = 0; i < b.o.reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    again();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  m.ms = ms[ms.size() / 2];
  return m;
}
Measured measure(const Bench& b, const std::string& impl, const std::function<void()>& f, const Buf& out,
                 const Buf* want) {
  return measure(b, impl, f, f, out, want);
}

// ---- conv2d: own, onednn, onednn-blocked, openblas-im2col, per direction ----------------------------

void conv_rows(Bench& b, const LabCase& c) {
  const kernels::Conv2dShape& s = c.conv;
  const cpu::Conv2dArgs a{s};
  const Buf x = random_buf(s.N * s.C * s.H * s.W, 1), w = random_buf(s.K * s.C * s.R * s.S, 2),
            dy = random_buf(s.N * s.K * s.P * s.Q, 3);  // x (N,C,H,W), w (K,C,R,S), dy (N,K,P,Q)
  using Dir = cpu::onednn::ConvDirection;
  const struct {
    Dir dir;
    const char* name;
    size_t out_n;
  } dirs[] = {{Dir::Forward, "forward", dy.size()},
              {Dir::BackwardInput, "backward_input", x.size()},
              {Dir::BackwardWeight, "backward_weight", w.size()}};
  for (const auto& d : dirs) {
    // The operands of each direction: (x, w) -> y, (dy, w) -> dx, (x, dy) -> dw.
    const float* in0 = d.dir == Dir::BackwardInput ? dy.data() : x.data();
    const float* in1 = d.dir == Dir::BackwardWeight ? dy.data() : w.data();
    auto own = [&, d](float* out) {
      if (d.dir == Dir::Forward)
        cpu::conv2d_forward<float>(a, in0, in1, nullptr, out);
      else if (d.dir == Dir::BackwardInput)
        cpu::conv2d_backward_input<float>(a, in0, in1, out);
      else
        cpu::conv2d_backward_weight<float>(a, in0, in1, out);
    };
    auto dnn = [&, d](float* out) {
      if (d.dir == Dir::Forward)
        cpu::onednn::conv2d_forward(b.ctx, a, in0, in1, nullptr, out);
      else if (d.dir == Dir::BackwardInput)
        cpu::onednn::conv2d_backward_input(b.ctx, a, in0, in1, out);
      else
        cpu::onednn::conv2d_backward_weight(b.ctx, a, in0, in1, out);
    };
    Row r{c.layer, "conv2d", d.name, kernels::lab::describe(c), 2.0 * s.N * s.K * s.C * s.R * s.S * s.P * s.Q, {}};
    Buf want(d.out_n), out(d.out_n);
    r.impls.push_back(measure(
        b, "own", [&] { own(want.data()); }, want, nullptr));
    r.impls.push_back(measure(
        b, "onednn", [&] { dnn(out.data()); }, out, &want));
    cpu::onednn::Conv2dPlan plan(b.ctx, a, d.dir);
    r.impls.push_back(measure(
        b, "onednn-blocked", [&] { plan.run(in0, in1, nullptr, out.data()); }, [&] { plan.run_inner(); }, out, &want));
    r.impls.back().kernel = r.impls[1].kernel = plan.implementation();
    {
      GemmBackendScope blas(cpu::GemmBackend::OpenBlas);
      r.impls.push_back(measure(
          b, "openblas-im2col", [&] { own(out.data()); }, out, &want));
    }
    b.rows.push_back(r);
  }
}

// ---- batch norm: own vs onednn (training forward, eval forward, training backward) ------------------

void bn_rows(Bench& b, const LabCase& c) {
  const kernels::BatchNormShape& s = c.bn;
  const int64_t n = s.N * s.C * s.HW;
  const cpu::BatchNorm2dArgs a{s};  // PyTorch's eps and momentum
  const Buf x = random_buf(n, 4), dy = random_buf(n, 5), w = random_buf(s.C, 6), bias = random_buf(s.C, 7);
  Buf mean(s.C), invstd(s.C), rm(s.C, 0.0f), rv(s.C, 1.0f), want(n), out(n);  // (C) stats; (N,C,HW) y
  Buf dw(s.C), db(s.C);                                                       // (C) parameter gradients
  const std::string shape = kernels::lab::describe(c);
  Row train{c.layer, "batch_norm2d", "forward_train", shape, 0, {}};
  train.impls.push_back(measure(
      b, "own",
      [&] {
        cpu::batch_norm2d_forward_train(x.data(), w.data(), bias.data(), want.data(), mean.data(), invstd.data(),
                                        rm.data(), rv.data(), a);
      },
      want, nullptr));
  Buf m2(s.C), is2(s.C);  // (C) oneDNN's, kept apart: the backward below reads own's mean and invstd
  train.impls.push_back(measure(
      b, "onednn",
      [&] {
        cpu::onednn::batch_norm2d_forward_train(b.ctx, a, x.data(), w.data(), bias.data(), out.data(), m2.data(),
                                                is2.data(), rm.data(), rv.data());
      },
      out, &want));
  b.rows.push_back(train);
  Row eval{c.layer, "batch_norm2d", "forward_eval", shape, 0, {}};
  Buf is_eval(s.C);  // (C)
  eval.impls.push_back(measure(
      b, "own",
      [&] {
        cpu::batch_norm2d_forward_eval(x.data(), w.data(), bias.data(), rm.data(), rv.data(), want.data(),
                                       is_eval.data(), a);
      },
      want, nullptr));
  eval.impls.push_back(measure(
      b, "onednn",
      [&] {
        cpu::onednn::batch_norm2d_forward_eval(b.ctx, a, x.data(), w.data(), bias.data(), rm.data(), rv.data(),
                                               out.data(), is_eval.data());
      },
      out, &want));
  b.rows.push_back(eval);
  const cpu::BatchNorm2dBackwardArgs ba{s};  // training
  Row back{c.layer, "batch_norm2d", "backward", shape, 0, {}};
  back.impls.push_back(measure(
      b, "own",
      [&] {
        cpu::batch_norm2d_backward(x.data(), dy.data(), mean.data(), invstd.data(), w.data(), want.data(), dw.data(),
                                   db.data(), ba);
      },
      want, nullptr));
  back.impls.push_back(measure(
      b, "onednn",
      [&] {
        cpu::onednn::batch_norm2d_backward(b.ctx, ba, x.data(), dy.data(), mean.data(), invstd.data(), w.data(),
                                           out.data(), dw.data(), db.data());
      },
      out, &want));
  b.rows.push_back(back);
}

// ---- max pool: own (with indices) vs onednn (with its workspace) --------------------------------------

void pool_rows(Bench& b, const LabCase& c) {
  const kernels::MaxPoolShape& s = c.pool;
  const cpu::MaxPool2dArgs& a = s;
  const int64_t nx = s.planes * s.H * s.W, ny = s.planes * s.P * s.Q;
  const Buf x = random_buf(nx, 8), dy = random_buf(ny, 9);  // x (N,C,H,W), dy (N,C,P,Q); no ties
  std::vector<int64_t> idx(static_cast<size_t>(ny));        // (N,C,P,Q)
  Buf y_want(ny), y(ny), dx_want(nx), dx(nx);
  cpu::onednn::MaxPool2dPlan plan(b.ctx, kernels::lab::batch_of(c), c.channels, a);
  const std::string shape = kernels::lab::describe(c);
  Row fwd{c.layer, "max_pool2d", "forward", shape, 0, {}};
  fwd.impls.push_back(measure(
      b, "own", [&] { cpu::max_pool2d_forward(x.data(), y_want.data(), idx.data(), a); }, y_want, nullptr));
  fwd.impls.push_back(measure(
      b, "onednn", [&] { plan.forward(x.data(), y.data()); }, y, &y_want));
  fwd.impls.back().kernel = plan.implementation();
  b.rows.push_back(fwd);
  Row bwd{c.layer, "max_pool2d", "backward", shape, 0, {}};
  bwd.impls.push_back(measure(
      b, "own", [&] { cpu::max_pool2d_backward(dy.data(), idx.data(), dx_want.data(), a); }, dx_want, nullptr));
  bwd.impls.push_back(measure(
      b, "onednn", [&] { plan.backward(dy.data(), dx.data()); }, dx, &dx_want));
  bwd.impls.back().kernel = plan.implementation();
  b.rows.push_back(bwd);
}

// ---- linear (fc): own, onednn, openblas ---------------------------------------------------------------

void linear_rows(Bench& b, const LabCase& c) {
  const int64_t N = c.mat.N, IN = c.mat.IN, OUT = c.mat.OUT;
  const Buf x = random_buf(N * IN, 10), w = random_buf(OUT * IN, 11), dy = random_buf(N * OUT, 12);
  const std::string shape = kernels::lab::describe(c);
  const double flops = 2.0 * N * IN * OUT;
  enum Dir { Fwd, BwdIn, BwdW };
  const struct {
    Dir dir;
    const char* name;
    size_t out_n;
  } dirs[] = {{Fwd, "forward", dy.size()}, {BwdIn, "backward_input", x.size()}, {BwdW, "backward_weight", w.size()}};
  for (const auto& d : dirs) {
    auto own = [&, d](float* out) {
      if (d.dir == Fwd)
        cpu::linear_forward<float>(N, IN, OUT, x.data(), w.data(), nullptr, out);
      else if (d.dir == BwdIn)
        cpu::linear_backward_input<float>(N, IN, OUT, dy.data(), w.data(), out);
      else
        cpu::linear_backward_weight<float>(N, IN, OUT, x.data(), dy.data(), out);
    };
    auto dnn = [&, d](float* out) {
      if (d.dir == Fwd)
        cpu::onednn::linear_forward(b.ctx, N, IN, OUT, x.data(), w.data(), nullptr, out);
      else if (d.dir == BwdIn)
        cpu::onednn::linear_backward_input(b.ctx, N, IN, OUT, dy.data(), w.data(), out);
      else
        cpu::onednn::linear_backward_weight(b.ctx, N, IN, OUT, x.data(), dy.data(), out);
    };
    Row r{c.layer, "linear", d.name, shape, flops, {}};
    Buf want(d.out_n), out(d.out_n);
    r.impls.push_back(measure(
        b, "own", [&] { own(want.data()); }, want, nullptr));
    r.impls.push_back(measure(
        b, "onednn", [&] { dnn(out.data()); }, out, &want));
    GemmBackendScope blas(cpu::GemmBackend::OpenBlas);
    r.impls.push_back(measure(
        b, "openblas", [&] { own(out.data()); }, out, &want));
    b.rows.push_back(r);
  }
}

// ---- output -------------------------------------------------------------------------------------------

double gflops(const Row& r, const Measured& m) { return r.flops > 0 ? r.flops / (m.ms * 1e6) : -1; }

std::string cell(const Row& r, const Measured* m, double peak) {
  char buf[64];
  if (!m) return std::string(22, ' ');
  if (r.flops <= 0)
    std::snprintf(buf, sizeof buf, "%9.3f %12s", m->ms, "");
  else
    std::snprintf(buf, sizeof buf, "%9.3f %6.1f %4.0f%%", m->ms, gflops(r, *m), 100 * gflops(r, *m) / peak);
  return buf;
}

const Measured* find(const Row& r, const std::string& impl) {
  for (const Measured& m : r.impls)
    if (m.impl == impl || (impl == "openblas-im2col" && m.impl == "openblas")) return &m;
  return nullptr;
}

void print_table(const std::vector<Row>& rows, double peak) {
  const char* impls[] = {"own", "onednn", "onednn-blocked", "openblas-im2col"};
  std::printf("%-22s %-16s %7s", "layer", "direction", "GFLOP");
  for (const char* i : impls) std::printf(" %22s", (std::string(i) + " ").c_str());
  std::printf(" %8s %7s  %s\n", "own/dnn", "max err", "oneDNN kernel");
  std::printf("%-22s %-16s %7s", "", "", "");
  for (int i = 0; i < 4; ++i) std::printf(" %22s", "ms  GF/s  %pk");
  std::printf("\n");
  std::string op;
  for (const Row& r : rows) {
    if (r.op != op) std::printf("-- %s\n", (op = r.op).c_str());
    double err = 0;
    for (const Measured& m : r.impls) err = std::max(err, m.rel_err);
    const Measured* dnn = find(r, "onednn");
    char gflop[16] = "-";
    if (r.flops > 0) std::snprintf(gflop, sizeof gflop, "%.3f", r.flops * 1e-9);
    std::printf("%-22s %-16s %7s", r.layer.c_str(), r.direction.c_str(), gflop);
    for (const char* i : impls) std::printf(" %s", cell(r, find(r, i), peak).c_str());
    std::printf(" %8.2f %7.0e%s  %s\n", find(r, "own")->ms / dnn->ms, err, err > kTol ? " FAIL" : "",
                dnn->kernel.c_str());
  }
  std::fflush(stdout);
}

nlohmann::json row_json(const Row& r, double peak) {
  nlohmann::json impls = nlohmann::json::object();
  for (const Measured& m : r.impls) {
    nlohmann::json j = {{"ms", m.ms}, {"rel_err", m.rel_err}, {"pass", m.rel_err <= kTol}};
    if (r.flops > 0) {
      j["gflops"] = gflops(r, m);
      j["pct_peak"] = 100 * gflops(r, m) / peak;
    }
    if (!m.kernel.empty()) j["kernel"] = m.kernel;
    impls[m.impl] = j;
  }
  return {{"layer", r.layer},
          {"op", r.op},
          {"direction", r.direction},
          {"shape", r.shape},
          {"flops", r.flops},
          {"impls", impls},
          {"own_over_onednn", find(r, "own")->ms / find(r, "onednn")->ms}};
}

std::string utc_now() {
  char buf[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

nlohmann::json header_json(const CpuKernelBenchOptions& o, const cpu::FmaPeak& p) {
  const cpu::CpuInfo& c = cpu::cpu_info();
  return {{"cpu", c.model},
          {"vendor", c.vendor},
          {"isa", cpu::isa_name(cpu::active_isa())},
          {"best_isa", cpu::isa_name(cpu::best_isa())},
          {"openblas_core", cpu::openblas_core()},
          {"onednn_version", cpu::onednn::version()},
          {"caches", {{"l1d", c.l1d}, {"l2", c.l2}, {"l3", c.l3}}},
          {"threads", p.threads},
          {"fma_peak_gflops", p.gflops},
          {"fma_peak",
           {{"isa", cpu::isa_name(p.isa)},
            {"lanes", p.lanes},
            {"chains", p.chains},
            {"gflops_per_thread", p.gflops_per_thread},
            {"side_by_side", p.side_by_side}}},
          {"date", utc_now()},
          {"batch", o.batch},
          {"reps", o.reps},
          {"warmup", o.warmup},
          {"tolerance", kTol}};
}

}  // namespace

int run_bench_kernels_cpu(const CpuKernelBenchOptions& o) {
  apply_threads(o.threads);
  const cpu::FmaPeak peak = cpu::measure_fma_peak(omp_get_max_threads());
  std::printf("CPU: %s; ISA path %s (best %s); OpenBLAS core %s; oneDNN %s; %d threads\n",
              cpu::cpu_info().model.c_str(), cpu::isa_name(cpu::active_isa()), cpu::isa_name(cpu::best_isa()),
              cpu::openblas_core().c_str(), cpu::onednn::version().c_str(), peak.threads);
  std::printf("FMA peak (%s: %d chains x %d lanes x 2 FLOPs per step, %d threads): %.1f GFLOP/s (%.1f per thread)\n",
              cpu::isa_name(peak.isa), peak.chains, peak.lanes, peak.threads, peak.gflops, peak.gflops_per_thread);
  if (!peak.side_by_side)
    std::printf(
        "  (no probe run had all %d threads computing at once: the machine is busy, the peak is a lower bound "
        "and %% of peak too high; rerun on a quiet machine)\n",
        peak.threads);
  nlohmann::json j = header_json(o, peak);
  j["sizes"] = nlohmann::json::array();
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  for (int64_t size : {int64_t{28}, int64_t{224}}) {
    if (o.shapes != std::to_string(size) && o.shapes != "all") continue;
    std::printf("\n#### input %lldx%lld, batch %lld; median of %d runs after %d warm-up(s); ms, GFLOP/s, %% of peak\n",
                (long long)size, (long long)size, (long long)o.batch, o.reps, o.warmup);
    Bench b{o, {}, {}};
    for (const LabCase& c : kernels::lab::resnet18_cases(size, o.batch)) {
      if (c.op == OpKind::Conv2d)
        conv_rows(b, c);
      else if (c.op == OpKind::BatchNorm2d)
        bn_rows(b, c);
      else if (c.op == OpKind::MaxPool2d)
        pool_rows(b, c);
      else if (c.op == OpKind::Linear)
        linear_rows(b, c);
    }
    // Convolutions first (the FLOPs), then the memory-bound ops, each in network order.
    auto rank = [](const Row& r) {
      return r.op == "conv2d" ? 0 : r.op == "batch_norm2d" ? 1 : r.op == "max_pool2d" ? 2 : 3;
    };
    std::stable_sort(b.rows.begin(), b.rows.end(), [&](const Row& x, const Row& y) { return rank(x) < rank(y); });
    print_table(b.rows, peak.gflops);
    j["sizes"].push_back(size);
    for (const Row& r : b.rows) {
      nlohmann::json rj = row_json(r, peak.gflops);
      rj["input_size"] = size;
      rows.push_back(rj);
      for (const Measured& m : r.impls) failed += m.rel_err > kTol;
    }
  }
  j["rows"] = rows;
  if (!o.json.empty()) {
    io::write_file_atomic(o.json, j.dump(2) + "\n");
    std::printf("\nwrote %s\n", o.json.c_str());
  }
  LB_CHECK(failed == 0, failed << " implementation(s) disagree with lightbox's own beyond " << kTol
                               << " (FAIL rows above); check the oneDNN build or the shapes");
  return 0;
}

}  // namespace lb::cli
