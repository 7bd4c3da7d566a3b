#pragma once
// Eight consecutive stored values of a row, loaded raw in one access and decoded later: the
// tiled attention kernel issues every load of a tile before it decodes any of them, so the raw
// form is what sits in registers while the loads are in flight. Decoding gives exactly what
// Codec<D>::decode gives for the same values (same conversions, same multiplication).
#include "kvsim/precision/codecs.hpp"

namespace kvsim::codec {

struct alignas(8) Byte8 {
  std::uint8_t v[8];
};

template <DType D>
struct Chunk8;

template <>
struct Chunk8<DType::fp32> {
  struct Raw {
    Float4 a, b;
  };
  KOKKOS_INLINE_FUNCTION static Raw load(const unsigned char* data, std::int64_t e, const std::uint16_t*) {
    const Float4* p = reinterpret_cast<const Float4*>(data) + e / 4;
    return Raw{p[0], p[1]};
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Raw& r, float, float* out) {
    for (int j = 0; j < 4; ++j) out[j] = r.a.v[j], out[4 + j] = r.b.v[j];
  }
};

template <float (*From)(std::uint16_t)>
struct Chunk8Half {
  using Raw = Half8;
  KOKKOS_INLINE_FUNCTION static Raw load(const unsigned char* data, std::int64_t e, const std::uint16_t*) {
    return reinterpret_cast<const Half8*>(data)[e / 8];
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Raw& r, float, float* out) {
    for (int j = 0; j < 8; ++j) out[j] = From(r.v[j]);
  }
};
template <>
struct Chunk8<DType::fp16> : Chunk8Half<half_to_float> {};
template <>
struct Chunk8<DType::bf16> : Chunk8Half<bf16_to_float> {};

template <>
struct Chunk8<DType::fp8_e4m3> {
  using Raw = Byte8;
  KOKKOS_INLINE_FUNCTION static Raw load(const unsigned char* data, std::int64_t e, const std::uint16_t*) {
    return reinterpret_cast<const Byte8*>(data)[e / 8];
  }
  // scale: the (layer, K|V, kv_head) scale
  KOKKOS_INLINE_FUNCTION static void decode(const Raw& r, float scale, float* out) {
    for (int j = 0; j < 8; ++j) out[j] = e4m3_to_float(r.v[j]) * scale;
  }
};

// int8 and int4 carry their group's scale (one fp16 per 32 values) with the raw bytes.
template <>
struct Chunk8<DType::int8> {
  struct Raw {
    Byte8 q;
    std::uint16_t d;
  };
  KOKKOS_INLINE_FUNCTION static Raw load(const unsigned char* data, std::int64_t e, const std::uint16_t* scales) {
    return Raw{reinterpret_cast<const Byte8*>(data)[e / 8], scales[e / kGroup]};
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Raw& r, float, float* out) {
    const float d = half_to_float(r.d);
    for (int j = 0; j < 8; ++j) out[j] = float(static_cast<std::int8_t>(r.q.v[j])) * d;
  }
};

template <>
struct Chunk8<DType::int4> {
  struct Raw {
    std::uint32_t q;  // eight nibbles, the first value in the low nibble
    std::uint16_t d;
  };
  KOKKOS_INLINE_FUNCTION static Raw load(const unsigned char* data, std::int64_t e, const std::uint16_t* scales) {
    return Raw{reinterpret_cast<const std::uint32_t*>(data + e / 2)[0], scales[e / kGroup]};
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Raw& r, float, float* out) {
    const float d = half_to_float(r.d);
    for (int j = 0; j < 8; ++j) out[j] = float(int((r.q >> (4 * j)) & 0xfu) - 8) * d;
  }
};

}  // namespace kvsim::codec
