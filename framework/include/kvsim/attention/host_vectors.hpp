#pragma once
// The float vectors the host decode-attention block code (host_block.inc) is written against,
// one per instruction set: the same block code compiled for each gives the portable, AVX2 and
// AVX-512 kernels. A vector type V has W lanes and zero, set1, load, store, add, mul, fma(a, b,
// c) = a * b + c, hsum. The portable one is four floats in plain loops, which GCC turns into
// SSE2 (the x86-64 baseline) and other compilers into whatever they have.
#include "kvsim/attention/host_isa.hpp"

#if defined(KVSIM_HOST_X86_SIMD)
#include <immintrin.h>
#endif

namespace kvsim::kernels {

struct VecPortable {
  static constexpr int W = 4;
  struct T {
    float v[4];
  };
  static inline T zero() { return T{{0.0f, 0.0f, 0.0f, 0.0f}}; }
  static inline T set1(float x) { return T{{x, x, x, x}}; }
  static inline T load(const float* p) { return T{{p[0], p[1], p[2], p[3]}}; }
  static inline void store(float* p, const T& a) {
    for (int j = 0; j < 4; ++j) p[j] = a.v[j];
  }
  static inline T add(const T& a, const T& b) {
    T r;
    for (int j = 0; j < 4; ++j) r.v[j] = a.v[j] + b.v[j];
    return r;
  }
  static inline T mul(const T& a, const T& b) {
    T r;
    for (int j = 0; j < 4; ++j) r.v[j] = a.v[j] * b.v[j];
    return r;
  }
  static inline T fma(const T& a, const T& b, const T& c) {
    T r;
    for (int j = 0; j < 4; ++j) r.v[j] = a.v[j] * b.v[j] + c.v[j];
    return r;
  }
  static inline float hsum(const T& a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }
};

#if defined(KVSIM_HOST_X86_SIMD)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
struct VecAvx2 {
  static constexpr int W = 8;
  using T = __m256;
  static inline T zero() { return _mm256_setzero_ps(); }
  static inline T set1(float x) { return _mm256_set1_ps(x); }
  static inline T load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, T a) { _mm256_storeu_ps(p, a); }
  static inline T add(T a, T b) { return _mm256_add_ps(a, b); }
  static inline T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static inline T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static inline float hsum(T a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
};
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
struct VecAvx512 {
  static constexpr int W = 16;
  using T = __m512;
  static inline T zero() { return _mm512_setzero_ps(); }
  static inline T set1(float x) { return _mm512_set1_ps(x); }
  static inline T load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, T a) { _mm512_storeu_ps(p, a); }
  static inline T add(T a, T b) { return _mm512_add_ps(a, b); }
  static inline T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static inline T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static inline float hsum(T a) { return _mm512_reduce_add_ps(a); }
};
#pragma GCC pop_options
#endif

}  // namespace kvsim::kernels
