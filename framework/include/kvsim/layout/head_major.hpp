// head_major: [layer][K|V][seq][head][slot][dim], each head's slots one after another (a row's
// heads lie `slots` rows apart).
#include "kvsim/layout/registry.hpp"
#ifndef KVSIM_LAYOUT_HEAD_MAJOR_HPP
#define KVSIM_LAYOUT_HEAD_MAJOR_HPP

namespace kvsim {

template <>
struct LayoutTraits<LayoutKind::head_major> : SlotsPerSequence {
  static constexpr const char* name = "head_major";
  static constexpr bool rows_contiguous = false;
  template <class A>
  KOKKOS_INLINE_FUNCTION static std::int64_t index(const A& a, std::int64_t lk, std::int64_t seq, std::int64_t slot,
                                                   std::int64_t head, std::int64_t dim) {
    return (((lk * a.batch + seq) * a.kv_heads + head) * a.slots + slot) * a.head_dim + dim;
  }
};

}  // namespace kvsim

#endif
