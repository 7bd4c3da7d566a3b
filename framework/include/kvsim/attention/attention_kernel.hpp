#pragma once
// Which decode-attention kernel runs (workload.decode.kernel): the GPU kernels differ in how a
// row is split across threads, the serial one runs everywhere; all compute the same thing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kvsim/core/enum_list.hpp"

namespace kvsim {

// The kernels, declared once: (enumerator, the name configs and results use), in the order of
// AttentionKernel's values; names, parsing and the config's accepted values derive from it.
#define KVSIM_ATTENTION_KERNELS(X) \
  X(automatic, "auto") X(mma, "mma") X(lane_groups, "lane_groups") X(tiled, "tiled") X(serial, "serial")

KVSIM_NAMED_ENUM(AttentionKernel, KVSIM_ATTENTION_KERNELS, all_attention_kernels, attention_kernel_name)

// False if `s` names no kernel.
inline bool parse_attention_kernel(const std::string& s, AttentionKernel& k) {
  for (AttentionKernel x : all_attention_kernels())
    if (s == attention_kernel_name(x)) {
      k = x;
      return true;
    }
  return false;
}

// Whether kernel k runs rows of head_dim values stored in `bits` bits each, with `group` query
// heads per KV head, on a GPU build (gpu) or a host one. The tensor-core kernel (mma) takes
// 16-bit and narrower formats at head_dim 64 or 128 and any group (teams of up to 8 heads;
// it also needs compute capability 8.0, checked where it runs). Lane groups put 16 bytes of a
// row on each lane and a row's lanes in one warp (a power of two up to 32); lane groups and
// tiled are compiled for groups of 1, 2, 4 and 8; the serial kernel keeps head_dim values on
// the stack.
inline bool attention_kernel_covers(AttentionKernel k, int bits, std::int64_t head_dim, std::int64_t group, bool gpu) {
  const bool group_ok = group == 1 || group == 2 || group == 4 || group == 8;
  switch (k) {
    case AttentionKernel::serial: return head_dim <= 256;
    case AttentionKernel::mma: return gpu && group >= 1 && bits <= 16 && (head_dim == 64 || head_dim == 128);
    case AttentionKernel::tiled: return gpu && group_ok && head_dim % 8 == 0 && head_dim / 8 <= 256;
    case AttentionKernel::lane_groups: {
      const std::int64_t w = 128 / bits, lanes = head_dim / w;
      return gpu && group_ok && head_dim % w == 0 && lanes >= 1 && lanes <= 32 && (lanes & (lanes - 1)) == 0;
    }
    case AttentionKernel::automatic:
      for (AttentionKernel x : {AttentionKernel::mma, AttentionKernel::lane_groups, AttentionKernel::tiled, AttentionKernel::serial})
        if (attention_kernel_covers(x, bits, head_dim, group, gpu)) return true;
      return false;
  }
  return false;
}

}  // namespace kvsim
