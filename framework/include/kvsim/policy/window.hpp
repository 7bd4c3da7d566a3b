// window: the last `window` positions (a sliding window).
#include "kvsim/policy/registry.hpp"
#ifndef KVSIM_POLICY_WINDOW_HPP
#define KVSIM_POLICY_WINDOW_HPP

namespace kvsim {

template <>
struct PolicyTraits<PolicyKind::window> : policy::Arithmetic<PolicyTraits<PolicyKind::window>> {
  static constexpr const char* name = "window";
  static constexpr std::array<std::string_view, 1> keys{"window"};
  template <class D>
  static std::int64_t capacity(const D& d) {
    return d.window;
  }
};

}  // namespace kvsim

#endif
