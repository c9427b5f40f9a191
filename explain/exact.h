// exact.h: brute-force oracles. They enumerate every coalition, so they are exponential and only
// for small games (up to ~16 players), and they are obviously right: the tests hold the fast
// explainers to them.
//
// A game has n players (pixels, superpixels, or any groups of input elements) and K outputs.
// v(S) is the model's output when the players in S are "present" (take the explained image's
// values) and the rest "absent" (take a reference's values, averaged over a background set: the
// interventional / baseline Shapley value that DeepSHAP and expected gradients estimate).
//
// Shapley value of player i:  phi_i = sum over S not containing i of
//                                     |S|! (n - |S| - 1)! / n!  *  (v(S + i) - v(S))
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "explain/explain.h"

namespace lb::explain {

// v for a batch of coalitions: masks[m][i] = 1 when player i is present. Returns masks.size() * K
// values, row-major (coalition, output).
using GameFn = std::function<std::vector<double>(const std::vector<std::vector<uint8_t>>& masks)>;

// Exact Shapley values, n * K row-major (player, output). Evaluates all 2^n coalitions once
// (in batches of `batch`); n must be 1..20.
std::vector<double> exact_shapley(int n, int K, const GameFn& v, int64_t batch = 1024);

// The image game: players are groups of flat element indices of x (1, C, H, W) (disjoint, may
// leave elements out: those stay at x). v(S) = mean over b of f(x on S's elements, references[b]
// elsewhere); references (B, C, H, W). K is read from f.
struct ImageGame {
  GameFn fn;
  int n = 0;
  int K = 0;
};
ImageGame image_game(const BatchFn& f, const Tensor& x, const Tensor& references,
                     const std::vector<std::vector<int64_t>>& groups);

// Spreads per-player values (n * K) back over the image: (1, K, C, H, W) float64, each element of
// group i gets phi_i / |group i| (so sums over a group equal phi_i); elements in no group get 0.
Tensor spread_over_groups(const std::vector<double>& phi, int K, const Shape& image_shape,
                          const std::vector<std::vector<int64_t>>& groups);

}  // namespace lb::explain

// ---- Owen values: Shapley values restricted to a hierarchy ------------------------------------
#include <utility>

namespace lb::explain {

// Exact Owen values of a binary hierarchy over n players, n * K row-major (player, output).
// The hierarchy is a scipy linkage: players are nodes 0..n-1, merges[r] = the two children of
// node n + r, the last merge is the root (PartitionTree::merges() gives shap's image tree). The
// value of player i averages v(P + i) - v(P) over the 2^(n-1) orderings in which every subtree's
// players stay contiguous (each internal node puts its first or its second child first, with
// probability 1/2), P being the players before i. Evaluates each distinct prefix coalition once,
// in batches of `batch`; n must be 2..18.
std::vector<double> exact_owen(int n, const std::vector<std::pair<int64_t, int64_t>>& merges, int K, const GameFn& v,
                               int64_t batch = 1024);

}  // namespace lb::explain
