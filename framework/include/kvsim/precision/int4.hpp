// int4: one fp16 scale per 32 values, q = round(x/d)+8 in a nibble (llama.cpp q4_0), the first
// value in the low nibble; a unit is a whole scale group in one 16-byte vector.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_INT4_HPP
#define KVSIM_PRECISION_INT4_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::int4> : Traits<4, kGroup, Scale::group, 8> {
  static constexpr const char* name = "int4";
  static constexpr double error_bound = 1.01 / 8.0;
  KOKKOS_INLINE_FUNCTION static void encode(const float* v, unsigned char* data, std::int64_t e, std::uint16_t* scales,
                                            float) {
    float amax = 0, mx = 0;  // mx: the value of largest magnitude, with its sign
    for (int j = 0; j < kGroup; ++j)
      if (abs_f(v[j]) > amax) amax = abs_f(v[j]), mx = v[j];
    const float d = mx / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    Byte16 out;
    for (int j = 0; j < kGroup; j += 2) {
      std::uint32_t nib[2];
      for (int k = 0; k < 2; ++k) {
        float q = mul_rint(v[j + k], id);
        q = q > 7.0f ? 7.0f : (q < -8.0f ? -8.0f : q);
        nib[k] = static_cast<std::uint32_t>(static_cast<int>(q) + 8);
      }
      out.v[j / 2] = static_cast<std::uint8_t>(nib[0] | (nib[1] << 4));
    }
    reinterpret_cast<Byte16*>(data + e / 2)[0] = out;
    scales[e / kGroup] = float_to_half(d);
  }
  KOKKOS_INLINE_FUNCTION static void decode(const unsigned char* data, std::int64_t e, const std::uint16_t* scales,
                                            float, float* out) {
    const Byte16 in = reinterpret_cast<const Byte16*>(data + e / 2)[0];
    const float d = half_to_float(scales[e / kGroup]);
    for (int j = 0; j < kGroup; ++j) out[j] = float(int((in.v[j / 2] >> (4 * (j % 2))) & 0xfu) - 8) * d;
  }
  KOKKOS_INLINE_FUNCTION static void decode4(const unsigned char* data, std::int64_t e, const std::uint16_t* scales,
                                             float, float* out) {
    const std::uint16_t in = reinterpret_cast<const std::uint16_t*>(data + e / 2)[0];
    const float d = half_to_float(scales[e / kGroup]);
    for (int j = 0; j < 4; ++j) out[j] = float(int((in >> (4 * j)) & 0xfu) - 8) * d;
  }
  // Nibble n stores n - 8: 2^23 + n as a float's bits, minus 2^23 + 8.
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) {
    for (int j = 0; j < 8; ++j) out[j] = bits_float(0x4b000000u | ((x >> (4 * j)) & 0xfu)) - 8388616.0f;
  }
};

// The raw bytes carry their group's scale (one fp16 per 32 values).
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

#endif
