#pragma once
// Stored K/V values as tensor-core operands for the decode kernel (decode_attention_mma.hpp):
// each format's raw bytes become packed 16-bit pairs in registers, exactly. fp16 and bf16 pass
// through; fp8 e4m3 converts two values an instruction (cvt.rn.f16x2.e4m3x2, sm_89+); int8 and
// int4 become f16 integers through the f16 mantissa (byte permute or mask into 0x6400 | v, then
// one packed subtract), never through the integer-to-float unit. Group scales stay out: they
// are applied to the f32 scores (K) and to the softmax weights (V) per 32-value group, so the
// operands are the stored integers and the products are exact.
//
// A lane loads a chunk of N consecutive values of one row (8 for K, 4 for V) and gets N / 2
// words. Pair w of a chunk holds chunk values (pair_first(w), pair_first(w) + pair_step):
// consecutive values for every format but int4, whose nibble masks give (w, w + 4) for K's
// 8-value chunks. The kernel builds q's fragment in the same order, so the dot product is the
// same sum.
#include <cstdint>

#include "kvsim/attention/mma_fragments.hpp"
#include "kvsim/precision/registry.hpp"

namespace kvsim::mma {

template <codec::DType D>
struct Operand {
  static constexpr int bits = codec::Codec<D>::bits;
  static constexpr bool bf16 = D == codec::DType::bf16;
  static constexpr bool group_scale = codec::Codec<D>::group_scale;
  static constexpr bool head_scale = codec::Codec<D>::head_scale;
  static constexpr bool covered = bits <= 16;
  // Chunk value held in half `h` of pair `w` of a K chunk (8 values).
  KOKKOS_INLINE_FUNCTION static constexpr int k_value(int w, int h) {
    return D == codec::DType::int4 ? w + 4 * h : 2 * w + h;
  }
};

// Raw words of a chunk: N values of `bits` bits, loaded in one access (16, 8, 4 or 2 bytes).
template <int Bytes>
struct RawChunk {
  static constexpr int words = Bytes >= 4 ? Bytes / 4 : 1;
  std::uint32_t w[words];
};

#if defined(KVSIM_MMA_DEVICE)

template <int Bytes>
__device__ __forceinline__ RawChunk<Bytes> load_chunk(const unsigned char* p, bool valid) {
  RawChunk<Bytes> r;
  if constexpr (Bytes == 16) {
    uint4 v = valid ? *reinterpret_cast<const uint4*>(p) : uint4{0u, 0u, 0u, 0u};
    r.w[0] = v.x, r.w[1] = v.y, r.w[2] = v.z, r.w[3] = v.w;
  } else if constexpr (Bytes == 8) {
    uint2 v = valid ? *reinterpret_cast<const uint2*>(p) : uint2{0u, 0u};
    r.w[0] = v.x, r.w[1] = v.y;
  } else if constexpr (Bytes == 4) {
    r.w[0] = valid ? *reinterpret_cast<const std::uint32_t*>(p) : 0u;
  } else {
    static_assert(Bytes == 2, "chunks of 2, 4, 8 or 16 bytes");
    r.w[0] = valid ? std::uint32_t(*reinterpret_cast<const std::uint16_t*>(p)) : 0u;
  }
  return r;
}

__device__ __forceinline__ std::uint32_t byte_perm(std::uint32_t a, std::uint32_t b, std::uint32_t sel) {
  std::uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;\n" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
  return r;
}
__device__ __forceinline__ std::uint32_t sub_half2(std::uint32_t a, std::uint32_t b) {
  std::uint32_t r;
  asm("sub.rn.f16x2 %0, %1, %2;\n" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
__device__ __forceinline__ std::uint32_t mul_half2(std::uint32_t a, std::uint32_t b) {
  std::uint32_t r;
  asm("mul.rn.f16x2 %0, %1, %2;\n" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

// Two e4m3 values (the low 16 bits of x) as f16x2, NaN codes to NaN.
__device__ __forceinline__ std::uint32_t e4m3x2_to_half2(std::uint32_t x) {
#if __CUDA_ARCH__ >= 890
  std::uint32_t r;
  asm("{.reg .b16 t;\n cvt.u16.u32 t, %1;\n cvt.rn.f16x2.e4m3x2 %0, t;\n}\n" : "=r"(r) : "r"(x));
  return r;
#else
  // Sign and 7 magnitude bits placed as an f16 with 3 more exponent bits is the value / 2^8
  // (subnormals included): one packed multiply by 256 rescales both; 0x7f is NaN in e4m3.
  const std::uint32_t b = (x & 0xffu) | ((x & 0xff00u) << 8);
  std::uint32_t h = ((b & 0x007f007fu) << 7) | ((b & 0x00800080u) << 8);
  h = mul_half2(h, 0x5c005c00u);
  if ((b & 0x7fu) == 0x7fu) h = (h & 0xffff0000u) | 0x7e00u;
  if ((b & 0x007f0000u) == 0x007f0000u) h = (h & 0x0000ffffu) | 0x7e000000u;
  return h;
#endif
}

// The N / 2 pairs of a chunk of N values (Bytes = N * bits / 8), for K (8 values) or V (4).
template <codec::DType D, int N>
__device__ __forceinline__ void to_pairs(const RawChunk<N * codec::Codec<D>::bits / 8>& raw, std::uint32_t (&out)[N / 2]) {
  using codec::DType;
  if constexpr (D == DType::fp16 || D == DType::bf16) {
    for (int w = 0; w < N / 2; ++w) out[w] = raw.w[w];
  } else if constexpr (D == DType::fp8_e4m3) {
    for (int w = 0; w < N / 4; ++w) {
      out[2 * w] = e4m3x2_to_half2(raw.w[w]);
      out[2 * w + 1] = e4m3x2_to_half2(raw.w[w] >> 16);
    }
  } else if constexpr (D == DType::int8) {
    // 0x6400 | (b ^ 0x80) is the f16 1024 + 128 + b; minus 1152 (0x6480) is b.
    for (int w = 0; w < N / 4; ++w) {
      const std::uint32_t y = raw.w[w] ^ 0x80808080u;
      out[2 * w] = sub_half2(byte_perm(y, 0x64646464u, 0x4140u), 0x64806480u);
      out[2 * w + 1] = sub_half2(byte_perm(y, 0x64646464u, 0x4342u), 0x64806480u);
    }
  } else {
    static_assert(D == DType::int4, "a format without a tensor-core operand");
    // 0x6400 | n is the f16 1024 + n; minus 1032 (0x6408) is n - 8, the stored value.
    const std::uint32_t x = raw.w[0];
    if constexpr (N == 8) {
      for (int w = 0; w < 4; ++w) out[w] = sub_half2(((x >> (4 * w)) & 0x000f000fu) | 0x64006400u, 0x64086408u);
    } else {
      static_assert(N == 4, "int4 chunks of 8 (K) or 4 (V) values");
      out[0] = sub_half2((x & 0xfu) | ((x & 0xf0u) << 12) | 0x64006400u, 0x64086408u);
      out[1] = sub_half2(((x >> 8) & 0xfu) | ((x & 0xf000u) << 4) | 0x64006400u, 0x64086408u);
    }
  }
}

#endif

}  // namespace kvsim::mma
