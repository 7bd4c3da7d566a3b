#pragma once
// Chunked prefill attention on tensor cores, FlashAttention-2 style, as a Kokkos TeamPolicy
// functor (no raw CUDA kernel: the PTX sits in device functions, the launch is Kokkos'): per
// team (one thread block of W = 4 warps) one sequence, `hb` query heads of one KV head and
// 16 W / hb query rows of each; each warp owns 16 query rows of one head. The team walks the
// key tiles of 64 positions: S = Q K^T (mma.m16n8k16, f16 in, f32 out) stays in registers, the
// online softmax runs on it in fp32 (exp2 with the scale folded in), P is packed to f16 in
// place as the A operand of O += P V (mma_fragments.hpp says why that works), O accumulates in
// fp32. The hb heads of a GQA group share every K/V tile the team loads: with group size g, a
// tile feeds min(g, W) heads (the largest power of two dividing g, up to W).
//
// Inputs: the dense retrieve ([K|V][seq][dense row][kv_head][dim], fp16 or fp32), so every
// cache precision and layout arrives dequantised by the cache's own gather. fp16 tiles go to
// shared memory by cp.async, overlapped with the other product (V_j's load with Q K_j^T, K_j+1's
// with P V_j); fp32 tiles are rounded to fp16 on the way, synchronously.
//
// Causal bottom-right: query row i of the chunk sees keys 0 .. context - chunk + i. Key tiles
// past the team's last row are never loaded; only the tiles crossing the diagonal are masked.
// Every row sees key 0, so after the first tile each row's running maximum is finite and masked
// scores (-inf) contribute exp2(-inf) = 0, never NaN.
//
// Shared memory (team scratch level 0): a K and a V tile of 64 rows of (D + 8) halves; the 8
// halves of padding shift consecutive rows by 16 bytes so the 8 row addresses of one ldmatrix
// fall in 8 distinct bank groups. D = 128: 34,816 bytes, within Kokkos 3.4's 48 KB.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kvsim/attention/mma_fragments.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

namespace kvsim::kernels {

template <class ExecSpace, class Out, int D, int Warps = 4>
struct FlashPrefill {
  using MemSpace = typename ExecSpace::memory_space;
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  static constexpr int kWarps = Warps, kThreads = 32 * kWarps, kRows = 16 * kWarps, kKeys = 64;
  static constexpr int kPitch = D + 8;  // halves per shared row
  static constexpr int kTileHalves = kKeys * kPitch;
  static constexpr int kScratchBytes = 2 * kTileHalves * 2;
  static_assert(D % 16 == 0 && D <= 128, "head_dim: a multiple of 16, at most 128 (registers)");

  View1D<const Out, MemSpace> dense;
  Kokkos::View<const float****, Layout, MemSpace> q;  // [seq][head][chunk][dim]
  Kokkos::View<float****, Layout, MemSpace> o;
  std::int64_t dense_rows;
  int batch, heads, kv_heads, chunk, context;
  int hb;       // query heads per team, divides heads / kv_heads
  int q_tiles;  // ceil(chunk / (kRows / hb))
  float scale_log2;  // log2(e) / sqrt(D)

  // Query rows of one team per head.
  KOKKOS_INLINE_FUNCTION int rows_per_head() const { return kRows / hb; }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
#if defined(KVSIM_MMA_DEVICE)
    const int bytes = kScratchBytes;  // by value: get_shmem_aligned binds a reference
    run(team.league_rank(), team.team_rank(), team.team_shmem().get_shmem_aligned(bytes, 16));
#else
    (void)team;
    Kokkos::abort("kvsim::prefill::flash needs a CUDA device of compute capability 8.0 or newer");
#endif
  }

#if defined(KVSIM_MMA_DEVICE)
  // Tile kt of K (kv = 0) or V (kv = 1) into `tile`: rows past the context become zeros.
  __device__ void load_tile(std::uint16_t* tile, int kv, int seq, int kvh, int kt, int tid) const {
    constexpr int chunks_per_row = D / 8;
    const std::int64_t base = ((std::int64_t(kv) * batch + seq) * dense_rows) * kv_heads * D + std::int64_t(kvh) * D;
    const std::int64_t row_stride = std::int64_t(kv_heads) * D;
#pragma unroll
    for (int c = tid; c < kKeys * chunks_per_row; c += kThreads) {
      const int r = c / chunks_per_row, col = 8 * (c % chunks_per_row);
      const int key = kt * kKeys + r;
      const bool valid = key < context;
      const std::int64_t src = base + std::int64_t(valid ? key : 0) * row_stride + col;
      std::uint16_t* dst = tile + r * kPitch + col;
      if constexpr (sizeof(Out) == 2) {
        mma::cp_async16(mma::smem_addr(dst), dense.data() + src, valid ? 16 : 0);
      } else {
        float4 lo = make_float4(0, 0, 0, 0), hi = lo;
        if (valid) {
          lo = *reinterpret_cast<const float4*>(dense.data() + src);
          hi = *reinterpret_cast<const float4*>(dense.data() + src + 4);
        }
        uint4 h;
        h.x = mma::pack_half2(lo.x, lo.y);
        h.y = mma::pack_half2(lo.z, lo.w);
        h.z = mma::pack_half2(hi.x, hi.y);
        h.w = mma::pack_half2(hi.z, hi.w);
        *reinterpret_cast<uint4*>(dst) = h;
      }
    }
  }

  __device__ void run(int league, int tid, void* scratch) const {
    std::uint16_t* const ks = static_cast<std::uint16_t*>(scratch);
    std::uint16_t* const vs = ks + kTileHalves;
    const int head_blocks = heads / hb, rph = rows_per_head();
    // The longest query tiles (most key tiles) get the lowest league ranks: they start first.
    const int qt = q_tiles - 1 - league / (batch * head_blocks);
    const int rest = league % (batch * head_blocks);
    const int seq = rest / head_blocks, head0 = (rest % head_blocks) * hb;
    const int kvh = head0 / (heads / kv_heads);
    const int warp = tid / 32, lane = tid % 32, group = lane / 4, quad = lane % 4;
    const int head = head0 + warp % hb;
    const int row0 = qt * rph + (warp / hb) * 16;  // this warp's first query row
    const int offset = context - chunk;            // row i sees keys 0 .. offset + i
    const int team_last = min(qt * rph + rph - 1, chunk - 1);
    const int n_tiles = (offset + team_last) / kKeys + 1;
    const int team_first_limit = offset + qt * rph;
    const int warp_last_key = min(offset + row0 + 15, context - 1);
    const bool warp_live = row0 < chunk;
    const int lim_lo = min(offset + row0 + group, context - 1), lim_hi = min(offset + row0 + group + 8, context - 1);

    // Q rows as A fragments, rounded to f16 once.
    std::uint32_t qa[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const mma::RowCol rc = mma::a_elem(lane, 2 * r);
        const int row = row0 + rc.row;
        float2 x = make_float2(0, 0);
        if (row < chunk) x = *reinterpret_cast<const float2*>(&q(seq, head, row, 16 * kk + rc.col));
        qa[kk][r] = mma::pack_half2(x.x, x.y);
      }
    float acc[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
    float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;

    load_tile(ks, 0, seq, kvh, 0, tid);
    mma::cp_async_commit();
    // Two barriers a tile: K_kt has landed and V is free (every warp is done with P V_kt-1),
    // then V_kt has landed and K is free; each load overlaps the other product.
    for (int kt = 0; kt < n_tiles; ++kt) {
      mma::cp_async_wait<0>();  // K of this tile has landed (this thread's part) ...
      __syncthreads();          // ... and every thread's; nobody reads V any more
      load_tile(vs, 1, seq, kvh, kt, tid);
      mma::cp_async_commit();
      const bool live = warp_live && kt * kKeys <= warp_last_key;
      std::uint32_t pa[kKeys / 16][4];
      if (live) {
        float s[kKeys / 8][4];
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
          for (int p = 0; p < kKeys / 16; ++p) {
            const mma::RowCol a = mma::k_ldmatrix_addr(lane, p, kk);
            std::uint32_t b[4];
            mma::ldmatrix_x4(b, mma::smem_addr(ks + a.row * kPitch + a.col));
            mma::mma_f16(s[2 * p], qa[kk], b[0], b[1]);
            mma::mma_f16(s[2 * p + 1], qa[kk], b[2], b[3]);
          }
        const bool masked = kt * kKeys + kKeys - 1 > team_first_limit;
        float mx_lo = m_lo, mx_hi = m_hi;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = kt * kKeys + 8 * n + mma::c_elem(lane, e).col;
            float x = s[n][e] * scale_log2;
            if (masked && key > (e < 2 ? lim_lo : lim_hi)) x = -INFINITY;
            s[n][e] = x;
            if (e < 2) mx_lo = fmaxf(mx_lo, x);
            else mx_hi = fmaxf(mx_hi, x);
          }
        // The 4 lanes of a quad hold one row's 64 scores.
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 1));
        mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, 2));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 1));
        mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, 2));
        const float c_lo = mma::exp2_approx(m_lo - mx_lo), c_hi = mma::exp2_approx(m_hi - mx_hi);
        m_lo = mx_lo;
        m_hi = mx_hi;
        float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) {
          s[n][0] = mma::exp2_approx(s[n][0] - mx_lo);
          s[n][1] = mma::exp2_approx(s[n][1] - mx_lo);
          s[n][2] = mma::exp2_approx(s[n][2] - mx_hi);
          s[n][3] = mma::exp2_approx(s[n][3] - mx_hi);
          sum_lo += s[n][0] + s[n][1];
          sum_hi += s[n][2] + s[n][3];
        }
        // Each lane keeps its own part of the row sum; the quad adds them up at the end.
        l_lo = l_lo * c_lo + sum_lo;
        l_hi = l_hi * c_hi + sum_hi;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          acc[n][0] *= c_lo;
          acc[n][1] *= c_lo;
          acc[n][2] *= c_hi;
          acc[n][3] *= c_hi;
        }
#pragma unroll
        for (int kk = 0; kk < kKeys / 16; ++kk)
#pragma unroll
          for (int r = 0; r < 4; ++r) pa[kk][r] = mma::pack_half2(s[2 * kk + r / 2][2 * (r % 2)], s[2 * kk + r / 2][2 * (r % 2) + 1]);
      }
      mma::cp_async_wait<0>();  // V of this tile has landed ...
      __syncthreads();          // ... for every thread, and every warp is done with K
      if (kt + 1 < n_tiles) load_tile(ks, 0, seq, kvh, kt + 1, tid);
      mma::cp_async_commit();
      if (live) {
#pragma unroll
        for (int kk = 0; kk < kKeys / 16; ++kk)
#pragma unroll
          for (int nd = 0; nd < D / 8; nd += 2) {
            const mma::RowCol a = mma::v_ldmatrix_addr(lane, kk, nd);
            std::uint32_t b[4];
            mma::ldmatrix_x4_trans(b, mma::smem_addr(vs + a.row * kPitch + a.col));
            mma::mma_f16(acc[nd], pa[kk], b[0], b[1]);
            mma::mma_f16(acc[nd + 1], pa[kk], b[2], b[3]);
          }
      }
    }
    if (!warp_live) return;
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 1);
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, 2);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 1);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, 2);
    const float inv_lo = 1.0f / l_lo, inv_hi = 1.0f / l_hi;
    const int r_lo = row0 + group, r_hi = r_lo + 8;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      const int col = 8 * n + 2 * quad;
      if (r_lo < chunk) *reinterpret_cast<float2*>(&o(seq, head, r_lo, col)) = make_float2(acc[n][0] * inv_lo, acc[n][1] * inv_lo);
      if (r_hi < chunk) *reinterpret_cast<float2*>(&o(seq, head, r_hi, col)) = make_float2(acc[n][2] * inv_hi, acc[n][3] * inv_hi);
    }
  }
#endif
};

}  // namespace kvsim::kernels

namespace kvsim {

// Launches the flash kernel on `exec` (Kokkos::Cuda only; head_dim 64 or 128, heads a multiple
// of kv_heads: PrefillAttention::resolve checks) for one layer: q, o [seq][head][chunk][dim],
// dense [K|V][seq][dense row][kv_head][dim] with the context in its first rows.
// Warps: per team; 4 (64 query rows) measured faster on an H200 than 8 (128 rows, one team per
// SM: every barrier stalls the whole SM), 218 against 192 TFLOP/s at 512 over 4,104.
template <class ExecSpace, class Out, int Warps = 4>
void launch_flash_prefill(const ExecSpace& exec, const View1D<Out, MemSpaceOf<ExecSpace>>& dense, std::int64_t dense_rows,
                          const View4D<float, MemSpaceOf<ExecSpace>>& q, const View4D<float, MemSpaceOf<ExecSpace>>& o,
                          std::int64_t kv_heads, std::int64_t context) {
  const int batch = int(q.extent(0)), heads = int(q.extent(1)), chunk = int(q.extent(2)), head_dim = int(q.extent(3));
  const int g = heads / int(kv_heads);
  // Query heads per team: the most of 4, 2, 1 that divides the group (they share K/V tiles).
  int hb = 1;
  while (hb * 2 <= Warps && g % (hb * 2) == 0) hb *= 2;
  const auto go = [&](auto tag) {
    using F = kernels::FlashPrefill<ExecSpace, Out, decltype(tag)::value, Warps>;
    const int rows = F::kRows / hb, q_tiles = (chunk + rows - 1) / rows;
    const F f{dense, q, o, dense_rows, batch, heads, int(kv_heads), chunk, int(context), hb, q_tiles,
              float(1.4426950408889634 / std::sqrt(double(decltype(tag)::value)))};
    // Two teams of 4 warps per SM: while one waits on its tiles, the other computes (212
    // registers a thread at D = 128, no spills; asking for 3 teams capped them at 168 and ran
    // 20% slower on an H200).
    Kokkos::TeamPolicy<ExecSpace, Kokkos::LaunchBounds<F::kThreads, 8 / Warps>> policy(exec, q_tiles * batch * (heads / hb), F::kThreads, 1);
    policy.set_scratch_size(0, Kokkos::PerTeam(F::kScratchBytes + 16));
    Kokkos::parallel_for("kvsim::prefill::flash", light_weight(policy), f);
  };
  if (head_dim == 64) go(std::integral_constant<int, 64>());
  else go(std::integral_constant<int, 128>());
}

}  // namespace kvsim
