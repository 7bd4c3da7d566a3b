#pragma once
// Append positions [begin, end) of every sequence from the staging buffer into the cache,
// encoding to the storage precision on the way. A work item is one lane of one row
// (layer, K|V, seq, position); it encodes K codec units spaced a row's lane count apart, so a
// warp's accesses stay contiguous and the row's index arithmetic is paid once per K units.
// Rows a later row of the same launch would overwrite are skipped, so no two writes race for
// a slot. K = 0 (host backends): an item is a whole row, walked in order.
#include <type_traits>

#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/precision/codecs.hpp"

namespace kvsim::kernels {

template <class ExecSpace, codec::DType D, int K>
struct AppendEncode {
  using Codec = codec::Codec<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;

  View1D<const float, MemSpace> stage;  // [layer][K|V][seq][j][head][dim], j = position - stage_begin
  std::int64_t stage_begin, stage_n;
  View1D<unsigned char, MemSpace> data;
  View1D<std::uint16_t, MemSpace> group_scales;
  View1D<const float, MemSpace> head_scales;  // [layer][K|V][head]
  CacheAddressing<MemSpace> addr;
  PolicyMap map;
  View1D<const std::int64_t, MemSpace> lengths;
  View1D<const std::int64_t, MemSpace> starts;  // the step of each sequence's position 0
  View1D<std::int64_t, MemSpace> totals;   // advanced here, so reads need no host copy
  View1D<std::int64_t, MemSpace> longest;  // [1]: the largest total, advanced here too
  View1D<const std::int32_t, MemSpace> append_slot;  // h2o: the slot chosen for this position
  std::int64_t begin, end, batch;
  std::int64_t lanes;  // per row: row values / (unit * K)

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w) const {
    const std::int64_t lane = w % lanes;
    std::int64_t r = w / lanes;
    const std::int64_t rows = end - begin;
    const std::int64_t step = begin + r % rows;
    r /= rows;
    const std::int64_t seq = r % batch;
    r /= batch;
    const std::int64_t kv = r % 2;
    const std::int64_t layer = r / 2;
    const std::int64_t len = lengths(seq), start = starts(seq);
    const std::int64_t p = step - start;  // this sequence's position
    const std::int64_t stop = end - start < len ? end - start : len;
    // One item per sequence (its first row's first lane) advances the sequence's length.
    if (step == begin && layer == 0 && kv == 0 && lane == 0 && stop > totals(seq)) {
      totals(seq) = stop;
      (void)Kokkos::atomic_fetch_max(&longest(0), stop);
    }
    if (p < 0 || p >= len) return;
    if (!map.table && !map.kept_after(p, stop)) return;
    const std::int64_t slot = map.table ? std::int64_t(append_slot(seq)) : map.slot_of_position(p);
    const std::int64_t row_values = addr.kv_heads * addr.head_dim;
    const float* src = stage.data() + (((layer * 2 + kv) * batch + seq) * stage_n + (step - stage_begin)) * row_values;
    const std::int64_t base = addr.index(layer, kv, seq, slot, 0, 0);
    const int count = K > 0 ? K : int(row_values / Codec::unit);  // K = 0: the whole row (host backends)
    const std::int64_t stride = K > 0 ? lanes : 1;
    for (int k = 0; k < count; ++k) {
      const std::int64_t j = (lane + k * stride) * Codec::unit;
      float v[Codec::unit];
      for (int m = 0; m < Codec::unit; m += 4) {
        const Float4 q = reinterpret_cast<const Float4*>(src + j)[m / 4];
        v[m] = q.v[0], v[m + 1] = q.v[1], v[m + 2] = q.v[2], v[m + 3] = q.v[3];
      }
      float inv_scale = 1.0f;
      if (Codec::head_scale) inv_scale = 1.0f / head_scales((layer * 2 + kv) * addr.kv_heads + j / addr.head_dim);
      Codec::encode(v, data.data(), row_element(addr, base, j), group_scales.data(), inv_scale);
    }
  }
};

}  // namespace kvsim::kernels

namespace kvsim {

// Calls fn(integral_constant K, lanes per row) for appends of rows of `row_values` values:
// each work item takes K codec units of a row, K as large as keeps 32 decoded values in
// registers, when the row divides evenly. Host backends want one row per work item (K = 0).
template <class ExecSpace, codec::DType D, class Fn>
void with_append_lanes(std::int64_t row_values, Fn&& fn) {
  constexpr bool on_host = std::is_same<MemSpaceOf<ExecSpace>, Kokkos::HostSpace>::value;
  constexpr int unit = codec::Codec<D>::unit;
  constexpr int kmax = unit >= 32 ? 1 : 32 / unit;
  const std::int64_t units = row_values / unit;
  if (on_host) {
    fn(std::integral_constant<int, 0>{}, std::int64_t(1));
  } else if (units % kmax == 0) {
    fn(std::integral_constant<int, kmax>{}, units / kmax);
  } else {
    fn(std::integral_constant<int, 1>{}, units);
  }
}

}  // namespace kvsim
