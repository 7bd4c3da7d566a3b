#pragma once
// The vector instruction sets the host decode-attention kernel has code for, and which one runs.
// The build targets the x86-64 baseline (SSE2), so a binary runs on every x86-64 host; the AVX2
// and AVX-512 code is compiled beside the portable code (function-level target options) and
// picked at run time from what the CPU reports. KVSIM_HOST_ISA=portable|avx2|avx512 or
// force_host_isa() (the tests) choose a lower one, never one the CPU lacks.
#include <atomic>
#include <cstdlib>
#include <cstring>

// GCC on x86-64 only: nvcc's front end and other compilers get the portable code alone (a CUDA
// build's host backends are not where it decodes).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && \
    !defined(__INTEL_COMPILER)
#define KVSIM_HOST_X86_SIMD 1
#endif

namespace kvsim::kernels {

enum class HostIsa : int { portable = 0, avx2 = 1, avx512 = 2 };

inline const char* host_isa_name(HostIsa i) {
  return i == HostIsa::avx512 ? "avx512" : (i == HostIsa::avx2 ? "avx2" : "portable");
}

// The best this build and this CPU share.
inline HostIsa host_isa_supported() {
#if defined(KVSIM_HOST_X86_SIMD)
  static const HostIsa best = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl");
    return avx512 ? HostIsa::avx512 : (avx2 ? HostIsa::avx2 : HostIsa::portable);
  }();
  return best;
#else
  return HostIsa::portable;
#endif
}

// -1: no override; else a HostIsa value.
inline std::atomic<int>& host_isa_override() {
  static std::atomic<int> v{-1};
  return v;
}
inline void force_host_isa(HostIsa i) { host_isa_override().store(int(i)); }
inline void clear_host_isa() { host_isa_override().store(-1); }

// What the next launch uses: the override, else KVSIM_HOST_ISA, else the best supported; capped
// at what is supported.
inline HostIsa host_isa() {
  static const int env = [] {
    const char* s = std::getenv("KVSIM_HOST_ISA");
    if (!s) return -1;
    if (!std::strcmp(s, "portable")) return int(HostIsa::portable);
    if (!std::strcmp(s, "avx2")) return int(HostIsa::avx2);
    return std::strcmp(s, "avx512") ? -1 : int(HostIsa::avx512);
  }();
  const int forced = host_isa_override().load();
  const int want = forced >= 0 ? forced : env;
  const HostIsa best = host_isa_supported();
  return want >= 0 && want < int(best) ? HostIsa(want) : best;
}

}  // namespace kvsim::kernels
