// runtime.cu: the compute stream, the caching allocator and stream-ordered copies (runtime.cuh).
//
// The allocator keeps freed blocks in a multimap from rounded size to pointer, per device. Sizes
// round up to 512 bytes below 1 MiB and to 2 MiB above (large activations of one shape reuse one
// block; small ones waste little). A cudaMalloc that fails with out-of-memory first returns the
// whole cache to the driver and tries once more, then reports what was live and cached.
//
// Thread safety: one mutex around the maps. lightbox drives the GPU from one host thread, but
// data-loader threads free CPU tensors concurrently and the lock costs nothing next to a launch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/common.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/runtime.cuh"

namespace lb::kernels {

using detail::cuda_stream;

namespace {

constexpr int kMaxDevices = 16;

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  const size_t small = 512, large = size_t(2) << 20;
  return n < (size_t(1) << 20) ? (n + small - 1) / small * small : (n + large - 1) / large * large;
}

// Pool 0 is the general pool; pool k > 0 belongs to the k-th captured graph.
struct Block {
  size_t size;
  int pool;
};

struct DevicePool {
  std::map<int, std::multimap<size_t, void*>> free_blocks;  // pool -> rounded size -> block
  std::unordered_map<void*, Block> live;                    // block -> size and pool
};

struct Allocator {
  std::mutex mu;
  DevicePool pools[kMaxDevices];
  AllocatorStats stats;

  int active_pool = 0;  // where allocations go: 0, or the graph being captured
  int next_pool = 1;
  std::map<int, bool> retired;  // graph pools whose graph was destroyed: their blocks return to pool 0

  // Returns the general pool's cached blocks to the driver (graph pools keep theirs).
  void release_cache_locked() {
    for (int d = 0; d < kMaxDevices; ++d) {
      auto& fb = pools[d].free_blocks[0];
      if (fb.empty()) continue;
      int cur = 0;
      cudaGetDevice(&cur);
      cudaSetDevice(d);
      cudaDeviceSynchronize();  // a cached block may still be read by queued work
      for (auto& [size, p] : fb) {
        cudaFree(p);
        stats.reserved_bytes -= size;
      }
      fb.clear();
      cudaSetDevice(cur);
    }
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: frees may run during static teardown
  return *a;
}

cudaStream_t g_streams[kMaxDevices] = {};
std::once_flag g_stream_once[kMaxDevices];

int current_device() {
  int d = 0;
  LB_CUDA_CHECK(cudaGetDevice(&d));
  LB_CHECK(d >= 0 && d < kMaxDevices, "cuda: device index " << d << " is beyond lightbox's limit of " << kMaxDevices);
  return d;
}

}  // namespace

void* stream() {
  const int d = current_device();
  std::call_once(g_stream_once[d], [d] {
    // Non-blocking: no implicit ordering with the legacy default stream, which nothing of ours uses.
    LB_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[d], cudaStreamNonBlocking));
  });
  return g_streams[d];
}

void* device_alloc(size_t nbytes, int device) {
  LB_CHECK(device >= 0 && device < kMaxDevices, "cuda: bad device index " << device);
  const size_t size = round_size(nbytes);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  DevicePool& pool = a.pools[device];
  const int pool_id = a.active_pool;
  auto& free_list = pool.free_blocks[pool_id];
  auto it = free_list.lower_bound(size);
  // Reuse an exact-size block, or a larger one within 2x for small blocks (no splitting).
  if (it != free_list.end() && (it->first == size || (size < (size_t(1) << 20) && it->first <= 2 * size))) {
    void* p = it->second;
    const size_t got = it->first;
    free_list.erase(it);
    pool.live[p] = {got, pool_id};
    a.stats.allocated_bytes += got;
    a.stats.cache_hits++;
    if (a.stats.allocated_bytes > a.stats.peak_allocated_bytes) a.stats.peak_allocated_bytes = a.stats.allocated_bytes;
    return p;
  }
  int cur = 0;
  LB_CUDA_CHECK(cudaGetDevice(&cur));
  if (cur != device) LB_CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation && a.active_pool == 0) {  // no device-wide sync inside a capture
    cudaGetLastError();
    a.release_cache_locked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it, so the next CUDA call does not report it again
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    if (cur != device) cudaSetDevice(cur);
    LB_THROW("cuda: out of memory allocating " << nbytes << " bytes on cuda:" << device << " ("
                                               << a.stats.allocated_bytes / (1 << 20) << " MiB in live tensors, "
                                               << free_b / (1 << 20) << " of " << total_b / (1 << 20)
                                               << " MiB free on the card); use a smaller --batch-size");
  }
  if (cur != device) LB_CUDA_CHECK(cudaSetDevice(cur));
  pool.live[p] = {size, pool_id};
  a.stats.allocated_bytes += size;
  a.stats.reserved_bytes += size;
  a.stats.cuda_mallocs++;
  if (a.stats.allocated_bytes > a.stats.peak_allocated_bytes) a.stats.peak_allocated_bytes = a.stats.allocated_bytes;
  return p;
}

void device_free(void* ptr, int device) {
  if (!ptr || device < 0 || device >= kMaxDevices) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  DevicePool& pool = a.pools[device];
  auto it = pool.live.find(ptr);
  if (it == pool.live.end()) return;  // not ours: never happens; a destructor must not throw
  const Block b = it->second;
  pool.live.erase(it);
  a.stats.allocated_bytes -= b.size;
  pool.free_blocks[a.retired.count(b.pool) ? 0 : b.pool].emplace(b.size, ptr);
}

AllocatorStats allocator_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.stats;
}

void reset_peak_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.stats.peak_allocated_bytes = a.stats.allocated_bytes;
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.release_cache_locked();
}

void synchronize(const char* what) {
  const cudaError_t err = cudaStreamSynchronize(cuda_stream());
  LB_CHECK(err == cudaSuccess, what << ": a CUDA kernel failed: " << cudaGetErrorString(err)
                                    << " (run under compute-sanitizer to find which)");
}

void copy_to_device(void* dst, const void* src, size_t nbytes) {
  // Pageable host memory: cudaMemcpyAsync stages through a pinned buffer and returns once the
  // source has been read, so the caller may free or reuse src at once.
  LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cuda_stream()));
}

void copy_to_host(void* dst, const void* src, size_t nbytes) {
  cudaStream_t s = cuda_stream();
  LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  synchronize("copy to host");
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  LB_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, cuda_stream()));
}

void memset_zero(void* dst, size_t nbytes) { LB_CUDA_CHECK(cudaMemsetAsync(dst, 0, nbytes, cuda_stream())); }

namespace {
constexpr size_t kUploadChunk = 1024;  // kernel arguments may hold 4 KB; 1 KB chunks keep launches small
struct UploadChunk {
  unsigned char bytes[kUploadChunk];
};
__global__ void upload_small_kernel(unsigned char* dst, UploadChunk c, unsigned n) {
  for (unsigned i = threadIdx.x; i < n; i += blockDim.x) dst[i] = c.bytes[i];
}
}  // namespace

void upload_small(void* dst, const void* src, size_t nbytes) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (size_t off = 0; off < nbytes; off += kUploadChunk) {
    UploadChunk c;
    const size_t n = std::min(kUploadChunk, nbytes - off);
    std::memcpy(c.bytes, s + off, n);
    upload_small_kernel<<<1, 256, 0, cuda_stream()>>>(d + off, c, static_cast<unsigned>(n));
    LB_CUDA_CHECK(cudaGetLastError());
  }
}

// ---- CUDA Graphs ----------------------------------------------------------------------------------

namespace {
struct Graph {
  cudaGraphExec_t exec = nullptr;
  int pool = 0;
};
}  // namespace

bool is_capturing() {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  LB_CUDA_CHECK(cudaStreamIsCapturing(cuda_stream(), &st));
  return st != cudaStreamCaptureStatusNone;
}

void capture_begin() {
  Allocator& a = allocator();
  {
    std::lock_guard<std::mutex> lock(a.mu);
    LB_CHECK(a.active_pool == 0, "cuda graph: a capture is already in progress");
    a.active_pool = a.next_pool++;
  }
  // Relaxed: the allocator may still call cudaMalloc while capturing (a pool's first blocks).
  LB_CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeRelaxed));
}

void* capture_end() {
  Allocator& a = allocator();
  int pool = 0;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    pool = a.active_pool;
    a.active_pool = 0;
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t err = cudaStreamEndCapture(cuda_stream(), &graph);
  LB_CHECK(err == cudaSuccess, "cuda graph: capture failed ("
                                   << cudaGetErrorString(err)
                                   << "); the captured step must not synchronise with the host");
  auto* g = new Graph();
  g->pool = pool;
  const cudaError_t ierr = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (ierr != cudaSuccess) {
    delete g;
    LB_THROW("cuda graph: instantiation failed: " << cudaGetErrorString(ierr));
  }
  return g;
}

void graph_replay(void* graph) {
  auto* g = static_cast<Graph*>(graph);
  LB_CHECK(g && g->exec, "cuda graph: replay of a destroyed graph");
  LB_CUDA_CHECK(cudaGraphLaunch(g->exec, cuda_stream()));
}

void graph_destroy(void* graph) {
  auto* g = static_cast<Graph*>(graph);
  if (!g) return;
  cudaStreamSynchronize(cuda_stream());  // a replay may still be running
  if (g->exec) cudaGraphExecDestroy(g->exec);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.retired[g->pool] = true;
  for (auto& pool : a.pools) {
    auto it = pool.free_blocks.find(g->pool);
    if (it == pool.free_blocks.end()) continue;
    pool.free_blocks[0].insert(it->second.begin(), it->second.end());
    pool.free_blocks.erase(it);
  }
  delete g;
}

}  // namespace lb::kernels
