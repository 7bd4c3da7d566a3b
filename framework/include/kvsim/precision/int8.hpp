// int8: symmetric, one fp16 scale per 32 values (llama.cpp q8_0); a unit is a whole scale group
// in two 16-byte vectors.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_INT8_HPP
#define KVSIM_PRECISION_INT8_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::int8> : Traits<8, kGroup, Scale::group, 4> {
  static constexpr const char* name = "int8";
  static constexpr double error_bound = 0.57 / 127.0;
  KOKKOS_INLINE_FUNCTION static void encode(const float* v, unsigned char* data, std::int64_t e, std::uint16_t* scales,
                                            float) {
    float amax = 0;
    for (int j = 0; j < kGroup; ++j) amax = abs_f(v[j]) > amax ? abs_f(v[j]) : amax;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    Byte16 out[2];
    for (int j = 0; j < kGroup; ++j) {
      float q = mul_rint(v[j], id);  // |q| <= 127 (+1 from rounding the scale), far below 2^22
      q = q > 127.0f ? 127.0f : (q < -127.0f ? -127.0f : q);
      out[j / 16].v[j % 16] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
    }
    Byte16* dst = reinterpret_cast<Byte16*>(data + e);
    dst[0] = out[0];
    dst[1] = out[1];
    scales[e / kGroup] = float_to_half(d);
  }
  KOKKOS_INLINE_FUNCTION static void decode(const unsigned char* data, std::int64_t e, const std::uint16_t* scales,
                                            float, float* out) {
    const Byte16* src = reinterpret_cast<const Byte16*>(data + e);
    const Byte16 in[2] = {src[0], src[1]};
    const float d = half_to_float(scales[e / kGroup]);
    for (int j = 0; j < kGroup; ++j) out[j] = float(static_cast<std::int8_t>(in[j / 16].v[j % 16])) * d;
  }
  KOKKOS_INLINE_FUNCTION static void decode4(const unsigned char* data, std::int64_t e, const std::uint16_t* scales,
                                             float, float* out) {
    const Byte4 in = reinterpret_cast<const Byte4*>(data)[e / 4];
    const float d = half_to_float(scales[e / kGroup]);
    for (int j = 0; j < 4; ++j) out[j] = float(static_cast<std::int8_t>(in.v[j])) * d;
  }
  // 2^23 + (b ^ 0x80) as a float's bits, minus 2^23 + 128: the signed byte, exactly, through
  // the float mantissa rather than the quarter-rate integer-to-float unit.
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) {
    const std::uint32_t y = x ^ 0x80808080u;
    for (int j = 0; j < 4; ++j) out[j] = bits_float(0x4b000000u | ((y >> (8 * j)) & 0xffu)) - 8388736.0f;
  }
};

// The raw bytes carry their group's scale (one fp16 per 32 values).
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

}  // namespace kvsim::codec

#endif
