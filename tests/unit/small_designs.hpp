#pragma once
// Small cache designs for the tests: every layout and policy, with odd lengths and a few
// layers, heads and pages, so a host reference can check every value.
#include "kvsim/cache/cache_design.hpp"

namespace kvsim::test {

struct SmallShape {
  std::int64_t heads, max_positions, page_size, window, sinks, heavy, recent;
};

inline CacheDesign small_design(codec::DType dt, LayoutKind layout, PolicyKind policy, const SmallShape& s) {
  CacheDesign d;
  d.layers = 2;
  d.heads = s.heads;
  d.kv_heads = 2;
  d.head_dim = 32;
  d.batch = 3;
  d.max_positions = s.max_positions;
  d.dtype = dt;
  d.layout = layout;
  d.page_size = s.page_size;
  d.policy = policy;
  d.window = s.window;
  d.sinks = s.sinks;
  d.heavy = s.heavy;
  d.recent = s.recent;
  return d;
}

}  // namespace kvsim::test
