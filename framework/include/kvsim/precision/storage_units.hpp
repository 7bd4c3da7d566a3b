#pragma once
// The pieces every storage format is built from: the 4-, 8- and 16-byte vectors loads and
// stores go through, the integer formats' scale group, and the rounding both backends agree on.
// No format lives here (see registry.hpp); only what two or more formats share.
#include <cstdint>

#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/precision/float_formats.hpp"

namespace kvsim::codec {

inline constexpr int kGroup = 32;  // values per scale in int8/int4

struct alignas(8) Half4 {
  std::uint16_t v[4];
};
struct alignas(4) Byte4 {
  std::uint8_t v[4];
};
struct alignas(8) Byte8 {
  std::uint8_t v[8];
};
struct alignas(16) Byte16 {
  std::uint8_t v[16];
};
struct alignas(16) Half8 {
  std::uint16_t v[8];
};
struct alignas(16) Word4 {
  std::uint32_t w[4];
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

// How a format scales its values: not at all, one fp16 scale per kGroup values (stored beside
// the data), or one float per (layer, K|V, kv_head) (the cache's head_scales).
enum class Scale : int { none = 0, group, head };

// The traits every format declares (its row of the table); the format's Codec derives from it.
// unit: values one 16-byte storage vector holds (a whole 32-value scale group for int8, in two
// vectors), so loads and stores stay 16 bytes wide for every precision. tile_rows: rows per
// thread a step of the tiled attention kernel keeps in flight (more for narrow formats, whose
// rows are fewer bytes).
template <int Bits, int Unit, Scale S, int TileRows>
struct Traits {
  static constexpr int bits = Bits;
  static constexpr int unit = Unit;
  static constexpr Scale scale = S;
  static constexpr bool group_scale = S == Scale::group;
  static constexpr bool head_scale = S == Scale::head;
  static constexpr int tile_rows = TileRows;
};

// fp16 and bf16: plain 16-bit storage, eight values a vector.
template <std::uint16_t (*To)(float), float (*From)(std::uint16_t)>
struct Codec16 {
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

// Eight 16-bit values loaded raw (chunk8.hpp): fp16 and bf16.
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

}  // namespace kvsim::codec
