#pragma once
// The K, V and query values a point runs on (config `data:`, docs/data.md). `uniform` is the
// counter hash of synthetic.hpp; `structured` builds, from the same hash, the properties of
// real activations that decide what a cache design loses: outlier key channels, RoPE,
// per-token Gaussian values, attention sinks and heavy hitters, and queries that pick them out;
// `recorded` reads a model's activations from a table the driver loaded (tiled over positions).
// Every value is a pure function of its coordinates, so the device generator, the device
// verifier and the host references agree without storing anything. Integer hashing feeds one
// exact int->float step; the rest is double arithmetic rounded once to float, so backends agree
// to the last bit except where a fused multiply-add moves a double across a float rounding
// boundary (tests allow one ulp there).
#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdint>

#include "kvsim/core/enum_list.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim {

#define KVSIM_DATA_KINDS(X) X(uniform, "uniform") X(structured, "structured") X(recorded, "recorded")
KVSIM_NAMED_ENUM(DataKind, KVSIM_DATA_KINDS, all_data_kinds, data_kind_name)

namespace synthetic {

// Hash tags: each property draws from its own stream.
inline constexpr std::uint64_t kTagNoise = 0x4e4f495345ULL, kTagChannel = 0x4348414eULL, kTagSign = 0x5349474eULL,
                               kTagHeavy = 0x4845415659ULL, kTagTokenScale = 0x544f4b53ULL, kTagQuery = 0x51554552ULL;

KOKKOS_INLINE_FUNCTION constexpr std::uint64_t hash3(std::uint64_t seed, std::uint64_t tag, std::uint64_t a, std::uint64_t b) {
  return mix64(mix64(mix64(seed ^ tag) + a) + b);
}

// Approximately standard normal (Irwin-Hall: four uniforms, variance 1, |z| < 2 sqrt 3): the
// sum is an exact integer and one multiply rounds it, so every backend gets the same float.
KOKKOS_INLINE_FUNCTION constexpr float gaussian(std::uint64_t h) {
  std::int64_t s = 0;
  for (int k = 0; k < 4; ++k) s += 2 * std::int64_t((h >> (16 * k)) & 0xffffu) + 1;
  return float(s - 262144) * float(1.7320508075688772 / 131072.0);
}

// Uniform in [0, 1) with 2^-24 resolution.
KOKKOS_INLINE_FUNCTION constexpr float unit(std::uint64_t h) { return float(h >> 40) * (1.0f / 16777216.0f); }

}  // namespace synthetic

struct DataSource {
  DataKind kind = DataKind::uniform;
  std::int32_t head_dim = 0;            // the model's; RoPE frequencies and the sink direction
  std::int32_t outlier_channels = 4;    // key dims with outlier_scale (whole RoPE pairs)
  float outlier_scale = 15.0f;          // their scale over the other channels
  float rope_base = 10000.0f;           // RoPE theta base
  std::int32_t sinks = 4;               // first positions every query attends to
  float sink_logit = 8.0f;              // their score above an ordinary position's, at temperature 1
  std::int32_t heavy_every = 32;        // one heavy-hitter position per block of this many
  float heavy_logit = 6.0f;             // a heavy hitter's largest score (its smallest: half)
  float temperature = 1.0f;             // divides every score
  float query_noise = 0.5f;             // per-query Gaussian part of the scores, at temperature 1
  // recorded: rows [layer][K, V, Q][row][head][dim] (K and V over kv heads, Q over query heads),
  // position p reading row p % recorded_rows; `recorded` is where the kernels read it (device
  // memory), `recorded_host` a host copy for the references (on_host()).
  const float* recorded = nullptr;
  const float* recorded_host = nullptr;
  std::int64_t recorded_rows = 0;
  std::int32_t recorded_kv_heads = 0, recorded_heads = 0;
  float recorded_bound[2] = {1.0f, 1.0f};  // largest |K|, |V| in the table
  // Host only, for the quality reference (0 and null where the file records none): each
  // layer's output projection [layer][hidden][heads * head_dim] and input hidden states
  // [layer][row][hidden], row p % recorded_rows for position p.
  std::int64_t recorded_hidden = 0;
  const float* recorded_o_proj_host = nullptr;
  const float* recorded_residual_host = nullptr;

  KOKKOS_INLINE_FUNCTION bool structured() const { return kind == DataKind::structured; }
  // Queries of their own (structured, recorded) instead of the counter hash's.
  KOKKOS_INLINE_FUNCTION bool has_queries() const { return kind != DataKind::uniform; }

  // The same values, read through the host copy of a recorded table.
  DataSource on_host() const {
    DataSource d = *this;
    d.recorded = recorded_host;
    return d;
  }

  KOKKOS_INLINE_FUNCTION std::int64_t recorded_layer_base(std::uint32_t layer) const {
    return std::int64_t(layer) * recorded_rows * (2 * recorded_kv_heads + recorded_heads) * head_dim;
  }
  KOKKOS_INLINE_FUNCTION float recorded_value(std::uint32_t layer, synthetic::Tensor t, std::uint64_t position,
                                              std::uint32_t head, std::uint32_t dim) const {
    const std::int64_t row = std::int64_t(position % std::uint64_t(recorded_rows));
    const std::int64_t block = t == synthetic::Tensor::K ? 0 : recorded_rows * recorded_kv_heads * head_dim;
    return recorded[recorded_layer_base(layer) + block + (row * recorded_kv_heads + head) * head_dim + dim];
  }
  KOKKOS_INLINE_FUNCTION float recorded_query(std::uint32_t layer, std::uint32_t head, std::uint64_t position,
                                              std::int64_t dim) const {
    const std::int64_t row = std::int64_t(position % std::uint64_t(recorded_rows));
    return recorded[recorded_layer_base(layer) + 2 * recorded_rows * recorded_kv_heads * head_dim +
                    (row * recorded_heads + head) * head_dim + dim];
  }

  // Key dim pair i (dims 2i, 2i+1) is an outlier pair: exactly outlier_channels / 2 pairs of
  // each (sequence, layer, head), picked by a hashed rotation of the pair index.
  KOKKOS_INLINE_FUNCTION bool outlier_pair(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::int64_t pair) const {
    const std::int64_t pairs = head_dim / 2;
    const std::int64_t offset = std::int64_t(synthetic::hash3(s, synthetic::kTagChannel, layer, head) % std::uint64_t(pairs));
    return (pair + offset) % pairs < outlier_channels / 2;
  }
  KOKKOS_INLINE_FUNCTION float channel_scale(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::int64_t dim) const {
    return outlier_pair(s, layer, head, dim / 2) ? outlier_scale : 1.0f;
  }

  // Heavy hitters: one position per block of heavy_every, at a hashed offset, past the sinks;
  // shared by the layers and heads of a sequence (the policies evict per sequence).
  KOKKOS_INLINE_FUNCTION bool heavy(std::uint64_t s, std::uint64_t position) const {
    const std::uint64_t block = position / std::uint64_t(heavy_every);
    return position >= std::uint64_t(sinks) &&
           position % std::uint64_t(heavy_every) == synthetic::hash3(s, synthetic::kTagHeavy, block, 0) % std::uint64_t(heavy_every);
  }

  // The score a query gives `position` above an ordinary one, before the temperature.
  KOKKOS_INLINE_FUNCTION float salient_logit(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint64_t position) const {
    if (position < std::uint64_t(sinks)) return sink_logit;
    if (!heavy(s, position)) return 0.0f;
    return heavy_logit * (0.5f + 0.5f * synthetic::unit(synthetic::hash3(s, synthetic::kTagHeavy, position, (std::uint64_t(layer) << 20) | head)));
  }

  // The unit "attention direction" a of (sequence, layer, kv head), post-RoPE: +-1/sqrt(head_dim).
  KOKKOS_INLINE_FUNCTION double direction(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::int64_t dim) const {
    const bool neg = synthetic::hash3(s, synthetic::kTagSign, (std::uint64_t(layer) << 20) | head, std::uint64_t(dim)) >> 63;
    return (neg ? -1.0 : 1.0) / ::sqrt(double(head_dim));
  }

  // Pre-RoPE key in whitened units (channel scale 1): a fixed sign per outlier channel (their
  // mean, which KIVI's per-channel quantisation exploits) plus per-token noise.
  KOKKOS_INLINE_FUNCTION double whitened_key(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint64_t position,
                                             std::int64_t dim) const {
    const std::uint64_t lane = synthetic::lane_key(layer, synthetic::Tensor::K, head, std::uint32_t(dim));
    double mean = 0;
    if (outlier_pair(s, layer, head, dim / 2))
      mean = (synthetic::hash3(s, synthetic::kTagSign, lane, 1) >> 63) ? -1.0 : 1.0;
    return mean + double(synthetic::gaussian(synthetic::hash3(s, synthetic::kTagNoise, lane, position)));
  }

  // RoPE (RoFormer) rotates dims (2i, 2i+1) by position * rope_base^(-2i / head_dim).
  KOKKOS_INLINE_FUNCTION double rope_angle(std::uint64_t position, std::int64_t pair) const {
    const double theta = ::pow(double(rope_base), -2.0 * double(pair) / double(head_dim));
    return ::fmod(double(position) * theta, 6.283185307179586);
  }

  KOKKOS_INLINE_FUNCTION float structured_key(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint64_t position,
                                              std::int64_t dim) const {
    const std::int64_t even = dim & ~std::int64_t(1);
    const double x0 = whitened_key(s, layer, head, position, even), x1 = whitened_key(s, layer, head, position, even + 1);
    const double phi = rope_angle(position, dim / 2), c = ::cos(phi), sn = ::sin(phi);
    const double rotated = (dim & 1) ? x0 * sn + x1 * c : x0 * c - x1 * sn;
    const double g = double(salient_logit(s, layer, head, position));
    return float(double(channel_scale(s, layer, head, dim)) * (rotated + g * direction(s, layer, head, dim)));
  }

  // Values: per-token Gaussian with a per-token scale in [0.5, 1.5) (no outlier channels, KIVI).
  KOKKOS_INLINE_FUNCTION float structured_value(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint64_t position,
                                                std::int64_t dim) const {
    const std::uint64_t lane = synthetic::lane_key(layer, synthetic::Tensor::V, head, std::uint32_t(dim));
    const double scale = 0.5 + double(synthetic::unit(synthetic::hash3(s, synthetic::kTagTokenScale, (std::uint64_t(layer) << 20) | head, position)));
    return float(scale * double(synthetic::gaussian(synthetic::hash3(s, synthetic::kTagNoise, lane, position))));
  }

  // Element `dim` of K or V of sequence seed `s` (synthetic::sequence_seed).
  KOKKOS_INLINE_FUNCTION float value(std::uint64_t s, std::uint32_t layer, synthetic::Tensor t, std::uint64_t position,
                                     std::uint32_t head, std::uint32_t dim) const {
    if (kind == DataKind::uniform) return synthetic::value(s, layer, t, position, head, dim);
    if (kind == DataKind::recorded) return recorded_value(layer, t, position, head, dim);
    return t == synthetic::Tensor::K ? structured_key(s, layer, head, position, dim) : structured_value(s, layer, head, position, dim);
  }

  // Structured query element of query head `head` (kv head `kv_head`), decode token `token`:
  // sqrt(d) a / (T c) plus noise / (T c), so q.k / sqrt(d) is (a . rope(x) + salient_logit) / T
  // plus the noise's share: ordinary positions score about N(0, 1 + query_noise^2) / T.
  KOKKOS_INLINE_FUNCTION float structured_query(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint32_t kv_head,
                                                std::uint64_t token, std::int64_t dim) const {
    const double z = double(synthetic::gaussian(synthetic::hash3(s, synthetic::kTagQuery, (std::uint64_t(layer) << 20) | head,
                                                                 (token << 20) | std::uint64_t(dim))));
    const double q = ::sqrt(double(head_dim)) * direction(s, layer, kv_head, dim) + double(query_noise) * z;
    return float(q / (double(temperature) * double(channel_scale(s, layer, kv_head, dim))));
  }

  // The decode query of query head `head` at generated token `token`, position `position`.
  KOKKOS_INLINE_FUNCTION float query(std::uint64_t s, std::uint32_t layer, std::uint32_t head, std::uint32_t kv_head,
                                     std::uint64_t token, std::uint64_t position, std::int64_t dim) const {
    if (kind == DataKind::recorded) return recorded_query(layer, head, position, dim);
    return structured_query(s, layer, head, kv_head, token, dim);
  }

  // What h2o ranks positions by (its accumulated attention): uniform data, the hash of
  // synthetic::attention_mass; structured, the data's own expected attention order (sinks, then
  // heavy hitters, then the rest), ties broken by that hash; recorded, the hash.
  KOKKOS_INLINE_FUNCTION float salience(std::uint64_t seed, std::uint64_t seq, std::uint64_t position) const {
    const float u = synthetic::attention_mass(seed, seq, position);
    if (!structured()) return u;
    const std::uint64_t s = synthetic::sequence_seed(seed, seq);
    return position < std::uint64_t(sinks) ? 2.0f + u : heavy(s, position) ? 1.0f + u : u;
  }

  // A bound on |value| of K (kv 0) or V (kv 1): fp8's per-head scale maps it onto E4M3's range.
  double abs_bound(int kv) const {
    if (kind == DataKind::uniform) return 1.0;
    if (kind == DataKind::recorded) return recorded_bound[kv == 1 ? 1 : 0];
    const double z = 2 * 1.7320508075688772;
    if (kv == 1) return 1.5 * z;
    const double g = sink_logit > heavy_logit ? sink_logit : heavy_logit;
    const double c = outlier_channels > 0 && outlier_scale > 1 ? outlier_scale : 1.0;
    return c * (std::sqrt(2.0) * (1.0 + z) + g / std::sqrt(double(head_dim)));
  }
};

}  // namespace kvsim
