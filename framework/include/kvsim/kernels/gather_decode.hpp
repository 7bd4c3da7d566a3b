#pragma once
// One retrieve op: a layer's valid K and V for every sequence, decoded to dense fp32 (or fp16)
// in logical (oldest-first) order: out[K|V][seq][i][head][dim], rows past a sequence's valid
// length untouched. A team takes kRows consecutive logical rows of one (K|V, seq); each lane
// decodes 4 values of every row before storing any, so kRows independent loads are in flight.
#include "kvsim/cache_addressing.hpp"
#include "kvsim/codecs/codecs.hpp"

namespace kvsim::kernels {

inline constexpr int kGatherRows = 4;

template <class Out>
struct DenseStore;
template <>
struct DenseStore<float> {
  KOKKOS_INLINE_FUNCTION static void store(float* out, std::int64_t idx, const float* v) {
    Float4 q;
    for (int k = 0; k < 4; ++k) q.v[k] = v[k];
    reinterpret_cast<Float4*>(out + idx)[0] = q;
  }
};
template <>
struct DenseStore<std::uint16_t> {
  KOKKOS_INLINE_FUNCTION static void store(std::uint16_t* out, std::int64_t idx, const float* v) {
    codec::Half4 q;
    for (int k = 0; k < 4; ++k) q.v[k] = codec::float_to_half(v[k]);
    reinterpret_cast<codec::Half4*>(out + idx)[0] = q;
  }
};

template <class ExecSpace, codec::DType D, class Out>
struct GatherDecode {
  using Codec = codec::Codec<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;
  using member_type = typename TeamPolicy<ExecSpace>::member_type;

  View1D<const unsigned char, MemSpace> data;
  View1D<const std::uint16_t, MemSpace> group_scales;
  View1D<const float, MemSpace> head_scales;
  CacheAddressing<MemSpace> addr;
  PolicyMap map;
  View1D<const std::int64_t, MemSpace> totals;
  View2D<const std::int32_t, MemSpace> order;  // h2o: logical index -> slot
  View1D<Out, MemSpace> out;
  std::int64_t layer, batch, max_valid, blocks;  // blocks of kGatherRows rows per (K|V, seq)

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t block = team.league_rank() % blocks;
    const std::int64_t seq = (team.league_rank() / blocks) % batch;
    const std::int64_t kv = team.league_rank() / (blocks * batch);
    const std::int64_t total = totals(seq);
    const std::int64_t valid = map.valid(total);
    const std::int64_t first = block * kGatherRows;
    if (first >= valid) return;
    const int nrows = int(valid - first < kGatherRows ? valid - first : kGatherRows);
    // Consecutive logical rows sit in consecutive slots, wrapping from the ring's end back to
    // its start: one modulo per team, not one per row.
    std::int64_t slots[kGatherRows];
    std::int64_t s = map.table ? std::int64_t(order(seq, first)) : map.slot_of_position(map.position_of_logical(first, total));
    slots[0] = s;
    for (int r = 1; r < kGatherRows; ++r) {
      const std::int64_t i = first + (r < nrows ? r : 0);
      if (map.table) {
        s = order(seq, i);
      } else if (i <= map.sinks) {
        s = map.slot_of_position(map.position_of_logical(i, total));
      } else if (r < nrows) {
        s = (s + 1 == map.capacity()) ? map.sinks : s + 1;
      }
      slots[r] = s;
    }
    const std::int64_t head_dim = addr.head_dim;
    const std::int64_t row = addr.kv_heads * head_dim;
    Out* dst = out.data() + ((kv * batch + seq) * max_valid + first) * row;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, int(addr.kv_heads)), [&](const int head) {
      float scale = 1.0f;
      if (Codec::head_scale) scale = head_scales((layer * 2 + kv) * addr.kv_heads + head);
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, int(head_dim / 4)), [&](const int u) {
        float v[kGatherRows][4];
        for (int r = 0; r < kGatherRows; ++r)
          if (r < nrows)
            Codec::decode4(data.data(), addr.index(layer, kv, seq, slots[r], head, 4 * u), group_scales.data(), scale, v[r]);
        for (int r = 0; r < kGatherRows; ++r)
          if (r < nrows) DenseStore<Out>::store(dst, r * row + head * head_dim + 4 * u, v[r]);
      });
    });
  }
};

}  // namespace kvsim::kernels
