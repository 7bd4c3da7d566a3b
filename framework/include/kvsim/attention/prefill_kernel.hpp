#pragma once
// Which prefill-attention kernel runs (workload.prefill.kernel): flash (prefill_flash.hpp: fp16
// tensor cores, fp32 accumulation, CUDA devices of compute capability 8.0+) or gemm (the
// reference: fp32 KokkosBlas gemms, every backend). auto takes flash where it covers the shape.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kvsim {

#define KVSIM_PREFILL_KERNELS(X) X(automatic, "auto") X(flash, "flash") X(gemm, "gemm")

#define KVSIM_X_ENUM(e, n) e,
enum class PrefillKernel : int { KVSIM_PREFILL_KERNELS(KVSIM_X_ENUM) };
#undef KVSIM_X_ENUM

#define KVSIM_X_ONE(e, n) +1
inline constexpr std::size_t kPrefillKernelCount = 0 KVSIM_PREFILL_KERNELS(KVSIM_X_ONE);
#undef KVSIM_X_ONE

inline const std::array<PrefillKernel, kPrefillKernelCount>& all_prefill_kernels() {
#define KVSIM_X_VALUE(e, n) PrefillKernel::e,
  static constexpr std::array<PrefillKernel, kPrefillKernelCount> v{KVSIM_PREFILL_KERNELS(KVSIM_X_VALUE)};
#undef KVSIM_X_VALUE
  return v;
}

inline const char* prefill_kernel_name(PrefillKernel k) {
  switch (k) {
#define KVSIM_X_CASE(e, n) \
  case PrefillKernel::e: return n;
    KVSIM_PREFILL_KERNELS(KVSIM_X_CASE)
#undef KVSIM_X_CASE
  }
  return "?";
}

// Whether the flash kernel is compiled for this shape: head_dim 64 or 128 (its template
// instances; more than 128 would not fit its registers), any whole GQA group. The device's
// compute capability is checked where it runs (PrefillAttention).
inline bool prefill_flash_covers(std::int64_t head_dim, std::int64_t heads, std::int64_t kv_heads, bool gpu) {
  return gpu && (head_dim == 64 || head_dim == 128) && kv_heads > 0 && heads % kv_heads == 0;
}

}  // namespace kvsim
