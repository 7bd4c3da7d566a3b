#pragma once
// Decode attention on tensor cores: the query heads of a GQA group are the M rows of
// mma.m16n8k16, so one read of a K/V row serves the whole group with a handful of instructions,
// and a warp's registers hold no per-head copies of the row. Per team (4 warps) one sequence,
// up to 8 query heads of one KV head (`rows`; larger groups take several teams) and one split
// of positions; each warp walks 16-key steps of the split on its own, with its own online
// softmax, and the warps meet only at the end.
//
// Per 16-key step a warp computes S = Q K^T (2 n8 tiles, HD / 16 k steps), the online softmax
// on S in registers, and O += P V (HD / 8 n8 tiles, one k step). Operands come straight from
// global memory into registers, without shared memory: the mma fragment layouts fix only which
// lane holds which (row, k, n) index, and the dot product does not care in which order a row's
// dims are summed, so each lane is given whole chunks of a row it can load in one access:
//   K (B of S, k = dims, n = keys): lane (group j, quad q) loads key 8t + j of n tile t, dims
//     32g + 8q .. +7 of each 32-value group g; q's A fragment is built in the same dim order.
//   V (B of O, k = keys, n = dims): lane (j, q) loads keys 2q, 2q+1, 8+2q, 9+2q (its k rows),
//     dims 32g + 4j .. +3 of each group g, which are column j of n tiles 4g .. 4g+3; the two
//     keys of a B register are paired with one byte permute.
// Each n tile of O lies in one 32-value group, so int8/int4 group scales multiply the softmax
// weights of that group's tiles (and K's scales multiply each group's partial scores): the
// operands stay exact integers. q and the weights enter as hi + lo pairs (two mma each), so the
// products carry 22 significant bits (16 for bf16 caches), not one f16 rounding.
//
// Partials and the last-team merge are SplitMerge's; the team's 4 warps are combined first.
#include <cmath>
#include <cstdint>

#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/mma_fragments.hpp"
#include "kvsim/attention/mma_operands.hpp"
#include "kvsim/attention/split_merge.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/layout/cache_addressing.hpp"

namespace kvsim::kernels {

// Query heads one team of the tensor-core kernel serves for a group of g: the largest divisor
// of g up to 8 (the M rows the kernel fills).
inline int mma_decode_rows(std::int64_t g) {
  int r = 8;
  while (g % r != 0) --r;
  return r;
}

struct MmaDecodeShape {
  static constexpr int warps = 4, team = 32 * warps, keys = 16;
  static constexpr int tile = warps * keys;  // positions of one step of the whole team
  static constexpr int min_teams = 3;        // register budget: 170 a thread
};

#if defined(KVSIM_MMA_DEVICE)
// 2^-floor(log2 x) for a positive normal x (so x times it lies in [1, 2)); 1 for zero.
__device__ __forceinline__ float pow2_inverse(float x) {
  const unsigned e = (__float_as_uint(x) >> 23) & 0xffu;
  return e == 0u || e >= 254u ? 1.0f : __uint_as_float((254u - e) << 23);
}
#endif

template <class ExecSpace, codec::DType D, int HD, RowWalk Walk>
struct DecodeAttentionMma {
  using Op = mma::Operand<D>;
  using Shape = MmaDecodeShape;
  static constexpr bool Direct = Walk == RowWalk::direct;
  static constexpr bool PagedWalk = Walk == RowWalk::paged;
  static constexpr int kGroups = HD / 32;   // 32-value groups of a row (int8/int4 scales)
  static constexpr int kSteps = HD / 16;    // k steps of Q K^T
  static constexpr int kNTiles = HD / 8;    // n tiles of P V
  static constexpr int kKBytes = 8 * Op::bits / 8, kVBytes = 4 * Op::bits / 8;
  static_assert(HD == 64 || HD == 128, "head_dim 64 or 128");
  static_assert(Op::covered, "16-bit or narrower formats");
  using MemSpace = MemSpaceOf<ExecSpace>;
  using Policy = BoundedTeamPolicy<ExecSpace, Shape::team, Shape::min_teams>;
  using member_type = typename Policy::member_type;
  using ScratchView = TeamScratchView<ExecSpace>;

  AttentionInputs<MemSpace> in;
  SplitMerge<MemSpace> merge;
  int rows;   // query heads per team
  int inner;  // teams per head block: batch * kv_heads * splits

  KOKKOS_INLINE_FUNCTION static std::size_t scratch_floats(std::int64_t parts, int rows) {
    return SplitMerge<MemSpace>::floats(Shape::warps * rows, HD, parts, rows);
  }
  static std::size_t scratch_bytes(std::int64_t parts, int rows) { return ScratchView::shmem_size(scratch_floats(parts, rows)); }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
#if defined(KVSIM_MMA_DEVICE)
    run(team);
#else
    (void)team;
    Kokkos::abort("kvsim::decode_attention mma needs a CUDA device of compute capability 8.0 or newer");
#endif
  }

#if defined(KVSIM_MMA_DEVICE)
  __device__ void run(const member_type& team) const {
    constexpr bool bf16 = Op::bf16;
    const int tid = team.team_rank(), warp = tid / 32, lane = tid % 32, grp = lane / 4, quad = lane % 4;
    const int block = team.league_rank() / inner;
    const TeamRows<MemSpace, Direct, PagedWalk> tr(in, team.league_rank() % inner, 0);
    const std::int64_t kvh = in.cache.addr.kv_heads, heads = in.heads;
    const std::int64_t seq = tr.seq, kv_head = tr.kv_head;
    const std::int64_t head0 = kv_head * (heads / kvh) + std::int64_t(block) * rows;
    const std::int64_t begin = tr.begin, end = tr.end;
    const int n = int(end - begin);

    const float kscale = head_scale<D>(in, 0, kv_head), vscale = head_scale<D>(in, 1, kv_head);
    // q's A fragment, row grp = head head0 + grp: k step kk pairs 2 (kk % 2) and +1 of K chunk
    // 32 (kk / 2) + 8 quad, as K's B registers hold them. The row enters scaled by a power of
    // two that brings its largest |value| into [1, 2), so its lo halves stay clear of f16
    // subnormals whatever the query's magnitude; the scores get 1/sqrt(d) * log2(e) (base 2:
    // exp2 is one instruction), fp8's per-head K scale and the inverse power of two in fp32.
    std::uint32_t qhi[kSteps][2], qlo[kSteps][2];
    float qs;
    {
      const bool live = grp < rows;
      const std::int64_t qb = (seq * heads + head0 + grp) * HD;
      float qv[kSteps][4];
      float amax = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kSteps; ++kk)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int base = 32 * (kk / 2) + 8 * quad;
          qv[kk][e] = live ? in.q(qb + base + Op::k_value(2 * (kk % 2) + e / 2, e % 2)) : 0.0f;
          amax = fmaxf(amax, fabsf(qv[kk][e]));
        }
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
      const float f = pow2_inverse(amax);
      qs = in.scale * kLog2e * kscale / f;
#pragma unroll
      for (int kk = 0; kk < kSteps; ++kk)
#pragma unroll
        for (int r = 0; r < 2; ++r) mma::split_pair<bf16>(qv[kk][2 * r] * f, qv[kk][2 * r + 1] * f, qhi[kk][r], qlo[kk][r]);
    }
    const unsigned char* data = in.cache.data.data();
    const std::uint16_t* gs = in.cache.group_scales.data();
    float o[kNTiles][2];
    for (int t = 0; t < kNTiles; ++t) o[t][0] = o[t][1] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const int steps = (n + Shape::keys - 1) / Shape::keys;
    // int8/int4: the softmax weights enter P V times V's group scales, times a power of two
    // (per warp, from its first row's first scale) that keeps them clear of f16 subnormals
    // whatever the data's magnitude; the accumulators are divided by it at the end.
    float vf = 1.0f;
    if constexpr (Op::group_scale) {
      if (warp < steps) {
        const std::int64_t ev = tr.element(in, begin + std::int64_t(warp) * Shape::keys, 1, 0);
        vf = pow2_inverse(codec::half_to_float(gs[ev / codec::kGroup]));
      }
    }
    for (int s = warp; s < steps; s += Shape::warps) {
      const std::int64_t key0 = begin + std::int64_t(s) * Shape::keys;
      // Loads first, all independent: K of keys key0 + 8t + grp, V (and scales) of this lane's
      // four k rows key0 + 2 quad + {0, 1, 8, 9}.
      mma::RawChunk<kKBytes> kr[2][kGroups];
      #pragma unroll
      for (int t = 0; t < 2; ++t) {
        const std::int64_t key = key0 + 8 * t + grp;
        const bool ok = key < end;
        const std::int64_t e = (ok ? tr.element(in, key, 0, 0) : 0) + 8 * quad;
        #pragma unroll
        for (int g = 0; g < kGroups; ++g) kr[t][g] = mma::load_chunk<kKBytes>(data + (e + 32 * g) * Op::bits / 8, ok);
      }
      std::int64_t vkey[4];
      bool vok[4];
      mma::RawChunk<kVBytes> vr[4][kGroups];
      float ks[4][kGroups], vs[4][kGroups];
      #pragma unroll
      for (int c = 0; c < 4; ++c) {
        vkey[c] = key0 + 2 * quad + (c & 1) + 8 * (c >> 1);
        vok[c] = vkey[c] < end;
        const std::int64_t ev = vok[c] ? tr.element(in, vkey[c], 1, 0) : 0;
        #pragma unroll
        for (int g = 0; g < kGroups; ++g)
          vr[c][g] = mma::load_chunk<kVBytes>(data + (ev + 32 * g + 4 * grp) * Op::bits / 8, vok[c]);
        if (Op::group_scale) {
          const std::int64_t ek = vok[c] ? tr.element(in, vkey[c], 0, 0) : 0;
          for (int g = 0; g < kGroups; ++g) {
            ks[c][g] = vok[c] ? codec::half_to_float(gs[(ek + 32 * g) / codec::kGroup]) : 0.0f;
            vs[c][g] = vok[c] ? codec::half_to_float(gs[(ev + 32 * g) / codec::kGroup]) * vf : 0.0f;
          }
        }
      }

      // S: element e of n tile t is key 8t + 2 quad + e of row grp, i.e. k row c = 2t + e.
      float sc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
#pragma unroll
      for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int g = 0; g < kGroups; ++g) {
          std::uint32_t kh[4];
          mma::to_pairs<D, 8>(kr[t][g], kh);
          if constexpr (Op::group_scale) {
            float part[2] = {0.0f, 0.0f};
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              mma::mma_rows8<bf16>(part, qhi[2 * g + h][0], qhi[2 * g + h][1], kh[2 * h], kh[2 * h + 1]);
              mma::mma_rows8<bf16>(part, qlo[2 * g + h][0], qlo[2 * g + h][1], kh[2 * h], kh[2 * h + 1]);
            }
            sc[t][0] += part[0] * ks[2 * t][g];
            sc[t][1] += part[1] * ks[2 * t + 1][g];
          } else {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
              mma::mma_rows8<bf16>(sc[t], qhi[2 * g + h][0], qhi[2 * g + h][1], kh[2 * h], kh[2 * h + 1]);
              mma::mma_rows8<bf16>(sc[t], qlo[2 * g + h][0], qlo[2 * g + h][1], kh[2 * h], kh[2 * h + 1]);
            }
          }
        }

      // Online softmax of row grp over the step's 16 keys (the quad's four lanes hold them).
      float sv[4];
#pragma unroll
      for (int c = 0; c < 4; ++c) sv[c] = vok[c] ? sc[c >> 1][c & 1] * qs : -INFINITY;
      float mx = fmaxf(fmaxf(sv[0], sv[1]), fmaxf(sv[2], sv[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      if (mx > m) {  // key0 < end, so mx is finite
        const float corr = mma::exp2_approx(m - mx);
        l *= corr;
        #pragma unroll
        for (int t = 0; t < kNTiles; ++t) o[t][0] *= corr, o[t][1] *= corr;
        m = mx;
      }
      float p[4];
      #pragma unroll
      for (int c = 0; c < 4; ++c) {
        p[c] = vok[c] ? mma::exp2_approx(sv[c] - m) : 0.0f;
        l += p[c];
      }

      // O += P V, one group of 4 n tiles at a time (its weights carry V's scales of the group).
      std::uint32_t ahi0 = 0, ahi2 = 0, alo0 = 0, alo2 = 0;
      if constexpr (!Op::group_scale) {
        mma::split_pair<bf16>(p[0], p[1], ahi0, alo0);
        mma::split_pair<bf16>(p[2], p[3], ahi2, alo2);
      }
      #pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        if constexpr (Op::group_scale) {
          mma::split_pair<bf16>(p[0] * vs[0][g], p[1] * vs[1][g], ahi0, alo0);
          mma::split_pair<bf16>(p[2] * vs[2][g], p[3] * vs[3][g], ahi2, alo2);
        }
        std::uint32_t vh[4][2];
        #pragma unroll
        for (int c = 0; c < 4; ++c) mma::to_pairs<D, 4>(vr[c][g], vh[c]);
        #pragma unroll
        for (int u = 0; u < 4; ++u) {
          const std::uint32_t sel = (u & 1) ? 0x7632u : 0x5410u;
          const std::uint32_t b0 = mma::byte_perm(vh[0][u >> 1], vh[1][u >> 1], sel);
          const std::uint32_t b1 = mma::byte_perm(vh[2][u >> 1], vh[3][u >> 1], sel);
          mma::mma_rows8<bf16>(o[4 * g + u], ahi0, ahi2, b0, b1);
          mma::mma_rows8<bf16>(o[4 * g + u], alo0, alo2, b0, b1);
        }
      }
    }
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);

    // The team's 4 warps into one partial per query head: scratch [warp][row][HD + 2].
    const std::int64_t parts = merge.out.parts;
    const std::size_t nf = scratch_floats(parts, rows);
    const ScratchView sm(team.team_scratch(0), nf);
    if (grp < rows) {
      float* row = &sm(std::size_t(warp * rows + grp) * (HD + 2));
      for (int t = 0; t < kNTiles; ++t)
        for (int e = 0; e < 2; ++e) row[32 * (t / 4) + 4 * (2 * quad + e) + t % 4] = o[t][e] * (vscale / vf);
      if (quad == 0) row[HD] = m, row[HD + 1] = l;
    }
    team.team_barrier();
    for (int j = tid; j < rows * HD; j += Shape::team) {
      const int r = j / HD, d = j % HD;
      float M = -INFINITY;
      for (int w = 0; w < Shape::warps; ++w) {
        const float* x = &sm(std::size_t(w * rows + r) * (HD + 2));
        if (x[HD + 1] > 0.0f) M = fmaxf(M, x[HD]);
      }
      float L = 0.0f, A = 0.0f;
      for (int w = 0; w < Shape::warps; ++w) {
        const float* x = &sm(std::size_t(w * rows + r) * (HD + 2));
        if (x[HD + 1] == 0.0f) continue;
        const float f = exp2f(x[HD] - M);
        L += x[HD + 1] * f;
        A += x[d] * f;
      }
      const std::int64_t ph = (seq * heads + head0 + r) * parts + tr.split;
      merge.out.acc(ph * HD + d) = A;
      if (d == 0) merge.out.m(ph) = M, merge.out.l(ph) = L;
    }
    const int blocks = int(heads / kvh) / rows;
    merge.arrive_and_merge(team, sm, nf, seq, (seq * kvh + kv_head) * blocks + block, head0, heads, int(in.splits), HD,
                           rows);
  }
#endif
};

}  // namespace kvsim::kernels
