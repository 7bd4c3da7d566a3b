#pragma once
// Storage precisions of the KV cache. Each codec encodes and decodes a unit of consecutive
// values along head_dim: what one 16-byte storage vector holds (a 32-value scale group for
// int8 and int4). The same functions run on the device and, as host twins, in tests and references, so
// both sides agree bit for bit.
//
//   fp32, fp16, bf16    plain storage
//   fp8_e4m3            OCP E4M3 with one float scale per (layer, K|V, kv_head), as vLLM/TRT-LLM
//   int8                symmetric, one fp16 scale per 32 values (llama.cpp q8_0)
//   int4                one fp16 scale per 32 values, q = round(x/d)+8 in a nibble (q4_0)
#include <cmath>
#include <cstdint>
#include <string>

#include "kvsim/precision/float_formats.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim::codec {

enum class DType : int { fp32 = 0, fp16, bf16, int8, fp8_e4m3, int4 };

inline const char* name(DType d) {
  switch (d) {
    case DType::fp32: return "fp32";
    case DType::fp16: return "fp16";
    case DType::bf16: return "bf16";
    case DType::int8: return "int8";
    case DType::fp8_e4m3: return "fp8_e4m3";
    case DType::int4: return "int4";
  }
  return "?";
}

// The largest |decode(encode(x)) - x| of the format, as a fraction of the largest |x| of its
// scale unit (a scale group, a head): half an ulp for the float formats, half a step (with
// the rounding of the fp16 scale) for the integer ones. The unit tests hold every codec to it.
inline double error_bound(DType d) {
  switch (d) {
    case DType::fp32: return 0.0;
    case DType::fp16: return 0x1p-11;
    case DType::bf16: return 0x1p-8;
    case DType::fp8_e4m3: return 0.0625;
    case DType::int8: return 0.57 / 127.0;
    case DType::int4: return 1.01 / 8.0;
  }
  return 1.0;
}

inline DType parse_dtype(const std::string& s) {
  for (DType d : {DType::fp32, DType::fp16, DType::bf16, DType::int8, DType::fp8_e4m3, DType::int4})
    if (s == name(d)) return d;
  return DType::fp32;  // the config validator only lets known names through
}

inline constexpr int kGroup = 32;  // values per scale in int8/int4

struct alignas(8) Half4 {
  std::uint16_t v[4];
};
struct alignas(4) Byte4 {
  std::uint8_t v[4];
};
struct alignas(16) Byte16 {
  std::uint8_t v[16];
};

KOKKOS_INLINE_FUNCTION float abs_f(float x) { return x < 0 ? -x : x; }

// x * y rounded to nearest even integer, identically on every backend: the product is rounded
// on its own (no fused multiply-add), then rounded to an integer. The host adds and subtracts
// 1.5 * 2^23, which rounds to nearest even for |x * y| < 2^22 without a libm call.
KOKKOS_INLINE_FUNCTION float mul_rint(float x, float y) {
#if defined(__CUDA_ARCH__)
  return rintf(__fmul_rn(x, y));
#else
  const float p = x * y;
  return (p + 12582912.0f) - 12582912.0f;
#endif
}

template <DType D>
struct Codec;

// A unit is the values one 16-byte storage vector holds (32 for int8: a whole scale group in
// two vectors): loads and stores stay 16 bytes wide for every precision.

template <>
struct Codec<DType::fp32> {
  static constexpr int unit = 4;
  static constexpr int bits = 32;
  static constexpr bool group_scale = false;
  static constexpr bool head_scale = false;
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
};

struct alignas(16) Half8 {
  std::uint16_t v[8];
};

template <std::uint16_t (*To)(float), float (*From)(std::uint16_t)>
struct Codec16 {
  static constexpr int unit = 8;
  static constexpr int bits = 16;
  static constexpr bool group_scale = false;
  static constexpr bool head_scale = false;
  KOKKOS_INLINE_FUNCTION static void encode(const float* v, unsigned char* data, std::int64_t e, std::uint16_t*, float) {
    Half8 out;
    for (int j = 0; j < 8; ++j) out.v[j] = To(v[j]);
    reinterpret_cast<Half8*>(data)[e / 8] = out;
  }
  KOKKOS_INLINE_FUNCTION static void decode(const unsigned char* data, std::int64_t e, const std::uint16_t*, float,
                                            float* out) {
    const Half8 in = reinterpret_cast<const Half8*>(data)[e / 8];
    for (int j = 0; j < 8; ++j) out[j] = From(in.v[j]);
  }
  KOKKOS_INLINE_FUNCTION static void decode4(const unsigned char* data, std::int64_t e, const std::uint16_t*, float,
                                             float* out) {
    const Half4 in = reinterpret_cast<const Half4*>(data)[e / 4];
    for (int j = 0; j < 4; ++j) out[j] = From(in.v[j]);
  }
};

template <>
struct Codec<DType::fp16> : Codec16<float_to_half, half_to_float> {};
template <>
struct Codec<DType::bf16> : Codec16<float_to_bf16, bf16_to_float> {};

template <>
struct Codec<DType::fp8_e4m3> {
  static constexpr int unit = 16;
  static constexpr int bits = 8;
  static constexpr bool group_scale = false;
  static constexpr bool head_scale = true;
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
};

template <>
struct Codec<DType::int8> {
  static constexpr int unit = kGroup;
  static constexpr int bits = 8;
  static constexpr bool group_scale = true;
  static constexpr bool head_scale = false;
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
};

template <>
struct Codec<DType::int4> {
  static constexpr int unit = kGroup;
  static constexpr int bits = 4;
  static constexpr bool group_scale = true;
  static constexpr bool head_scale = false;
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
};

// Storage bytes of `values` consecutive values, and of their group scales.
inline std::int64_t data_bytes(DType d, std::int64_t values) {
  switch (d) {
    case DType::fp32: return values * 4;
    case DType::fp16:
    case DType::bf16: return values * 2;
    case DType::int8:
    case DType::fp8_e4m3: return values;
    case DType::int4: return values / 2;
  }
  return 0;
}
inline std::int64_t group_scale_count(DType d, std::int64_t values) {
  return (d == DType::int8 || d == DType::int4) ? values / kGroup : 0;
}
inline bool needs_head_scale(DType d) { return d == DType::fp8_e4m3; }
inline int unit_values(DType d) {
  switch (d) {
    case DType::fp16:
    case DType::bf16: return 8;
    case DType::fp8_e4m3: return 16;
    case DType::int8:
    case DType::int4: return kGroup;
    case DType::fp32: break;
  }
  return 4;
}

// Calls fn(std::integral_constant<DType, d>) for the runtime dtype: one template instance per
// precision, chosen once per launch.
template <class Fn>
decltype(auto) dispatch(DType d, Fn&& fn) {
  switch (d) {
    case DType::fp16: return fn(std::integral_constant<DType, DType::fp16>{});
    case DType::bf16: return fn(std::integral_constant<DType, DType::bf16>{});
    case DType::int8: return fn(std::integral_constant<DType, DType::int8>{});
    case DType::fp8_e4m3: return fn(std::integral_constant<DType, DType::fp8_e4m3>{});
    case DType::int4: return fn(std::integral_constant<DType, DType::int4>{});
    case DType::fp32: break;
  }
  return fn(std::integral_constant<DType, DType::fp32>{});
}

}  // namespace kvsim::codec
