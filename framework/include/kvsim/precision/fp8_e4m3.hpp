// fp8_e4m3: OCP E4M3 with one float scale per (layer, K|V, kv_head), as vLLM/TRT-LLM; sixteen
// values a 16-byte vector.
#include "kvsim/precision/registry.hpp"
#ifndef KVSIM_PRECISION_FP8_E4M3_HPP
#define KVSIM_PRECISION_FP8_E4M3_HPP

namespace kvsim::codec {

template <>
struct Codec<DType::fp8_e4m3> : Traits<8, 16, Scale::head, 4> {
  static constexpr const char* name = "fp8_e4m3";
  static constexpr double error_bound = 0.0625;
  // inv_scale = 1 / the head's scale; values are stored as e4m3(x * inv_scale).
  KOKKOS_INLINE_FUNCTION static void encode(const float* v, unsigned char* data, std::int64_t e, std::uint16_t*,
                                            float inv_scale) {
    Byte16 out;
    for (int j = 0; j < 16; ++j) {
#if defined(__CUDA_ARCH__)
      out.v[j] = float_to_e4m3(__fmul_rn(v[j], inv_scale));
#else
      out.v[j] = float_to_e4m3(v[j] * inv_scale);
#endif
    }
    reinterpret_cast<Byte16*>(data)[e / 16] = out;
  }
  KOKKOS_INLINE_FUNCTION static void decode(const unsigned char* data, std::int64_t e, const std::uint16_t*,
                                            float scale, float* out) {
    const Byte16 in = reinterpret_cast<const Byte16*>(data)[e / 16];
    for (int j = 0; j < 16; ++j) out[j] = e4m3_to_float(in.v[j]) * scale;
  }
  KOKKOS_INLINE_FUNCTION static void decode4(const unsigned char* data, std::int64_t e, const std::uint16_t*,
                                             float scale, float* out) {
    const Byte4 in = reinterpret_cast<const Byte4*>(data)[e / 4];
    for (int j = 0; j < 4; ++j) out[j] = e4m3_to_float(in.v[j]) * scale;
  }
  KOKKOS_INLINE_FUNCTION static void decode_word(std::uint32_t x, float* out) {
#if defined(__CUDA_ARCH__)
    // Two values per conversion (sm_89+ has it in hardware); e4m3 -> half is exact.
    const __half2 lo = __half2(__nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(x & 0xffffu), __NV_E4M3));
    const __half2 hi = __half2(__nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(x >> 16), __NV_E4M3));
    const float2 a = __half22float2(lo), b = __half22float2(hi);
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
#else
    for (int j = 0; j < 4; ++j) out[j] = e4m3_to_float(std::uint8_t(x >> (8 * j)));
#endif
  }
};

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

}  // namespace kvsim::codec

#endif
