// h2o (heavy-hitter oracle): `heavy` slots go to the positions with the most accumulated
// attention mass and the last `recent` positions are never evicted. The only policy with
// state: an order table per sequence (logical index -> slot, kept sorted by position), the
// position and score of every slot, and a step per appended position (one position per append).
#include "kvsim/policy/registry.hpp"
#ifndef KVSIM_POLICY_H2O_HPP
#define KVSIM_POLICY_H2O_HPP

#include <string>

#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/data_source.hpp"

namespace kvsim {

template <>
struct PolicyTraits<PolicyKind::h2o> {
  static constexpr const char* name = "h2o";
  static constexpr std::array<std::string_view, 2> keys{"heavy", "recent"};
  static constexpr bool table = true;
  template <class D>
  static std::int64_t capacity(const D& d) {
    return d.heavy + d.recent;
  }
  template <class D>
  static std::int64_t sinks_kept(const D&) {
    return 0;
  }
  // Once full, each new position evicts the held non-recent position of least mass (ties: the
  // oldest).
  template <class D>
  static std::vector<std::int64_t> host_retained(const D& d, std::uint64_t seed, std::int64_t seq, std::int64_t len) {
    const std::int64_t cap = capacity(d);
    std::vector<std::pair<std::int64_t, float>> held;  // (position, mass), sorted by position
    for (std::int64_t t = 0; t < len; ++t) {
      if (std::int64_t(held.size()) == cap) {
        std::size_t victim = 0;
        for (std::size_t i = 1; i < held.size() - std::size_t(d.recent); ++i)
          if (held[i].second < held[victim].second) victim = i;
        held.erase(held.begin() + std::ptrdiff_t(victim));
      }
      held.emplace_back(t, d.data.salience(seed, std::uint64_t(seq), std::uint64_t(t)));
    }
    std::vector<std::int64_t> keep;
    for (auto& h : held) keep.push_back(h.first);
    return keep;
  }
};

namespace kernels {
KOKKOS_INLINE_FUNCTION std::uint32_t ordered_key(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One decoding step at position t, one team per sequence: while the cache has room the
// position takes the next slot; afterwards it takes the slot of the non-recent position with
// the smallest accumulated attention mass (ties: the oldest). The logical order table stays
// sorted by position (double-buffered: cur -> next).
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
  DataSource data;  // what the accumulated mass is (DataSource::salience)

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t seq = team.league_rank();
    const int cap = int(capacity);
    if (t >= lengths(seq)) {  // this sequence is done: carry its order over
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cap), [&](const int i) { order_next(seq, i) = order_cur(seq, i); });
      return;
    }
    const float mass = data.salience(seed, std::uint64_t(seq), std::uint64_t(t));
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

}  // namespace kernels

namespace policy {

// The device state of an h2o cache and its step. Every table is zeroed on allocation.
template <class ExecSpace>
struct H2OState {
  using memory_space = MemSpaceOf<ExecSpace>;

  View2D<std::int32_t, memory_space> order[2];  // double-buffered: a step reads one, writes the other
  int cur = 0;
  View2D<std::int64_t, memory_space> slot_position;
  View2D<float, memory_space> scores;
  View1D<std::int32_t, memory_space> append_slot;
  View2D<std::int64_t, memory_space> evicted;
  View1D<std::int64_t, memory_space> evicted_count;

  // evicted_columns: positions a sequence can evict (at least 1), see memory_model.hpp.
  void allocate(std::int64_t batch, std::int64_t capacity, std::int64_t evicted_columns) {
    order[0] = View2D<std::int32_t, memory_space>(std::string("kvsim::h2o::order_a"), batch, capacity);
    order[1] = View2D<std::int32_t, memory_space>(std::string("kvsim::h2o::order_b"), batch, capacity);
    slot_position = View2D<std::int64_t, memory_space>(std::string("kvsim::h2o::slot_position"), batch, capacity);
    scores = View2D<float, memory_space>(std::string("kvsim::h2o::scores"), batch, capacity);
    append_slot = View1D<std::int32_t, memory_space>(std::string("kvsim::h2o::append_slot"), batch);
    evicted = View2D<std::int64_t, memory_space>(std::string("kvsim::h2o::evicted"), batch, evicted_columns);
    evicted_count = View1D<std::int64_t, memory_space>(std::string("kvsim::h2o::evicted_count"), batch);
  }

  // Places position t of every sequence (one team per sequence).
  void step(const ExecSpace& exec, const View1D<const std::int64_t, memory_space>& lengths, std::int64_t t,
            std::int64_t capacity, std::int64_t recent, std::uint64_t seed, const DataSource& data = {}) {
    const std::int64_t batch = std::int64_t(append_slot.extent(0));
    kernels::H2OStep<ExecSpace> step{order[cur], order[1 - cur], slot_position, scores, append_slot, evicted,
                                     evicted_count, lengths, t, capacity, recent, seed, data};
    Kokkos::parallel_for("kvsim::h2o_step", TeamPolicy<ExecSpace>(exec, batch, Kokkos::AUTO), step);
    cur = 1 - cur;
  }

  std::int64_t bytes() const {
    return std::int64_t(4 * (order[0].span() + order[1].span() + scores.span() + append_slot.span()) +
                        8 * (slot_position.span() + evicted.span() + evicted_count.span()));
  }

  void reset(const ExecSpace& exec) { Kokkos::deep_copy(exec, evicted_count, std::int64_t(0)); }

  // The positions held by sequence `seq`, oldest first (its first `valid` logical rows).
  std::vector<std::int64_t> retained(std::int64_t seq, std::int64_t valid) const {
    std::vector<std::int64_t> out(valid);
    auto ord = Kokkos::create_mirror_view_and_copy(HostMemSpace(), order[cur]);
    auto pos = Kokkos::create_mirror_view_and_copy(HostMemSpace(), slot_position);
    for (std::int64_t i = 0; i < valid; ++i) out[i] = pos(seq, ord(seq, i));
    return out;
  }
  // The positions sequence `seq` evicted, in eviction order.
  std::vector<std::int64_t> evicted_of(std::int64_t seq) const {
    auto ev = Kokkos::create_mirror_view_and_copy(HostMemSpace(), evicted);
    auto n = Kokkos::create_mirror_view_and_copy(HostMemSpace(), evicted_count);
    return std::vector<std::int64_t>(&ev(seq, 0), &ev(seq, 0) + n(seq));
  }
};

}  // namespace policy

}  // namespace kvsim

#endif
