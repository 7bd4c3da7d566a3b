#pragma once
// float64 references for the attention tests: what the cache holds (host twin of the codec
// over the synthetic source) and softmax(q K^T / sqrt(d)) V over given positions.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kvsim/cache/cache_design.hpp"
#include "kvsim/precision/codecs.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim::test {

// The values the cache holds for (seq, layer, K|V, position, kv_head): the host twin of the
// codec applied to the synthetic source, as float64.
inline std::vector<double> stored_row(const CacheDesign& d, std::uint64_t seed, std::int64_t seq, std::int64_t layer, int kv,
                               std::int64_t position, std::int64_t kv_head) {
  const std::uint64_t s = kvsim::synthetic::sequence_seed(seed, std::uint64_t(seq));
  std::vector<double> out(std::size_t(d.head_dim));
  const int n = kvsim::codec::unit_values(d.dtype);
  for (std::int64_t u = 0; u < d.head_dim; u += n) {
    float src[32], dec[32];
    for (int k = 0; k < n; ++k)
      src[k] = kvsim::synthetic::value(s, std::uint32_t(layer), kvsim::synthetic::Tensor(kv), std::uint64_t(position),
                                       std::uint32_t(kv_head), std::uint32_t(u + k));
    alignas(16) unsigned char enc[128];
    std::uint16_t gs[1] = {0};
    const float scale = kvsim::kFp8SyntheticScale;
    kvsim::codec::dispatch(d.dtype, [&](auto tag) {
      using C = kvsim::codec::Codec<decltype(tag)::value>;
      C::encode(src, enc, 0, gs, 1.0f / scale);
      C::decode(enc, 0, gs, scale, dec);
    });
    for (int k = 0; k < n; ++k) out[std::size_t(u + k)] = dec[k];
  }
  return out;
}

// float64 softmax(q K^T / sqrt(d)) V over the given positions.
inline std::vector<double> reference(const CacheDesign& d, std::uint64_t seed, std::int64_t seq, std::int64_t layer,
                              std::int64_t head, const std::vector<std::int64_t>& positions, const float* q) {
  const std::int64_t kv_head = head / (d.query_heads() / d.kv_heads);
  std::vector<double> scores, out(std::size_t(d.head_dim), 0.0);
  double mx = -1e300;
  for (auto p : positions) {
    const auto k = stored_row(d, seed, seq, layer, 0, p, kv_head);
    double s = 0;
    for (std::int64_t j = 0; j < d.head_dim; ++j) s += double(q[j]) * k[std::size_t(j)];
    scores.push_back(s / std::sqrt(double(d.head_dim)));
    mx = std::max(mx, scores.back());
  }
  double sum = 0;
  for (auto& s : scores) sum += (s = std::exp(s - mx));
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const auto v = stored_row(d, seed, seq, layer, 1, positions[i], kv_head);
    for (std::int64_t j = 0; j < d.head_dim; ++j) out[std::size_t(j)] += scores[i] / sum * v[std::size_t(j)];
  }
  return out;
}

// log sum_i exp(q . k_i / sqrt(d)) over the given positions.
inline double reference_lse(const CacheDesign& d, std::uint64_t seed, std::int64_t seq, std::int64_t layer, std::int64_t head,
                            const std::vector<std::int64_t>& positions, const float* q) {
  const std::int64_t kv_head = head / (d.query_heads() / d.kv_heads);
  std::vector<double> s;
  for (auto p : positions) {
    const auto k = stored_row(d, seed, seq, layer, 0, p, kv_head);
    double dot = 0;
    for (std::int64_t j = 0; j < d.head_dim; ++j) dot += double(q[j]) * k[std::size_t(j)];
    s.push_back(dot / std::sqrt(double(d.head_dim)));
  }
  const double mx = *std::max_element(s.begin(), s.end());
  double sum = 0;
  for (double x : s) sum += std::exp(x - mx);
  return mx + std::log(sum);
}

}  // namespace kvsim::test
