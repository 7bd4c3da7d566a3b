#pragma once
// Paged layout: a free-page stack shared by the batch. Pages move between the stack and the
// block tables on the device, in one launch per append (not per position), and the bookkeeping
// (pages held per sequence, stack top) lives on the device too: no host-device copy, so token
// and chunk fills keep streaming launches. One work item walks the batch in order, which keeps
// the page assignment deterministic; the host only checks the pool is large enough.
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim::kernels {

// Gives every sequence the pages its slots up to position `end` need.
template <class MemSpace>
struct AllocatePages {
  View2D<std::int32_t, MemSpace> block_table;
  View1D<const std::int32_t, MemSpace> free_stack;
  View1D<std::int64_t, MemSpace> held;       // [seq]: pages in its block table
  View1D<std::int64_t, MemSpace> stack_top;  // [1]
  View1D<const std::int64_t, MemSpace> lengths;
  std::int64_t end, capacity, page_size, batch;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t) const {
    std::int64_t top = stack_top(0);
    for (std::int64_t seq = 0; seq < batch; ++seq) {
      std::int64_t slots = end < lengths(seq) ? end : lengths(seq);
      slots = slots < capacity ? slots : capacity;
      const std::int64_t want = (slots + page_size - 1) / page_size;
      for (std::int64_t lp = held(seq); lp < want; ++lp) {
        if (top <= 0) Kokkos::abort("kvsim: page pool exhausted");  // the host sizes the pool so this cannot happen
        block_table(seq, lp) = free_stack(--top);
      }
      if (want > held(seq)) held(seq) = want;
    }
    stack_top(0) = top;
  }
};

// Returns every sequence's pages to the stack.
template <class MemSpace>
struct ReleasePages {
  View2D<std::int32_t, MemSpace> block_table;
  View1D<std::int32_t, MemSpace> free_stack;
  View1D<std::int64_t, MemSpace> held;
  View1D<std::int64_t, MemSpace> stack_top;
  std::int64_t batch;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t) const {
    std::int64_t top = stack_top(0);
    for (std::int64_t seq = 0; seq < batch; ++seq) {
      for (std::int64_t lp = held(seq) - 1; lp >= 0; --lp) {
        free_stack(top++) = block_table(seq, lp);
        block_table(seq, lp) = -1;
      }
      held(seq) = 0;
    }
    stack_top(0) = top;
  }
};

template <class MemSpace>
struct InitFreeStack {
  View1D<std::int32_t, MemSpace> free_stack;
  std::int64_t pages;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { free_stack(i) = std::int32_t(pages - 1 - i); }
};

}  // namespace kvsim::kernels
