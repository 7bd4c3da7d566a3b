#pragma once
// Paged layout: a free-page stack shared by the batch. Pages move between the stack and the
// block tables on the device, in one launch per append (not per position), and the bookkeeping
// (pages held per sequence, stack top) lives on the device too: no host-device copy, so token
// and chunk fills keep streaming launches. One work item walks the batch in order, which keeps
// the page assignment deterministic; the host only checks the pool is large enough.
#include <string>
#include <vector>

#include "kvsim/cache/memory_model.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {
namespace kernels {

// Gives every sequence the pages its slots up to position `end` need.
template <class MemSpace>
struct AllocatePages {
  View2D<std::int32_t, MemSpace> block_table;
  View1D<const std::int32_t, MemSpace> free_stack;
  View1D<std::int64_t, MemSpace> held;       // [seq]: pages in its block table
  View1D<std::int64_t, MemSpace> stack_top;  // [1]
  View1D<const std::int64_t, MemSpace> lengths;
  View1D<const std::int64_t, MemSpace> starts;  // the step of each sequence's position 0
  std::int64_t end, capacity, page_size, batch;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t) const {
    std::int64_t top = stack_top(0);
    for (std::int64_t seq = 0; seq < batch; ++seq) {
      const std::int64_t upto = end - starts(seq);
      std::int64_t slots = upto < lengths(seq) ? upto : lengths(seq);
      slots = slots < capacity ? slots : capacity;
      slots = slots > 0 ? slots : 0;
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

}  // namespace kernels

// The pool's device state. Every layout has one (empty unless paged), so the read kernels see
// one block table type.
template <class ExecSpace>
struct PagePool {
  using memory_space = MemSpaceOf<ExecSpace>;
  View2D<std::int32_t, memory_space> block_table;
  View1D<std::int32_t, memory_space> free_stack;
  View1D<std::int64_t, memory_space> held;       // [seq]
  View1D<std::int64_t, memory_space> stack_top;  // [1]

  void allocate(const ExecSpace& exec, const MemoryModel& m) {
    block_table = View2D<std::int32_t, memory_space>(std::string(m.block_table.label), m.block_table.extent0,
                                                     m.block_table.extent1);
    free_stack = View1D<std::int32_t, memory_space>(
        Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string(m.free_pages.label)), m.free_pages.extent0);
    held = View1D<std::int64_t, memory_space>(std::string(m.pages_held.label), m.pages_held.extent0);
    stack_top = View1D<std::int64_t, memory_space>(std::string(m.stack_top.label), m.stack_top.extent0);
    if (m.pool_pages > 0) {
      Kokkos::parallel_for("kvsim::init_free_pages", RangePolicy<ExecSpace>(exec, 0, m.pool_pages),
                           kernels::InitFreeStack<memory_space>{free_stack, m.pool_pages});
      Kokkos::deep_copy(exec, stack_top, m.pool_pages);
    }
  }

  // Bytes of the tables (the held counts and stack top only count for a paged cache).
  std::int64_t bytes(bool paged) const {
    return 4 * std::int64_t(block_table.span() + free_stack.span()) + (paged ? 8 * std::int64_t(held.span() + stack_top.span()) : 0);
  }

  // Gives every sequence the pages its slots up to position `end` need (positions up to `from`
  // already have theirs), in one launch, and only when some sequence crosses into a new page.
  // Steps [from, end) appended (KVCache: sequence s holds positions up to step - starts[s]).
  void grow(const ExecSpace& exec, const CacheDesign& d, const std::vector<std::int64_t>& lengths,
            const std::vector<std::int64_t>& starts, const View1D<const std::int64_t, memory_space>& lengths_dev,
            const View1D<const std::int64_t, memory_space>& starts_dev, std::int64_t from, std::int64_t end) const {
    bool grows = false;
    const auto pages = [&](std::int64_t s, std::int64_t step) {
      return pages_for(d, lengths[s], std::max<std::int64_t>(0, step - starts[s]));
    };
    for (std::int64_t s = 0; s < d.batch && !grows; ++s) grows = pages(s, end) > pages(s, from);
    if (!grows) return;
    Kokkos::parallel_for("kvsim::allocate_pages", RangePolicy<ExecSpace>(exec, 0, 1),
                         kernels::AllocatePages<memory_space>{block_table, free_stack, held, stack_top, lengths_dev, starts_dev, end,
                                                              d.capacity(), d.page_size, d.batch});
  }

  void release(const ExecSpace& exec, std::int64_t batch) const {
    Kokkos::parallel_for("kvsim::release_pages", RangePolicy<ExecSpace>(exec, 0, 1),
                         kernels::ReleasePages<memory_space>{block_table, free_stack, held, stack_top, batch});
  }
};

}  // namespace kvsim
