// lab/harness.cuh: what the kernel lab's harness (lab.cu) and its problem list (problems.cu)
// share, private to lab/: device buffers, the seeded random source, one (op, direction)
// as host data (HostCase) and uploaded (DevCase), its variants, and problems_of(), the list of
// (op, direction) problems of one LabCase, with the helpers the problem files share.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "lab/lab.cuh"

namespace lb::kernels::lab::detail {

using kernels::detail::cuda_stream;

inline void sync(const char* what) {
  cudaError_t e = cudaStreamSynchronize(cuda_stream());
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

inline std::vector<float> random_vec(int64_t n, Rng& rng, float lo, float hi) {
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
    if (bytes) LB_CUDA_CHECK(cudaMemcpyAsync(b->p, src, bytes, cudaMemcpyHostToDevice, cuda_stream()));
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

// Every (op, direction) of c with its variants (problems.cu).
std::vector<Problem> problems_of(const LabCase& c);

// ---- helpers of the problem lists --------------------------------------------------------------------

// Variant 1, the naive port: checked at every block size of kBlockSizes.
inline Variant naive_variant(std::function<void(const DevCase&, int)> run, double tol = 1e-4) {
  return {"1", tol, false, true, true, std::move(run)};
}
// A variant with its own launch configuration (ours, cuDNN's, cuBLAS's).
inline Variant fixed_variant(std::string name, std::function<void(const DevCase&)> run, double tol = 1e-4,
                             bool tf32 = false) {
  return {std::move(name), tol, tf32, false, true, [run](const DevCase& d, int) { run(d); }};
}

// The case a problem's variants run on: make() records it before each phase (check on a small
// batch, timing on the full one), and the variants' closures read it.
using CurrentCase = std::shared_ptr<LabCase>;

// A problem from its direction, its host data (make gets a seeded Rng), variants, and per-run
// cost: napkin bytes moved, and FLOPs (0 for the memory-bound ops).
Problem make_problem(const std::string& direction, const CurrentCase& cur,
                     std::function<HostCase(const LabCase&, Rng&)> make, std::vector<Variant> variants,
                     std::function<double(const LabCase&)> bytes,
                     std::function<double(const LabCase&)> flops = nullptr);

// The problems of the ops beyond conv2d, batchnorm2d's training passes and max-pool (problems_ops.cu,
// problems_optim.cu), and batchnorm2d's eval forward and fused BN + add + ReLU passes
// (problems_ops.cu), appended to bn's own list by problems_of.
std::vector<Problem> bn_extra_problems(const LabCase& c);
std::vector<Problem> relu_problems(const LabCase& c);
std::vector<Problem> avg_pool_problems(const LabCase& c);
std::vector<Problem> linear_problems(const LabCase& c);
std::vector<Problem> cross_entropy_problems(const LabCase& c);
std::vector<Problem> sgd_problems(const LabCase& c);
std::vector<Problem> adamw_problems(const LabCase& c);

}  // namespace lb::kernels::lab::detail
