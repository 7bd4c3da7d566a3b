// fp16: IEEE half, eight values a 16-byte vector.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_FP16_HPP
#define KVSIM_PRECISION_FP16_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::fp16> : Codec16<float_to_half, half_to_float>, Traits<16, 8, Scale::none, 4> {
  static constexpr const char* name = "fp16";
  static constexpr double error_bound = 0x1p-11;
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) {
    out[0] = half_to_float(std::uint16_t(x & 0xffffu));
    out[1] = half_to_float(std::uint16_t(x >> 16));
  }
};

template <>
struct Chunk8<DType::fp16> : Chunk8Half<half_to_float> {};

}  // namespace kvsim::codec

#endif
