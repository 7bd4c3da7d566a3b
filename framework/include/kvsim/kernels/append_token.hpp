#pragma once
// Append one position to every layer's K and V in a single launch: the token-by-token fill of a
// decoding step. Each work item writes one 16-byte Float4 of synthetic values.
#include "kvsim/kokkos_abstraction.hpp"
#include "kvsim/synthetic.hpp"

namespace kvsim::kernels {

template <class MemSpace>
struct AppendSyntheticToken {
  View5D<float, MemSpace> storage;  // [layer][K|V][slot][kv_head][dim]
  std::int64_t slot;
  std::uint64_t position;
  std::uint64_t seed;
  std::int64_t kv_heads;
  std::int64_t head_dim4;

  // Work items: layers * 2 * kv_heads * head_dim/4.
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t d4 = i % head_dim4;
    std::int64_t t = i / head_dim4;
    const std::int64_t head = t % kv_heads;
    t /= kv_heads;
    const std::int64_t kv = t % 2;
    const std::int64_t layer = t / 2;
    Float4 out;
    for (int j = 0; j < 4; ++j) {
      out.v[j] = synthetic::value(seed, static_cast<std::uint32_t>(layer), static_cast<synthetic::Tensor>(kv),
                                  position, static_cast<std::uint32_t>(head), static_cast<std::uint32_t>(4 * d4 + j));
    }
    *reinterpret_cast<Float4*>(&storage(layer, kv, slot, head, 4 * d4)) = out;
  }
};

}  // namespace kvsim::kernels
