#pragma once
// Streaming kernels over plain buffers: the bandwidth probes, and the weight read that token
// generation models. Each item moves 8 Float4: a GPU item takes vectors n8 apart (a warp stays
// contiguous, 8 loads in flight), a host item 8 consecutive ones (each core streams).
#include <type_traits>

#include "kvsim/core/kokkos_abstraction.hpp"

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

namespace kvsim::kernels {

// Block streaming: item i belongs to group i / T and moves U vectors of the group's contiguous
// run of T * U, lane i % T taking every T-th one. On a GPU T is the warp width, so each warp
// issues U independent 128-bit accesses over U * 512 contiguous bytes (the pattern of a Triton
// block-sum); on the host T = 1 and an item streams U consecutive vectors. The probes take the
// best of several U: which one reaches the memory's rate depends on the device.
template <class MemSpace>
constexpr std::int64_t block_lanes() {
  return std::is_same<MemSpace, Kokkos::HostSpace>::value ? 1 : 32;
}

template <class MemSpace, int U>
struct BlockRead {
  static constexpr std::int64_t T = block_lanes<MemSpace>();
  View1D<const Float4, MemSpace> src;
  View1D<float, MemSpace> sink;  // written only if the data were not what the probe wrote
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t base = (i / T) * T * U + i % T;
    Float4 v[U];
    for (int k = 0; k < U; ++k) v[k] = src(base + k * T);
    float s = 0;
    for (int k = 0; k < U; ++k) s += (v[k].v[0] + v[k].v[1]) + (v[k].v[2] + v[k].v[3]);
    // The sum of the probe's data is never this value, but the compiler cannot know, so every
    // load is kept and no item writes: the kernel moves read traffic only.
    if (s == -1234.5f) sink(0) = s;
  }
};

template <class MemSpace, int U>
struct BlockWrite {
  static constexpr std::int64_t T = block_lanes<MemSpace>();
  View1D<Float4, MemSpace> dst;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t base = (i / T) * T * U + i % T;
    const float x = float(i & 1023);
    for (int k = 0; k < U; ++k) dst(base + k * T) = Float4{{x, x, x, float(k)}};
  }
};

template <class MemSpace, int U>
struct BlockCopy {
  static constexpr std::int64_t T = block_lanes<MemSpace>();
  View1D<const Float4, MemSpace> src;
  View1D<Float4, MemSpace> dst;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    const std::int64_t base = (i / T) * T * U + i % T;
    Float4 v[U];
    for (int k = 0; k < U; ++k) v[k] = src(base + k * T);
    for (int k = 0; k < U; ++k) dst(base + k * T) = v[k];
  }
};

}  // namespace kvsim::kernels
