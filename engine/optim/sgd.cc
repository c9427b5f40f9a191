// optim/sgd.cc: see sgd.h. The element loop keeps PyTorch's operation order in the parameter's
// own precision (scalars are rounded to T first, as ATen does), so float32 runs track
// torch.optim.SGD to within a rounding step.
#include "engine/optim/sgd.h"

#include "engine/autograd.h"
#include "kernels/optim.cuh"

namespace lb::optim {

namespace {

// p (n), g (n), buf (n) or null when momentum is 0. `first`: buf is written, not read.
template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, const SGDOptions& o, double lr, bool first) {
  const T wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1.0 - o.dampening), neg_lr = static_cast<T>(-lr);
  // Elements are independent: threads split them (the same arithmetic per element, so the same
  // bits whatever the thread count). Below 2^15 elements the team costs more than the loop.
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if (o.weight_decay != 0) d = d + wd * p[i];
    if (buf) {
      buf[i] = first ? d : buf[i] * mom + keep * d;
      d = o.nesterov ? d + mom * buf[i] : buf[i];
    }
    p[i] = p[i] + neg_lr * d;
  }
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions opt)
    : Optimizer(std::move(params), opt.lr), opt_(opt), momentum_buffer_(params_.size()) {
  LB_CHECK(opt_.momentum >= 0 && opt_.weight_decay >= 0 && opt_.dampening >= 0,
           "SGD: momentum, dampening and weight_decay must be >= 0, got momentum="
               << opt_.momentum << " dampening=" << opt_.dampening << " weight_decay=" << opt_.weight_decay);
  LB_CHECK(!opt_.nesterov || (opt_.momentum > 0 && opt_.dampening == 0),
           "SGD: nesterov needs momentum > 0 and dampening = 0 (as in torch.optim.SGD)");
}

void SGD::set_momentum(double m) {
  LB_CHECK(m >= 0 && (!opt_.nesterov || m > 0), "SGD: bad momentum " << m);
  opt_.momentum = m;
}

kernels::SgdParams SGD::cuda_scalars(bool first) const {
  return {static_cast<float>(-lr_),
          static_cast<float>(opt_.weight_decay),
          static_cast<float>(opt_.momentum),
          static_cast<float>(1.0 - opt_.dampening),
          opt_.nesterov,
          first};
}

void SGD::step() {
  NoGradGuard no_grad;
  const bool recording = recording_for_replay();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!has_update(i)) continue;
    Tensor& p = params_[i];
    Tensor& buf = momentum_buffer_[i];
    const bool use_buf = opt_.momentum != 0;
    const bool first = use_buf && !buf.defined();
    LB_CHECK(!(recording && first), "SGD: parameter " << i << " has no momentum buffer yet; run one eager step "
                                                      << "before capturing the step in a CUDA Graph");
    if (first) buf = Tensor::empty(p.shape(), p.dtype(), p.device());
    if (p.device().is_cuda()) {
      // One fused kernel per parameter, on the device: no host round trip.
      LB_CHECK(p.dtype() == DType::Float32 && p.grad().device() == p.device(),
               "SGD: CUDA parameters must be float32 with their gradient on the same device; got " << p.str());
      kernels::sgd_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), use_buf ? buf.data_ptr<float>() : nullptr,
                          p.numel(), cuda_scalars(first), recording ? table_entry<kernels::SgdParams>(i) : nullptr);
      p.mark_modified();
      continue;
    }
    Tensor hp = host(p), hg = host(p.grad()), hb = use_buf ? host(buf) : Tensor();
    LB_DISPATCH_FLOAT(p.dtype(), "SGD step", [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      sgd_update<T>(hp.data<T>(), hg.data<T>(), use_buf ? hb.data<T>() : nullptr, p.numel(), opt_, lr_, first);
    });
    write_back(p, hp);
    if (use_buf) write_back(buf, hb);
    p.mark_modified();
  }
}

void SGD::prepare_replay() {
  // SGD keeps no counters: this step's scalars are the current lr and momentum, the same for all.
  upload_table(std::vector<kernels::SgdParams>(params_.size(), cuda_scalars(false)));
}

nn::StateDict SGD::state_dict() const {
  nn::StateDict sd;
  sd.emplace_back("lr", Tensor::scalar(lr_, DType::Float64));
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_buffer_[i].defined())
      sd.emplace_back(std::to_string(i) + ".momentum_buffer", momentum_buffer_[i].detach());
  return sd;
}

void SGD::load_state_dict(const nn::StateDict& sd) {
  std::vector<Tensor> buffers(params_.size());
  double lr = lr_;
  for (const auto& [key, t] : sd) {
    size_t i = 0;
    std::string field;
    if (!parse_key(key, i, field)) {
      lr = t.item();
      continue;
    }
    LB_CHECK(field == "momentum_buffer", "SGD load_state_dict: unexpected key '" << key << "'");
    buffers[i] = adopt_state(i, key, t, params_[i].shape());
  }
  set_lr(lr);
  momentum_buffer_ = std::move(buffers);
}

}  // namespace lb::optim
