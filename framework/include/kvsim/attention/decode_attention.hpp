#pragma once
// Decode attention over the cache, in place: for each sequence, layer and query head,
// softmax(q . K^T / sqrt(d)) . V over the valid positions, reading every layout and precision
// and dequantising in registers. Grouped-query aware: a K/V row is read once for all G query
// heads of its group. Split across positions (flash-decoding): each work unit keeps a running
// max, sum and weighted V for its positions and writes them as a partial; MergePartials
// combines the partials with a log-sum-exp rescale, so one sequence at batch 1 fills the GPU.
//
// Two kernels compute the same thing: DecodeAttentionTiled (GPUs: a team loads a tile of
// positions at once, threads split head_dim and positions, partial dot products meet in
// scratch; the merge is folded into the last team) and DecodeAttentionSerial (host backends
// and head_dim shapes the tiled kernel does not cover: one work item walks its positions with
// the whole head_dim on the stack, and MergePartials combines the splits).
#include <cmath>

#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/precision/chunk8.hpp"
#include "kvsim/precision/codecs.hpp"
#include "kvsim/attention/split_merge.hpp"

namespace kvsim::kernels {

inline constexpr int kMaxHeadDimSerial = 256;

// Everything both attention kernels read.
template <class MemSpace>
struct AttentionInputs {
  StoredCache<MemSpace> cache;
  View1D<const float, MemSpace> q;  // [seq][head][dim]
  std::int64_t layer, heads, splits;
  float scale;          // 1 / sqrt(head_dim)
  std::int64_t align;   // splits start at multiples of this (the tiled kernel's tile)
  // Positions of every split: the longest sequence's valid positions over `splits`, rounded up
  // to whole steps. The same for every sequence of the batch, so work is divided by positions:
  // a sequence of n positions fills ceil(n / per) splits and its later splits are empty (their
  // partials drop out of the merge), instead of one long sequence's splits each holding many
  // times a short one's. Read from the device (StoredCache::longest), never baked into a launch.
  // 32-bit: every team computes it, and 64-bit division is a software routine on GPUs; a
  // sequence holds at most 2^31 slots (kMaxPositions), splits and align are small.
  KOKKOS_INLINE_FUNCTION std::int64_t split_positions() const {
    const auto n = std::uint32_t(splits), a = std::uint32_t(align);
    const std::uint32_t even = (std::uint32_t(cache.longest_valid()) + n - 1u) / n;
    return std::int64_t((even + a - 1u) / a * a);
  }
  // Positions [begin, end) of split `split` of a sequence holding `valid` positions.
  KOKKOS_INLINE_FUNCTION void split_range(std::int64_t valid, std::int64_t split, std::int64_t& begin,
                                          std::int64_t& end) const {
    const std::int64_t per = split_positions();
    begin = split * per < valid ? split * per : valid;
    end = begin + per < valid ? begin + per : valid;
  }
};

// fp8's per-(layer, K|V, kv_head) scale (kv 0: K, 1: V); 1 for formats without one.
template <codec::DType D, class MemSpace>
KOKKOS_INLINE_FUNCTION float head_scale(const AttentionInputs<MemSpace>& in, int kv, std::int64_t kv_head) {
  if constexpr (codec::Codec<D>::head_scale)
    return in.cache.head_scales((in.layer * 2 + kv) * in.cache.addr.kv_heads + kv_head);
  else
    return 1.0f;
}

// What the GPU team kernels share: a team policy bounded for their shape (threads a team, teams
// a multiprocessor) and team scratch seen as floats.
template <class ExecSpace, int Team, int MinTeams>
using BoundedTeamPolicy = Kokkos::TeamPolicy<ExecSpace, Kokkos::LaunchBounds<Team, MinTeams>>;
template <class ExecSpace>
using TeamScratchView = Kokkos::View<float*, typename ExecSpace::scratch_memory_space, Kokkos::MemoryUnmanaged>;

// How a kernel instance walks a sequence's rows, decided on the host per launch: `direct` rows
// lie at base + i * stride (not paged, no H2O table, nothing wrapped); `paged` rows are in
// logical order in the pages of the block table (paged, no H2O table, nothing wrapped), so a
// row costs one block-table load and a multiply-add; `general` asks the policy and the layout
// for every row.
enum class RowWalk : int { general, direct, paged };

// What one team of a GPU attention kernel works on: its league rank as (seq, kv_head, split),
// the split's logical rows [begin, end), and where a thread's values of a row live (dim0: the
// first head_dim index it reads). A cache that has not wrapped keeps logical row i in slot i,
// and outside the paged layout slot s of a (layer, K|V, seq, kv_head) lies at a fixed stride
// from slot 0, so a row costs one multiply-add instead of the policy's division and the
// layout's products; Direct compiles for caches where that holds for every row (not paged, no
// H2O table, nothing wrapped), so none of the general path's registers stay live.
template <class MemSpace, bool Direct, bool PagedWalk = false>
struct TeamRows {
  std::int64_t seq, kv_head, total, begin, end;
  int split;
  bool direct, paged;
  std::int64_t k0, v0, stride;  // PagedWalk: of pool page 0, slot 0

  KOKKOS_INLINE_FUNCTION TeamRows(const AttentionInputs<MemSpace>& in, int league_rank, std::int64_t dim0) {
    // 32-bit: 64-bit division is a software routine on GPUs.
    const int nsplit = int(in.splits), nkvh = int(in.cache.addr.kv_heads);
    split = league_rank % nsplit;
    kv_head = (league_rank / nsplit) % nkvh;
    seq = league_rank / (nsplit * nkvh);
    total = in.cache.totals(seq);
    in.split_range(in.cache.map.valid(total), split, begin, end);
    const auto& addr = in.cache.addr;
    direct = Direct || PagedWalk || (!in.cache.map.table && total <= in.cache.map.capacity());
    paged = !Direct && addr.paged;
    using Paged = LayoutTraits<LayoutKind::paged>;
    if (PagedWalk) {
      k0 = Paged::pool_index(addr, in.layer * 2 + 0, 0, 0, kv_head, dim0);
      v0 = Paged::pool_index(addr, in.layer * 2 + 1, 0, 0, kv_head, dim0);
      stride = Paged::pool_index(addr, in.layer * 2, 0, 1, kv_head, dim0) - k0;
    } else {
      k0 = paged ? 0 : addr.index(in.layer, 0, seq, 0, kv_head, dim0);
      v0 = paged ? 0 : addr.index(in.layer, 1, seq, 0, kv_head, dim0);
      stride = paged ? 0 : addr.index(in.layer, 0, seq, 1, kv_head, dim0) - k0;
    }
  }
  // Element index of the thread's values of logical row i of K (kv 0) or V (kv 1).
  KOKKOS_INLINE_FUNCTION std::int64_t element(const AttentionInputs<MemSpace>& in, std::int64_t i, int kv,
                                              std::int64_t dim0) const {
    if (Direct) return (kv ? v0 : k0) + i * stride;
    if (PagedWalk) {
      const auto& a = in.cache.addr;
      const std::int64_t page = a.block_table(seq, i >> a.page_shift);
      return (kv ? v0 : k0) + ((page << a.page_shift) + (i & ((std::int64_t(1) << a.page_shift) - 1))) * stride;
    }
    const std::int64_t slot = direct ? i : in.cache.slot_of(seq, i, total);
    if (paged) return in.cache.addr.index(in.layer, kv, seq, slot, kv_head, dim0);
    return (kv ? v0 : k0) + slot * stride;
  }
};

// Positions each thread of the tiled kernel loads per tile: 64 bytes of K and V in flight per
// tile (fp32 chunks are 32 bytes, fp16 16, 8-bit 8), twice that with the next tile prefetched,
// in registers that stay under the 128 the launch bounds allow (int8 raw chunks cost 3
// registers, hence 4 rows and not 8); at most 16 (position, query head) scores per thread so
// the score scratch stays small under GQA.
template <codec::DType D, int G>
struct TileRows {
  static constexpr int by_dtype = codec::Codec<D>::tile_rows;
  static constexpr int value = by_dtype * G <= 16 ? by_dtype : (16 / G > 0 ? 16 / G : 1);
};

// Tiled flash-decoding for GPUs. League: (seq, kv_head, split); a team of T threads is a grid
// of `lanes` = head_dim / 8 threads along head_dim by R = T / lanes row groups. Per tile of
// U x R positions every thread first issues all its loads (U rows of K and of V, 8 values
// each, kept raw), then:
//   1. partial q.k over its 8 values for each query head of the group -> scratch;
//   2. barrier; one thread per (position, head) sums the `lanes` partials -> score;
//   3. barrier; each thread updates its running max, sum and 8 accumulators with the scores of
//      its own rows (the threads of a row group see the same scores, so their maxima agree).
// No per-position cross-lane reduction sits between loads: that chain made the previous kernel
// latency-bound (docs/perf-notes.md). The R row groups are combined in scratch into one partial
// per split; the last team of each (seq, kv_head) to finish merges the splits (log-sum-exp)
// into the output, so no second launch is needed.
// Direct: compiled for caches whose every row lies at base + slot * stride with slot = logical
// row (not paged, no H2O table, nothing wrapped), so the tile's address code is one
// multiply-add a row and none of the general path's registers stay live.
template <class ExecSpace, codec::DType D, int G, bool Direct>
struct DecodeAttentionTiled {
  using Chunk = codec::Chunk8<D>;
  using Raw = typename Chunk::Raw;
  using MemSpace = MemSpaceOf<ExecSpace>;
  using Policy = BoundedTeamPolicy<ExecSpace, 256, 2>;
  using member_type = typename Policy::member_type;
  using ScratchView = TeamScratchView<ExecSpace>;
  static constexpr int W = 8;
  static constexpr int U = TileRows<D, G>::value;

  AttentionInputs<MemSpace> in;
  SplitMerge<MemSpace> merge;
  int lanes;  // head_dim / 8

  KOKKOS_INLINE_FUNCTION static int rows_of(int team_size, int lanes) { return team_size / lanes; }
  // Scratch: the largest of the tile's partial dots and scores, the row groups' combine and the
  // merge's per-split weights, plus the last-team flag.
  KOKKOS_INLINE_FUNCTION static std::size_t scratch_floats(int team_size, int lanes, std::int64_t head_dim,
                                                           std::int64_t parts) {
    const int rows = rows_of(team_size, lanes);
    const std::size_t scores = std::size_t(U) * rows * G * std::size_t(lanes + 1 + 1) + 1;
    const std::size_t end = SplitMerge<MemSpace>::floats(rows, head_dim, parts, G);
    return scores > end ? scores : end;
  }
  static std::size_t scratch_bytes(int team_size, int lanes, std::int64_t head_dim, std::int64_t parts) {
    return ScratchView::shmem_size(scratch_floats(team_size, lanes, head_dim, parts));
  }

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const int T = team.team_size(), id = team.team_rank();
    const int R = T / lanes, c = id % lanes, r = id / lanes;
    const bool active = r < R;  // T need not be a multiple of lanes
    const std::int64_t kvh = in.cache.addr.kv_heads, hd = in.cache.addr.head_dim;
    const TeamRows<MemSpace, Direct> rows(in, team.league_rank(), c * W);
    const std::int64_t seq = rows.seq, kv_head = rows.kv_head, head0 = kv_head * G;
    const std::int64_t begin = rows.begin, end = rows.end;

    const std::size_t nf = scratch_floats(T, lanes, hd, merge.out.parts);
    ScratchView sm(team.team_scratch(0), nf);
    const int score_rows = U * R * G;
    float* part = &sm(0);                            // [U*R*G][lanes+1]
    float* score = &sm(std::size_t(score_rows) * (lanes + 1));  // [U*R*G]

    float q[G][W], acc[G][W], m[G], l[G];
    for (int g = 0; g < G; ++g) {
      for (int w = 0; w < W; ++w) {
        // Scores in base 2 (exp2 is one instruction on GPUs): q carries 1/sqrt(d) * log2(e).
        q[g][w] = active ? in.q((seq * in.heads + head0 + g) * hd + c * W + w) * (in.scale * kLog2e) : 0.0f;
        acc[g][w] = 0.0f;
      }
      m[g] = -INFINITY;
      l[g] = 0.0f;
    }
    const float kscale = head_scale<D>(in, 0, kv_head), vscale = head_scale<D>(in, 1, kv_head);
    const unsigned char* data = in.cache.data.data();
    const std::uint16_t* gs = in.cache.group_scales.data();

    // Software pipelining: the next tile's rows are loaded while this tile's scores, barriers
    // and exponentials run, so HBM always has this thread's next 2 x U loads in flight.
    const std::int64_t step = std::int64_t(U) * R;
    Raw kr[U], vr[U], kn[U], vn[U];
    const auto load_tile = [&](std::int64_t t0, Raw* kd, Raw* vd) {
      for (int u = 0; u < U; ++u) {
        const std::int64_t i = t0 + std::int64_t(u) * R + r;
        kd[u] = Raw{};
        vd[u] = Raw{};
        if (!active || i >= end) continue;
        kd[u] = Chunk::load(data, rows.element(in, i, 0, c * W), gs);
        vd[u] = Chunk::load(data, rows.element(in, i, 1, c * W), gs);
      }
    };
    if (begin < end) load_tile(begin, kr, vr);
    for (std::int64_t t0 = begin; t0 < end; t0 += step) {
      bool ok[U];
      for (int u = 0; u < U; ++u) ok[u] = active && t0 + std::int64_t(u) * R + r < end;
      if (t0 + step < end) load_tile(t0 + step, kn, vn);
      for (int u = 0; u < U; ++u) {
        float k[W];
        Chunk::decode(kr[u], kscale, k);
        for (int g = 0; g < G; ++g) {
          float dot = 0.0f;
          for (int w = 0; w < W; ++w) dot += q[g][w] * k[w];
          if (active) part[std::size_t((u * R + r) * G + g) * (lanes + 1) + c] = dot;
        }
      }
      team.team_barrier();
      for (int j = id; j < score_rows; j += T) {
        const float* row = part + std::size_t(j) * (lanes + 1);
        float s = 0.0f;
        for (int x = 0; x < lanes; ++x) s += row[x];
        score[j] = s;
      }
      team.team_barrier();
      float mt[G];
      for (int g = 0; g < G; ++g) {
        mt[g] = m[g];
        for (int u = 0; u < U; ++u)
          if (ok[u]) mt[g] = fmaxf(mt[g], score[(u * R + r) * G + g]);
        const float corr = mt[g] == -INFINITY ? 1.0f : exp2f(m[g] - mt[g]);
        l[g] *= corr;
        for (int w = 0; w < W; ++w) acc[g][w] *= corr;
        m[g] = mt[g];
      }
      for (int u = 0; u < U; ++u) {
        if (!ok[u]) continue;
        float v[W];
        Chunk::decode(vr[u], vscale, v);
        for (int g = 0; g < G; ++g) {
          const float p = exp2f(score[(u * R + r) * G + g] - mt[g]);
          l[g] += p;
          for (int w = 0; w < W; ++w) acc[g][w] += p * v[w];
        }
      }
      for (int u = 0; u < U; ++u) kr[u] = kn[u], vr[u] = vn[u];
    }

    merge.template finish<G, W>(team, sm, nf, seq, kv_head, head0, in.heads, rows.split, int(in.splits), hd, kvh, R,
                                r, c, active, acc, m, l);
  }
};

template <class ExecSpace, codec::DType D>
struct DecodeAttentionSerial {
  using Codec = codec::Codec<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;

  AttentionInputs<MemSpace> in;
  AttentionPartials<MemSpace> out;

  // Work item: (seq, query head, split).
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w) const {
    const std::int64_t split = w % in.splits;
    const std::int64_t head = (w / in.splits) % in.heads;
    const std::int64_t seq = w / (in.splits * in.heads);
    const std::int64_t kvh = in.cache.addr.kv_heads;
    const std::int64_t kv_head = head / (in.heads / kvh);
    const std::int64_t hd = in.cache.addr.head_dim;
    const std::int64_t total = in.cache.totals(seq);
    std::int64_t begin, end;
    in.split_range(in.cache.map.valid(total), split, begin, end);
    float q[kMaxHeadDimSerial], acc[kMaxHeadDimSerial], k[4], v[4];
    for (std::int64_t d = 0; d < hd; ++d) {
      q[d] = in.q((seq * in.heads + head) * hd + d) * in.scale;
      acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const float kscale = head_scale<D>(in, 0, kv_head), vscale = head_scale<D>(in, 1, kv_head);
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t slot = in.cache.slot_of(seq, i, total);
      const std::int64_t kbase = in.cache.addr.index(in.layer, 0, seq, slot, kv_head, 0);
      const std::int64_t vbase = in.cache.addr.index(in.layer, 1, seq, slot, kv_head, 0);
      float s = 0;
      for (std::int64_t d = 0; d < hd; d += 4) {
        Codec::decode4(in.cache.data.data(), kbase + d, in.cache.group_scales.data(), kscale, k);
        s += q[d] * k[0] + q[d + 1] * k[1] + q[d + 2] * k[2] + q[d + 3] * k[3];
      }
      const float m_new = s > m ? s : m;
      const float corr = expf(m - m_new);
      const float p = expf(s - m_new);
      l = l * corr + p;
      m = m_new;
      for (std::int64_t d = 0; d < hd; d += 4) {
        Codec::decode4(in.cache.data.data(), vbase + d, in.cache.group_scales.data(), vscale, v);
        for (int j = 0; j < 4; ++j) acc[d + j] = acc[d + j] * corr + p * v[j];
      }
    }
    const std::int64_t ph = (seq * in.heads + head) * out.parts + split;
    for (std::int64_t d = 0; d < hd; ++d) out.acc(ph * hd + d) = acc[d];
    out.m(ph) = m;
    out.l(ph) = l;
  }
};

// out[seq][head][dim] = sum_p acc_p e^(m_p - M) / sum_p l_p e^(m_p - M), M = max_p m_p, in one
// pass with a running maximum; parts that saw no position (l = 0) drop out. lse = M + log L
// lets context shards merge their outputs the same way. Four parts are
// loaded per step so their loads overlap.
template <class MemSpace>
struct MergePartials {
  AttentionPartials<MemSpace> in;
  View1D<float, MemSpace> out;
  std::int64_t head_dim;
  View1D<float, MemSpace> lse;  // [seq][head] or empty
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w) const {
    const std::int64_t sh = w / head_dim;  // (seq, head)
    const std::int64_t d = w % head_dim;
    float M = -INFINITY, L = 0, A = 0;
    for (std::int64_t p0 = 0; p0 < in.parts; p0 += 4) {
      float m[4], l[4], a[4];
      for (int u = 0; u < 4; ++u) {
        const std::int64_t ph = sh * in.parts + (p0 + u < in.parts ? p0 + u : p0);
        m[u] = in.m(ph);
        l[u] = (p0 + u < in.parts) ? in.l(ph) : 0.0f;
        a[u] = in.acc(ph * head_dim + d);
      }
      for (int u = 0; u < 4; ++u) {
        if (l[u] == 0.0f) continue;
        const float m_new = m[u] > M ? m[u] : M;
        const float f_old = expf(M - m_new), f = expf(m[u] - m_new);
        L = L * f_old + l[u] * f;
        A = A * f_old + a[u] * f;
        M = m_new;
      }
    }
    out(w) = L > 0 ? A / L : 0.0f;
    if (d == 0 && lse.extent(0) > 0) lse(sh) = L > 0 ? M + logf(L) : -INFINITY;
  }
};

}  // namespace kvsim::kernels
