// paged: [layer][K|V][pool page][slot in page][head][dim]; a sequence's block table maps its
// logical pages to pages of a pool the batch shares (page_pool.hpp moves them). Page sizes are
// powers of two, so the split of a slot into (page, slot in page) is a shift and a mask.
#include "kvsim/layout/registry.hpp"
#ifndef KVSIM_LAYOUT_PAGED_HPP
#define KVSIM_LAYOUT_PAGED_HPP

namespace kvsim {

template <>
struct LayoutTraits<LayoutKind::paged> {
  static constexpr const char* name = "paged";
  static constexpr bool paged = true;
  static constexpr bool rows_contiguous = true;
  static std::int64_t storage_rows(std::int64_t /*batch*/, std::int64_t /*capacity*/, std::int64_t pool_pages,
                                   std::int64_t page_size) {
    return pool_pages * page_size;
  }
  template <class A>
  KOKKOS_INLINE_FUNCTION static std::int64_t index(const A& a, std::int64_t lk, std::int64_t seq, std::int64_t slot,
                                                   std::int64_t head, std::int64_t dim) {
    const std::int64_t page = a.block_table(seq, slot >> a.page_shift);
    return pool_index(a, lk, page, slot & ((std::int64_t(1) << a.page_shift) - 1), head, dim);
  }
  // The same from a pool page already looked up: linear in (page << page_shift) + in_page, so a
  // walk over a sequence's rows looks its block table up once a row and adds.
  template <class A>
  KOKKOS_INLINE_FUNCTION static std::int64_t pool_index(const A& a, std::int64_t lk, std::int64_t page,
                                                        std::int64_t in_page, std::int64_t head, std::int64_t dim) {
    return ((((lk * a.pool_pages + page) << a.page_shift) + in_page) * a.kv_heads + head) * a.head_dim + dim;
  }
};

}  // namespace kvsim

#endif
