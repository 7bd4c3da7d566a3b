#include "kvsim/cache_design.hpp"

namespace kvsim {

LayoutKind parse_layout(const std::string& s) {
  if (s == "head_major") return LayoutKind::head_major;
  if (s == "paged") return LayoutKind::paged;
  return LayoutKind::contiguous;
}

PolicyKind parse_policy(const std::string& s) {
  if (s == "window") return PolicyKind::window;
  if (s == "sinks") return PolicyKind::sinks;
  if (s == "h2o") return PolicyKind::h2o;
  return PolicyKind::ring;
}

const char* layout_name(LayoutKind l) {
  switch (l) {
    case LayoutKind::head_major: return "head_major";
    case LayoutKind::paged: return "paged";
    case LayoutKind::contiguous: break;
  }
  return "contiguous";
}

const char* policy_name(PolicyKind p) {
  switch (p) {
    case PolicyKind::window: return "window";
    case PolicyKind::sinks: return "sinks";
    case PolicyKind::h2o: return "h2o";
    case PolicyKind::ring: break;
  }
  return "ring";
}

}  // namespace kvsim
