// bf16: the upper half of an fp32, eight values a 16-byte vector.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_BF16_HPP
#define KVSIM_PRECISION_BF16_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::bf16> : Codec16<float_to_bf16, bf16_to_float>, Traits<16, 8, Scale::none, 4> {
  static constexpr const char* name = "bf16";
  static constexpr double error_bound = 0x1p-8;
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) {
    out[0] = bits_float(x << 16);
    out[1] = bits_float(x & 0xffff0000u);
  }
};

template <>
struct Chunk8<DType::bf16> : Chunk8Half<bf16_to_float> {};

}  // namespace kvsim::codec

#endif
