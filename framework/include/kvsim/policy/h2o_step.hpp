#pragma once
// H2O (heavy-hitter oracle) bookkeeping for one decoding step at position t, one team per
// sequence: while the cache has room the position takes the next slot; afterwards it takes the
// slot of the non-recent position with the smallest accumulated attention mass (ties: the
// oldest). The logical order table stays sorted by position (double-buffered: cur -> next).
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/synthetic.hpp"

namespace kvsim::kernels {

// Maps a float to an unsigned key with the same order (negative values included).
KOKKOS_INLINE_FUNCTION std::uint32_t ordered_key(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <class ExecSpace>
struct H2OStep {
  using MemSpace = MemSpaceOf<ExecSpace>;
  using member_type = typename TeamPolicy<ExecSpace>::member_type;

  View2D<const std::int32_t, MemSpace> order_cur;
  View2D<std::int32_t, MemSpace> order_next;
  View2D<std::int64_t, MemSpace> slot_position;
  View2D<float, MemSpace> scores;  // accumulated attention mass per slot
  View1D<std::int32_t, MemSpace> append_slot;
  View2D<std::int64_t, MemSpace> evicted;  // [seq][k]: evicted positions in eviction order
  View1D<std::int64_t, MemSpace> evicted_count;
  View1D<const std::int64_t, MemSpace> lengths;
  std::int64_t t, capacity, recent;
  std::uint64_t seed;

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t seq = team.league_rank();
    const int cap = int(capacity);
    if (t >= lengths(seq)) {  // this sequence is done: carry its order over
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cap), [&](const int i) { order_next(seq, i) = order_cur(seq, i); });
      return;
    }
    const float mass = synthetic::attention_mass(seed, std::uint64_t(seq), std::uint64_t(t));
    if (t < capacity) {
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cap), [&](const int i) {
        order_next(seq, i) = i < t ? order_cur(seq, i) : std::int32_t(i == t ? t : -1);
      });
      Kokkos::single(Kokkos::PerTeam(team), [&]() {
        slot_position(seq, t) = t;
        scores(seq, t) = mass;
        append_slot(seq) = std::int32_t(t);
      });
      return;
    }
    std::uint64_t best = ~std::uint64_t(0);
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(team, int(capacity - recent)),
        [&](const int i, std::uint64_t& m) {
          const std::uint64_t key = (std::uint64_t(ordered_key(scores(seq, order_cur(seq, i)))) << 32) | std::uint32_t(i);
          m = key < m ? key : m;
        },
        Kokkos::Min<std::uint64_t>(best));
    const int j = int(best & 0xffffffffu);
    const std::int32_t victim = order_cur(seq, j);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cap), [&](const int i) {
      order_next(seq, i) = i < j ? order_cur(seq, i) : (i < cap - 1 ? order_cur(seq, i + 1) : victim);
    });
    Kokkos::single(Kokkos::PerTeam(team), [&]() {
      evicted(seq, evicted_count(seq)++) = slot_position(seq, victim);
      slot_position(seq, victim) = t;
      scores(seq, victim) = mass;
      append_slot(seq) = victim;
    });
  }
};

}  // namespace kvsim::kernels
