// runtime.cuh: the CUDA runtime lightbox runs on: one compute stream, a caching allocator, copies.
//
// Every kernel of kernels/ and kernels/cudnn/ launches on lb::kernels::stream(), a stream created
// once per device (not the legacy default stream: CUDA Graph capture needs a real stream). Device
// memory comes from a caching allocator: freed blocks go back to per-size free lists and are
// reused by later allocations of the same rounded size, so a training step, which frees and
// re-allocates the same shapes every iteration, stops calling cudaMalloc after the first step.
// Because all work is ordered on the one stream, a block freed by the host can be handed to the
// next allocation at once: any kernel that still reads it was queued before the kernel that will
// write it (the same argument PyTorch's allocator makes for its per-stream pools).
//
// The stream handle is passed as void* so that engine/ code needs no CUDA header.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda_api.h"

namespace lb::kernels {

struct AllocatorStats {
  size_t allocated_bytes = 0;  // in live blocks (rounded sizes)
  size_t reserved_bytes = 0;   // allocated + cached, i.e. what cudaMalloc handed out
  size_t peak_allocated_bytes = 0;
  uint64_t cuda_mallocs = 0;  // calls to cudaMalloc (a warm training loop adds none)
  uint64_t cache_hits = 0;
};

LB_CUDA_API(void* device_alloc(size_t nbytes, int device))
LB_CUDA_API(void device_free(void* ptr, int device))
LB_CUDA_API(AllocatorStats allocator_stats())
LB_CUDA_API(void reset_peak_stats())
// Returns every cached block to the driver (cudaFree); live blocks are untouched.
LB_CUDA_API(void empty_cache())
// The compute stream of the current device, as a cudaStream_t cast to void*.
LB_CUDA_API(void* stream())
// Waits for all work queued on the compute stream; throws (naming `what`) on an asynchronous fault.
LB_CUDA_API(void synchronize(const char* what))
// Copies ordered on the compute stream. Device-to-host waits for the copy to finish.
LB_CUDA_API(void copy_to_device(void* dst, const void* src, size_t nbytes))
LB_CUDA_API(void copy_to_host(void* dst, const void* src, size_t nbytes))
LB_CUDA_API(void copy_device_to_device(void* dst, const void* src, size_t nbytes))
LB_CUDA_API(void memset_zero(void* dst, size_t nbytes))
// A stream-ordered host-to-device write of a few bytes (a table of optimizer scalars) carried in
// kernel arguments: no pinned buffer, no host wait, `src` is free again on return, and it can be
// queued between graph replays without stalling the pipeline (a pageable cudaMemcpyAsync may).
LB_CUDA_API(void upload_small(void* dst, const void* src, size_t nbytes))

// ---- CUDA Graphs ------------------------------------------------------------------------------
// capture_begin() starts capturing the compute stream (relaxed mode) and routes every allocation
// to a private pool owned by the graph: blocks freed during or after the capture go back to that
// pool, never to the general one, so a replay (which writes the same addresses again) cannot
// overwrite a tensor allocated later by ordinary code. Anything that synchronises with the host
// (item(), a device-to-host copy, a pageable host-to-device copy) fails the capture with a CUDA
// error naming the call. capture_end() returns the instantiated graph; graph_destroy() releases it
// and hands its pool's free blocks back to the general pool.
LB_CUDA_API(void capture_begin())
LB_CUDA_API(void* capture_end())
LB_CUDA_API(void graph_replay(void* graph))
LB_CUDA_API(void graph_destroy(void* graph))
// True while this thread's compute stream is being captured (ops skip host-side checks then).
LB_CUDA_API(bool is_capturing())

}  // namespace lb::kernels
