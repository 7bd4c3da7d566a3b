#pragma once
// Device-side addressing of a KV cache: where a value lives for each layout, and which slot and
// position each logical (oldest-first) row maps to for each eviction policy.
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

template <class MemSpace>
struct CacheAddressing {
  std::int64_t batch, kv_heads, head_dim, slots, page_shift, pages_per_seq, pool_pages;  // page size 2^page_shift
  int layout;
  View2D<const std::int32_t, MemSpace> block_table;  // [seq][logical page] -> pool page (paged)

  // Element index of value (layer, kv, seq, slot, head, dim) in the storage.
  KOKKOS_INLINE_FUNCTION std::int64_t index(std::int64_t layer, std::int64_t kv, std::int64_t seq, std::int64_t slot,
                                            std::int64_t head, std::int64_t dim) const {
    const std::int64_t lk = layer * 2 + kv;
    if (layout == int(LayoutKind::contiguous))  // [layer][K|V][seq][slot][head][dim]
      return (((lk * batch + seq) * slots + slot) * kv_heads + head) * head_dim + dim;
    if (layout == int(LayoutKind::head_major))  // [layer][K|V][seq][head][slot][dim]
      return (((lk * batch + seq) * kv_heads + head) * slots + slot) * head_dim + dim;
    // paged: [layer][K|V][pool page][slot in page][head][dim]
    const std::int64_t page = block_table(seq, slot >> page_shift);
    const std::int64_t in_page = slot & ((std::int64_t(1) << page_shift) - 1);
    return ((((lk * pool_pages + page) << page_shift) + in_page) * kv_heads + head) * head_dim + dim;
  }
};

template <class MemSpace>
KOKKOS_INLINE_FUNCTION bool rows_are_contiguous(const CacheAddressing<MemSpace>& a) {
  return a.layout != int(LayoutKind::head_major);
}

// Element index of value j (= head * head_dim + dim) of a row, from the row's index(…, 0, 0):
// a row is contiguous except in the head-major layout, where each head's part lies `slots`
// rows apart.
template <class MemSpace>
KOKKOS_INLINE_FUNCTION std::int64_t row_element(const CacheAddressing<MemSpace>& a, std::int64_t row_base, std::int64_t j) {
  if (rows_are_contiguous(a)) return row_base + j;
  const std::int64_t head = j / a.head_dim;
  return row_base + head * (a.slots - 1) * a.head_dim + j;
}

// Ring, sliding window and sinks + window are arithmetic: the first `sinks` positions keep
// slots 0..sinks-1 for good; the rest cycle through a ring of `ring` slots after them.
// H2O is table-driven instead (order and slot_position tables on the device).
struct PolicyMap {
  std::int64_t sinks = 0;
  std::int64_t ring = 0;
  bool table = false;  // h2o

  static PolicyMap of(const CacheDesign& d) {
    PolicyMap m;
    m.table = d.policy == PolicyKind::h2o;
    m.sinks = d.policy == PolicyKind::sinks ? d.sinks : 0;
    m.ring = d.capacity() - m.sinks;
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

// What the read kernels (retrieve, decode attention) see of a cache: the stored bytes and
// scales, where rows live, and which slot each logical row is in.
template <class MemSpace>
struct StoredCache {
  View1D<const unsigned char, MemSpace> data;
  View1D<const std::uint16_t, MemSpace> group_scales;
  View1D<const float, MemSpace> head_scales;  // [layer][K|V][kv_head] (fp8)
  CacheAddressing<MemSpace> addr;
  PolicyMap map;
  View1D<const std::int64_t, MemSpace> totals;  // positions appended per sequence
  View2D<const std::int32_t, MemSpace> order;   // h2o: logical index -> slot

  KOKKOS_INLINE_FUNCTION std::int64_t slot_of(std::int64_t seq, std::int64_t i, std::int64_t total) const {
    return map.table ? std::int64_t(order(seq, i)) : map.slot_of_position(map.position_of_logical(i, total));
  }
};

}  // namespace kvsim
