// storage.cc: CPU allocation here; CUDA allocation through the runtime API when LB_WITH_CUDA.
#include "engine/storage.h"

#include <cstdlib>
#include <cstring>

#ifdef LB_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/runtime.cuh"
#endif

namespace lb {

namespace {
constexpr size_t kAlign = 64;

#ifdef LB_WITH_CUDA
void cuda_check(cudaError_t err, const char* what) {
  LB_CHECK(err == cudaSuccess, what << ": " << cudaGetErrorString(err));
}
#endif
}  // namespace

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string idx = s.substr(5);
    LB_CHECK(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos,
             "device: cannot parse '" << s << "'; use cpu, cuda or cuda:N");
    return Device::cuda(std::stoi(idx));
  }
  LB_THROW("device: cannot parse '" << s << "'; use cpu, cuda or cuda:N");
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    // aligned_alloc wants a size that is a multiple of the alignment; never ask for 0 bytes.
    const size_t rounded = ((nbytes + kAlign - 1) / kAlign) * kAlign;
    ptr_ = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
    LB_CHECK(ptr_ != nullptr, "storage: out of host memory allocating " << nbytes << " bytes");
    return;
  }
#ifdef LB_WITH_CUDA
  cuda_check(cudaSetDevice(device.index), "storage: cudaSetDevice");
  ptr_ = kernels::device_alloc(nbytes, device.index);  // caching allocator (kernels/runtime.cu)
#else
  LB_THROW(
      "storage: this lightbox was built without CUDA (configure with -DLB_CUDA=ON on a "
      "machine with the CUDA toolkit), so "
      << device.str() << " is unavailable");
#endif
}

std::shared_ptr<Storage> Storage::wrap(void* ptr, size_t nbytes, Device device, std::shared_ptr<void> owner) {
  LB_CHECK(device.is_cpu(), "storage: only CPU memory can be wrapped, not " << device.str());
  LB_CHECK(owner != nullptr, "storage: wrapped memory needs an owner that keeps it alive");
  std::shared_ptr<Storage> s(new Storage());
  s->ptr_ = ptr;
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (owner_) return;  // the owner's memory: released with owner_
  if (device_.is_cpu()) {
    std::free(ptr_);
    return;
  }
#ifdef LB_WITH_CUDA
  // Back to the cache: stream order makes immediate reuse safe (kernels/runtime.cu).
  kernels::device_free(ptr_, device_.index);
#endif
}

bool cuda_available() {
#ifdef LB_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return n > 0;
#else
  return false;
#endif
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
#ifdef LB_WITH_CUDA
  // Ordered on the compute stream, so a copy sees every kernel queued before it.
  if (dst_dev.is_cpu())
    kernels::copy_to_host(dst, src, nbytes);
  else if (src_dev.is_cpu())
    kernels::copy_to_device(dst, src, nbytes);
  else
    kernels::copy_device_to_device(dst, src, nbytes);
#else
  LB_THROW("copy: this lightbox was built without CUDA");
#endif
}

}  // namespace lb
