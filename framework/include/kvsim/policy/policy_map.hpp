#pragma once
// Which slot and position each logical (oldest-first) row maps to, on the device. Ring,
// sliding window and sinks + window are arithmetic: the first `sinks` positions keep slots
// 0..sinks-1 for good; the rest cycle through a ring of `ring` slots after them. Table
// policies (h2o) keep order and slot_position tables on the device instead.
#include <cstdint>

#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/policy/registry.hpp"

namespace kvsim {

struct PolicyMap {
  std::int64_t sinks = 0;
  std::int64_t ring = 0;
  bool table = false;  // h2o

  template <class Design>
  static PolicyMap of(const Design& d) {
    PolicyMap m;
    m.table = policy_is_table(d.policy);
    m.sinks = policy_sinks_kept(d.policy, d);
    m.ring = policy_capacity(d.policy, d) - m.sinks;
    return m;
  }
  KOKKOS_INLINE_FUNCTION std::int64_t capacity() const { return sinks + ring; }
  KOKKOS_INLINE_FUNCTION std::int64_t valid(std::int64_t total) const { return total < capacity() ? total : capacity(); }
  KOKKOS_INLINE_FUNCTION std::int64_t slot_of_position(std::int64_t p) const {
    if (p < sinks) return p;
    const std::int64_t o = p - sinks;
    // 64-bit division is a long software routine on GPUs; every read kernel calls this per row.
    if (((o | ring) >> 32) == 0) return sinks + std::int64_t(std::uint32_t(o) % std::uint32_t(ring));
    return sinks + o % ring;
  }
  KOKKOS_INLINE_FUNCTION std::int64_t position_of_logical(std::int64_t i, std::int64_t total) const {
    return (total <= capacity() || i < sinks) ? i : total - ring + (i - sinks);
  }
  // Whether position p survives once positions up to `end` (exclusive) are appended: within one
  // launch only the survivors are written, so no two writes race for a slot.
  KOKKOS_INLINE_FUNCTION bool kept_after(std::int64_t p, std::int64_t end) const {
    return p < sinks || p >= end - ring;
  }
};

}  // namespace kvsim
