#pragma once
// Bit-exact conversions between float and the narrow float formats, in integer arithmetic, so
// the device functions and their host twins agree bit for bit on every backend (no reliance on
// CUDA intrinsics or the host compiler's half type). All round to nearest, ties to even.
#include <Kokkos_Core.hpp>

#include <cstdint>
#include <cstring>

#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#endif

namespace kvsim::codec {

KOKKOS_INLINE_FUNCTION std::uint32_t float_bits(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
KOKKOS_INLINE_FUNCTION float bits_float(std::uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// Rounds the top bits of `value` after dropping `shift` low bits, ties to even.
KOKKOS_INLINE_FUNCTION std::uint32_t round_shift_rne(std::uint32_t value, std::uint32_t shift) {
  const std::uint32_t q = value >> shift;
  const std::uint32_t rem = value & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1u);
  return q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
}

// IEEE binary16. Overflow gives infinity, NaN stays NaN. On the GPU the hardware conversion
// (also round-to-nearest-even) does the same in one instruction; the tests check they agree.
KOKKOS_INLINE_FUNCTION std::uint16_t float_to_half(float f) {
#if defined(__CUDA_ARCH__)
  return __half_as_ushort(__float2half_rn(f));
#else
  // Branch-free (F. Giesen's round-to-nearest-even method): all three cases are computed and
  // one is selected, so host loops vectorise.
  const std::uint32_t x = float_bits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t ax = x & 0x7fffffffu;
  const std::uint32_t special = ax > 0x7f800000u ? 0x7e00u : 0x7c00u;  // NaN, or overflow to inf
  // Subnormal results: adding 0.5 lines the half's subnormal step up with the float's last
  // mantissa bit, and the FPU's own round-to-nearest-even does the rounding.
  const std::uint32_t sub = float_bits(bits_float(ax < 0x38800000u ? ax : 0u) + 0.5f) - 0x3f000000u;
  const std::uint32_t normal = (ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13;
  const std::uint32_t h = ax >= 0x477ff000u ? special : (ax < 0x38800000u ? sub : normal);
  return static_cast<std::uint16_t>(sign | h);
#endif
}

KOKKOS_INLINE_FUNCTION float half_to_float(std::uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#else
  // Branch-free so host loops vectorise: rebias the exponent; subnormals are m * 2^-24 exactly.
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t em = h & 0x7fffu;
  const std::uint32_t normal = (em << 13) + 0x38000000u + (em >= 0x7c00u ? 0x38000000u : 0u);
  const std::uint32_t sub = float_bits(float(em) * 5.9604644775390625e-8f);
  return bits_float(sign | (em < 0x400u ? sub : normal));
#endif
}

// bfloat16: the top 16 bits of a float, rounded.
KOKKOS_INLINE_FUNCTION std::uint16_t float_to_bf16(float f) {
  const std::uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
KOKKOS_INLINE_FUNCTION float bf16_to_float(std::uint16_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(std::uint32_t(b) << 16);
#else
  return bits_float(std::uint32_t(b) << 16);
#endif
}

// OCP FP8 E4M3 ("e4m3fn"): bias 7, no infinities, max 448, NaN 0x7f. Saturating (satfinite):
// out-of-range finite values clamp to +-448, as vLLM and TensorRT-LLM quantise KV caches.
KOKKOS_INLINE_FUNCTION std::uint8_t float_to_e4m3(float f) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3));
#endif
  const std::uint32_t x = float_bits(f);
  const std::uint32_t sign = (x >> 24) & 0x80u;
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return 0x7fu;
  if (ax >= 0x43e00000u) return static_cast<std::uint8_t>(sign | 0x7eu);  // >= 448
  if (ax < 0x3c800000u) {                                                  // below 2^-6: subnormal
    if (ax <= 0x3a800000u) return static_cast<std::uint8_t>(sign);         // <= 2^-10 rounds to 0
    const std::uint32_t e = ax >> 23;
    const std::uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    return static_cast<std::uint8_t>(sign | round_shift_rne(m, 141u - e));  // may carry into the min normal
  }
  std::uint32_t q = round_shift_rne(ax - 0x3c000000u, 20u);
  if (q > 0x7eu) q = 0x7eu;
  return static_cast<std::uint8_t>(sign | q);
}

KOKKOS_INLINE_FUNCTION float e4m3_to_float(std::uint8_t b) {
#if defined(__CUDA_ARCH__)
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(b, __NV_E4M3)));
#else
  const std::uint32_t sign = std::uint32_t(b & 0x80u) << 24;
  const std::uint32_t em = b & 0x7fu;
  const std::uint32_t normal = (em << 20) + 0x3c000000u;  // rebias 7 -> 127
  const std::uint32_t sub = float_bits(float(em) * 0.001953125f);  // m * 2^-9, exact
  const std::uint32_t mag = em == 0x7fu ? 0x7fc00000u : (em < 8u ? sub : normal);
  return bits_float(sign | mag);
#endif
}

}  // namespace kvsim::codec
