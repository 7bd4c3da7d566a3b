#pragma once
// Device-side addressing of a KV cache: where a value lives for each layout (dispatched to the
// layout's file through layout/registry.hpp), and which slot and position each logical
// (oldest-first) row maps to for each eviction policy (policy/policy_map.hpp).
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/layout/registry.hpp"
#include "kvsim/policy/policy_map.hpp"

namespace kvsim {

template <class MemSpace>
struct CacheAddressing {
  std::int64_t batch, kv_heads, head_dim, slots, page_shift, pages_per_seq, pool_pages;  // page size 2^page_shift
  int layout;
  bool paged, rows_contiguous;  // the layout's traits, looked up once on the host
  View2D<const std::int32_t, MemSpace> block_table;  // [seq][logical page] -> pool page (paged)

  static CacheAddressing make(const CacheDesign& d, std::int64_t page_shift, std::int64_t pool_pages,
                              const View2D<const std::int32_t, MemSpace>& block_table) {
    const bool paged = layout_is_paged(d.layout);
    return CacheAddressing{d.batch,    d.kv_heads,  d.head_dim, d.capacity(), page_shift, paged ? d.pages_per_sequence() : 0,
                           pool_pages, int(d.layout), paged,    layout_rows_contiguous(d.layout), block_table};
  }

  // Element index of value (layer, kv, seq, slot, head, dim) in the storage: the layout's own
  // formula (layout/<name>.hpp).
  KOKKOS_INLINE_FUNCTION std::int64_t index(std::int64_t layer, std::int64_t kv, std::int64_t seq, std::int64_t slot,
                                            std::int64_t head, std::int64_t dim) const {
    const std::int64_t lk = layer * 2 + kv;
#define KVSIM_X_INDEX(n) \
  if (layout == int(LayoutKind::n)) return LayoutTraits<LayoutKind::n>::index(*this, lk, seq, slot, head, dim);
    KVSIM_LAYOUTS(KVSIM_X_INDEX)
#undef KVSIM_X_INDEX
    return LayoutTraits<LayoutKind(kLayoutCount - 1)>::index(*this, lk, seq, slot, head, dim);  // not reached
  }
};

template <class MemSpace>
KOKKOS_INLINE_FUNCTION bool rows_are_contiguous(const CacheAddressing<MemSpace>& a) {
  return a.rows_contiguous;
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
  // [1]: the largest of totals, kept by the append on the device, so a kernel replayed from a
  // launch graph sizes its splits by the batch's longest sequence at the time it runs.
  View1D<const std::int64_t, MemSpace> longest;

  // Positions the longest sequence holds.
  KOKKOS_INLINE_FUNCTION std::int64_t longest_valid() const { return map.valid(longest(0)); }

  KOKKOS_INLINE_FUNCTION std::int64_t slot_of(std::int64_t seq, std::int64_t i, std::int64_t total) const {
    return map.table ? std::int64_t(order(seq, i)) : map.slot_of_position(map.position_of_logical(i, total));
  }
};

}  // namespace kvsim
