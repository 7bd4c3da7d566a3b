#pragma once
#include <cstdint>

namespace kvsim {

// Geometry of one cache: what the storage kernels need, nothing about the experiment.
struct CacheShape {
  std::int64_t layers = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_positions = 0;

  std::int64_t row_elements() const { return kv_heads * head_dim; }  // one position of K (or V)
  std::int64_t elements() const { return layers * 2 * max_positions * row_elements(); }
};

}  // namespace kvsim
