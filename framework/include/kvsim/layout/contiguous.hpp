// contiguous: [layer][K|V][seq][slot][head][dim], each sequence's slots one after another.
#include "kvsim/layout/registry.hpp"
#ifndef KVSIM_LAYOUT_CONTIGUOUS_HPP
#define KVSIM_LAYOUT_CONTIGUOUS_HPP

namespace kvsim {

template <>
struct LayoutTraits<LayoutKind::contiguous> : SlotsPerSequence {
  static constexpr const char* name = "contiguous";
  static constexpr bool rows_contiguous = true;
  template <class A>
  KOKKOS_INLINE_FUNCTION static std::int64_t index(const A& a, std::int64_t lk, std::int64_t seq, std::int64_t slot,
                                                   std::int64_t head, std::int64_t dim) {
    return (((lk * a.batch + seq) * a.slots + slot) * a.kv_heads + head) * a.head_dim + dim;
  }
};

}  // namespace kvsim

#endif
