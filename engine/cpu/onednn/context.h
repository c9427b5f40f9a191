// cpu/onednn/context.h: the oneDNN comparison backend's one engine and one stream.
//
// oneDNN (oneAPI Deep Neural Network Library, https://oneapi-src.github.io/oneDNN/, formerly
// MKL-DNN) is Intel's open-source library of deep-learning primitives for CPUs: hand-written JIT
// kernels for every x86-64 instruction set from SSE4.1 to AMX, chosen at run time. It is to
// lightbox's CPU backend what cuDNN is to its CUDA kernels: the yardstick. `--backend onednn`
// (engine/backend.h) sends float32 conv2d, batch_norm2d and linear through it; `lightbox bench
// kernels --device cpu` times it beside our own loops (docs/11-cpu-yardsticks.md).
//
// Every oneDNN call runs on an engine (the device: here CPU 0) and is queued on a stream (an
// execution order; on the CPU with OpenMP threading execution is synchronous, and the stream's
// threads are OpenMP's, so `--threads` applies). A Context owns one of each; the dnnl handles are
// reference-counted, so the Context releases them when it goes (RAII). The wrappers of this folder
// take the Context explicitly. The ops (engine/ops/) have no context to pass, so they use
// Context::for_this_thread(): one per thread that calls them, made on first use, because a oneDNN
// stream must not be shared between threads executing at once.
//
// dnnl.hpp is included only by the .cc files of this folder (through dnnl_util.h): it is 13 000
// lines, and the rest of lightbox needs none of it.
#pragma once

#include <memory>
#include <string>

namespace lb::cpu::onednn {

class Context {
 public:
  Context();  // the CPU engine and one in-order stream on it
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The context of the calling thread (engine/ops/ use it).
  static Context& for_this_thread();

  struct Impl;  // dnnl::engine + dnnl::stream, defined in dnnl_util.h
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The oneDNN this binary runs, e.g. "2.6.3" (the shared library's own version, not the header's).
std::string version();

}  // namespace lb::cpu::onednn
