#pragma once
// Decode attention for GPUs with lane groups: a row of head_dim values is read by L = head_dim /
// W lanes of one warp, 16 bytes each (W values: 4 fp32, 8 fp16/bf16, 16 fp8/int8, 32 int4), and
// its q.k partial sums meet through log2(L) register shuffles. Each lane group walks its own
// rows with its own online softmax, so the walk has no barrier. Rows reach the threads through
// a ring of S steps in team scratch filled by asynchronous copies (cp.async), so S - 1 steps of
// K and V are in flight per thread without holding registers: the tiled kernel's register
// double buffer capped it at two 256-thread teams a multiprocessor and it spent its issue
// slots on address code (docs/perf-notes.md). Partials, the row-group combine and the
// last-team merge are SplitMerge's.
#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/precision/vec16.hpp"
#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/split_merge.hpp"

namespace kvsim::kernels {

// Sum over the L lanes of a lane group (L a power of two dividing the warp): xor butterflies,
// so every lane ends with the same bits. The steps are unrolled; `mask < L` is the same for
// the whole warp.
template <int N>
KOKKOS_INLINE_FUNCTION void lane_group_sum(float (&v)[N], int L) {
#if defined(__CUDA_ARCH__)
#pragma unroll
  for (int mask = 16; mask > 0; mask /= 2)
    if (mask < L)
      for (int j = 0; j < N; ++j) v[j] += __shfl_xor_sync(0xffffffffu, v[j], mask);
#else
  (void)v;
  (void)L;  // host teams run one lane per row (L == 1)
#endif
}

// The staging ring in team scratch. On the GPU, copies are asynchronous (cp.async, sm_80+): a
// thread's loads land in shared memory without passing through registers, so several steps
// of rows stay in flight per thread at no register cost; each thread reads back only what it
// copied itself, so its own wait is the only synchronisation. Offsets are 32-bit shared-window
// addresses (generic 64-bit pointers to scratch compile to slower generic loads). On the host
// the same calls are plain copies.
struct StagingRing {
  unsigned char* base;  // 16-byte aligned
  unsigned shared_base;

  KOKKOS_INLINE_FUNCTION explicit StagingRing(unsigned char* b) : base(b), shared_base(0) {
#if defined(__CUDA_ARCH__)
    shared_base = static_cast<unsigned>(__cvta_generic_to_shared(b));
#endif
  }
  KOKKOS_INLINE_FUNCTION void copy16(unsigned off, const void* src, bool valid) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_base + off), "l"(src),
                 "r"(valid ? 16 : 0)
                 : "memory");
#else
    *reinterpret_cast<codec::Word4*>(base + off) = valid ? *static_cast<const codec::Word4*>(src) : codec::Word4{};
#endif
  }
  KOKKOS_INLINE_FUNCTION void copy4(unsigned off, const void* src, bool valid) const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared_base + off), "l"(src),
                 "r"(valid ? 4 : 0)
                 : "memory");
#else
    *reinterpret_cast<std::uint32_t*>(base + off) = valid ? *static_cast<const std::uint32_t*>(src) : 0u;
#endif
  }
  KOKKOS_INLINE_FUNCTION static void commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
  }
  // Waits until at most N committed groups of this thread are still in flight.
  template <int N>
  KOKKOS_INLINE_FUNCTION static void wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
  }
  KOKKOS_INLINE_FUNCTION codec::Word4 read16(unsigned off) const {
    codec::Word4 v;
#if defined(__CUDA_ARCH__)
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.w[0]), "=r"(v.w[1]), "=r"(v.w[2]), "=r"(v.w[3])
                 : "r"(shared_base + off)
                 : "memory");
#else
    v = *reinterpret_cast<const codec::Word4*>(base + off);
#endif
    return v;
  }
  KOKKOS_INLINE_FUNCTION std::uint32_t read4(unsigned off) const {
    std::uint32_t v;
#if defined(__CUDA_ARCH__)
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(shared_base + off) : "memory");
#else
    v = *reinterpret_cast<const std::uint32_t*>(base + off);
#endif
    return v;
  }
};

// Team size, rows each lane group copies per step (U), steps in flight (S), and teams per
// multiprocessor the launch bound asks for. Kokkos 3.4 caps a team's scratch at the 48 KB a
// block gets without opting in, so teams are 128 threads staging S U (K, V) pairs of 16 bytes
// a thread (plus 4-byte scale pairs for int8/int4): 40 KB. Four teams fit a multiprocessor
// in scratch, and the 128 registers a thread that allows keep q and the accumulators (2 G W
// registers) out of local memory up to G W = 32.
template <codec::DType D, int G>
struct LaneGroupShape {
  static constexpr int W = codec::Vec16<D>::W;
  static constexpr bool scales = codec::Codec<D>::group_scale;
  static constexpr int team = 128;
  static constexpr int U = 2;
  static constexpr int S = scales ? 4 : 5;
  static constexpr int min_teams = 4;
  static constexpr int thread_bytes = S * U * 2 * (16 + (scales ? 4 : 0));
};

template <class ExecSpace, codec::DType D, int G, RowWalk Walk>
struct DecodeAttentionLanes {
  static constexpr bool Direct = Walk == RowWalk::direct;
  static constexpr bool PagedWalk = Walk == RowWalk::paged;
  using Vec = codec::Vec16<D>;
  using Shape = LaneGroupShape<D, G>;
  static constexpr int W = Shape::W;
  static constexpr int U = Shape::U;
  static constexpr int S = Shape::S;
  using MemSpace = MemSpaceOf<ExecSpace>;
  using Policy = BoundedTeamPolicy<ExecSpace, Shape::team, Shape::min_teams>;
  using member_type = typename Policy::member_type;
  using ScratchView = TeamScratchView<ExecSpace>;

  AttentionInputs<MemSpace> in;
  SplitMerge<MemSpace> merge;
  int lanes;  // head_dim / W: a power of two up to 32, so a lane group never straddles a warp

  // Scratch: the staging ring (16-byte aligned) or, after the walk, the epilogue's floats.
  KOKKOS_INLINE_FUNCTION static std::size_t scratch_floats(int team_size, int lanes, std::int64_t head_dim,
                                                           std::int64_t parts) {
    const std::size_t ring = (std::size_t(team_size) * Shape::thread_bytes + 16) / 4;
    const std::size_t end = SplitMerge<MemSpace>::floats(team_size / lanes, head_dim, parts, G);
    return ring > end ? ring : end;
  }
  static std::size_t scratch_bytes(int team_size, int lanes, std::int64_t head_dim, std::int64_t parts) {
    return ScratchView::shmem_size(scratch_floats(team_size, lanes, head_dim, parts));
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int T = team.team_size(), id = team.team_rank();
    const int L = lanes, R = T / L, c = id % L, r = id / L;
    const std::int64_t kvh = in.cache.addr.kv_heads, hd = in.cache.addr.head_dim;
    const TeamRows<MemSpace, Direct, PagedWalk> rows(in, team.league_rank(), c * W);
    const std::int64_t seq = rows.seq, kv_head = rows.kv_head, head0 = kv_head * G;
    const std::int64_t begin = rows.begin, end = rows.end;
    const int n = int(end - begin);  // rows of this split (a split never holds 2^31 rows)

    // fp8's per-(layer, K|V, kv_head) scales fold into q and, at the end, into the accumulators.
    const float kscale = head_scale<D>(in, 0, kv_head), vscale = head_scale<D>(in, 1, kv_head);
    float q[G][W], acc[G][W], m[G], l[G];
    for (int g = 0; g < G; ++g) {
      for (int w = 0; w < W; ++w) {
        // Scores in base 2 (exp2 is one instruction on GPUs): q carries 1/sqrt(d) * log2(e).
        q[g][w] = in.q((seq * in.heads + head0 + g) * hd + c * W + w) * (in.scale * kLog2e * kscale);
        acc[g][w] = 0.0f;
      }
      m[g] = -INFINITY;
      l[g] = 0.0f;
    }
    const unsigned char* data = in.cache.data.data();
    const std::uint16_t* gs = in.cache.group_scales.data();
    // Direct caches keep logical row i at a fixed stride from row 0 (TeamRows), so a row is one
    // 64-bit add from the last.
    const std::int64_t k0 = rows.k0, v0 = rows.v0, stride = rows.stride;

    // Staging ring in scratch: [stage][u][K|V][thread] 16-byte chunks, then the same for the
    // 4-byte scale pairs. One scratch View for the team's whole life: each View made from
    // team_scratch takes a new piece of the team's scratch.
    const std::size_t nf = scratch_floats(T, L, hd, merge.out.parts);
    const ScratchView sm(team.team_scratch(0), nf);
    const StagingRing ring(
        reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(sm.data()) + 15) & ~std::uintptr_t(15)));
    const unsigned kv_stride = unsigned(T) * 16, u_stride = 2 * kv_stride, stage_stride = U * u_stride;
    const unsigned scale_base = S * stage_stride, skv_stride = unsigned(T) * 4, su_stride = 2 * skv_stride,
                   sstage_stride = U * su_stride;
    const unsigned own = unsigned(id) * 16, own_scale = scale_base + unsigned(id) * 4;

    const auto element = [&](std::int64_t i, int kv) { return rows.element(in, i, kv, c * W); };
    constexpr int bits = codec::Codec<D>::bits;
    const int step = U * R;
    const int steps = (n + step - 1) / step;
    // Direct rows: a running pointer to this thread's K values of the step's first row; a
    // step's rows lie R rows apart and V at a fixed distance from K.
    const unsigned char* kstep = data + (Direct ? (k0 + (begin + r) * stride) * bits / 8 : 0);
    const std::int64_t row_gap = Direct ? std::int64_t(R) * stride * bits / 8 : 0;
    const std::int64_t step_gap = row_gap * U, v_gap = Direct ? (v0 - k0) * bits / 8 : 0;
    // Issues the next step into stage `wr` (nothing past the last step; rows past the end
    // copy zeros and read nothing).
    int next = 0;
    // Which half of each staged scale pair is the row's: bit (stage U + u) 2 + kv, set when the
    // copy is issued (K's and V's scale indices need not share a parity).
    static_assert(S * U * 2 <= 32, "one bit per staged scale pair");
    unsigned halves = 0;
    const auto issue = [&](int wr) {
      if (next < steps) {
        for (int u = 0; u < U; ++u) {
          const int j = next * step + u * R + r;
          const bool ok = j < n;
          const unsigned off = unsigned(wr) * stage_stride + unsigned(u) * u_stride + own;
          const unsigned char *kp, *vp;
          std::int64_t ke = 0, ve = 0;
          if (Direct) {
            kp = kstep + u * row_gap;
            vp = kp + v_gap;
            if (Shape::scales) ke = k0 + (begin + j) * stride, ve = ke + (v0 - k0);
          } else if (PagedWalk) {
            // V lies at a fixed distance from K in the pool: one block-table load a row.
            ke = ok ? element(begin + j, 0) : 0;
            ve = ke + (v0 - k0);
            kp = data + ke * bits / 8;
            vp = data + ve * bits / 8;
          } else {
            ke = ok ? element(begin + j, 0) : 0;
            ve = ok ? element(begin + j, 1) : 0;
            kp = data + ke * bits / 8;
            vp = data + ve * bits / 8;
          }
          ring.copy16(off, ok ? kp : data, ok);  // never an address past the cache, even unread
          ring.copy16(off + kv_stride, ok ? vp : data, ok);
          if (Shape::scales) {
            // Two scales, 4-byte aligned (the count of scales is even): the right half is
            // picked when the row is read.
            const unsigned soff = own_scale + unsigned(wr) * sstage_stride + unsigned(u) * su_stride;
            const std::int64_t kg = ke / codec::kGroup, vg = ve / codec::kGroup;  // scale indices
            ring.copy4(soff, gs + (ok ? kg & ~std::int64_t(1) : 0), ok);
            ring.copy4(soff + skv_stride, gs + (ok ? vg & ~std::int64_t(1) : 0), ok);
            const unsigned bit = unsigned(wr * U + u) * 2;
            halves = (halves & ~(3u << bit)) | (unsigned(kg & 1) << bit) | (unsigned(vg & 1) << (bit + 1));
          }
        }
        kstep += step_gap;
        ++next;
      }
      StagingRing::commit();
    };
    for (int it = 0; it < S - 1; ++it) issue(it);
    int rd = 0, wr = S - 1;
    for (int it = 0; it < steps; ++it) {
      issue(wr);  // into the stage read one step ago
      wr = wr + 1 == S ? 0 : wr + 1;
      StagingRing::wait<S - 1>();
      float s[U * G], vs[U];
      bool ok[U];
      for (int u = 0; u < U; ++u) {
        const int j = it * step + u * R + r;
        ok[u] = j < n;
        const unsigned off = unsigned(rd) * stage_stride + unsigned(u) * u_stride + own;
        float ks = 1.0f;
        vs[u] = 1.0f;
        if (Shape::scales) {
          // The scale of this thread's group: the half of the staged pair recorded at issue.
          const unsigned bit = unsigned(rd * U + u) * 2;
          const unsigned soff = own_scale + unsigned(rd) * sstage_stride + unsigned(u) * su_stride;
          const std::uint32_t kp = ring.read4(soff), vp = ring.read4(soff + skv_stride);
          ks = codec::half_to_float(std::uint16_t((halves >> bit) & 1u ? kp >> 16 : kp & 0xffffu));
          vs[u] = codec::half_to_float(std::uint16_t((halves >> (bit + 1)) & 1u ? vp >> 16 : vp & 0xffffu));
        }
        float k[W];
        Vec::decode(ring.read16(off), k);
        for (int g = 0; g < G; ++g) {
          float d0 = 0.0f, d1 = 0.0f;  // two chains: half the dependent multiply-add latency
          for (int w = 0; w < W; w += 2) d0 += q[g][w] * k[w], d1 += q[g][w + 1] * k[w + 1];
          s[u * G + g] = (d0 + d1) * ks;
        }
      }
      lane_group_sum(s, L);
      for (int g = 0; g < G; ++g) {
        float mt = m[g];
        for (int u = 0; u < U; ++u)
          if (ok[u]) mt = fmaxf(mt, s[u * G + g]);
        if (mt > m[g]) {  // rescale only when the running max grows (rarely, after the first rows)
          const float corr = exp2f(m[g] - mt);
          l[g] *= corr;
          for (int w = 0; w < W; ++w) acc[g][w] *= corr;
          m[g] = mt;
        }
      }
      for (int u = 0; u < U; ++u) {
        float v[W];
        Vec::decode(ring.read16(unsigned(rd) * stage_stride + unsigned(u) * u_stride + own + kv_stride), v);
        for (int g = 0; g < G; ++g) {
          const float p = ok[u] ? exp2f(s[u * G + g] - m[g]) : 0.0f;
          l[g] += p;
          const float pv = p * vs[u];
          for (int w = 0; w < W; ++w) acc[g][w] += pv * v[w];
        }
      }
      rd = rd + 1 == S ? 0 : rd + 1;
    }
    StagingRing::wait<0>();  // nothing may land in scratch once the epilogue uses it
    if (codec::Codec<D>::head_scale)
      for (int g = 0; g < G; ++g)
        for (int w = 0; w < W; ++w) acc[g][w] *= vscale;

    merge.template finish<G, W>(team, sm, nf, seq, kv_head, head0, in.heads, rows.split, int(in.splits), hd, kvh, R, r,
                                c, true, acc, m, l);
  }
};

}  // namespace kvsim::kernels
