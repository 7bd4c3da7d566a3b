#pragma once
// What a KV cache is made of (host side): shape, batch, precision, layout and eviction policy.
// The axes' traits live in their registries (precision/, layout/, policy/); this struct only
// holds one choice of each and the sizes they read.
#include <cstdint>

#include "kvsim/core/data_source.hpp"
#include "kvsim/layout/registry.hpp"
#include "kvsim/policy/registry.hpp"
#include "kvsim/precision/registry.hpp"

namespace kvsim {

// What a design may hold: the config's bounds and the capacity planner's searches.
inline constexpr std::int64_t kMaxPositions = std::int64_t(1) << 31;  // the most slots a sequence may have
inline constexpr std::int64_t kMaxBatch = std::int64_t(1) << 16;      // the most sequences in a batch

struct CacheDesign {
  std::int64_t layers = 0;
  std::int64_t heads = 0;  // query heads (decode attention); 0: as many as kv_heads
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t batch = 1;
  std::int64_t max_positions = 0;  // slots per sequence
  codec::DType dtype = codec::DType::fp32;
  LayoutKind layout = LayoutKind::contiguous;
  std::int64_t page_size = 16;   // paged only
  std::int64_t pool_pages = 0;   // paged only; 0: what the lengths need
  PolicyKind policy = PolicyKind::ring;
  std::int64_t window = 0;  // window, sinks: recent positions kept
  std::int64_t sinks = 0;   // sinks: first positions kept for good
  std::int64_t heavy = 0;   // h2o: heavy-hitter slots
  std::int64_t recent = 0;  // h2o: recent positions never evicted
  DataSource data;          // the K/V values appended (and what h2o ranks by)

  // Slots each sequence uses: what the policy keeps (policy/registry.hpp).
  std::int64_t capacity() const { return policy_capacity(policy, *this); }
  std::int64_t row_values() const { return kv_heads * head_dim; }
  std::int64_t query_heads() const { return heads > 0 ? heads : kv_heads; }
  std::int64_t pages_per_sequence() const { return (capacity() + page_size - 1) / page_size; }
};

}  // namespace kvsim
