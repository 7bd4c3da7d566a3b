// The storage layouts of the KV cache, declared once. Each layout is one file holding its
// traits (name, paged or not, whether a row's values are contiguous) and its addressing: where
// value (layer, K|V, seq, slot, head, dim) lives and how many rows its storage has. This list
// names them in the order of LayoutKind's stored values; names, parsing, the test loops and
// CacheAddressing's dispatch derive from it.
//
// Adding a layout: write layout/<name>.hpp after head_major.hpp's pattern, and add X(<name>)
// to the list and its #include below.
//
// Classic guards for the same reason as precision/registry.hpp: a layout file includes this
// registry first, so every layout is complete before the derived functions are compiled.
#ifndef KVSIM_LAYOUT_REGISTRY_HPP
#define KVSIM_LAYOUT_REGISTRY_HPP

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "kvsim/core/enum_list.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

#define KVSIM_LAYOUTS(X) X(contiguous) X(head_major) X(paged)

namespace kvsim {

#define KVSIM_X_ENUM(n) n,
enum class LayoutKind : int { KVSIM_LAYOUTS(KVSIM_X_ENUM) };
#undef KVSIM_X_ENUM

// Specialised in each layout's file: name, paged, rows_contiguous, storage_rows, index.
template <LayoutKind L>
struct LayoutTraits;

// The base of the layouts that give each sequence its own `capacity` slots.
struct SlotsPerSequence {
  static constexpr bool paged = false;
  static std::int64_t storage_rows(std::int64_t batch, std::int64_t capacity, std::int64_t /*pool_pages*/,
                                   std::int64_t /*page_size*/) {
    return batch * capacity;
  }
};

}  // namespace kvsim

#include "kvsim/layout/contiguous.hpp"
#include "kvsim/layout/head_major.hpp"
#include "kvsim/layout/paged.hpp"

namespace kvsim {

#define KVSIM_X_VALUE(n) , LayoutKind::n
using LayoutKinds = EnumList<LayoutKind KVSIM_LAYOUTS(KVSIM_X_VALUE)>;
#undef KVSIM_X_VALUE
inline constexpr std::size_t kLayoutCount = LayoutKinds::size;

KVSIM_ENUM_REGISTRY(LayoutKinds, LayoutKind, LayoutTraits, all_layouts, dispatch_layout, layout_name, parse_layout)

// Whether the layout stores rows in pages of a shared pool (a block table per sequence).
inline bool layout_is_paged(LayoutKind l) {
  return dispatch_layout(l, [](auto t) { return LayoutTraits<decltype(t)::value>::paged; });
}
// Whether a row's kv_heads * head_dim values lie next to each other.
inline bool layout_rows_contiguous(LayoutKind l) {
  return dispatch_layout(l, [](auto t) { return LayoutTraits<decltype(t)::value>::rows_contiguous; });
}

}  // namespace kvsim

#endif
