// integrated_gradients.h: Integrated Gradients (Sundararajan, Taly, Yan 2017, "Axiomatic
// Attribution for Deep Networks") as Captum's IntegratedGradients computes it (explainers.md 5.3).
//
//   phi(x) = (x - x') ⊙ ∫_0^1 ∇f(x' + a (x - x')) da  ≈  (x - x') ⊙ Σ_s w_s ∇f(x' + a_s (x - x'))
//
// By the fundamental theorem of calculus along the path, Σ phi = f(x) - f(x') exactly for the
// integral ("completeness"); the quadrature leaves a small error that Captum reports as the
// convergence delta, Σ phi - (f(x) - f(x')) (here the negated completeness gap).
//
// Quadrature rules (a_s nodes in [0, 1], w_s weights), Captum's definitions:
//   gausslegendre      a_s = (1 + xi_s) / 2, w_s = omega_s / 2, with (xi, omega) the n-point
//                      Gauss-Legendre rule on [-1, 1] (numpy's leggauss). Exact for polynomials
//                      of degree 2n - 1, so it converges much faster than the Riemann sums on
//                      smooth stretches of the path. We compute the nodes by Newton's method on
//                      the Legendre polynomial P_n (three-term recurrence), seeded by the
//                      Tricomi approximation cos(pi (s - 1/4) / (n + 1/2)).
//   riemann_left       a_s = linspace(0, 1 - 1/n, n),          w_s = 1/n
//   riemann_right      a_s = linspace(1/n, 1, n),              w_s = 1/n
//   riemann_middle     a_s = linspace(1/(2n), 1 - 1/(2n), n),  w_s = 1/n
//   riemann_trapezoid  a_s = linspace(0, 1, n),                w_s = 1/n, halved at both ends
//                      (Captum's choice: the weights sum to 1 - 1/n, not 1)
// Captum's rounding, reproduced: the weights are cast to float32 before use, the Riemann nodes are
// float32 (torch.linspace), and every node meets the image as float32 (baseline + a * (x - x')
// in float32 tensors). Gradients are float32; the weighted sums and products are in double.
//
// Cost: the N * n path points of all images are cut into batches of `batch_size`; each batch gets
// one forward and K backward passes (one per output), where Captum runs one target per call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "explain/explain.h"

namespace lb::explain {

struct IGOptions {
  int64_t steps = 50;
  std::string method = "gausslegendre";  // or riemann_left, riemann_right, riemann_middle, riemann_trapezoid
  Tensor baseline;                       // undefined = zeros; (1, C, H, W) broadcast or (N, C, H, W)
  int64_t batch_size = 50;               // path points per pass (across images)
  bool progress = false;                 // progress over images, to the installed renderer (engine/progress.h)
};

// values (N, K, C, H, W) float64; outputs (N, K) f(x); expected (N, K) f(x'); gaps (N, K).
Attribution integrated_gradients(const Explained& f, const Tensor& x, const IGOptions& opt);

// Captum's convergence delta: Σ values - (outputs - expected), (N, K) float64.
Tensor convergence_delta(const Attribution& a);

// The quadrature, in double: nodes a_s and weights w_s exactly as they enter the sum (weights
// already rounded to float32 as Captum does; Riemann nodes float32 like torch.linspace).
struct Quadrature {
  std::vector<double> alphas, weights;
};
Quadrature ig_quadrature(const std::string& method, int64_t steps);

// The n-point Gauss-Legendre rule on [-1, 1], ascending nodes, in double (no rounding to float).
void gauss_legendre(int64_t n, std::vector<double>& nodes, std::vector<double>& weights);

// Its entry in the table of explainers (explain/registry.h): "ig", its options and its runner.
struct Explainer;
Explainer integrated_gradients_explainer();

}  // namespace lb::explain
