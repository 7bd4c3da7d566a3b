// sinks: the first `sinks` positions for good (attention sinks, StreamingLLM) and the last
// `window` after them.
#include "kvsim/policy/registry.hpp"
#ifndef KVSIM_POLICY_SINKS_HPP
#define KVSIM_POLICY_SINKS_HPP

namespace kvsim {

template <>
struct PolicyTraits<PolicyKind::sinks> : policy::Arithmetic<PolicyTraits<PolicyKind::sinks>> {
  static constexpr const char* name = "sinks";
  static constexpr std::array<std::string_view, 2> keys{"window", "sinks"};
  template <class D>
  static std::int64_t capacity(const D& d) {
    return d.sinks + d.window;
  }
  template <class D>
  static std::int64_t sinks_kept(const D& d) {
    return d.sinks;
  }
};

}  // namespace kvsim

#endif
