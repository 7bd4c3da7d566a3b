#pragma once
// Paged layout: a free-page stack shared by the batch. Pages move between the stack and the
// block tables in batched launches; the host only tracks counts (it knows every sequence's
// length), so no position ever needs a device-to-host round trip.
#include "kvsim/kokkos_abstraction.hpp"

namespace kvsim::kernels {

// Pops pages for block-table entries [from(seq), to(seq)) of every sequence. Sequence seq takes
// the pages below stack position top - offset(seq), in order.
template <class MemSpace>
struct AllocatePages {
  View2D<std::int32_t, MemSpace> block_table;
  View1D<const std::int32_t, MemSpace> free_stack;
  View1D<const std::int64_t, MemSpace> from, to, offset;
  std::int64_t top;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t seq) const {
    for (std::int64_t lp = from(seq); lp < to(seq); ++lp)
      block_table(seq, lp) = free_stack(top - 1 - offset(seq) - (lp - from(seq)));
  }
};

// Pushes every page of every sequence back: sequence seq's `count(seq)` pages go to stack
// positions top + offset(seq) ...
template <class MemSpace>
struct ReleasePages {
  View2D<std::int32_t, MemSpace> block_table;
  View1D<std::int32_t, MemSpace> free_stack;
  View1D<const std::int64_t, MemSpace> count, offset;
  std::int64_t top;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t seq) const {
    for (std::int64_t lp = count(seq) - 1, k = 0; lp >= 0; --lp, ++k) {
      free_stack(top + offset(seq) + k) = block_table(seq, lp);
      block_table(seq, lp) = -1;
    }
  }
};

template <class MemSpace>
struct InitFreeStack {
  View1D<std::int32_t, MemSpace> free_stack;
  std::int64_t pages;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { free_stack(i) = std::int32_t(pages - 1 - i); }
};

}  // namespace kvsim::kernels
