// The eviction policies of the KV cache, declared once. Each policy is one file holding its
// traits: the cache keys it reads (the config's "applies when"), THE capacity rule (slots a
// sequence keeps), how its slots are found (arithmetic: sinks kept for good and a ring after
// them, see policy_map.hpp; or a device table), its state and step where it has any (h2o), and
// the host model of which positions it retains, which the tests compare the cache with. This
// list names them in the order of PolicyKind's stored values; names, parsing, the test loops,
// capacity and PolicyMap derive from it.
//
// The functions take any design-like struct with the fields max_positions, window, sinks,
// heavy, recent (CacheDesign, the config's cache section), so the config and the cache share
// one rule without either depending on the other.
//
// Adding a policy: write policy/<name>.hpp after window.hpp's pattern (or h2o.hpp's, for one
// with state), add X(<name>) to the list and its #include below, and its field to the design.
//
// Classic guards for the same reason as precision/registry.hpp.
#ifndef KVSIM_POLICY_REGISTRY_HPP
#define KVSIM_POLICY_REGISTRY_HPP

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kvsim/core/enum_list.hpp"

#define KVSIM_POLICIES(X) X(ring) X(window) X(sinks) X(h2o)

namespace kvsim {

#define KVSIM_X_ENUM(n) n,
enum class PolicyKind : int { KVSIM_POLICIES(KVSIM_X_ENUM) };
#undef KVSIM_X_ENUM

// Specialised in each policy's file: name, keys, table, capacity, sinks_kept, host_retained.
template <PolicyKind P>
struct PolicyTraits;

namespace policy {
// Positions [0, len) an arithmetic policy holds, oldest first: the first `sinks` for good and
// the last capacity - sinks after them.
inline std::vector<std::int64_t> arithmetic_retained(std::int64_t sinks, std::int64_t capacity, std::int64_t len) {
  std::vector<std::int64_t> keep;
  for (std::int64_t p = 0; p < len; ++p)
    if (p < sinks || p >= len - (capacity - sinks)) keep.push_back(p);
  return keep;
}

// The base of the arithmetic policies (PolicyMap's sinks + ring); Self gives capacity and, if
// it keeps sinks, sinks_kept.
template <class Self>
struct Arithmetic {
  static constexpr bool table = false;
  template <class D>
  static std::int64_t sinks_kept(const D&) {
    return 0;
  }
  template <class D>
  static std::vector<std::int64_t> host_retained(const D& d, std::uint64_t, std::int64_t, std::int64_t len) {
    return arithmetic_retained(Self::sinks_kept(d), Self::capacity(d), len);
  }
};
}  // namespace policy

}  // namespace kvsim

#include "kvsim/policy/ring.hpp"
#include "kvsim/policy/window.hpp"
#include "kvsim/policy/sinks.hpp"
#include "kvsim/policy/h2o.hpp"

namespace kvsim {

#define KVSIM_X_VALUE(n) , PolicyKind::n
using PolicyKinds = EnumList<PolicyKind KVSIM_POLICIES(KVSIM_X_VALUE)>;
#undef KVSIM_X_VALUE
inline constexpr std::size_t kPolicyCount = PolicyKinds::size;

KVSIM_ENUM_REGISTRY(PolicyKinds, PolicyKind, PolicyTraits, all_policies, dispatch_policy, policy_name, parse_policy)

// The cache keys (under cache:) policy p reads, besides max_positions.
inline std::vector<std::string_view> policy_keys(PolicyKind p) {
  return dispatch_policy(p, [](auto t) {
    const auto& k = PolicyTraits<decltype(t)::value>::keys;
    return std::vector<std::string_view>(k.begin(), k.end());
  });
}
inline bool policy_uses_key(PolicyKind p, std::string_view key) {
  const auto k = policy_keys(p);
  return std::find(k.begin(), k.end(), key) != k.end();
}
// The policies that read `key`, in list order.
inline std::vector<PolicyKind> policies_using(std::string_view key) {
  std::vector<PolicyKind> out;
  for (PolicyKind p : all_policies())
    if (policy_uses_key(p, key)) out.push_back(p);
  return out;
}

// Slots each sequence uses: what the policy keeps. The one capacity rule.
template <class Design>
std::int64_t policy_capacity(PolicyKind p, const Design& d) {
  return dispatch_policy(p, [&](auto t) { return PolicyTraits<decltype(t)::value>::capacity(d); });
}
// The same, for a design that carries its policy (CacheDesign, the config's resolved cache).
template <class Design>
std::int64_t capacity(const Design& d) {
  return policy_capacity(d.policy, d);
}
// Positions kept for good at the front (before the ring) by an arithmetic policy.
template <class Design>
std::int64_t policy_sinks_kept(PolicyKind p, const Design& d) {
  return dispatch_policy(p, [&](auto t) { return PolicyTraits<decltype(t)::value>::sinks_kept(d); });
}
// Whether the policy finds slots through device tables (state and a step per position) rather
// than arithmetic.
inline bool policy_is_table(PolicyKind p) {
  return dispatch_policy(p, [](auto t) { return PolicyTraits<decltype(t)::value>::table; });
}

// Which positions of sequence `seq` of length `len` the cache holds, oldest first: the host
// model of d.policy, independent of the device code.
template <class Design>
std::vector<std::int64_t> host_retained(const Design& d, std::uint64_t seed, std::int64_t seq, std::int64_t len) {
  return dispatch_policy(d.policy, [&](auto t) { return PolicyTraits<decltype(t)::value>::host_retained(d, seed, seq, len); });
}

}  // namespace kvsim

#endif
