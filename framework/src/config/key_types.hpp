#pragma once
// The value types of config keys (the `type` column of keys.hpp): what C++ type a key's field
// has, the values a choice accepts and the names it prints. Names come from the registries'
// name functions, so a new precision, layout, policy or kernel is accepted, printed and
// documented here without an edit.
#include <cstdint>
#include <string>
#include <vector>

#include "kvsim/attention/attention_kernel.hpp"
#include "kvsim/attention/prefill_kernel.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/data_source.hpp"
#include "kvsim/core/launch_graph.hpp"
#include "kvsim/precision/codecs.hpp"

namespace kvsim {

// The config's own choices (how the driver runs a point, not what the cache is).
#define KVSIM_FILL_MODES(X) X(token) X(chunk) X(bulk)
#define KVSIM_RETRIEVE_MODES(X) X(per_layer) X(none)
#define KVSIM_ENUM_VALUE(n) n,
enum class FillMode : int { KVSIM_FILL_MODES(KVSIM_ENUM_VALUE) };
enum class RetrieveMode : int { KVSIM_RETRIEVE_MODES(KVSIM_ENUM_VALUE) };
#undef KVSIM_ENUM_VALUE
const char* fill_mode_name(FillMode m);
const char* retrieve_mode_name(RetrieveMode m);

inline constexpr std::int64_t kMaxContext = -1;             // max_positions: max, until resolved

namespace config_type {

// A choice among enum values: `values()` in the order messages and docs list them.
template <class E, const std::vector<E>& (*Values)(), const char* (*Name)(E)>
struct Choice {
  using value_type = E;
  static const std::vector<E>& values() { return Values(); }
  static const char* name(E e) { return Name(e); }
  static std::vector<std::string> names() {
    std::vector<std::string> out;
    for (E e : values()) out.emplace_back(name(e));
    return out;
  }
};

// The value lists. When the registries land (precision/layout/policy registry.hpp), each is
// the registry's all_*() list: change the one line in key_types.cpp.
const std::vector<codec::DType>& dtypes();
const std::vector<codec::DType>& output_dtypes();  // what a dense retrieve buffer holds
const std::vector<LayoutKind>& layouts();
const std::vector<PolicyKind>& policies();
const std::vector<FillMode>& fill_modes();
const std::vector<RetrieveMode>& retrieve_modes();
const std::vector<AttentionKernel>& kernels();
const std::vector<LaunchMode>& launches();
const std::vector<PrefillKernel>& prefill_kernels();
const std::vector<DataKind>& data_kinds();

const char* dtype_name(codec::DType d);

using dtype = Choice<codec::DType, dtypes, dtype_name>;
using out_dtype = Choice<codec::DType, output_dtypes, dtype_name>;
using layout = Choice<LayoutKind, layouts, layout_name>;
using policy = Choice<PolicyKind, policies, policy_name>;
using fill_mode = Choice<FillMode, fill_modes, fill_mode_name>;
using retrieve_mode = Choice<RetrieveMode, retrieve_modes, retrieve_mode_name>;
using kernel = Choice<AttentionKernel, kernels, attention_kernel_name>;
using launch = Choice<LaunchMode, launches, launch_mode_name>;
using prefill_kernel = Choice<PrefillKernel, prefill_kernels, prefill_kernel_name>;
using data_kind = Choice<DataKind, data_kinds, data_kind_name>;

struct i64 { using value_type = std::int64_t; };
struct u64 { using value_type = std::uint64_t; };
struct text { using value_type = std::string; };
struct flag { using value_type = bool; };
struct positions { using value_type = std::int64_t; };  // an integer, or `max` (kMaxContext)
struct lengths { using value_type = std::vector<std::int64_t>; };
struct mapping { using value_type = int; };  // sweep/zip: read by the sweep expansion

}  // namespace config_type
}  // namespace kvsim
