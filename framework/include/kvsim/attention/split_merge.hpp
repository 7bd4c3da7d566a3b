#pragma once
// The end of a flash-decoding team, shared by the GPU attention kernels: the team's row groups
// (each with its own running max, sum and weighted V over its rows) are combined in scratch
// into one partial per (query head, split); the partial is published, the team counts itself
// in, and the last team of each (seq, kv_head) merges every split's partial (log-sum-exp) into
// the output, so no second launch is needed.
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim::kernels {

inline constexpr float kLog2e = 1.44269504088896340736f;
inline constexpr float kLn2 = 0.69314718055994530942f;

// Where a work unit's partial goes: [seq][head][part] for m and l, [..][dim] for acc.
template <class MemSpace>
struct AttentionPartials {
  View1D<float, MemSpace> m, l, acc;
  std::int64_t parts;  // per (seq, head)
};

// The last team reads the other teams' partials from L2 (ld.global.cg), never from a possibly
// stale L1 line. Unlike volatile loads these may be issued back to back: volatile kept each
// load behind the previous one, a dependent L2 round trip per split in the merge's tail.
KOKKOS_INLINE_FUNCTION float load_from_l2(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldcg(p);
#else
  return *p;
#endif
}

template <class MemSpace>
struct SplitMerge {
  AttentionPartials<MemSpace> out;
  View1D<int, MemSpace> arrivals;  // per team group (finish: [seq][kv_head]): teams done; the last one resets it
  View1D<float, MemSpace> result;         // [seq][head][dim]
  View1D<float, MemSpace> lse;            // [seq][head]: log of the softmax denominator, or empty

  SplitMerge() = default;
  SplitMerge(const AttentionPartials<MemSpace>& partials, const View1D<int, MemSpace>& arrivals_,
             const View1D<float, MemSpace>& result_, const View1D<float, MemSpace>& lse_)
      : out(partials), arrivals(arrivals_), result(result_), lse(lse_) {}

  // Scratch floats the epilogue needs: R rows of head_dim + 2 for the combine, then two per
  // split and query head plus one per query head for the merge, plus the last-team flag.
  KOKKOS_INLINE_FUNCTION static std::size_t floats(int R, std::int64_t head_dim, std::int64_t parts, int G) {
    const std::size_t combine = std::size_t(R) * std::size_t(head_dim + 2);
    const std::size_t merge = std::size_t(2 * parts + 1) * std::size_t(G);
    return (combine > merge ? combine : merge) + 1;
  }

  // Thread (r, c) of R row groups holds acc[g][0..W) for dims c*W.. of each query head g of the
  // group starting at head0, with the running max m[g] (base 2) and sum l[g] of its row group;
  // the threads of a row group agree on m and l. sm holds at least `nf` = floats(...) floats,
  // free for use (the caller's last scratch reads are behind the first barrier here).
  template <int G, int W, class Member, class Scratch>
  KOKKOS_INLINE_FUNCTION void finish(const Member& team, const Scratch& sm, std::size_t nf, std::int64_t seq,
                                     std::int64_t kv_head, std::int64_t head0, std::int64_t heads, int split,
                                     int nsplit, std::int64_t hd, std::int64_t kvh, int R, int r, int c, bool active,
                                     const float (&acc)[G][W], const float (&m)[G], const float (&l)[G]) const {
    const int T = team.team_size(), id = team.team_rank();
    const std::int64_t parts = out.parts;
    for (int g = 0; g < G; ++g) {
      team.team_barrier();  // scratch is free (the caller's reads or the previous head's combine done)
      if (active) {
        float* row = &sm(std::size_t(r) * (hd + 2));
        for (int w = 0; w < W; ++w) row[c * W + w] = acc[g][w];
        if (c == 0) row[hd] = m[g], row[hd + 1] = l[g];
      }
      team.team_barrier();
      const std::int64_t ph = (seq * heads + head0 + g) * parts + split;
      for (std::int64_t d = id; d < hd; d += T) {
        float M = -INFINITY;
        for (int x = 0; x < R; ++x) {
          const float* row = &sm(std::size_t(x) * (hd + 2));
          if (row[hd + 1] > 0.0f) M = fmaxf(M, row[hd]);
        }
        float L = 0.0f, A = 0.0f;
        for (int x = 0; x < R; ++x) {
          const float* row = &sm(std::size_t(x) * (hd + 2));
          if (row[hd + 1] == 0.0f) continue;
          const float f = exp2f(row[hd] - M);
          L += row[hd + 1] * f;
          A += row[d] * f;
        }
        out.acc(ph * hd + d) = A;
        if (d == 0) out.m(ph) = M, out.l(ph) = L;
      }
    }

    arrive_and_merge(team, sm, nf, seq, seq * kvh + kv_head, head0, heads, nsplit, hd, G);
  }

  // After a team has written its partials of query heads head0 .. head0 + G - 1: publish them
  // and count the team in at arrivals(arrival); the last of the nsplit teams counted there
  // merges every split of those heads into the output. sm: as for finish.
  template <class Member, class Scratch>
  KOKKOS_INLINE_FUNCTION void arrive_and_merge(const Member& team, const Scratch& sm, std::size_t nf, std::int64_t seq,
                                               std::int64_t arrival, std::int64_t head0, std::int64_t heads, int nsplit,
                                               std::int64_t hd, int G) const {
    const int T = team.team_size(), id = team.team_rank();
    const std::int64_t parts = out.parts;
    Kokkos::memory_fence();
    team.team_barrier();
    float& last = sm(nf - 1);
    if (id == 0) {
      const int before = Kokkos::atomic_fetch_add(&arrivals(arrival), 1);
      last = before == nsplit - 1 ? 1.0f : 0.0f;
    }
    team.team_barrier();
    if (last == 0.0f) return;
    Kokkos::memory_fence();
    // The merge, in parallel: every (head, split)'s max and sum into scratch with one coherent
    // load each, one weight per split, then the weighted sum of the splits' accumulators, whose
    // loads do not depend on one another. (A loop over splits per output value, branching on
    // each loaded sum, cost a dependent L2 round trip per split: tens of microseconds per layer.)
    float* mw = &sm(0);                            // [G][parts]: max, then weight
    float* lw = &sm(std::size_t(G) * parts);       // [G][parts]: sum
    float* tot = &sm(std::size_t(2 * G) * parts);  // [G]: merged sum
    for (std::int64_t j = id; j < G * parts; j += T) {
      const int jp = int(j), np = int(parts);
      const std::int64_t ph = (seq * heads + head0 + jp / np) * parts + jp % np;
      mw[j] = load_from_l2(&out.m(ph));
      lw[j] = load_from_l2(&out.l(ph));
    }
    team.team_barrier();
    if (id < G) {
      float M = -INFINITY, L = 0.0f;
      for (std::int64_t p = 0; p < parts; ++p)
        if (lw[id * parts + p] > 0.0f) M = fmaxf(M, mw[id * parts + p]);
      for (std::int64_t p = 0; p < parts; ++p) {
        const float w = lw[id * parts + p] > 0.0f ? exp2f(mw[id * parts + p] - M) : 0.0f;
        mw[id * parts + p] = w;
        L += lw[id * parts + p] * w;
      }
      tot[id] = L;
      if (lse.extent(0) > 0) lse(seq * heads + head0 + id) = L > 0.0f ? (M + log2f(L)) * kLn2 : -INFINITY;
    }
    team.team_barrier();
    for (std::int64_t j = id; j < G * hd; j += T) {
      const std::int64_t g = int(j) / int(hd), d = int(j) % int(hd);
      const std::int64_t p0 = (seq * heads + head0 + g) * parts;
      const float* w = mw + g * parts;
      const float* acc = &out.acc(p0 * hd + d);
      float A[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
      std::int64_t p = 0;
      for (; p + 8 <= parts; p += 8) {
        float a[8];
        for (int k = 0; k < 8; ++k) a[k] = load_from_l2(acc + (p + k) * hd);
        for (int k = 0; k < 8; ++k) A[k] += w[p + k] * a[k];
      }
      for (; p < parts; ++p) A[0] += w[p] * load_from_l2(acc + p * hd);
      const float L = tot[g];
      const float sum = ((A[0] + A[1]) + (A[2] + A[3])) + ((A[4] + A[5]) + (A[6] + A[7]));
      result((seq * heads + head0 + g) * hd + d) = L > 0.0f ? sum / L : 0.0f;
    }
    if (id == 0) arrivals(arrival) = 0;  // ready for the next launch
  }
};

}  // namespace kvsim::kernels
