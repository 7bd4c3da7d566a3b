#pragma once
// Compares a dense retrieved layer with the synthetic values recomputed on the device, bit for
// bit, and folds the bits into an order-independent checksum that is the same on every backend.
#include <cstring>

#include "kvsim/kokkos_abstraction.hpp"
#include "kvsim/synthetic.hpp"

namespace kvsim::kernels {

struct VerifyTally {
  std::uint64_t mismatches = 0;
  std::uint64_t checksum = 0;
};

KOKKOS_INLINE_FUNCTION std::uint64_t checksum_term(std::uint64_t lane, std::uint64_t position, std::uint32_t bits) {
  return synthetic::mix64(lane * 0x9e3779b97f4a7c15ULL + synthetic::mix64((position << 32) ^ bits));
}

template <class MemSpace>
struct VerifyDenseLayer {
  using value_type = VerifyTally;

  View4D<const float, MemSpace> dense;  // [K|V][logical position][kv_head][dim]
  std::uint64_t seed;
  std::int64_t layer;
  std::int64_t valid;
  std::uint64_t first_position;  // absolute position of logical row 0
  std::int64_t kv_heads;
  std::int64_t head_dim;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i, value_type& acc) const {
    const std::int64_t dim = i % head_dim;
    std::int64_t t = i / head_dim;
    const std::int64_t head = t % kv_heads;
    t /= kv_heads;
    const std::int64_t p = t % valid;
    const std::int64_t kv = t / valid;
    const auto tensor = static_cast<synthetic::Tensor>(kv);
    const std::uint64_t pos = first_position + static_cast<std::uint64_t>(p);
    const float expected = synthetic::value(seed, static_cast<std::uint32_t>(layer), tensor, pos,
                                            static_cast<std::uint32_t>(head), static_cast<std::uint32_t>(dim));
    const float got = dense(kv, p, head, dim);
    std::uint32_t got_bits, expected_bits;
    memcpy(&got_bits, &got, sizeof got_bits);
    memcpy(&expected_bits, &expected, sizeof expected_bits);
    acc.mismatches += (got_bits != expected_bits) ? 1u : 0u;
    acc.checksum += checksum_term(synthetic::lane_key(static_cast<std::uint32_t>(layer), tensor,
                                                      static_cast<std::uint32_t>(head), static_cast<std::uint32_t>(dim)),
                                  pos, got_bits);
  }

  KOKKOS_INLINE_FUNCTION void init(value_type& v) const { v = VerifyTally{}; }
  KOKKOS_INLINE_FUNCTION void join(value_type& dst, const value_type& src) const {
    dst.mismatches += src.mismatches;
    dst.checksum += src.checksum;
  }
#if KOKKOS_VERSION < 40000
  // Kokkos 3.x joins through volatile references.
  KOKKOS_INLINE_FUNCTION void join(volatile value_type& dst, const volatile value_type& src) const {
    dst.mismatches += src.mismatches;
    dst.checksum += src.checksum;
  }
#endif
};

}  // namespace kvsim::kernels
