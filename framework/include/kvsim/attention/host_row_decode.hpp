#pragma once
// One stored row of head_dim values (element e onwards) decoded to floats, with its scales
// applied, for the host decode-attention kernel: decode_row<D>(data, e, group_scales,
// head_scale, head_dim, out). A row's values and its group scales are consecutive in every
// layout. Each value equals Codec<D>::decode's (same conversion, one rounding for the scale);
// fp8's NaN codes (0x7f, 0xff) decode to NaN on every path, as the twin does.
//
// host_portable: plain loops over the bit-exact twins (float_formats.hpp), written so GCC
// vectorises them with SSE2. host_avx2: F16C conversions, sign/zero extension and a per-lane
// shift for nibbles. host_avx512: the same, sixteen values a step.
#include <cstdint>
#include <cstring>

#include "kvsim/attention/host_isa.hpp"
#include "kvsim/precision/codecs.hpp"

#if defined(KVSIM_HOST_X86_SIMD)
#include <immintrin.h>
#endif

namespace kvsim::kernels {
namespace host_portable {

template <codec::DType D>
inline void decode_row(const unsigned char* data, std::int64_t e, const std::uint16_t* gs, float hscale,
                       std::int64_t hd, float* out) {
  using codec::DType;
  if constexpr (D == DType::fp32) {
    std::memcpy(out, data + 4 * e, std::size_t(hd) * 4);
  } else if constexpr (D == DType::fp16 || D == DType::bf16) {
    const std::uint16_t* p = reinterpret_cast<const std::uint16_t*>(data) + e;
    for (std::int64_t j = 0; j < hd; ++j) out[j] = D == DType::fp16 ? codec::half_to_float(p[j]) : codec::bf16_to_float(p[j]);
  } else if constexpr (D == DType::fp8_e4m3) {
    const std::uint8_t* p = data + e;
    for (std::int64_t j = 0; j < hd; ++j) out[j] = codec::e4m3_to_float(p[j]) * hscale;
  } else if constexpr (D == DType::int8) {
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const float d = codec::half_to_float(gs[(e + g) / codec::kGroup]);
      const std::int8_t* p = reinterpret_cast<const std::int8_t*>(data + e + g);
      for (int j = 0; j < codec::kGroup; ++j) out[g + j] = float(p[j]) * d;
    }
  } else {
    static_assert(D == DType::int4, "a format without a host row decoder");
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const float d = codec::half_to_float(gs[(e + g) / codec::kGroup]);
      const std::uint8_t* p = data + (e + g) / 2;
      for (int j = 0; j < codec::kGroup / 2; ++j) {
        out[g + 2 * j] = float(int(p[j] & 0xfu) - 8) * d;
        out[g + 2 * j + 1] = float(int(p[j] >> 4) - 8) * d;
      }
    }
  }
}

}  // namespace host_portable

#if defined(KVSIM_HOST_X86_SIMD)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace host_avx2 {

template <codec::DType D>
inline void decode_row(const unsigned char* data, std::int64_t e, const std::uint16_t* gs, float hscale,
                       std::int64_t hd, float* out) {
  using codec::DType;
  if constexpr (D == DType::fp32) {
    std::memcpy(out, data + 4 * e, std::size_t(hd) * 4);
  } else if constexpr (D == DType::fp16) {
    const __m128i* p = reinterpret_cast<const __m128i*>(data + 2 * e);
    for (std::int64_t j = 0; j < hd; j += 8) _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128(p + j / 8)));
  } else if constexpr (D == DType::bf16) {
    const __m128i* p = reinterpret_cast<const __m128i*>(data + 2 * e);
    for (std::int64_t j = 0; j < hd; j += 8) {
      const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p + j / 8)), 16);
      _mm256_storeu_ps(out + j, _mm256_castsi256_ps(w));
    }
  } else if constexpr (D == DType::fp8_e4m3) {
    // e4m3 is a half with the low exponent and mantissa bits cut off: shifted into place it
    // is exactly 2^-8 of the value (subnormals included), so F16C converts it and 2^8 goes into
    // the scale (exact).
    const __m256 f = _mm256_set1_ps(hscale * 256.0f);
    const __m128i em = _mm_set1_epi16(0x3f80), sign = _mm_set1_epi16(short(0x8000));
    const __m128i low7 = _mm_set1_epi16(0x7f), half_nan = _mm_set1_epi16(0x7e00);
    for (std::int64_t j = 0; j < hd; j += 8) {
      const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(data + e + j)));
      // e4m3 has no infinities: S.1111.111 is NaN, which the shift would make 1.875 * 2^8.
      const __m128i nan = _mm_and_si128(_mm_cmpeq_epi16(_mm_and_si128(b, low7), low7), half_nan);
      const __m128i h = _mm_or_si128(
          _mm_or_si128(_mm_and_si128(_mm_slli_epi16(b, 7), em), _mm_and_si128(_mm_slli_epi16(b, 8), sign)), nan);
      _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_cvtph_ps(h), f));
    }
  } else if constexpr (D == DType::int8) {
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(gs[(e + g) / codec::kGroup]));
      for (int j = 0; j < codec::kGroup; j += 8) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(data + e + g + j));
        _mm256_storeu_ps(out + g + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), d));
      }
    }
  } else {
    static_assert(D == DType::int4, "a format without a host row decoder");
    // Eight nibbles a 32-bit word, the first value lowest: broadcast, shift lane t by 4t, mask.
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i mask = _mm256_set1_epi32(0xf), eight = _mm256_set1_epi32(8);
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const __m256 d = _mm256_set1_ps(_cvtsh_ss(gs[(e + g) / codec::kGroup]));
      const unsigned char* p = data + (e + g) / 2;
      for (int j = 0; j < codec::kGroup; j += 8) {
        std::uint32_t w;
        std::memcpy(&w, p + j / 2, 4);
        const __m256i n = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(w)), shifts), mask);
        _mm256_storeu_ps(out + g + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(n, eight)), d));
      }
    }
  }
}

}  // namespace host_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
namespace host_avx512 {

// Sixteen values a step where the format allows (every format's unit is a multiple of 16 but
// fp32's and fp16's / bf16's: those rows fall back to the AVX2 steps at the tail).
template <codec::DType D>
inline void decode_row(const unsigned char* data, std::int64_t e, const std::uint16_t* gs, float hscale,
                       std::int64_t hd, float* out) {
  using codec::DType;
  if constexpr (D == DType::fp32) {
    std::memcpy(out, data + 4 * e, std::size_t(hd) * 4);
  } else if constexpr (D == DType::fp16 || D == DType::bf16) {
    const unsigned char* p = data + 2 * e;
    std::int64_t j = 0;
    for (; j + 16 <= hd; j += 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * j));
      if constexpr (D == DType::fp16) _mm512_storeu_ps(out + j, _mm512_cvtph_ps(h));
      else _mm512_storeu_ps(out + j, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
    }
    if (j < hd) host_avx2::decode_row<D>(data, e + j, gs, hscale, hd - j, out + j);
  } else if constexpr (D == DType::fp8_e4m3) {
    // As host_avx2's: the code shifted into a half is 2^-8 of the value.
    const __m512 f = _mm512_set1_ps(hscale * 256.0f);
    const __m256i em = _mm256_set1_epi16(0x3f80), sign = _mm256_set1_epi16(short(0x8000));
    const __m256i low7 = _mm256_set1_epi16(0x7f), half_nan = _mm256_set1_epi16(0x7e00);
    for (std::int64_t j = 0; j < hd; j += 16) {
      const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + e + j)));
      const __m256i nan = _mm256_and_si256(_mm256_cmpeq_epi16(_mm256_and_si256(b, low7), low7), half_nan);
      const __m256i h = _mm256_or_si256(
          _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(b, 7), em), _mm256_and_si256(_mm256_slli_epi16(b, 8), sign)),
          nan);
      _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_cvtph_ps(h), f));
    }
  } else if constexpr (D == DType::int8) {
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(gs[(e + g) / codec::kGroup]));
      for (int j = 0; j < codec::kGroup; j += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + e + g + j));
        _mm512_storeu_ps(out + g + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), d));
      }
    }
  } else {
    static_assert(D == DType::int4, "a format without a host row decoder");
    const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i mask = _mm512_set1_epi32(0xf), eight = _mm512_set1_epi32(8);
    for (std::int64_t g = 0; g < hd; g += codec::kGroup) {
      const __m512 d = _mm512_set1_ps(_cvtsh_ss(gs[(e + g) / codec::kGroup]));
      const unsigned char* p = data + (e + g) / 2;
      for (int j = 0; j < codec::kGroup; j += 16) {
        std::uint32_t w[2];
        std::memcpy(w, p + j / 2, 8);
        const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(int(w[0]))), _mm256_set1_epi32(int(w[1])), 1);
        const __m512i n = _mm512_and_si512(_mm512_srlv_epi32(x, shifts), mask);
        _mm512_storeu_ps(out + g + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(n, eight)), d));
      }
    }
  }
}

}  // namespace host_avx512
#pragma GCC pop_options
#endif

}  // namespace kvsim::kernels
