#pragma once
// Sixteen stored bytes of a row (W = 128 / bits values) loaded in one 128-bit access and decoded
// without their scale (int8/int4 group scales, fp8's per-head scale): the lane-group attention
// kernel stages the scales itself and folds them into one multiply per row (q.k * d, p * d)
// instead of one per value, and int8/int4 convert through the float mantissa (byte permute,
// subtract) rather than the quarter-rate integer-to-float unit. Values are exact small
// integers or exact conversions, so the device and host paths agree bit for bit. Each format
// decodes one 32-bit word (Codec<D>::decode_word, in its file).
#include "kvsim/precision/registry.hpp"

namespace kvsim::codec {

template <DType D>
struct Vec16 {
  static constexpr int W = 128 / Codec<D>::bits;  // values per 16 bytes
  KOKKOS_INLINE_FUNCTION static Word4 load(const unsigned char* data, std::int64_t e) {
    return *reinterpret_cast<const Word4*>(data + e * Codec<D>::bits / 8);
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Word4& r, float* out) {
    for (int k = 0; k < 4; ++k) Codec<D>::decode_word(r.w[k], out + k * (32 / Codec<D>::bits));
  }
};

}  // namespace kvsim::codec
