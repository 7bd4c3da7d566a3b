#pragma once
// The shared machinery of the design-axis registries (precision/, layout/, policy/): a list of
// enum values from an X-macro, iterated, dispatched to compile-time constants and parsed by
// name. Host side only: device code gets its constants from the dispatch.
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

namespace kvsim {

template <class E, E... Vs>
struct EnumList {
  static constexpr std::size_t size = sizeof...(Vs);

  static const std::array<E, size>& all() {
    static const std::array<E, size> a{Vs...};
    return a;
  }

  // fn(std::integral_constant<E, v>) for the runtime value v: one instance per listed value.
  // A value not in the list gets the last one's (callers only pass listed values).
  template <class Fn>
  static decltype(auto) dispatch(E v, Fn&& fn) {
    return dispatch_from<Vs...>(v, fn);
  }

  // The listed value whose name(v) is s, or nullopt.
  template <class NameFn>
  static std::optional<E> parse(std::string_view s, NameFn&& name) {
    for (E v : all())
      if (s == name(v)) return v;
    return std::nullopt;
  }

 private:
  template <E First, E... Rest, class Fn>
  static decltype(auto) dispatch_from(E v, Fn& fn) {
    if constexpr (sizeof...(Rest) == 0) {
      return fn(std::integral_constant<E, First>{});
    } else {
      if (v == First) return fn(std::integral_constant<E, First>{});
      return dispatch_from<Rest...>(v, fn);
    }
  }
};

}  // namespace kvsim
