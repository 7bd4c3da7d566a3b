// ring: every position up to max_positions slots; past them the oldest is overwritten.
#include "kvsim/policy/registry.hpp"
#ifndef KVSIM_POLICY_RING_HPP
#define KVSIM_POLICY_RING_HPP

namespace kvsim {

template <>
struct PolicyTraits<PolicyKind::ring> : policy::Arithmetic<PolicyTraits<PolicyKind::ring>> {
  static constexpr const char* name = "ring";
  static constexpr std::array<std::string_view, 0> keys{};
  template <class D>
  static std::int64_t capacity(const D& d) {
    return d.max_positions;
  }
};

}  // namespace kvsim

#endif
