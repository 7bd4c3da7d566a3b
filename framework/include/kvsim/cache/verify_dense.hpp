#pragma once
// Checks a retrieved layer against the synthetic source recomputed on the device: each codec
// unit is re-encoded and decoded with the same codec, which must match the retrieved values bit
// for bit; the reconstruction error against the unquantised source is accumulated too. The bits
// also fold into an order-independent checksum that is the same on every backend.
#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/core/flat_index.hpp"
#include "kvsim/precision/codecs.hpp"
#include "kvsim/core/data_source.hpp"

namespace kvsim::kernels {

struct VerifyTally {
  std::uint64_t mismatches = 0;
  std::uint64_t checksum = 0;
  double err2 = 0;     // sum of squared reconstruction errors
  double ref2 = 0;     // sum of squared source values
  double max_abs = 0;  // largest absolute reconstruction error
};

KOKKOS_INLINE_FUNCTION std::uint64_t checksum_term(std::uint64_t lane, std::uint64_t position, std::uint32_t bits) {
  return synthetic::mix64(lane * 0x9e3779b97f4a7c15ULL + synthetic::mix64((position << 32) ^ bits));
}

template <class Out>
KOKKOS_INLINE_FUNCTION float out_to_float(Out v);
template <>
KOKKOS_INLINE_FUNCTION float out_to_float<float>(float v) { return v; }
template <>
KOKKOS_INLINE_FUNCTION float out_to_float<std::uint16_t>(std::uint16_t v) { return codec::half_to_float(v); }

template <class Out>
KOKKOS_INLINE_FUNCTION std::uint32_t out_bits(Out v);
template <>
KOKKOS_INLINE_FUNCTION std::uint32_t out_bits<float>(float v) { return codec::float_bits(v); }
template <>
KOKKOS_INLINE_FUNCTION std::uint32_t out_bits<std::uint16_t>(std::uint16_t v) { return v; }

template <class Out>
KOKKOS_INLINE_FUNCTION Out float_to_out(float v);
template <>
KOKKOS_INLINE_FUNCTION float float_to_out<float>(float v) { return v; }
template <>
KOKKOS_INLINE_FUNCTION std::uint16_t float_to_out<std::uint16_t>(float v) { return codec::float_to_half(v); }

// What a dense buffer is filled with before a retrieve: NaN, so a skipped element cannot pass.
template <class Out>
inline Out poison_value();
template <>
inline float poison_value<float>() { return codec::bits_float(0x7fc00000u); }
template <>
inline std::uint16_t poison_value<std::uint16_t>() { return 0x7e00u; }

template <class MemSpace, codec::DType D, class Out>
struct VerifyDense {
  using Codec = codec::Codec<D>;
  using value_type = VerifyTally;

  View1D<const Out, MemSpace> dense;  // [K|V][seq][i][head][dim], row stride max_valid
  View1D<const float, MemSpace> head_scales;
  PolicyMap map;
  View1D<const std::int64_t, MemSpace> totals;
  View2D<const std::int32_t, MemSpace> order;          // h2o
  View2D<const std::int64_t, MemSpace> slot_position;  // h2o
  std::uint64_t seed;
  std::int64_t layer, batch, max_valid, kv_heads, head_dim;
  std::int64_t position_base;  // a context shard's first position (0 unsharded)
  DataSource data;

  // One work item per codec unit: i -> (kv, seq, logical row, head, unit).
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w, value_type& acc) const {
    const std::int64_t units = head_dim / Codec::unit;
    std::int64_t t = w;
    const std::int64_t u = peel(t, units);
    const std::int64_t head = peel(t, kv_heads);
    const std::int64_t i = peel(t, max_valid);
    const std::int64_t seq = peel(t, batch);
    const std::int64_t kv = t;
    const std::int64_t total = totals(seq);
    if (i >= map.valid(total)) return;
    const std::int64_t position =
        position_base + (map.table ? slot_position(seq, order(seq, i)) : map.position_of_logical(i, total));
    const std::uint64_t s = synthetic::sequence_seed(seed, std::uint64_t(seq));
    const auto tensor = static_cast<synthetic::Tensor>(kv);
    const std::int64_t dim0 = u * Codec::unit;
    float src[Codec::unit];
    for (int k = 0; k < Codec::unit; ++k)
      src[k] = data.value(s, std::uint32_t(layer), tensor, std::uint64_t(position), std::uint32_t(head),
                                std::uint32_t(dim0 + k));
    const float scale = Codec::head_scale ? head_scales((layer * 2 + kv) * kv_heads + head) : 1.0f;
    alignas(16) unsigned char enc[Codec::unit * 4];
    std::uint16_t gscale[1] = {0};
    Codec::encode(src, enc, 0, gscale, 1.0f / scale);
    const std::int64_t base = (((kv * batch + seq) * max_valid + i) * kv_heads + head) * head_dim + dim0;
    float expected[Codec::unit];
    Codec::decode(enc, 0, gscale, scale, expected);
    for (int k = 0; k < Codec::unit; ++k) {
      const Out got = dense(base + k);
      const std::uint32_t gb = out_bits<Out>(got);
      acc.mismatches += gb != out_bits<Out>(float_to_out<Out>(expected[k])) ? 1u : 0u;
      const double err = double(out_to_float<Out>(got)) - double(src[k]);
      acc.err2 += err * err;
      acc.ref2 += double(src[k]) * double(src[k]);
      const double a = err < 0 ? -err : err;
      acc.max_abs = a > acc.max_abs ? a : acc.max_abs;
      acc.checksum += checksum_term(
          synthetic::lane_key(std::uint32_t(layer), tensor, std::uint32_t(head), std::uint32_t(dim0 + k)) ^
              (std::uint64_t(seq) << 60),
          std::uint64_t(position), gb);
    }
  }

  KOKKOS_INLINE_FUNCTION void init(value_type& v) const { v = VerifyTally{}; }
  KOKKOS_INLINE_FUNCTION void join(value_type& dst, const value_type& src) const {
    dst.mismatches += src.mismatches;
    dst.checksum += src.checksum;
    dst.err2 += src.err2;
    dst.ref2 += src.ref2;
    dst.max_abs = src.max_abs > dst.max_abs ? src.max_abs : dst.max_abs;
  }
#if KOKKOS_VERSION < 40000
  // Kokkos 3.x joins through volatile references.
  KOKKOS_INLINE_FUNCTION void join(volatile value_type& dst, const volatile value_type& src) const {
    dst.mismatches += src.mismatches;
    dst.checksum += src.checksum;
    dst.err2 += src.err2;
    dst.ref2 += src.ref2;
    dst.max_abs = src.max_abs > dst.max_abs ? src.max_abs : dst.max_abs;
  }
#endif
};

}  // namespace kvsim::kernels
