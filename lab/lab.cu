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

#include "lab/harness.cuh"

namespace lb::kernels::lab {

namespace {

using namespace detail;

// ---- checking -------------------------------------------------------------------------------------

// Poisons every output (0xFF bytes: NaN floats, -1 indices) or restores its in-place start value.
void prepare_outputs(const HostCase& h, const DevCase& d) {
  for (size_t k = 0; k < d.out.size(); ++k) {
    const int init = h.out_init[k];
    if (init >= 0)
      LB_CUDA_CHECK(
          cudaMemcpyAsync(d.out[k]->p, h.in[init].data(), d.out[k]->bytes, cudaMemcpyHostToDevice, cuda_stream()));
    else
      LB_CUDA_CHECK(cudaMemsetAsync(d.out[k]->p, 0xFF, d.out[k]->bytes, cuda_stream()));
  }
  for (const auto& b : d.out_i) LB_CUDA_CHECK(cudaMemsetAsync(b->p, 0xFF, b->bytes, cuda_stream()));
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
    LB_CUDA_CHECK(cudaMemcpyAsync(got.data(), d.out[k]->p, d.out[k]->bytes, cudaMemcpyDeviceToHost, cuda_stream()));
    sync("lab: copying an output back");
    const double e = rel_l2(got, h.out[k]);
    if (std::isnan(e)) return NAN;
    worst = std::max(worst, e);
  }
  if (!with_indices) return worst;
  for (size_t k = 0; k < d.out_i.size(); ++k) {
    std::vector<int64_t> got(h.out_i[k].size());
    LB_CUDA_CHECK(cudaMemcpyAsync(got.data(), d.out_i[k]->p, d.out_i[k]->bytes, cudaMemcpyDeviceToHost, cuda_stream()));
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
    LB_CUDA_CHECK(cudaMemsetAsync(flush.p, i & 0xFF, flush.bytes, cuda_stream()));
    LB_CUDA_CHECK(cudaEventRecord(ev.start, cuda_stream()));
    run();
    LB_CUDA_CHECK(cudaEventRecord(ev.stop, cuda_stream()));
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

// A tensor-core variant is held to its own math's peak: "...-bf16" to bf16's, other tensor-core
// variants (tf32 set) to TF32's, everything else to the fp32 FMA peak.
void fill_rates(LabResult& r, const DeviceInfo& dev, bool tf32) {
  if (r.ms <= 0) return;
  if (r.flops > 0) {
    r.gflops = r.flops / (r.ms * 1e6);
    const bool bf16 = r.variant.find("bf16") != std::string::npos;
    const double peak = bf16 ? dev.peak_bf16_gflops : tf32 ? dev.peak_tf32_gflops : dev.peak_fp32_gflops;
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
  // Dense bf16: twice TF32 (A100 312 vs 156 TFLOP/s, H100 SXM 989 vs 495).
  d.peak_bf16_gflops = 2 * d.peak_tf32_gflops;
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
