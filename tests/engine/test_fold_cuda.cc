// test_fold_cuda.cc (label gpu): batch norm folded into the convolutions (engine/nn/fold.h) with
// the model on CUDA, under both CUDA backends, against the same model unfolded on CUDA
// (nn::set_fusion(false)) and folded on the CPU: eval logits, the input's gradient and every
// parameter's gradient. The fold is two batch_norm2d calls per conv, so on CUDA it runs the eval
// batch-norm kernels over (1, K, C*R*S, 1) weights and their backward over the same shape.
//
// Tolerances (relative L2, one number per tensor): fp32 CUDA ops sum in other orders than the CPU
// (~1e-6 per op, test_ops_cuda.cc), and folding adds a few ulps per conv + BN layer
// (test_resnet_fold.cc). 1e-4 for logits and 1e-3 for gradients, the whole-model bounds of
// test_ops_cuda.cc; a wrong fold on the device (a misread shape, the scale on the wrong axis) is
// O(1). Skipped, and reported as skipped, without a CUDA device. Written without a card at hand:
// not yet run on a GPU as of this commit.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/nn/fusion.h"
#include "engine/ops/ops.h"
#include "engine/storage.h"
#include "models/resnet.h"
#include "tests/support/check.h"

namespace lb {
namespace {

// Sets the CUDA backend for one test; restores it and the fusion switch afterwards.
class CudaFold : public ::testing::TestWithParam<CudaBackend> {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
    set_cuda_backend(GetParam());
  }
  void TearDown() override {
    set_cuda_backend(CudaBackend::Custom);
    nn::set_fusion(true);
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, CudaFold, ::testing::Values(CudaBackend::Custom, CudaBackend::Cudnn),
                         [](const ::testing::TestParamInfo<CudaBackend>& p) {
                           return std::string(cuda_backend_name(p.param));
                         });

Tensor host(const Tensor& t) { return t.to(Device::cpu()); }

// Logits, then d(loss)/d(input), then every parameter's gradient, of an eval forward + backward.
std::vector<Tensor> eval_run(models::ResNet18& model, const Tensor& x0, const Tensor& labels, bool fuse) {
  nn::set_fusion(fuse);
  model.zero_grad();
  Tensor x = x0.clone().requires_grad_();
  const Tensor logits = model(x);
  cross_entropy(logits, labels).backward();  // CPU labels, as test_ops_cuda.cc passes them
  std::vector<Tensor> out = {host(logits), host(x.grad())};
  for (const auto& [name, p] : model.named_parameters()) out.push_back(host(p.grad()));
  nn::set_fusion(true);
  return out;
}

TEST_P(CudaFold, EvalLogitsAndGradientsMatchUnfoldedAndCpu) {
  Generator gen(60);
  models::ResNet18 cpu_model(1, 2, gen, 16), gpu_model(1, 2, gen, 16);
  {
    // Non-trivial batch norms: gamma, beta and running statistics away from their defaults.
    NoGradGuard ng;
    for (const auto& [name, m] : cpu_model.named_modules())
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
        bn->weight().copy_(Tensor::rand({bn->channels()}, gen, 0.5, 1.5));
        bn->bias().copy_(Tensor::rand({bn->channels()}, gen, -0.3, 0.3));
      }
    cpu_model.train();
    for (int i = 0; i < 5; ++i) cpu_model(Tensor::randn({8, 1, 28, 28}, gen));
  }
  cpu_model.eval();
  gpu_model.load_state_dict(cpu_model.state_dict());
  gpu_model.to(Device::cuda());
  gpu_model.eval();
  const Tensor x = Tensor::randn({4, 1, 28, 28}, gen);
  const Tensor labels = Tensor::from_vector({0, 1, 1, 0}, {4}, DType::Int64);
  const std::vector<Tensor> folded = eval_run(gpu_model, x.to(Device::cuda()), labels, true);
  const std::vector<Tensor> unfused = eval_run(gpu_model, x.to(Device::cuda()), labels, false);
  const std::vector<Tensor> cpu = eval_run(cpu_model, x, labels, true);
  ASSERT_EQ(folded.size(), unfused.size());
  for (size_t i = 0; i < folded.size(); ++i) {
    SCOPED_TRACE(i == 0 ? "logits" : i == 1 ? "input grad" : "parameter grad " + std::to_string(i - 2));
    ASSERT_TRUE(folded[i].defined());
    const double tol = i == 0 ? 1e-4 : 1e-3;
    LB_EXPECT_REL(folded[i], unfused[i], tol);
    LB_EXPECT_REL(folded[i], cpu[i], tol);
  }
}

}  // namespace
}  // namespace lb
