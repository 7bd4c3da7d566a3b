#pragma once
// What a cache design gives up in decode attention, measured against float64 attention over
// every position of the unquantised source (the uncompressed, unevicted cache of the same
// data). docs/data.md defines each figure; metrics.def declares them.
#include <cstdint>
#include <vector>

#include "kvsim/core/data_source.hpp"

namespace kvsim {

// The share of the exact attention's positions top_k_positions ranks first (5%, at least one).
std::int64_t top_k_positions(std::int64_t context);

struct AttentionQuality {
  double err2 = 0, ref2 = 0;  // ||got - exact over the held positions||^2, ||that exact||^2
  double mass = 0;            // sums over the queries added
  double top_mass = 0;
  double recall = 0;
  std::int64_t queries = 0;

  double rel_err() const;
  double mass_kept() const { return queries > 0 ? mass / double(queries) : -1.0; }
  double top_mass_mean() const { return queries > 0 ? top_mass / double(queries) : -1.0; }
  double topk_recall() const { return queries > 0 ? recall / double(queries) : -1.0; }
  void add(const AttentionQuality& o);
};

// Adds one query of head_dim values of `layer` and KV head `kv_head` of sequence seed `seed`:
// the exact weights w over positions [0, context); `held` (sorted, within [0, context)) are the
// positions the design still holds and `got` its output over them. rel_err compares `got` with
// the exact attention restricted to `held` (what the storage precision costs); mass_kept is
// the sum of w over `held`; top_mass the sum of the k largest w; topk_recall the share of those
// k positions in `held` (k = top_k_positions(context)). `exact`, where given, receives the
// exact attention output over every position (head_dim values): what next_input_rel_err
// compares with.
void add_attention_quality(const DataSource& data, std::uint64_t seed, std::int64_t layer, std::int64_t kv_head,
                           std::int64_t context, const std::vector<std::int64_t>& held, std::int64_t head_dim, const float* q,
                           const float* got, AttentionQuality& acc, double* exact = nullptr);

// The queries of one layer's reference, each on a host thread: query i is head heads[i] of
// sequence seqs[i], whose output and query sit at (seqs[i] * heads + heads[i]) * head_dim in
// `got` and `q`; contexts[s] and held[s] (sorted, within [0, contexts[s])) are sequence s's,
// seeds[s] its seed. The sums run in the queries' order, so the figures do not depend on the
// thread count. `exact`, where given, receives [query][head_dim] (add_attention_quality's).
struct ReferenceQueries {
  std::vector<std::int64_t> seqs, heads;
  std::vector<std::uint64_t> seeds;
  std::vector<std::int64_t> contexts;
  std::vector<std::vector<std::int64_t>> held;
};
void add_attention_queries(const DataSource& data, std::int64_t layer, std::int64_t group, std::int64_t heads,
                           std::int64_t head_dim, const ReferenceQueries& queries, const float* q, const float* got,
                           AttentionQuality& acc, double* exact = nullptr);

// The error of a layer's attention block output where it enters the residual stream (the
// input of the layer's MLP; docs/data.md): ||W_o (got - exact)|| / ||x + W_o exact||, summed
// in squares over the sequences added.
struct NextInputQuality {
  double err2 = 0, ref2 = 0;
  std::int64_t sequences = 0;
  double rel_err() const;
  void add(const NextInputQuality& o);
};

// Adds one sequence: `got` and `exact` its attention outputs of every query head (width =
// heads * head_dim values, head-major), `o_proj` the layer's [hidden][width] output
// projection, `residual` the hidden values of the query's row.
void add_next_input_quality(const float* o_proj, const float* residual, std::int64_t hidden, std::int64_t width,
                            const float* got, const double* exact, NextInputQuality& acc);

}  // namespace kvsim
