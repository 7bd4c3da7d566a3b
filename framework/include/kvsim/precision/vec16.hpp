#pragma once
// Sixteen stored bytes of a row (W = 128 / bits values) loaded in one 128-bit access and decoded
// without their scale (int8/int4 group scales, fp8's per-head scale): the lane-group attention
// kernel stages the scales itself and folds them into one multiply per row (q.k * d, p * d)
// instead of one per value, and int8/int4 convert through the float mantissa (byte permute,
// subtract) rather than the quarter-rate integer-to-float unit. Values
// are exact small integers or exact conversions, so the device and host paths agree bit for bit.
#include "kvsim/precision/codecs.hpp"

namespace kvsim::codec {

struct alignas(16) Word4 {
  std::uint32_t w[4];
};

template <DType D>
struct Vec16 {
  static constexpr int W = 128 / Codec<D>::bits;  // values per 16 bytes
  KOKKOS_INLINE_FUNCTION static Word4 load(const unsigned char* data, std::int64_t e) {
    return *reinterpret_cast<const Word4*>(data + e * Codec<D>::bits / 8);
  }
  KOKKOS_INLINE_FUNCTION static void decode(const Word4& r, float* out) {
    for (int k = 0; k < 4; ++k) {
      const std::uint32_t x = r.w[k];
      if constexpr (D == DType::fp32) {
        out[k] = bits_float(x);
      } else if constexpr (D == DType::fp16) {
        out[2 * k] = half_to_float(std::uint16_t(x & 0xffffu));
        out[2 * k + 1] = half_to_float(std::uint16_t(x >> 16));
      } else if constexpr (D == DType::bf16) {
        out[2 * k] = bits_float(x << 16);
        out[2 * k + 1] = bits_float(x & 0xffff0000u);
      } else if constexpr (D == DType::fp8_e4m3) {
#if defined(__CUDA_ARCH__)
        // Two values per conversion (sm_89+ has it in hardware); e4m3 -> half is exact.
        const __half2 lo = __half2(__nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(x & 0xffffu), __NV_E4M3));
        const __half2 hi = __half2(__nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(x >> 16), __NV_E4M3));
        const float2 a = __half22float2(lo), b = __half22float2(hi);
        out[4 * k] = a.x, out[4 * k + 1] = a.y, out[4 * k + 2] = b.x, out[4 * k + 3] = b.y;
#else
        for (int j = 0; j < 4; ++j) out[4 * k + j] = e4m3_to_float(std::uint8_t(x >> (8 * j)));
#endif
      } else if constexpr (D == DType::int8) {
        // 2^23 + (b ^ 0x80) as a float's bits, minus 2^23 + 128: the signed byte, exactly.
        const std::uint32_t y = x ^ 0x80808080u;
        for (int j = 0; j < 4; ++j) out[4 * k + j] = bits_float(0x4b000000u | ((y >> (8 * j)) & 0xffu)) - 8388736.0f;
      } else {  // int4: nibble n stores n - 8, the first value in the low nibble
        for (int j = 0; j < 8; ++j) out[8 * k + j] = bits_float(0x4b000000u | ((x >> (4 * j)) & 0xfu)) - 8388616.0f;
      }
    }
  }
};

}  // namespace kvsim::codec
