// fp32: plain storage, four values a 16-byte vector.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_FP32_HPP
#define KVSIM_PRECISION_FP32_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::fp32> : Traits<32, 4, Scale::none, 2> {
  static constexpr const char* name = "fp32";
  static constexpr double error_bound = 0.0;
  KOKKOS_INLINE_FUNCTION static void encode(const float* v, unsigned char* data, std::int64_t e, std::uint16_t*, float) {
    Float4 out;
    for (int j = 0; j < 4; ++j) out.v[j] = v[j];
    reinterpret_cast<Float4*>(data)[e / 4] = out;
  }
  KOKKOS_INLINE_FUNCTION static void decode(const unsigned char* data, std::int64_t e, const std::uint16_t*, float,
                                            float* out) {
    const Float4 in = reinterpret_cast<const Float4*>(data)[e / 4];
    for (int j = 0; j < 4; ++j) out[j] = in.v[j];
  }
  // Four values at element e (a multiple of 4): the retrieve's access, so that neighbouring
  // lanes read neighbouring bytes and write neighbouring 16-byte outputs.
  KOKKOS_INLINE_FUNCTION static void decode4(const unsigned char* data, std::int64_t e, const std::uint16_t* s, float f,
                                             float* out) {
    decode(data, e, s, f, out);
  }
  // The 32 / bits values of one 32-bit word of storage, unscaled (vec16.hpp).
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) { out[0] = bits_float(x); }
};

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

}  // namespace kvsim::codec

#endif
