// optim/adamw.cc: see adamw.h. The element loop mirrors the ATen kernels torch.optim.AdamW calls
// in its single-tensor path (mul_, lerp_, mul_ + addcmul_, sqrt / div + eps, addcdiv_), with the
// scalars computed in double and rounded to T, so float32 runs track PyTorch to a rounding step.
#include "engine/optim/adamw.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "kernels/optim.cuh"

namespace lb::optim {

namespace {

// ATen's lerp: the two algebraically equal forms are picked by weight for accuracy.
template <class T>
T lerp(T self, T end, T w) {
  return std::abs(w) < T(0.5) ? self + w * (end - self) : end - (end - self) * (T(1) - w);
}

struct AdamScalars {
  double decay;      // 1 - lr * weight_decay
  double w1;         // 1 - beta1 (lerp weight)
  double beta2, w2;  // beta2, 1 - beta2
  double bc2_sqrt;   // sqrt(1 - beta2^t)
  double step_size;  // lr / (1 - beta1^t)
  double eps;
};

// p, g, m, v: n elements each.
template <class T>
void adamw_update(T* p, const T* g, T* m, T* v, int64_t n, const AdamScalars& s) {
  const T decay = static_cast<T>(s.decay), w1 = static_cast<T>(s.w1), beta2 = static_cast<T>(s.beta2);
  const T w2 = static_cast<T>(s.w2), bc2_sqrt = static_cast<T>(s.bc2_sqrt), eps = static_cast<T>(s.eps);
  const T neg_step = static_cast<T>(-s.step_size);
  // Independent elements, split across threads (same bits whatever the thread count).
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    p[i] = p[i] * decay;
    m[i] = lerp(m[i], g[i], w1);
    v[i] = v[i] * beta2;
    v[i] = v[i] + w2 * g[i] * g[i];
    const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    p[i] = p[i] + neg_step * m[i] / denom;
  }
}

}  // namespace

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions opt)
    : Optimizer(std::move(params), opt.lr), opt_(opt), state_(params_.size()) {
  LB_CHECK(opt_.beta1 >= 0 && opt_.beta1 < 1 && opt_.beta2 >= 0 && opt_.beta2 < 1,
           "AdamW: betas must be in [0, 1), got beta1=" << opt_.beta1 << " beta2=" << opt_.beta2);
  LB_CHECK(opt_.eps >= 0 && opt_.weight_decay >= 0,
           "AdamW: eps and weight_decay must be >= 0, got eps=" << opt_.eps << " weight_decay=" << opt_.weight_decay);
}

namespace {
AdamScalars adam_scalars(const AdamWOptions& o, double lr, int64_t step) {
  const double t = static_cast<double>(step);
  AdamScalars s;
  s.decay = 1.0 - lr * o.weight_decay;
  s.w1 = 1.0 - o.beta1;
  s.beta2 = o.beta2;
  s.w2 = 1.0 - o.beta2;
  s.bc2_sqrt = std::pow(1.0 - std::pow(o.beta2, t), 0.5);  // Python's bc2 ** 0.5
  s.step_size = lr / (1.0 - std::pow(o.beta1, t));
  s.eps = o.eps;
  return s;
}
}  // namespace

kernels::AdamWParams AdamW::cuda_scalars(int64_t t) const {
  const AdamScalars s = adam_scalars(opt_, lr_, t);
  return {static_cast<float>(s.decay), static_cast<float>(s.w1),       static_cast<float>(s.beta2),
          static_cast<float>(s.w2),    static_cast<float>(s.bc2_sqrt), static_cast<float>(-s.step_size),
          static_cast<float>(s.eps)};
}

void AdamW::step() {
  NoGradGuard no_grad;
  const bool recording = recording_for_replay();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!has_update(i)) continue;
    Tensor& p = params_[i];
    State& st = state_[i];
    if (!st.exp_avg.defined()) {
      // Zeroing inside a capture would re-zero the moments at every replay.
      LB_CHECK(!recording, "AdamW: parameter " << i << " has no moments yet; run one eager step before capturing "
                                               << "the step in a CUDA Graph");
      st.exp_avg = Tensor::zeros(p.shape(), p.dtype(), p.device());
      st.exp_avg_sq = Tensor::zeros(p.shape(), p.dtype(), p.device());
    }
    if (p.device().is_cuda()) {
      // One fused kernel per parameter, on the device: no host round trip. A recorded step reads
      // its scalars from the table and leaves the step count to prepare_replay().
      LB_CHECK(p.dtype() == DType::Float32 && p.grad().device() == p.device(),
               "AdamW: CUDA parameters must be float32 with their gradient on the same device; got " << p.str());
      if (!recording) ++st.step;
      kernels::adamw_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), st.exp_avg.data_ptr<float>(),
                            st.exp_avg_sq.data_ptr<float>(), p.numel(), cuda_scalars(std::max<int64_t>(st.step, 1)),
                            recording ? table_entry<kernels::AdamWParams>(i) : nullptr);
      p.mark_modified();
      continue;
    }
    const AdamScalars s = adam_scalars(opt_, lr_, ++st.step);
    Tensor hp = host(p), hg = host(p.grad()), hm = host(st.exp_avg), hv = host(st.exp_avg_sq);
    LB_DISPATCH_FLOAT(p.dtype(), "AdamW step", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      adamw_update<T>(hp.data<T>(), hg.data<T>(), hm.data<T>(), hv.data<T>(), p.numel(), s);
    });
    write_back(p, hp);
    write_back(st.exp_avg, hm);
    write_back(st.exp_avg_sq, hv);
    p.mark_modified();
  }
}

void AdamW::prepare_replay() {
  // The host half of step(): each updated parameter's step count, and its scalars, into the table.
  // The counts move only once the table is written, so a refused replay changes nothing.
  std::vector<kernels::AdamWParams> entries(params_.size());
  std::vector<size_t> updated;
  for (size_t i = 0; i < params_.size(); ++i)
    if (has_update(i)) {
      entries[i] = cuda_scalars(state_[i].step + 1);
      updated.push_back(i);
    }
  upload_table(entries);
  for (size_t i : updated) ++state_[i].step;
}

nn::StateDict AdamW::state_dict() const {
  nn::StateDict sd;
  sd.emplace_back("lr", Tensor::scalar(lr_, DType::Float64));
  for (size_t i = 0; i < params_.size(); ++i) {
    const State& st = state_[i];
    if (!st.exp_avg.defined()) continue;
    const std::string k = std::to_string(i) + ".";
    sd.emplace_back(k + "step", Tensor::scalar(static_cast<double>(st.step), DType::Int64));
    sd.emplace_back(k + "exp_avg", st.exp_avg.detach());
    sd.emplace_back(k + "exp_avg_sq", st.exp_avg_sq.detach());
  }
  return sd;
}

void AdamW::load_state_dict(const nn::StateDict& sd) {
  std::vector<State> state(params_.size());
  std::vector<int> seen(params_.size(), 0);  // bit 0 step, bit 1 exp_avg, bit 2 exp_avg_sq
  double lr = lr_;
  for (const auto& [key, t] : sd) {
    size_t i = 0;
    std::string field;
    if (!parse_key(key, i, field)) {
      lr = t.item();
      continue;
    }
    if (field == "step") {
      LB_CHECK(t.numel() == 1 && t.item() >= 1, "AdamW load_state_dict: '" << key << "' must be a count >= 1");
      state[i].step = static_cast<int64_t>(t.item());
      seen[i] |= 1;
    } else if (field == "exp_avg") {
      state[i].exp_avg = adopt_state(i, key, t, params_[i].shape());
      seen[i] |= 2;
    } else if (field == "exp_avg_sq") {
      state[i].exp_avg_sq = adopt_state(i, key, t, params_[i].shape());
      seen[i] |= 4;
    } else {
      LB_THROW("AdamW load_state_dict: unexpected key '" << key << "'");
    }
  }
  for (size_t i = 0; i < params_.size(); ++i)
    LB_CHECK(seen[i] == 0 || seen[i] == 7,
             "AdamW load_state_dict: parameter " << i << " needs all of step, exp_avg and exp_avg_sq, or none");
  set_lr(lr);
  state_ = std::move(state);
}

}  // namespace lb::optim
