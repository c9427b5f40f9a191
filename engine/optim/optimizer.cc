// optim/optimizer.cc: see optimizer.h.
#include "engine/optim/optimizer.h"

#include <cctype>
#include <set>

#include "kernels/runtime.cuh"

namespace lb::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  LB_CHECK(lr_ >= 0, "optimizer: learning rate must be >= 0, got " << lr_);
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    LB_CHECK(p.defined(), "optimizer: parameter " << i << " is undefined");
    LB_CHECK(is_floating(p.dtype()), "optimizer: parameter " << i << " must be floating, got " << p.str());
    LB_CHECK(p.is_leaf(), "optimizer: parameter " << i << " is not a leaf (it was computed from other tensors)");
    LB_CHECK(seen.insert(p.impl()).second,
             "optimizer: parameter " << i << " appears twice; it would be updated twice per step");
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  LB_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got " << lr);
  lr_ = lr;
}

void Optimizer::use_device_scalars() {
  LB_CHECK(!params_.empty(), "optimizer: use_device_scalars() with no parameters");
  const Device dev = params_[0].device();
  for (size_t i = 0; i < params_.size(); ++i)
    LB_CHECK(params_[i].device().is_cuda() && params_[i].device() == dev,
             "optimizer: CUDA Graph replay needs every parameter on one CUDA device; parameter " << i << " is "
                                                                                                 << params_[i].str());
  if (!scalar_table_.defined())
    scalar_table_ = Tensor::zeros({static_cast<int64_t>(params_.size() * kTableStride)}, DType::Float32, dev);
}

bool Optimizer::recording_for_replay() const {
  bool cuda = false;
  for (const Tensor& p : params_) cuda |= p.device().is_cuda();
  if (!cuda || !kernels::is_capturing()) return false;
  LB_CHECK(scalar_table_.defined(),
           "optimizer: step() is being captured in a CUDA Graph without use_device_scalars(); "
           "the learning rate would be frozen into the graph");
  return true;
}

void Optimizer::upload_table_bytes(const std::vector<float>& raw) {
  LB_CHECK(scalar_table_.defined(), "optimizer: prepare_replay() before use_device_scalars()");
  kernels::upload_small(scalar_table_.data_ptr<float>(), raw.data(), raw.size() * sizeof(float));
}

bool Optimizer::has_update(size_t i) const {
  const Tensor& p = params_[i];
  if (!p.requires_grad()) return false;
  Tensor g = p.grad();
  if (!g.defined()) return false;
  LB_CHECK(g.dtype() == p.dtype() && g.shape() == p.shape(),
           "optimizer: parameter " << i << " is " << p.str() << " but its grad is " << g.str());
  return true;
}

Tensor Optimizer::host(const Tensor& t) { return t.device().is_cpu() ? t : t.to(Device::cpu()); }

void Optimizer::write_back(Tensor& dst, const Tensor& staged) {
  if (!dst.same_storage(staged)) dst.copy_(staged);
}

Tensor Optimizer::adopt_state(size_t i, const std::string& key, const Tensor& t, const Shape& want) const {
  LB_CHECK(t.defined(), "optimizer load_state_dict: '" << key << "' is an undefined tensor");
  LB_CHECK(t.shape() == want, "optimizer load_state_dict: '" << key << "' has shape " << shape_str(t.shape())
                                                             << ", expected " << shape_str(want)
                                                             << " (does the checkpoint belong to this model?)");
  const Tensor& p = params_[i];
  Tensor c = t.to(p.dtype()).to(Device::cpu()).clone();
  return c.to(p.device());
}

bool Optimizer::parse_key(const std::string& key, size_t& index, std::string& field) const {
  if (key == "lr") return false;
  const size_t dot = key.find('.');
  bool digits = dot != std::string::npos && dot > 0;
  for (size_t k = 0; digits && k < dot; ++k) digits = std::isdigit(static_cast<unsigned char>(key[k])) != 0;
  LB_CHECK(digits,
           "optimizer load_state_dict: unexpected key '" << key << "' (expected \"<param index>.<field>\" or \"lr\")");
  index = static_cast<size_t>(std::stoull(key.substr(0, dot)));
  field = key.substr(dot + 1);
  LB_CHECK(index < params_.size(), "optimizer load_state_dict: '" << key << "' names parameter " << index
                                                                  << " but this optimizer has " << params_.size());
  return true;
}

}  // namespace lb::optim
