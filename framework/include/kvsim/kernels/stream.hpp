#pragma once
// Streaming kernels over plain buffers: the bandwidth probes, and the weight read that token
// generation models. Each item moves 8 Float4: a GPU item takes vectors n8 apart (a warp stays
// contiguous, 8 loads in flight), a host item 8 consecutive ones (each core streams).
#include <type_traits>

#include "kvsim/kokkos_abstraction.hpp"

namespace kvsim::kernels {

template <class MemSpace>
struct StreamRead {
  using value_type = double;
  static constexpr bool on_host = std::is_same<MemSpace, Kokkos::HostSpace>::value;
  View1D<const Float4, MemSpace> src;
  std::int64_t n8;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i, double& acc) const {
    Float4 v[8];
    for (int k = 0; k < 8; ++k) v[k] = src(on_host ? 8 * i + k : i + k * n8);
    float s[4];  // four independent sums of a pairwise tree: no long dependency chain
    for (int j = 0; j < 4; ++j)
      s[j] = ((v[0].v[j] + v[1].v[j]) + (v[2].v[j] + v[3].v[j])) + ((v[4].v[j] + v[5].v[j]) + (v[6].v[j] + v[7].v[j]));
    acc += double((s[0] + s[1]) + (s[2] + s[3]));
  }
};

template <class MemSpace>
struct StreamWrite {
  static constexpr bool on_host = std::is_same<MemSpace, Kokkos::HostSpace>::value;
  View1D<Float4, MemSpace> dst;
  std::int64_t n8;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const float x = float(i & 1023);
    for (int k = 0; k < 8; ++k) dst(on_host ? 8 * i + k : i + k * n8) = Float4{{x, x, x, float(k)}};
  }
};

}  // namespace kvsim::kernels
