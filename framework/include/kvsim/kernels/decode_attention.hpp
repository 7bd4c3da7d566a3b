#pragma once
// Decode attention over the cache, in place: for each sequence, layer and query head,
// softmax(q . K^T / sqrt(d)) . V over the valid positions, reading every layout and precision
// and dequantising in registers. Grouped-query aware: a K/V row is read once for all G query
// heads of its group. Split across positions (flash-decoding): each work unit keeps a running
// max, sum and weighted V for its positions and writes them as a partial; MergePartials
// combines the partials with a log-sum-exp rescale, so one sequence at batch 1 fills the GPU.
//
// Two kernels compute the same thing: DecodeAttentionLanes (GPUs: a team thread's vector
// lanes split head_dim, each lane keeps its slice of the accumulators in registers and the
// dot products reduce across lanes) and DecodeAttentionSerial (host backends and head_dim
// shapes the lane kernel does not cover: one work item walks its positions with the whole
// head_dim on the stack).
#include <cmath>

#include "kvsim/cache_addressing.hpp"
#include "kvsim/codecs/codecs.hpp"

namespace kvsim::kernels {

inline constexpr int kMaxHeadDimSerial = 256;

// Where a work unit's partial goes: [seq][head][part] for m and l, [..][dim] for acc.
template <class MemSpace>
struct AttentionPartials {
  View1D<float, MemSpace> m, l, acc;
  std::int64_t parts;  // per (seq, head)
};

// Everything both attention kernels read.
template <class MemSpace>
struct AttentionInputs {
  StoredCache<MemSpace> cache;
  View1D<const float, MemSpace> q;  // [seq][head][dim]
  std::int64_t layer, heads, splits;
  float scale;  // 1 / sqrt(head_dim)
  // Positions [begin, end) of split `split` of a sequence holding `valid` positions.
  KOKKOS_INLINE_FUNCTION void split_range(std::int64_t valid, std::int64_t split, std::int64_t& begin,
                                          std::int64_t& end) const {
    const std::int64_t per = (valid + splits - 1) / splits;
    begin = split * per < valid ? split * per : valid;
    end = begin + per < valid ? begin + per : valid;
  }
};

template <class ExecSpace, codec::DType D, int G, int W>
struct DecodeAttentionLanes {
  using Codec = codec::Codec<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;
  using member_type = typename Kokkos::TeamPolicy<ExecSpace, Kokkos::LaunchBounds<128, 8>>::member_type;

  AttentionInputs<MemSpace> in;
  AttentionPartials<MemSpace> out;
  int lanes;

  // League: (seq, kv_head, split); team threads take every team_size-th position of the split.
  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t kvh = in.cache.addr.kv_heads;
    const std::int64_t split = team.league_rank() % in.splits;
    const std::int64_t kv_head = (team.league_rank() / in.splits) % kvh;
    const std::int64_t seq = team.league_rank() / (in.splits * kvh);
    const std::int64_t total = in.cache.totals(seq);
    std::int64_t begin, end;
    in.split_range(in.cache.map.valid(total), split, begin, end);
    const std::int64_t hd = in.cache.addr.head_dim;
    const std::int64_t head0 = kv_head * G;
    float q[G][W], acc[G][W], m[G], l[G];
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, lanes), [&](const int lane) {
      for (int g = 0; g < G; ++g) {
        for (int w = 0; w < W; ++w) {
          q[g][w] = in.q((seq * in.heads + head0 + g) * hd + lane * W + w) * in.scale;
          acc[g][w] = 0.0f;
        }
        m[g] = -INFINITY;
        l[g] = 0.0f;
      }
    });
    const float kscale = Codec::head_scale ? in.cache.head_scales((in.layer * 2 + 0) * kvh + kv_head) : 1.0f;
    const float vscale = Codec::head_scale ? in.cache.head_scales((in.layer * 2 + 1) * kvh + kv_head) : 1.0f;
    // Two positions per step, both rows loaded before either is used: twice the loads in flight.
    const std::int64_t stride = team.team_size();
    for (std::int64_t i0 = begin + team.team_rank(); i0 < end; i0 += 2 * stride) {
      const bool two = i0 + stride < end;
      std::int64_t kbase[2], vbase[2];
      for (int u = 0; u < 2; ++u) {
        const std::int64_t slot = in.cache.slot_of(seq, (u == 0 || two) ? i0 + u * stride : i0, total);
        kbase[u] = in.cache.addr.index(in.layer, 0, seq, slot, kv_head, 0);
        vbase[u] = in.cache.addr.index(in.layer, 1, seq, slot, kv_head, 0);
      }
      float k[2][W], v[2][W];
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, lanes), [&](const int lane) {
        for (int u = 0; u < 2; ++u)
          for (int w = 0; w < W; w += 4) {
            Codec::decode4(in.cache.data.data(), kbase[u] + lane * W + w, in.cache.group_scales.data(), kscale, k[u] + w);
            Codec::decode4(in.cache.data.data(), vbase[u] + lane * W + w, in.cache.group_scales.data(), vscale, v[u] + w);
          }
      });
      for (int u = 0; u < 2; ++u) {
        if (u == 1 && !two) break;
        for (int g = 0; g < G; ++g) {
          float s = 0;
          Kokkos::parallel_reduce(
              Kokkos::ThreadVectorRange(team, lanes),
              [&](const int, float& sum) {
                float part = 0;
                for (int w = 0; w < W; ++w) part += q[g][w] * k[u][w];
                sum += part;
              },
              s);
          const float m_new = s > m[g] ? s : m[g];
          const float corr = expf(m[g] - m_new);
          const float p = expf(s - m_new);
          l[g] = l[g] * corr + p;
          m[g] = m_new;
          Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, lanes), [&](const int) {
            for (int w = 0; w < W; ++w) acc[g][w] = acc[g][w] * corr + p * v[u][w];
          });
        }
      }
    }
    // Combine the team threads' states in scratch memory: one partial per split, so the merge
    // reads `splits` partials per head, not splits x team_size.
    const int hd_pad = int(hd) + 2;
    ScratchView sm(team.team_scratch(0), std::size_t(team.team_size()) * G * hd_pad);
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, lanes), [&](const int lane) {
      for (int g = 0; g < G; ++g) {
        float* row = &sm((team.team_rank() * G + g) * hd_pad);
        for (int w = 0; w < W; ++w) row[lane * W + w] = acc[g][w];
        if (lane == 0) row[hd] = m[g], row[hd + 1] = l[g];
      }
    });
    team.team_barrier();
    if (team.team_rank() < G) {
      const int g = team.team_rank();
      float M = -INFINITY;
      for (int t = 0; t < team.team_size(); ++t) M = sm((t * G + g) * hd_pad + hd) > M ? sm((t * G + g) * hd_pad + hd) : M;
      const std::int64_t ph = (seq * in.heads + head0 + g) * out.parts + split;
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, lanes), [&](const int lane) {
        float L = 0, A[W];
        for (int w = 0; w < W; ++w) A[w] = 0;
        for (int t = 0; t < team.team_size(); ++t) {
          const float* row = &sm((t * G + g) * hd_pad);
          if (row[hd + 1] == 0.0f) continue;
          const float f = expf(row[hd] - M);
          L += row[hd + 1] * f;
          for (int w = 0; w < W; ++w) A[w] += row[lane * W + w] * f;
        }
        for (int w = 0; w < W; ++w) out.acc(ph * hd + lane * W + w) = A[w];
        if (lane == 0) out.m(ph) = M, out.l(ph) = L;
      });
    }
  }

  using ScratchView = Kokkos::View<float*, typename ExecSpace::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  static std::size_t scratch_bytes(int team_size, std::int64_t head_dim) {
    return ScratchView::shmem_size(std::size_t(team_size) * G * std::size_t(head_dim + 2));
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
    const float kscale = Codec::head_scale ? in.cache.head_scales((in.layer * 2 + 0) * kvh + kv_head) : 1.0f;
    const float vscale = Codec::head_scale ? in.cache.head_scales((in.layer * 2 + 1) * kvh + kv_head) : 1.0f;
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
// pass with a running maximum; parts that saw no position (l = 0) drop out. Four parts are
// loaded per step so their loads overlap.
template <class MemSpace>
struct MergePartials {
  AttentionPartials<MemSpace> in;
  View1D<float, MemSpace> out;
  std::int64_t head_dim;
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
  }
};

}  // namespace kvsim::kernels
