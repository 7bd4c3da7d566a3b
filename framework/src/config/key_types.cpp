#include "config/key_types.hpp"

namespace kvsim {

#define KVSIM_ENUM_CASE(E, n) \
  case E::n: return #n;
const char* fill_mode_name(FillMode m) {
#define KVSIM_FILL_CASE(n) KVSIM_ENUM_CASE(FillMode, n)
  switch (m) { KVSIM_FILL_MODES(KVSIM_FILL_CASE) }
#undef KVSIM_FILL_CASE
  return "?";
}
const char* retrieve_mode_name(RetrieveMode m) {
#define KVSIM_RETRIEVE_CASE(n) KVSIM_ENUM_CASE(RetrieveMode, n)
  switch (m) { KVSIM_RETRIEVE_MODES(KVSIM_RETRIEVE_CASE) }
#undef KVSIM_RETRIEVE_CASE
  return "?";
}
#undef KVSIM_ENUM_CASE

namespace config_type {

const char* dtype_name(codec::DType d) { return codec::name(d); }

// The registries' lists (precision/, layout/, policy/registry.hpp): a design added there is a
// value the config accepts.
const std::vector<codec::DType>& dtypes() {
  static const std::vector<codec::DType> v(codec::all_dtypes().begin(), codec::all_dtypes().end());
  return v;
}
const std::vector<codec::DType>& output_dtypes() {
  static const std::vector<codec::DType> v{codec::DType::fp32, codec::DType::fp16};
  return v;
}
const std::vector<LayoutKind>& layouts() {
  static const std::vector<LayoutKind> v(all_layouts().begin(), all_layouts().end());
  return v;
}
const std::vector<PolicyKind>& policies() {
  static const std::vector<PolicyKind> v(all_policies().begin(), all_policies().end());
  return v;
}
const std::vector<AttentionKernel>& kernels() {
  static const std::vector<AttentionKernel> v(all_attention_kernels().begin(), all_attention_kernels().end());
  return v;
}
const std::vector<LaunchMode>& launches() {
  static const std::vector<LaunchMode> v(all_launch_modes().begin(), all_launch_modes().end());
  return v;
}
const std::vector<PrefillKernel>& prefill_kernels() {
  static const std::vector<PrefillKernel> v(all_prefill_kernels().begin(), all_prefill_kernels().end());
  return v;
}
const std::vector<DataKind>& data_kinds() {
  static const std::vector<DataKind> v(all_data_kinds().begin(), all_data_kinds().end());
  return v;
}
#define KVSIM_ENUM_ITEM_F(n) FillMode::n,
const std::vector<FillMode>& fill_modes() {
  static const std::vector<FillMode> v{KVSIM_FILL_MODES(KVSIM_ENUM_ITEM_F)};
  return v;
}
#undef KVSIM_ENUM_ITEM_F
#define KVSIM_ENUM_ITEM_R(n) RetrieveMode::n,
const std::vector<RetrieveMode>& retrieve_modes() {
  static const std::vector<RetrieveMode> v{KVSIM_RETRIEVE_MODES(KVSIM_ENUM_ITEM_R)};
  return v;
}
#undef KVSIM_ENUM_ITEM_R

}  // namespace config_type
}  // namespace kvsim
