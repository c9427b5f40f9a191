// cpu/onednn/context.cc: the Context (see context.h) and the Step every wrapper runs its
// primitive through (see dnnl_util.h).
#include "engine/cpu/onednn/context.h"

#include "engine/cpu/onednn/dnnl_util.h"

namespace lb::cpu::onednn {

Context::Context() : impl_(guarded("oneDNN context", "CPU engine 0", [] { return std::make_unique<Impl>(); })) {}
Context::~Context() = default;

Context& Context::for_this_thread() {
  thread_local Context ctx;
  return ctx;
}

std::string version() {
  const dnnl_version_t* v = dnnl::version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

// ---- Step -----------------------------------------------------------------------------------------

Step::Step(Context& ctx, dnnl::primitive prim, const dnnl::memory::desc& scratchpad)
    : ctx_(ctx.impl()), prim_(std::move(prim)), scratchpad_(scratchpad, ctx_.engine) {}

void Step::add(int arg, bool is_input, const dnnl::memory::desc& user, const dnnl::memory::desc& inner) {
  Operand o{arg, is_input, dnnl::memory(user, ctx_.engine, DNNL_MEMORY_NONE), {}, {}};
  if (user == inner) {
    o.inner = o.user;
  } else {
    o.inner = dnnl::memory(inner, ctx_.engine);  // oneDNN allocates the blocked copy
    o.convert = is_input ? dnnl::reorder(o.user, o.inner) : dnnl::reorder(o.inner, o.user);
  }
  operands_.push_back(std::move(o));
}

void Step::input(int arg, const dnnl::memory::desc& user, const dnnl::memory::desc& inner) {
  add(arg, true, user, inner);
}
void Step::output(int arg, const dnnl::memory::desc& user, const dnnl::memory::desc& inner) {
  add(arg, false, user, inner);
}

void Step::bind(int arg, const void* p) {
  for (Operand& o : operands_)
    if (o.arg == arg) {
      // oneDNN takes a void* for inputs and outputs alike; it never writes an input.
      o.user.set_data_handle(const_cast<void*>(p));
      return;
    }
  LB_THROW("oneDNN step: no argument " << arg << " to bind; this is a bug in engine/cpu/onednn/");
}

bool Step::reorders() const {
  for (const Operand& o : operands_)
    if (o.convert) return true;
  return false;
}

void Step::run_inner() {
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SCRATCHPAD, scratchpad_}};
  for (const Operand& o : operands_) args.emplace(o.arg, o.inner);
  prim_.execute(ctx_.stream, args);
  ctx_.stream.wait();
}

void Step::run() {
  for (Operand& o : operands_)
    if (o.is_input && o.convert) o.convert.execute(ctx_.stream, o.user, o.inner);
  run_inner();
  for (Operand& o : operands_)
    if (!o.is_input && o.convert) o.convert.execute(ctx_.stream, o.inner, o.user);
  ctx_.stream.wait();
}

}  // namespace lb::cpu::onednn
