#pragma once
// The shared machinery of the design-axis registries (precision/, layout/, policy/): a list of
// enum values from an X-macro, iterated, dispatched to compile-time constants and parsed by
// name. Host side only: device code gets its constants from the dispatch.
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

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

// The functions every registry offers, from its EnumList `List` of enum E whose traits
// Traits<v> have a `name`: all_fn() (list order), dispatch_fn(v, fn) (host side), name_fn(v),
// parse_fn(s) (nullopt if s names none).
#define KVSIM_ENUM_REGISTRY(List, E, Traits, all_fn, dispatch_fn, name_fn, parse_fn)                       \
  inline const std::array<E, List::size>& all_fn() { return List::all(); }                                 \
  template <class Fn>                                                                                       \
  decltype(auto) dispatch_fn(E v, Fn&& fn) {                                                                \
    return List::dispatch(v, fn);                                                                           \
  }                                                                                                         \
  inline const char* name_fn(E v) {                                                                         \
    return dispatch_fn(v, [](auto t) { return Traits<decltype(t)::value>::name; });                         \
  }                                                                                                         \
  inline std::optional<E> parse_fn(std::string_view s) { return List::parse(s, name_fn); }

namespace kvsim {
// Values 0 .. N-1 of an enum whose enumerators are numbered in order from 0.
template <class E, std::size_t... I>
constexpr std::array<E, sizeof...(I)> enum_values(std::index_sequence<I...>) {
  return {E(I)...};
}
}  // namespace kvsim

// A host-side choice that is not a design axis with traits (which kernel, how launches run):
// from an X-macro list X(enumerator, "name"), the enum E, all_fn() in list order and name_fn(v).
#define KVSIM_NAMED_ENUM_ENUMERATOR(e, n) e,
#define KVSIM_NAMED_ENUM_NAME(e, n) n,
#define KVSIM_NAMED_ENUM(E, LIST, all_fn, name_fn)                                                          \
  enum class E : int { LIST(KVSIM_NAMED_ENUM_ENUMERATOR) };                                                 \
  inline constexpr const char* E##_names[] = {LIST(KVSIM_NAMED_ENUM_NAME)};                                 \
  inline constexpr std::size_t E##_count = sizeof(E##_names) / sizeof(E##_names[0]);                        \
  inline const std::array<E, E##_count>& all_fn() {                                                         \
    static constexpr std::array<E, E##_count> values = enum_values<E>(std::make_index_sequence<E##_count>{}); \
    return values;                                                                                          \
  }                                                                                                         \
  inline const char* name_fn(E v) { return std::size_t(v) < E##_count ? E##_names[std::size_t(v)] : "?"; }
