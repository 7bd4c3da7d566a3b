#pragma once
// How many sequences of what length fit in a given memory: the answers `kvsim plan` prints,
// computed from memory_model(), the allocations a KVCache makes, so that a plan and a run
// cannot disagree by one byte.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvsim/cache/memory_model.hpp"
#include "kvsim/core/error.hpp"

namespace kvsim {

struct CapacityPlan {
  std::int64_t context = 0;             // positions each sequence reaches
  std::int64_t held = 0;                // positions a sequence keeps: min(context, the policy's capacity)
  std::int64_t bytes_per_position = 0;  // K and V of every layer, scales included
  std::int64_t bytes_per_sequence = 0;  // stored K/V a sequence allocates (whole pages when paged)
  std::int64_t pages_per_sequence = 0;  // paged: pages the held positions take; else 0
  std::int64_t total_bytes = 0;         // everything the cache allocates at this batch
  std::int64_t fixed_bytes = 0;         // of which: per-head scales, bookkeeping, tables, spare pool pages
  std::int64_t largest_batch = 0;       // sequences of `context` positions that fit in the memory
  std::int64_t largest_context = 0;     // at this batch (kMaxPositions: any context fits)
  // vLLM's count for a paged cache (KV data of whole pages only, no tables): pages of all layers
  // that fit, and the concurrency they give at `context` positions a sequence.
  std::int64_t pages_that_fit = 0;
  double page_concurrency = 0;
};

namespace detail {

inline CacheDesign with_batch_context(CacheDesign d, std::int64_t batch, std::int64_t context, bool grow_slots) {
  d.batch = batch;
  d.pool_pages = 0;  // a plan sizes the pool to what the batch needs
  if (grow_slots) d.max_positions = context;
  return d;
}

inline std::int64_t allocated(const CacheDesign& d, std::int64_t context) {
  return memory_model(d, std::vector<std::int64_t>(std::size_t(d.batch), context)).total_bytes();
}

// Largest n in [lo, hi] with fits(n), given fits(lo); monotone.
template <class Fits>
std::int64_t largest(std::int64_t lo, std::int64_t hi, Fits fits) {
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) lo = mid; else hi = mid - 1;
  }
  return lo;
}

}  // namespace detail

// d: the design as configured (its batch and max_positions); context: the positions each
// sequence reaches (fill and decode); memory: bytes available to the cache.
inline CapacityPlan plan_capacity(const CacheDesign& d, std::int64_t context, std::int64_t memory) {
  KVSIM_REQUIRE(context >= 1 && memory >= 0, "a plan needs a context of at least one position");
  const bool paged = layout_is_paged(d.layout);
  CapacityPlan p;
  p.context = context;
  // At the configured batch, the design as it is (a pool_pages given stays): what a run allocates.
  p.held = std::min(context, d.capacity());
  p.bytes_per_position = d.layers * 2 * row_storage_bytes(d);
  p.pages_per_sequence = paged ? pages_for(d, context, context) : 0;
  // What a sequence's stored K/V take: its pages, or every slot of a contiguous sequence.
  p.bytes_per_sequence = p.bytes_per_position * (paged ? p.pages_per_sequence * d.page_size : d.capacity());
  p.total_bytes = detail::allocated(d, context);
  p.fixed_bytes = p.total_bytes - d.batch * p.bytes_per_sequence;

  auto batch_fits = [&](std::int64_t b) {
    return detail::allocated(detail::with_batch_context(d, b, context, false), context) <= memory;
  };
  p.largest_batch = batch_fits(1) ? detail::largest(1, kMaxBatch, batch_fits) : 0;

  // A ring keeps every position up to max_positions, so the context it holds grows with the
  // slots; a window's capacity does not follow max_positions, and only its bookkeeping (h2o's
  // log of evicted positions) grows with the context.
  const bool grow = detail::with_batch_context(d, d.batch, kMaxPositions, true).capacity() == kMaxPositions;
  auto context_fits = [&](std::int64_t n) {
    return detail::allocated(detail::with_batch_context(d, d.batch, n, grow), n) <= memory;
  };
  p.largest_context = context_fits(1) ? detail::largest(1, kMaxPositions, context_fits) : 0;

  if (paged) {
    const std::int64_t page_bytes = p.bytes_per_position * d.page_size;
    p.pages_that_fit = memory / page_bytes;
    p.page_concurrency = double(p.pages_that_fit) / double(p.pages_per_sequence);
  }
  return p;
}

}  // namespace kvsim
