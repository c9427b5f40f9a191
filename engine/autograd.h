// autograd.h: the dynamic tape.
//
// Every differentiable op that runs while grad mode is on and has an input that requires grad
// creates a Node: the op's backward function plus what it saved from the forward. Nodes point
// to the nodes that produced their inputs (Edges), so the tape is a DAG rooted at the loss.
//
//   backward(): collect the nodes reachable from the roots, keep those that lead to something
//   that wants a gradient, and run them in reverse topological order with Kahn's algorithm
//   (iterative: ResNet graphs are deep, so no recursion anywhere). Gradients arriving at a node
//   from several consumers are summed before the node runs.
//
//   In-place safety: saved tensors remember the storage version at save time. Unpacking one in
//   backward after an in-place write throws an error naming the op and both versions.
//
//   Overrides: inside a BackwardOverride scope the backward of an op kind ("relu",
//   "max_pool2d", ...) is replaced by a rule that sees the op's forward inputs and output.
//   DeepLIFT/DeepSHAP is written this way (explain/deep).
//
// See docs/02-autograd.md for the walk-through with pictures.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace lb {

// A tensor kept for backward, with the version it had when saved. It holds a detached alias
// (same storage, no grad_fn) so that saving an op's own output creates no reference cycle.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // Returns the tensor, or throws if it was modified in place since it was saved or if the
  // graph was already freed. `op` and `what` name it in the message.
  Tensor unpack(const char* op, const char* what) const;
  bool defined() const { return tensor_.defined(); }
  // Frees the tensor; a later unpack says the graph was freed (retain_graph was false).
  void reset() {
    if (tensor_.defined()) freed_ = true;
    tensor_ = Tensor();
  }
  uint64_t saved_version() const { return version_; }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  bool freed_ = false;
};

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
};

class Node {
 public:
  // Releases the producers iteratively: a long chain of nodes freed recursively would overflow
  // the stack (the same reason backward never recurses).
  virtual ~Node();
  // The op kind, used for graph dumps, error messages and override lookup ("conv2d", ...).
  virtual const char* kind() const = 0;
  // Given dL/d(output), returns dL/d(input i) for every forward input, in order. An entry may be
  // undefined when next_edges[i] is null (no gradient wanted).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Drops everything saved for backward (called after backward unless retain_graph).
  virtual void release_saved() {}
  // One-line description of the op's settings for graph dumps ("stride=2 pad=3").
  virtual std::string describe() const { return ""; }

  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].node; }

  std::vector<Edge> next_edges;     // one per forward input
  std::vector<Shape> input_shapes;  // to check the shapes of returned gradients
  std::vector<DType> input_dtypes;
  Shape output_shape;  // for graph dumps
  bool released = false;

  // Filled only while a BackwardOverride scope is active during the forward (io_recording()),
  // so that override rules can see the op's inputs and output.
  std::vector<SavedTensor> recorded_inputs;
  SavedTensor recorded_output;
};

// The node at the root of every leaf that requires grad: adds incoming gradients to .grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& var) : variable(var) {}
  const char* kind() const override { return "accumulate_grad"; }
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  std::weak_ptr<TensorImpl> variable;
};

// ---- grad mode -----------------------------------------------------------------------------
bool grad_mode_enabled();

// Turns recording off in this thread for the guard's lifetime (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// ---- building the tape (used by ops) ------------------------------------------------------
// True when grad mode is on and any defined input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);
// Wires `node` to the producers of `inputs`, records input shapes, and makes `node` the grad_fn
// of `output` (which then requires grad). Records inputs/output for overrides when recording.
void set_history(Tensor& output, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs);
// For in-place ops: `self` was just overwritten. Rebases its history onto `node`, whose edges
// come from the pre-op producers in `inputs` (self first). `pre_inputs` are copies of the
// inputs taken before the write, recorded for overrides (may be empty when not recording).
void rebase_history(Tensor& self, const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                    const std::vector<Tensor>& pre_inputs);
// Throws if `t` is a leaf that requires grad (an in-place write would silently lose history).
void check_inplace_allowed(const char* op, const Tensor& t);

// ---- running backward --------------------------------------------------------------------
namespace autograd {

// Accumulates d(sum of outputs * grad_outputs)/d(leaf) into every reachable leaf's .grad.
// An undefined grad_output is allowed only for a single-element output (it becomes 1).
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false);

// Returns d(outputs . grad_outputs)/d(inputs) without touching any .grad. Inputs may be leaves
// or intermediate tensors. With allow_unused, an input the outputs do not depend on gets an
// undefined tensor; otherwise that is an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool allow_unused = false);

// A Graphviz description of the graph that produced `root`: one box per op (kind, settings,
// output shape), one ellipse per leaf (its name and shape), an arrow per data flow.
std::string to_dot(const Tensor& root);

}  // namespace autograd

// ---- backward-rule overrides ------------------------------------------------------------------
// What an override rule sees: the node (its kind and settings), the gradient arriving at its
// output, the op's forward inputs and output (as values, detached), and the op's own backward.
struct BackwardContext {
  Node& node;
  const Tensor& grad_output;
  std::vector<Tensor> inputs;
  Tensor output;
  std::vector<Tensor> default_backward() const { return node.apply(grad_output); }
};

using BackwardRule = std::function<std::vector<Tensor>(const BackwardContext&)>;

// While alive, the backward of every node of kind `kind` run in this thread is `rule`. Scopes
// nest; the innermost rule for a kind wins. Forward passes run inside a scope also record
// every op's inputs and output, which the rules need.
class BackwardOverride {
 public:
  BackwardOverride(std::string kind, BackwardRule rule);
  ~BackwardOverride();
  BackwardOverride(const BackwardOverride&) = delete;
  BackwardOverride& operator=(const BackwardOverride&) = delete;
};

// True while any BackwardOverride scope is active in this thread (ops then record their I/O).
bool io_recording();

}  // namespace lb
