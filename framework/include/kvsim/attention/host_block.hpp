#pragma once
// The host decode-attention kernel's block step (host_block.inc), compiled once per instruction
// set (portable, AVX2, AVX-512) and called through run_host_block, which picks the copy: one
// indirect choice per block of up to kHostBlockRows rows, not per value.
#include <cmath>
#include <cstdint>

#include "kvsim/attention/host_isa.hpp"
#include "kvsim/attention/host_row_decode.hpp"
#include "kvsim/attention/host_vectors.hpp"
#include "kvsim/precision/codecs.hpp"

namespace kvsim::kernels {

inline constexpr int kHostBlockRows = 32;
// Floats of one block's decoded K (and as many of V): 2 x 16 KB, which stays in L1 beside q.
inline constexpr std::int64_t kHostBlockFloats = 4096;

// Rows per block for head_dim hd: as many as the decoded block holds, at most kHostBlockRows.
inline std::int64_t host_block_rows(std::int64_t hd) {
  const std::int64_t r = kHostBlockFloats / (hd > 0 ? hd : 1);
  return r < 1 ? 1 : (r > kHostBlockRows ? kHostBlockRows : r);
}

// One block: rows ke[r] / ve[r] (element offsets of K's and V's row r) of one (seq, kv_head) for
// the G query heads of its group. q: G rows of hd floats; qscale = log2(e) / sqrt(hd), so scores
// are in base 2. acc, m, l: head g's accumulators at acc + g * acc_stride, its running max (base
// 2) and sum at m / l + g * ml_stride; updated in place.
struct HostBlock {
  const unsigned char* data;
  const std::uint16_t* gs;
  const std::int64_t* ke;
  const std::int64_t* ve;
  int n, G;
  std::int64_t hd;
  const float* q;
  float qscale, kscale, vscale;
  float* acc;
  std::int64_t acc_stride;
  float* m;
  float* l;
  std::int64_t ml_stride;
};

namespace host_portable {
using V = VecPortable;
#include "kvsim/attention/host_block.inc"
}  // namespace host_portable

#if defined(KVSIM_HOST_X86_SIMD)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace host_avx2 {
using V = VecAvx2;
#include "kvsim/attention/host_block.inc"
}  // namespace host_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
namespace host_avx512 {
using V = VecAvx512;
#include "kvsim/attention/host_block.inc"
}  // namespace host_avx512
#pragma GCC pop_options
#endif

template <codec::DType D>
inline void run_host_block(HostIsa isa, const HostBlock& b) {
#if defined(KVSIM_HOST_X86_SIMD)
  if (isa == HostIsa::avx512) return host_avx512::run_block<D>(b);
  if (isa == HostIsa::avx2) return host_avx2::run_block<D>(b);
#endif
  (void)isa;
  host_portable::run_block<D>(b);
}

}  // namespace kvsim::kernels
