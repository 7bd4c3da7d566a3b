#pragma once
// One retrieve op: a layer's valid K and V for every sequence, decoded to dense fp32 (or fp16)
// in logical (oldest-first) order: out[K|V][seq][i][head][dim], rows past a sequence's valid
// length untouched. A work item is one lane of one logical row; it decodes K quads of 4 values,
// a row's lane count apart, so neighbouring lanes read neighbouring stored bytes and write
// neighbouring 16-byte outputs. All K loads are issued before any store, and the row's slot
// and index arithmetic is paid once per 4K values. K = 0 (host backends): an item is a whole
// row, walked in order, which is what a CPU core's caches and prefetchers want.
#include <type_traits>

#include "kvsim/layout/cache_addressing.hpp"
#include "kvsim/precision/codecs.hpp"

namespace kvsim::kernels {

template <class Out>
struct DenseStore;
template <>
struct DenseStore<float> {
  KOKKOS_INLINE_FUNCTION static void store(float* out, const float* v) {
    Float4 q;
    for (int k = 0; k < 4; ++k) q.v[k] = v[k];
    reinterpret_cast<Float4*>(out)[0] = q;
  }
};
template <>
struct DenseStore<std::uint16_t> {
  KOKKOS_INLINE_FUNCTION static void store(std::uint16_t* out, const float* v) {
    codec::Half4 q;
    for (int k = 0; k < 4; ++k) q.v[k] = codec::float_to_half(v[k]);
    reinterpret_cast<codec::Half4*>(out)[0] = q;
  }
};

// Values one lane decodes per step: a whole 16-byte unit for fp16/bf16 (measured faster on an
// H200 than quads, docs/perf-notes.md), a quad of 4 for the rest (whose units are 16-32 values:
// neighbouring lanes then write neighbouring 16-byte outputs).
template <codec::DType D>
inline constexpr int gather_values = codec::Codec<D>::unit == 8 ? 8 : 4;

template <class ExecSpace, codec::DType D, class Out, int K>
struct GatherDecode {
  using Codec = codec::Codec<D>;
  static constexpr int V = gather_values<D>;
  using MemSpace = MemSpaceOf<ExecSpace>;

  StoredCache<MemSpace> cache;
  View1D<Out, MemSpace> out;
  std::int64_t layer, batch, rows;  // rows: dense rows per (K|V, seq)
  std::int64_t lanes;               // per row: row values / (V * K)

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t w) const {
    const std::int64_t lane = w % lanes;
    const std::int64_t row = w / lanes;
    const std::int64_t i = row % rows;
    const std::int64_t seq = (row / rows) % batch;
    const std::int64_t kv = row / (rows * batch);
    const std::int64_t total = cache.totals(seq);
    if (i >= cache.map.valid(total)) return;
    const std::int64_t base = cache.addr.index(layer, kv, seq, cache.slot_of(seq, i, total), 0, 0);
    const std::int64_t row_values = cache.addr.kv_heads * cache.addr.head_dim;
    Out* dst = out.data() + ((kv * batch + seq) * rows + i) * row_values;
    if (K == 0) {  // host backends: one item walks its whole row, in order
      for (std::int64_t j = 0; j < row_values; j += V) {
        float v[V];
        decode_at(layer, kv, base, j, v);
        for (int m = 0; m < V; m += 4) DenseStore<Out>::store(dst + j + m, v + m);
      }
      return;
    }
    constexpr int kk = K > 0 ? K : 1;
    float v[kk][V];
    for (int k = 0; k < kk; ++k) decode_at(layer, kv, base, (lane + k * lanes) * V, v[k]);
    for (int k = 0; k < kk; ++k)
      for (int m = 0; m < V; m += 4) DenseStore<Out>::store(dst + (lane + k * lanes) * V + m, v[k] + m);
  }

  KOKKOS_INLINE_FUNCTION void decode_at(std::int64_t layer_, std::int64_t kv, std::int64_t base, std::int64_t j,
                                        float* v) const {
    float scale = 1.0f;
    if (Codec::head_scale) scale = cache.head_scales((layer_ * 2 + kv) * cache.addr.kv_heads + j / cache.addr.head_dim);
    const std::int64_t e = row_element(cache.addr, base, j);
    if constexpr (V == 4) {
      Codec::decode4(cache.data.data(), e, cache.group_scales.data(), scale, v);
    } else {
      Codec::decode(cache.data.data(), e, cache.group_scales.data(), scale, v);
    }
  }
};

}  // namespace kvsim::kernels

namespace kvsim {

// The retrieve's split of a row of `row_values` values into lanes: K steps of V values per work
// item, K * V = 32 when the row divides evenly. Host backends want one row per work item.
template <class ExecSpace, codec::DType D, class Fn>
void with_gather_lanes(std::int64_t row_values, Fn&& fn) {
  constexpr bool on_host = std::is_same<MemSpaceOf<ExecSpace>, Kokkos::HostSpace>::value;
  constexpr int v = kernels::gather_values<D>;
  const std::int64_t steps = row_values / v;
  if (on_host) {
    fn(std::integral_constant<int, 0>{}, std::int64_t(1));
  } else if (steps % (32 / v) == 0) {
    fn(std::integral_constant<int, 32 / v>{}, steps / (32 / v));
  } else {
    fn(std::integral_constant<int, 1>{}, steps);
  }
}

}  // namespace kvsim
