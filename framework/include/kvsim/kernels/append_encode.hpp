#pragma once
// Append positions [begin, end) of every sequence from the staging buffer into the cache,
// encoding to the storage precision on the way. One team per (layer, K|V, seq, position) row;
// its threads take the heads and its vector lanes the codec units along head_dim, so no lane
// does index division. Rows a later row of the same launch would overwrite are skipped, so
// no two writes race for a slot.
#include "kvsim/cache_addressing.hpp"
#include "kvsim/codecs/codecs.hpp"

namespace kvsim::kernels {

template <class ExecSpace, codec::DType D>
struct AppendEncode {
  using Codec = codec::Codec<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;
  using member_type = typename TeamPolicy<ExecSpace>::member_type;

  View1D<const float, MemSpace> stage;  // [layer][K|V][seq][j][head][dim], j = position - stage_begin
  std::int64_t stage_begin, stage_n;
  View1D<unsigned char, MemSpace> data;
  View1D<std::uint16_t, MemSpace> group_scales;
  View1D<const float, MemSpace> head_scales;  // [layer][K|V][head]
  CacheAddressing<MemSpace> addr;
  PolicyMap map;
  View1D<const std::int64_t, MemSpace> lengths;
  View1D<const std::int32_t, MemSpace> append_slot;  // h2o: the slot chosen for this position
  std::int64_t begin, end, batch;

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t rows = end - begin;
    std::int64_t r = team.league_rank();
    const std::int64_t p = begin + r % rows;
    r /= rows;
    const std::int64_t seq = r % batch;
    r /= batch;
    const std::int64_t kv = r % 2;
    const std::int64_t layer = r / 2;
    const std::int64_t len = lengths(seq);
    if (p >= len) return;
    if (!map.table && !map.kept_after(p, end < len ? end : len)) return;
    const std::int64_t slot = map.table ? std::int64_t(append_slot(seq)) : map.slot_of_position(p);
    const std::int64_t head_dim = addr.head_dim;
    const std::int64_t src_row = ((((layer * 2 + kv) * batch + seq) * stage_n + (p - stage_begin)) * addr.kv_heads) * head_dim;
    const int units = int(head_dim / Codec::unit);
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, int(addr.kv_heads)), [&](const int head) {
      float inv_scale = 1.0f;
      if (Codec::head_scale) inv_scale = 1.0f / head_scales((layer * 2 + kv) * addr.kv_heads + head);
      Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, units), [&](const int u) {
        const std::int64_t dim = std::int64_t(u) * Codec::unit;
        const float* src = stage.data() + src_row + head * head_dim + dim;
        float v[Codec::unit];
        for (int k = 0; k < Codec::unit; k += 4) {
          const Float4 q = reinterpret_cast<const Float4*>(src)[k / 4];
          v[k] = q.v[0], v[k + 1] = q.v[1], v[k + 2] = q.v[2], v[k + 3] = q.v[3];
        }
        Codec::encode(v, data.data(), addr.index(layer, kv, seq, slot, head, dim), group_scales.data(), inv_scale);
      });
    });
  }
};

}  // namespace kvsim::kernels
