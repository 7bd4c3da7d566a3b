#pragma once
// What a KV cache is made of (host side): shape, batch, precision, layout and eviction policy.
#include <cstdint>
#include <string>

#include "kvsim/precision/codecs.hpp"

namespace kvsim {

enum class LayoutKind : int { contiguous = 0, head_major = 1, paged = 2 };
enum class PolicyKind : int { ring = 0, window = 1, sinks = 2, h2o = 3 };

inline LayoutKind parse_layout(const std::string& s) {
  if (s == "head_major") return LayoutKind::head_major;
  if (s == "paged") return LayoutKind::paged;
  return LayoutKind::contiguous;
}

inline PolicyKind parse_policy(const std::string& s) {
  if (s == "window") return PolicyKind::window;
  if (s == "sinks") return PolicyKind::sinks;
  if (s == "h2o") return PolicyKind::h2o;
  return PolicyKind::ring;
}

inline const char* layout_name(LayoutKind l) {
  switch (l) {
    case LayoutKind::head_major: return "head_major";
    case LayoutKind::paged: return "paged";
    case LayoutKind::contiguous: break;
  }
  return "contiguous";
}

inline const char* policy_name(PolicyKind p) {
  switch (p) {
    case PolicyKind::window: return "window";
    case PolicyKind::sinks: return "sinks";
    case PolicyKind::h2o: return "h2o";
    case PolicyKind::ring: break;
  }
  return "ring";
}

struct CacheDesign {
  std::int64_t layers = 0;
  std::int64_t heads = 0;  // query heads (decode attention); 0: as many as kv_heads
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t batch = 1;
  std::int64_t max_positions = 0;  // slots per sequence
  codec::DType dtype = codec::DType::fp32;
  LayoutKind layout = LayoutKind::contiguous;
  std::int64_t page_size = 16;   // paged only
  std::int64_t pool_pages = 0;   // paged only; 0: what the lengths need
  PolicyKind policy = PolicyKind::ring;
  std::int64_t window = 0;  // window, sinks: recent positions kept
  std::int64_t sinks = 0;   // sinks: first positions kept for good
  std::int64_t heavy = 0;   // h2o: heavy-hitter slots
  std::int64_t recent = 0;  // h2o: recent positions never evicted

  // Slots each sequence uses: what the policy keeps.
  std::int64_t capacity() const {
    switch (policy) {
      case PolicyKind::window: return window;
      case PolicyKind::sinks: return sinks + window;
      case PolicyKind::h2o: return heavy + recent;
      case PolicyKind::ring: break;
    }
    return max_positions;
  }
  std::int64_t row_values() const { return kv_heads * head_dim; }
  std::int64_t query_heads() const { return heads > 0 ? heads : kv_heads; }
  std::int64_t pages_per_sequence() const { return (capacity() + page_size - 1) / page_size; }
};

}  // namespace kvsim
