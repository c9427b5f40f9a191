// autograd.cc: saved tensors, tape building, the backward engine, overrides and graph dumps.
#include "engine/autograd.h"

#include <algorithm>
#include <deque>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops/elementwise.h"

namespace lb {

// ---- thread-local state ------------------------------------------------------------------------
// Grad mode and the override stack are per thread, like PyTorch's: a data-loader thread must not
// see the training thread's NoGradGuard, and an explainer's overrides must not leak elsewhere.
namespace {
thread_local bool t_grad_mode = true;
thread_local std::vector<std::pair<std::string, BackwardRule>> t_overrides;

const BackwardRule* find_override(const char* kind) {
  for (auto it = t_overrides.rbegin(); it != t_overrides.rend(); ++it)
    if (it->first == kind) return &it->second;
  return nullptr;
}
}  // namespace

bool grad_mode_enabled() { return t_grad_mode; }
NoGradGuard::NoGradGuard() : prev_(t_grad_mode) { t_grad_mode = false; }
NoGradGuard::~NoGradGuard() { t_grad_mode = prev_; }

bool io_recording() { return !t_overrides.empty(); }

BackwardOverride::BackwardOverride(std::string kind, BackwardRule rule) {
  LB_CHECK(rule != nullptr, "BackwardOverride: empty rule for '" << kind << "'");
  t_overrides.emplace_back(std::move(kind), std::move(rule));
}
BackwardOverride::~BackwardOverride() { t_overrides.pop_back(); }

// ---- node lifetime ---------------------------------------------------------------------------------------

Node::~Node() {
  thread_local bool draining = false;
  thread_local std::vector<std::shared_ptr<Node>> pending;
  for (Edge& e : next_edges)
    if (e.node) pending.push_back(std::move(e.node));
  if (draining) return;  // an outer destructor is already draining the list
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    n.reset();  // if this was the last owner, its destructor appends its own producers
  }
  draining = false;
}

// ---- saved tensors -------------------------------------------------------------------------------

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  tensor_ = t.detach();
  version_ = t.version();
}

Tensor SavedTensor::unpack(const char* op, const char* what) const {
  LB_CHECK(!freed_, op << ": its saved " << what << " was already freed by an earlier backward; "
                       << "pass retain_graph=true to the first backward to run it twice");
  if (!tensor_.defined()) return tensor_;
  LB_CHECK(tensor_.version() == version_,
           "in-place error: " << op << " saved its " << what << " " << tensor_.str() << " at version " << version_
                              << ", but it is now at version " << tensor_.version()
                              << ", so an in-place op overwrote a value that backward needs; "
                              << "use the out-of-place op (e.g. relu instead of relu_)");
  return tensor_;
}

// ---- building the tape -----------------------------------------------------------------------------

namespace {

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  TensorImpl* impl = leaf.impl();
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(leaf.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return acc;
}

// The node a gradient for `t` must flow into: its grad_fn, or its leaf accumulator.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  return grad_accumulator(t);
}

void wire_inputs(Node& node, const std::vector<Tensor>& inputs) {
  node.next_edges.clear();
  node.input_shapes.clear();
  node.input_dtypes.clear();
  for (const Tensor& in : inputs) {
    node.next_edges.push_back({gradient_edge(in)});
    node.input_shapes.push_back(in.defined() ? in.shape() : Shape{});
    node.input_dtypes.push_back(in.defined() ? in.dtype() : DType::Float32);
  }
}

}  // namespace

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

void set_history(Tensor& output, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs) {
  wire_inputs(*node, inputs);
  node->output_shape = output.shape();
  if (io_recording()) {
    node->recorded_inputs.clear();
    for (const Tensor& in : inputs) node->recorded_inputs.emplace_back(in);
    node->recorded_output = SavedTensor(output);
  }
  output.impl()->grad_fn = node;
  output.impl()->requires_grad = true;
}

void check_inplace_allowed(const char* op, const Tensor& t) {
  LB_CHECK(!(t.is_leaf() && t.requires_grad() && t_grad_mode),
           op << ": cannot write in place into a leaf that requires grad (" << (t.name().empty() ? t.str() : t.name())
              << "); wrap the update in NoGradGuard or use the out-of-place op");
  LB_CHECK(!(t.impl()->grad_view_alias && t_grad_mode),
           op << ": " << t.str() << " shares memory with a differentiable reshape view, and an "
              << "in-place write would bypass the other alias's history; use the out-of-place op");
}

void rebase_history(Tensor& self, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                    const std::vector<Tensor>& pre_inputs) {
  wire_inputs(*node, inputs);
  node->output_shape = self.shape();
  if (io_recording()) {
    node->recorded_inputs.clear();
    for (const Tensor& in : pre_inputs) node->recorded_inputs.emplace_back(in);
    node->recorded_output = SavedTensor(self);
  }
  self.impl()->grad_fn = node;
  self.impl()->requires_grad = true;
}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  std::shared_ptr<TensorImpl> var = variable.lock();
  if (!var || !grad_output.defined()) return {};
  Tensor v(var);
  Tensor old = v.grad();
  // .grad never aliases a gradient buffer the engine might hand to someone else.
  v.set_grad(old.defined() ? add(old, grad_output) : grad_output.clone());
  return {};
}

// ---- the engine -----------------------------------------------------------------------------------------

namespace {

struct NodeState {
  int deps = 0;
  bool needed = false;
  Tensor buffer;  // summed incoming gradient
};

void accumulate(Tensor& buffer, const Tensor& g) {
  if (!g.defined()) return;
  // Out-of-place: a backward may return the same tensor for two inputs (add does), so the
  // buffer must never be written in place.
  buffer = buffer.defined() ? add(buffer, g) : g;
}

std::vector<Tensor> run_node(Node& node, const Tensor& grad) {
  LB_CHECK(!node.released, node.kind() << ": backward through a graph that was already freed; "
                                       << "pass retain_graph=true to the first backward");
  std::vector<Tensor> grads;
  if (const BackwardRule* rule = find_override(node.kind())) {
    LB_CHECK(!node.recorded_inputs.empty() || node.next_edges.empty(),
             node.kind() << ": a backward override is active but this op's forward ran outside "
                         << "the override scope, so its inputs were not recorded; run the forward "
                         << "inside the BackwardOverride scope");
    BackwardContext ctx{node, grad, {}, Tensor()};
    for (size_t i = 0; i < node.recorded_inputs.size(); ++i)
      ctx.inputs.push_back(node.recorded_inputs[i].unpack(node.kind(), "recorded input"));
    ctx.output = node.recorded_output.unpack(node.kind(), "recorded output");
    grads = (*rule)(ctx);
  } else {
    grads = node.apply(grad);
  }
  LB_CHECK(grads.size() == node.next_edges.size(), node.kind()
                                                       << ": backward returned " << grads.size() << " gradients for "
                                                       << node.next_edges.size() << " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || !node.next_edges[i].node) continue;
    LB_CHECK(grads[i].shape() == node.input_shapes[i] && grads[i].dtype() == node.input_dtypes[i],
             node.kind() << ": gradient for input " << i << " is " << grads[i].str() << " but the input was "
                         << dtype_name(node.input_dtypes[i]) << shape_str(node.input_shapes[i]));
  }
  return grads;
}

// One backward pass's bookkeeping, shared by its steps below.
struct Pass {
  bool capturing = false;  // grad(): gradients arriving at the targets are captured, no .grad is touched
  bool retain_graph = false;
  std::unordered_map<Node*, NodeState> state;                // every node reachable from the roots
  std::unordered_map<Node*, std::vector<size_t>> target_of;  // the node a target's gradient arrives at
  std::vector<Tensor> captured;                              // per target, when capturing
};
using Roots = std::vector<std::pair<std::shared_ptr<Node>, Tensor>>;

// The roots (each output's producer) and their seed gradients: the ones given, or ones for a
// scalar output.
Roots seed_roots(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  LB_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
           "backward: " << outputs.size() << " outputs but " << grad_outputs.size() << " grad_outputs");
  Roots roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    LB_CHECK(out.defined() && out.requires_grad(), "backward: output "
                                                       << i << " does not require grad (no input that requires grad "
                                                       << "was used, or it ran under NoGradGuard)");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      LB_CHECK(out.numel() == 1, "backward: output " << i << " has shape " << shape_str(out.shape())
                                                     << "; pass a gradient for non-scalar outputs");
      g = Tensor::ones(out.shape(), out.dtype(), out.device());
    }
    check_same_shape("backward (gradient vs output)", out, g);
    roots.emplace_back(gradient_edge(out), g);
  }
  return roots;
}

// Capture targets: the node each target's gradient arrives at.
void find_targets(const std::vector<Tensor>& targets, Pass& pass) {
  for (size_t j = 0; j < targets.size(); ++j) {
    const Tensor& t = targets[j];
    LB_CHECK(t.defined() && t.requires_grad(), "grad: input " << j << " does not require grad");
    pass.target_of[gradient_edge(t).get()].push_back(j);
  }
}

// Step 1: the nodes reachable from the roots in post-order (children before parents), found
// iteratively (a deep graph would overflow a recursive walk); each gets its entry in pass.state.
std::vector<Node*> post_order(const Roots& roots, Pass& pass) {
  std::vector<Node*> post;
  std::vector<std::pair<Node*, size_t>> stack;
  for (auto& r : roots) {
    if (pass.state.count(r.first.get())) continue;
    pass.state[r.first.get()];
    stack.emplace_back(r.first.get(), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->next_edges.size()) {
        Node* child = node->next_edges[next++].node.get();
        if (child && !pass.state.count(child)) {
          pass.state[child];
          stack.emplace_back(child, 0);
        }
      } else {
        post.push_back(node);
        stack.pop_back();
      }
    }
  }
  return post;
}

// Step 2: a node is needed if it is a target (or a leaf accumulator when accumulating) or feeds
// one; then each needed node counts the needed parents it waits for (deps).
void mark_needed(const std::vector<Node*>& post, Pass& pass) {
  auto& state = pass.state;
  for (Node* n : post) {
    NodeState& s = state[n];
    s.needed = pass.capturing ? pass.target_of.count(n) > 0 : dynamic_cast<AccumulateGrad*>(n) != nullptr;
    for (const Edge& e : n->next_edges)
      if (e.node && state[e.node.get()].needed) s.needed = true;
  }
  for (Node* n : post) {
    if (!state[n].needed) continue;
    for (const Edge& e : n->next_edges)
      if (e.node && state[e.node.get()].needed) state[e.node.get()].deps++;
  }
}

// Runs one ready node on its summed gradient: captures it at a target, accumulates it into a
// leaf's .grad, or runs the node's backward if it feeds a needed node (then frees what the node
// saved, unless retain_graph). Returns the gradients for its inputs (empty if it ran nothing).
std::vector<Tensor> run_ready(Node* n, Pass& pass) {
  Tensor grad = std::move(pass.state[n].buffer);
  if (pass.capturing) {
    auto it = pass.target_of.find(n);
    if (it != pass.target_of.end())
      for (size_t j : it->second) accumulate(pass.captured[j], grad);
  }
  const bool is_acc = dynamic_cast<AccumulateGrad*>(n) != nullptr;
  std::vector<Tensor> grads;
  bool feeds_needed = false;
  for (const Edge& e : n->next_edges) feeds_needed |= e.node && pass.state[e.node.get()].needed;
  if (grad.defined()) {
    if (is_acc && !pass.capturing)
      n->apply(grad);
    else if (!is_acc && feeds_needed)
      grads = run_node(*n, grad);
  }
  if (!pass.retain_graph && !is_acc && (grad.defined() && feeds_needed)) {
    n->release_saved();
    n->recorded_inputs.clear();
    n->recorded_output.reset();
    n->released = true;
  }
  return grads;
}

// Step 3: Kahn's algorithm from the roots: a node runs once every needed parent has passed it
// its gradient.
void propagate(const Roots& roots, Pass& pass) {
  auto& state = pass.state;
  for (auto& r : roots) accumulate(state[r.first.get()].buffer, r.second);
  std::deque<Node*> ready;
  for (auto& r : roots) {
    NodeState& s = state[r.first.get()];
    if (s.needed && s.deps == 0 && std::find(ready.begin(), ready.end(), r.first.get()) == ready.end())
      ready.push_back(r.first.get());
  }
  while (!ready.empty()) {
    Node* n = ready.front();
    ready.pop_front();
    const std::vector<Tensor> grads = run_ready(n, pass);
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      Node* child = n->next_edges[i].node.get();
      if (!child || !state[child].needed) continue;
      if (i < grads.size()) accumulate(state[child].buffer, grads[i]);
      if (--state[child].deps == 0) ready.push_back(child);
    }
  }
}

// Runs the backward pass. When `targets` is non-null, gradients arriving at those tensors are
// captured and returned and no .grad is touched; otherwise leaves accumulate into .grad.
std::vector<Tensor> run_backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                                 bool retain_graph, const std::vector<Tensor>* targets, bool allow_unused) {
  NoGradGuard no_grad;
  const Roots roots = seed_roots(outputs, grad_outputs);
  Pass pass;
  pass.capturing = targets != nullptr;
  pass.retain_graph = retain_graph;
  if (targets) find_targets(*targets, pass);
  mark_needed(post_order(roots, pass), pass);
  pass.captured.resize(targets ? targets->size() : 0);
  propagate(roots, pass);
  if (targets) {
    for (size_t j = 0; j < pass.captured.size(); ++j)
      LB_CHECK(pass.captured[j].defined() || allow_unused,
               "grad: input " << j << " " << (*targets)[j].str()
                              << " is not reachable from the outputs; pass allow_unused=true");
  }
  return pass.captured;
}

}  // namespace

namespace autograd {

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  run_backward(outputs, grad_outputs, retain_graph, nullptr, false);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool allow_unused) {
  return run_backward(outputs, grad_outputs, retain_graph, &inputs, allow_unused);
}

std::string to_dot(const Tensor& root) {
  std::ostringstream os;
  os << "digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  LB_CHECK(root.defined(), "to_dot: undefined tensor");
  std::shared_ptr<Node> start = root.grad_fn();
  if (!start) {
    os << "  leaf [shape=ellipse, label=\"" << (root.name().empty() ? "tensor" : root.name()) << "\\n"
       << shape_str(root.shape()) << "\"];\n}\n";
    return os.str();
  }
  std::unordered_map<Node*, int> id;
  std::vector<Node*> todo{start.get()};
  id[start.get()] = 0;
  while (!todo.empty()) {
    Node* n = todo.back();
    todo.pop_back();
    const int nid = id[n];
    if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
      auto var = acc->variable.lock();
      const std::string name = var && !var->name.empty() ? var->name : "leaf";
      os << "  n" << nid << " [shape=ellipse, style=filled, fillcolor=\"#dbe9f6\", label=\"" << name << "\\n"
         << (var ? shape_str(var->shape) : "") << "\"];\n";
    } else {
      const std::string extra = n->describe();
      os << "  n" << nid << " [shape=box, style=\"rounded,filled\", fillcolor=\"#fde8c8\", label=\"" << n->kind()
         << (extra.empty() ? "" : "\\n" + extra) << "\\n-> " << shape_str(n->output_shape) << "\"];\n";
    }
    for (const Edge& e : n->next_edges) {
      if (!e.node) continue;
      auto [it, inserted] = id.emplace(e.node.get(), static_cast<int>(id.size()));
      if (inserted) todo.push_back(e.node.get());
      os << "  n" << it->second << " -> n" << nid << ";\n";
    }
  }
  os << "}\n";
  return os.str();
}

}  // namespace autograd
}  // namespace lb
