// lab/problems_optim.cu: the kernel lab's problems for the optimizer updates, SGD and AdamW, on
// one parameter tensor of n elements: host data, the CPU reference (the optimizer classes of
// engine/optim/ stepping CPU tensors, so the element loop checked is the one training runs) and
// the variants: 1 (lab/optim.cu) and ours (kernels/optim.cuh). cuDNN has no optimizers.
//
// Shapes: p, g, buf, exp_avg, exp_avg_sq (n). The updates are in place: the variants update the
// output buffers, which the harness starts from the inputs (HostCase::out_init).
//
// Tolerance: the CPU loop and both kernels round the same operations in the same order (explicit
// __fmul_rn / __fadd_rn / __fdiv_rn / __fsqrt_rn on the device; on the host ISO C++ without
// -march, so no FMA contraction; sqrt and division are correctly rounded on both), so the results
// are expected bit for bit, and tests/lab/test_kernel_lab_cuda.cc asserts a zero error. The harness's
// 1e-6 is looser on purpose: an FMA contracted somewhere moves elements by about an ulp (~6e-8
// relative), a wrong formula by far more; the bench reports the first as a pass with its error.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/optim/adamw.h"
#include "engine/optim/sgd.h"
#include "kernels/optim.cuh"
#include "lab/harness.cuh"

namespace lb::kernels::lab::detail {

namespace {

constexpr double kOptimTol = 1e-6;

// A CPU float32 tensor (n) holding v, and back.
Tensor to_tensor(const std::vector<float>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::Float32);
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}
void from_tensor(const Tensor& t, std::vector<float>& out) {
  const float* p = t.data<float>();
  out.assign(p, p + t.numel());
}
// The state tensor named `field` of parameter 0 in an optimizer's state_dict().
Tensor state_of(const optim::Optimizer& opt, const std::string& field) {
  for (const auto& [key, t] : opt.state_dict())
    if (key == "0." + field) return t;
  LB_THROW("lab: the optimizer has no state '0." << field << "'");
}
// A leaf parameter holding p with gradient g.
Tensor param_with_grad(const std::vector<float>& p, const std::vector<float>& g) {
  Tensor t = to_tensor(p);
  t.requires_grad_(true);
  t.set_grad(to_tensor(g));
  return t;
}

// ---- SGD ------------------------------------------------------------------------------------------------

// One row per direction: the options, and whether it is the first step (buf is written, not read).
struct SgdDirection {
  const char* name;
  optim::SGDOptions opt;
  bool first;
};

const std::vector<SgdDirection>& sgd_directions() {
  static const std::vector<SgdDirection> dirs = {
      {"plain", {0.1, 0.0, 0.0, 5e-4, false}, false},          // no momentum: no buffer
      {"momentum-first", {0.1, 0.9, 0.0, 5e-4, false}, true},  // buf = d
      {"momentum", {0.1, 0.9, 0.1, 5e-4, false}, false},       // with dampening
      {"nesterov", {0.1, 0.9, 0.0, 5e-4, true}, false},
  };
  return dirs;
}

// What SGD::step hands the CUDA kernel: the options rounded to float (kernels/shapes.h).
SgdParams sgd_params(const SgdDirection& d) {
  const optim::SGDOptions& o = d.opt;
  return {float(-o.lr), float(o.weight_decay), float(o.momentum), float(1.0 - o.dampening), o.nesterov, d.first};
}

// in: p, g, buf (n); out: p, and buf when there is momentum.
Problem sgd_problem(const CurrentCase& cur, const SgdDirection& dir) {
  const bool has_buf = dir.opt.momentum != 0;
  auto make = [dir, has_buf](const LabCase& lc, Rng& rng) {
    HostCase h;
    h.in = {random_vec(lc.numel, rng, -1, 1), random_vec(lc.numel, rng, -1, 1), random_vec(lc.numel, rng, -1, 1)};
    h.out = {h.in[0]};
    h.out_init = {0};
    if (has_buf) {
      h.out.push_back(h.in[2]);
      h.out_init.push_back(dir.first ? -1 : 2);  // the first step must write every element of buf
    }
    h.cpu = [dir, has_buf](HostCase& h) {
      Tensor p = param_with_grad(h.in[0], h.in[1]);
      optim::SGD sgd({p}, dir.opt);
      if (has_buf && !dir.first) sgd.load_state_dict({{"0.momentum_buffer", to_tensor(h.in[2])}});
      sgd.step();
      from_tensor(p, h.out[0]);
      if (has_buf) from_tensor(state_of(sgd, "momentum_buffer"), h.out[1]);
    };
    return h;
  };
  const SgdParams k = sgd_params(dir);
  auto buf = [has_buf](const DevCase& d) { return has_buf ? d.O(1) : nullptr; };
  std::vector<Variant> v{
      naive_variant([cur, k, buf](const DevCase& d, int b) { sgd_update1(d.O(0), d.I(1), buf(d), cur->numel, k, b); },
                    kOptimTol),
      fixed_variant(
          "custom-fp32", [cur, k, buf](const DevCase& d) { sgd_update(d.O(0), d.I(1), buf(d), cur->numel, k); },
          kOptimTol)};
  // Read p, g (and buf unless first); write p (and buf).
  const double words = has_buf ? (dir.first ? 4.0 : 5.0) : 3.0;
  return make_problem(dir.name, cur, make, v, [words](const LabCase& lc) { return words * 4 * lc.numel; });
}

// ---- AdamW ----------------------------------------------------------------------------------------------

// One row per direction: the step number t this update is (1: the moments start at zero).
struct AdamWDirection {
  const char* name;
  int64_t t;
};

const optim::AdamWOptions kAdamW{1e-3, 0.9, 0.999, 1e-8, 1e-2};

// AdamW::step's scalars for step t, rounded to float (kernels/shapes.h's AdamWParams).
AdamWParams adamw_params(int64_t t) {
  const optim::AdamWOptions& o = kAdamW;
  const double bc1 = 1.0 - std::pow(o.beta1, double(t)), bc2 = 1.0 - std::pow(o.beta2, double(t));
  return {float(1.0 - o.lr * o.weight_decay), float(1.0 - o.beta1), float(o.beta2), float(1.0 - o.beta2),
          float(std::pow(bc2, 0.5)),          float(-(o.lr / bc1)), float(o.eps)};
}

// in: p, g, exp_avg, exp_avg_sq (n); out: the three updated in place.
Problem adamw_problem(const CurrentCase& cur, const AdamWDirection& dir) {
  auto make = [dir](const LabCase& lc, Rng& rng) {
    HostCase h;
    const bool fresh = dir.t == 1;
    h.in = {random_vec(lc.numel, rng, -1, 1), random_vec(lc.numel, rng, -1, 1),
            fresh ? std::vector<float>(size_t(lc.numel)) : random_vec(lc.numel, rng, -0.1f, 0.1f),
            fresh ? std::vector<float>(size_t(lc.numel)) : random_vec(lc.numel, rng, 0, 0.01f)};
    h.out = {h.in[0], h.in[2], h.in[3]};
    h.out_init = {0, 2, 3};
    h.cpu = [dir](HostCase& h) {
      Tensor p = param_with_grad(h.in[0], h.in[1]);
      optim::AdamW adamw({p}, kAdamW);
      if (dir.t > 1)
        adamw.load_state_dict({{"0.step", Tensor::scalar(double(dir.t - 1), DType::Int64)},
                               {"0.exp_avg", to_tensor(h.in[2])},
                               {"0.exp_avg_sq", to_tensor(h.in[3])}});
      adamw.step();
      from_tensor(p, h.out[0]);
      from_tensor(state_of(adamw, "exp_avg"), h.out[1]);
      from_tensor(state_of(adamw, "exp_avg_sq"), h.out[2]);
    };
    return h;
  };
  const AdamWParams k = adamw_params(dir.t);
  std::vector<Variant> v{
      naive_variant(
          [cur, k](const DevCase& d, int b) { adamw_update1(d.O(0), d.I(1), d.O(1), d.O(2), cur->numel, k, b); },
          kOptimTol),
      fixed_variant(
          "custom-fp32", [cur, k](const DevCase& d) { adamw_update(d.O(0), d.I(1), d.O(1), d.O(2), cur->numel, k); },
          kOptimTol)};
  // Read p, g, exp_avg, exp_avg_sq; write p, exp_avg, exp_avg_sq.
  return make_problem(dir.name, cur, make, v, [](const LabCase& lc) { return 7.0 * 4 * lc.numel; });
}

}  // namespace

std::vector<Problem> sgd_problems(const LabCase& c) {
  auto cur = std::make_shared<LabCase>(c);
  std::vector<Problem> ps;
  for (const SgdDirection& d : sgd_directions()) ps.push_back(sgd_problem(cur, d));
  return ps;
}

std::vector<Problem> adamw_problems(const LabCase& c) {
  auto cur = std::make_shared<LabCase>(c);
  return {adamw_problem(cur, {"step-1", 1}), adamw_problem(cur, {"step-10", 10})};
}

}  // namespace lb::kernels::lab::detail
