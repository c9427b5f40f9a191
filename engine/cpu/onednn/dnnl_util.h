// cpu/onednn/dnnl_util.h: what the wrappers of this folder share, and the only header that
// includes dnnl.hpp (the .cc files of this folder include it; nothing else does).
//
//   Context::Impl   the engine and stream a Context owns
//   plain_md        a memory descriptor of a lightbox buffer: float32, dense, row-major (NCHW for
//                   activations, OIHW (K, C, R, S) for conv weights, (N, IN) / (OUT, IN) for linear)
//   user_attr       primitive attributes with a user-managed scratchpad (see Step)
//   Step            one primitive, its arguments, and the reorders between the caller's plain
//                   buffers and the layouts the primitive chose
//   guarded         runs oneDNN code, turning its dnnl::error into lb::Error with the op and shapes
//
// Layouts. oneDNN describes a buffer by a memory descriptor: dims plus a format (plain "nchw" or a
// blocked one such as "nChw16c", 16 channels innermost, which its AVX-512 kernels read with one
// vector load). A primitive created with format `any` picks the layout it runs fastest on; the
// caller then reorders its data into it (a `reorder` primitive) and the results back. A Step does
// exactly that around the primitive on every run(), so a run costs what a user with NCHW tensors
// pays; run_inner() runs the primitive alone on its own layouts (the buffers still hold what the
// last run() put there), which is what a network kept in oneDNN's layouts end to end would pay.
//
// Scratchpad. Primitives may need temporary memory. In oneDNN's default (library) mode it is a
// buffer shared by all primitives of a thread; we ask for user mode and give each Step its own,
// so a Step is self-contained and may be run from any thread that owns its Context.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <utility>
#include <vector>

#include "base/common.h"
#include "engine/cpu/onednn/context.h"

namespace lb::cpu::onednn {

struct Context::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

using Tag = dnnl::memory::format_tag;
using Dims = dnnl::memory::dims;

inline dnnl::memory::desc plain_md(const Dims& dims, Tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}
inline dnnl::memory::desc any_md(const Dims& dims) { return plain_md(dims, Tag::any); }

inline dnnl::primitive_attr user_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

class Step {
 public:
  Step(Context& ctx, dnnl::primitive prim, const dnnl::memory::desc& scratchpad);

  // An argument (DNNL_ARG_SRC, ...) that the caller holds in layout `user` and the primitive reads
  // or writes in layout `inner`; a reorder is made when the two differ.
  void input(int arg, const dnnl::memory::desc& user, const dnnl::memory::desc& inner);
  void output(int arg, const dnnl::memory::desc& user, const dnnl::memory::desc& inner);
  // Points argument `arg` at the caller's buffer (before run()).
  void bind(int arg, const void* p);

  void run();             // reorder inputs in, the primitive, reorder outputs out; returns when done
  void run_inner();       // the primitive alone, on the layouts it chose
  bool reorders() const;  // whether any argument needs a layout conversion

 private:
  struct Operand {
    int arg;
    bool is_input;
    dnnl::memory user, inner;  // the same object when the layouts agree
    dnnl::reorder convert;     // user -> inner (inputs) or inner -> user (outputs); empty if none
  };
  void add(int arg, bool is_input, const dnnl::memory::desc& user, const dnnl::memory::desc& inner);

  Context::Impl& ctx_;
  dnnl::primitive prim_;
  dnnl::memory scratchpad_;
  std::vector<Operand> operands_;
};

// oneDNN's name for the implementation a primitive descriptor chose, e.g. "brgconv:avx512_core"
// or "jit:avx2"; "ref:any" would mean its slow reference loops.
inline std::string implementation_of(const dnnl::primitive_desc_base& pd) { return pd.impl_info_str(); }

// f() with oneDNN's exceptions turned into one lb::Error line naming the op and the shapes.
template <class F>
auto guarded(const char* op, const std::string& shapes, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    LB_THROW(op << " (oneDNN): " << e.what() << " (status " << static_cast<int>(e.status) << "); " << shapes
                << "; run with --backend own to use lightbox's loops");
  }
}

}  // namespace lb::cpu::onednn
