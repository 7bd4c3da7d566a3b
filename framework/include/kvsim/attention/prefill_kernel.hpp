#pragma once
// Which prefill-attention kernel runs (workload.prefill.kernel): flash (prefill_flash.hpp: fp16
// tensor cores, fp32 accumulation, CUDA devices of compute capability 8.0+) or gemm (the
// reference: fp32 KokkosBlas gemms, every backend). auto takes flash where it covers the shape.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kvsim/core/enum_list.hpp"

namespace kvsim {

#define KVSIM_PREFILL_KERNELS(X) X(automatic, "auto") X(flash, "flash") X(gemm, "gemm")

KVSIM_NAMED_ENUM(PrefillKernel, KVSIM_PREFILL_KERNELS, all_prefill_kernels, prefill_kernel_name)

// Whether the flash kernel is compiled for this shape: head_dim 64 or 128 (its template
// instances; more than 128 would not fit its registers), any whole GQA group. The device's
// compute capability is checked where it runs (PrefillAttention).
inline bool prefill_flash_covers(std::int64_t head_dim, std::int64_t heads, std::int64_t kv_heads, bool gpu) {
  return gpu && (head_dim == 64 || head_dim == 128) && kv_heads > 0 && heads % kv_heads == 0;
}

}  // namespace kvsim
