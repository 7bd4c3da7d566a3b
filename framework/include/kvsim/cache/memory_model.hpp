#pragma once
// Every allocation a KVCache makes, computed once from its design and the batch's lengths: the
// cache allocates exactly these, and the experiment's prediction of device memory (before any
// allocation, to size `max` contexts and to refuse points that do not fit) adds them up, so the
// two cannot drift apart.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/error.hpp"

namespace kvsim {

struct Allocation {
  const char* label = "";
  std::int64_t extent0 = 0, extent1 = 1;  // a 1-D allocation has extent1 = 1
  std::int64_t element_bytes = 1;
  // Part of the cache's footprint (allocated_bytes, the prediction): the sequences' lengths and
  // totals are bookkeeping, and a table the design does not use is a size of 0 or 1 that no
  // kernel reads.
  bool counted = true;
  std::int64_t elements() const { return extent0 * extent1; }
  std::int64_t bytes() const { return counted ? elements() * element_bytes : 0; }
};

struct MemoryModel {
  std::int64_t capacity = 0;      // slots per sequence
  std::int64_t max_length = 0;    // the longest sequence
  std::int64_t pool_pages = 0;    // paged: pages of the shared pool; else 0
  std::int64_t page_shift = 0;    // paged: log2(page_size)
  std::int64_t rows = 0;          // storage rows per (layer, K|V)
  std::int64_t elements = 0;      // stored values, all layers, K and V

  Allocation data, group_scales, head_scales, lengths, totals;
  Allocation block_table, free_pages, pages_held, stack_top;                                      // paged
  Allocation h2o_order_a, h2o_order_b, h2o_slot_position, h2o_scores, h2o_append_slot, h2o_evicted,
      h2o_evicted_count;                                                                         // h2o

  std::vector<const Allocation*> all() const {
    return {&data,        &group_scales, &head_scales,       &lengths,    &totals,          &block_table,
            &free_pages,  &pages_held,   &stack_top,         &h2o_order_a, &h2o_order_b,    &h2o_slot_position,
            &h2o_scores,  &h2o_append_slot, &h2o_evicted,    &h2o_evicted_count};
  }
  std::int64_t total_bytes() const {
    std::int64_t b = 0;
    for (const Allocation* a : all()) b += a->bytes();
    return b;
  }
};

// Stored bytes of one row (one position's K or V of one layer, every KV head), scales included.
inline std::int64_t row_storage_bytes(const CacheDesign& d) {
  return codec::data_bytes(d.dtype, d.row_values()) + 2 * codec::group_scale_count(d.dtype, d.row_values());
}

// Values of the dense retrieve buffer: K and V of every sequence, as many rows as the longest
// of `max_length` positions keeps.
inline std::int64_t dense_values(const CacheDesign& d, std::int64_t max_length) {
  return 2 * d.batch * std::min(d.capacity(), max_length) * d.row_values();
}

// Pages sequence of length `length` holds once positions up to `upto` are appended.
inline std::int64_t pages_for(const CacheDesign& d, std::int64_t length, std::int64_t upto) {
  const std::int64_t slots = std::min({upto, length, d.capacity()});
  return (slots + d.page_size - 1) / d.page_size;
}

inline MemoryModel memory_model(const CacheDesign& d, const std::vector<std::int64_t>& lengths) {
  MemoryModel m;
  m.capacity = d.capacity();
  m.max_length = lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
  const bool paged = layout_is_paged(d.layout);
  if (paged) {
    KVSIM_REQUIRE(d.page_size > 0 && (d.page_size & (d.page_size - 1)) == 0, "page_size must be a power of two");
    std::int64_t needed = 0;
    for (std::int64_t len : lengths) needed += pages_for(d, len, m.max_length);
    m.pool_pages = d.pool_pages > 0 ? d.pool_pages : needed;
    KVSIM_REQUIRE(m.pool_pages >= needed, "pool of ", m.pool_pages, " pages cannot hold the batch (needs ", needed, ")");
    while ((std::int64_t(1) << m.page_shift) < d.page_size) ++m.page_shift;
  }
  m.rows = dispatch_layout(d.layout, [&](auto t) {
    return LayoutTraits<decltype(t)::value>::storage_rows(d.batch, m.capacity, m.pool_pages, d.page_size);
  });
  m.elements = d.layers * 2 * m.rows * d.row_values();

  m.data = {"kvsim::kv_cache::data", codec::data_bytes(d.dtype, m.elements), 1, 1};
  m.group_scales = {"kvsim::kv_cache::group_scales", codec::group_scale_count(d.dtype, m.elements), 1, 2};
  m.head_scales = {"kvsim::kv_cache::head_scales", d.layers * 2 * d.kv_heads, 1, 4, codec::needs_head_scale(d.dtype)};
  // Every sequence's length, then the append step of its position 0 (KVCache).
  m.lengths = {"kvsim::kv_cache::lengths", 2 * d.batch, 1, 8, false};
  // Every sequence's total, then the largest of them (StoredCache::longest).
  m.totals = {"kvsim::kv_cache::totals", d.batch + 1, 1, 8, false};
  m.block_table = {"kvsim::kv_cache::block_table", d.batch, paged ? d.pages_per_sequence() : 0, 4};
  m.free_pages = {"kvsim::kv_cache::free_pages", m.pool_pages, 1, 4};
  m.pages_held = {"kvsim::kv_cache::pages_held", d.batch, 1, 8, paged};
  m.stack_top = {"kvsim::kv_cache::stack_top", 1, 1, 8, paged};
  const bool table = policy_is_table(d.policy);
  const std::int64_t hb = table ? d.batch : 0, hc = table ? m.capacity : 0;
  m.h2o_order_a = {"kvsim::h2o::order_a", hb, hc, 4};
  m.h2o_order_b = {"kvsim::h2o::order_b", hb, hc, 4};
  m.h2o_slot_position = {"kvsim::h2o::slot_position", hb, hc, 8};
  m.h2o_scores = {"kvsim::h2o::scores", hb, hc, 4};
  m.h2o_append_slot = {"kvsim::h2o::append_slot", hb, 1, 4};
  m.h2o_evicted = {"kvsim::h2o::evicted", hb, table ? std::max<std::int64_t>(1, m.max_length - m.capacity) : 0, 8};
  m.h2o_evicted_count = {"kvsim::h2o::evicted_count", hb, 1, 8};
  return m;
}

}  // namespace kvsim
