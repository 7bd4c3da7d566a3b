#pragma once
// Synthetic K/V values: a counter-based hash of (seed, layer, K-or-V, position, head, dim).
// Any element can be recomputed anywhere, on any backend, bit for bit: the hash is integer
// arithmetic and the final int->float conversion is exact (24 significant bits).
#include <Kokkos_Core.hpp>

#include <cstdint>

namespace kvsim::synthetic {

enum class Tensor : std::uint32_t { K = 0, V = 1 };

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective, well-mixed 64-bit hash.
KOKKOS_INLINE_FUNCTION constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Packs the coordinates independently of the model shape, so a value does not change when an
// unrelated dimension does: layer < 2^23, head < 2^19, dim < 2^20.
KOKKOS_INLINE_FUNCTION constexpr std::uint64_t lane_key(std::uint32_t layer, Tensor t, std::uint32_t head,
                                                        std::uint32_t dim) {
  return (std::uint64_t(layer) << 40) | (std::uint64_t(t) << 39) | (std::uint64_t(head) << 20) |
         std::uint64_t(dim);
}

// Value in [-1, 1) with 2^-23 resolution.
KOKKOS_INLINE_FUNCTION constexpr float value(std::uint64_t seed, std::uint32_t layer, Tensor t,
                                             std::uint64_t position, std::uint32_t head, std::uint32_t dim) {
  const std::uint64_t h = mix64(mix64(seed ^ lane_key(layer, t, head, dim)) + position);
  const std::int32_t q = std::int32_t(h >> 40) - (std::int32_t(1) << 23);  // [-2^23, 2^23)
  return float(q) * (1.0f / 8388608.0f);
}

// Each sequence of a batch draws from its own stream; sequence 0 uses the seed itself.
KOKKOS_INLINE_FUNCTION constexpr std::uint64_t sequence_seed(std::uint64_t seed, std::uint64_t seq) {
  return seed + seq * 0x9e3779b97f4a7c15ULL;
}

// A synthetic accumulated attention mass in [0, 1) for position `position` of sequence `seq`:
// what H2O ranks by until decode attention accumulates real scores.
KOKKOS_INLINE_FUNCTION constexpr float attention_mass(std::uint64_t seed, std::uint64_t seq, std::uint64_t position) {
  return float(mix64(mix64(sequence_seed(seed, seq) ^ 0x4832304d41535321ULL) + position) >> 40) * (1.0f / 16777216.0f);
}

// Limits the packing above imposes; the config validator enforces them.
inline constexpr std::uint32_t max_layers = 1u << 23;
inline constexpr std::uint32_t max_heads = 1u << 19;
inline constexpr std::uint32_t max_head_dim = 1u << 20;

}  // namespace kvsim::synthetic

namespace kvsim {

// fp8 scale per (layer, K|V, kv_head): the synthetic values lie in [-1, 1), so 1/448 maps them
// onto E4M3's full range (a calibrated static scale, as vLLM's k_scale/v_scale).
inline constexpr float kFp8SyntheticScale = 1.0f / 448.0f;

}  // namespace kvsim
