#pragma once
// Synthetic K/V for a run of positions into a staging buffer [layer][K|V][seq][j][head][dim]:
// what a model's K/V projection hands the cache. Not timed; appends read from it. `n` positions
// are generated into blocks of `stride` positions (the buffer's capacity): the last, partial
// stage of a fill writes fewer positions than the buffer holds, at the offsets appends read.
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/flat_index.hpp"
#include "kvsim/core/data_source.hpp"

namespace kvsim::kernels {

template <class MemSpace>
struct GenerateSource {
  View1D<float, MemSpace> stage;
  std::uint64_t seed;
  std::int64_t batch, n, stride, kv_heads, head_dim4, begin;
  // Per sequence, subtracted from begin + j (KVCache's append steps); empty: none.
  View1D<const std::int64_t, MemSpace> starts;
  DataSource data{};  // queries and uniform K/V: the default

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    std::int64_t t = i;
    const std::int64_t d4 = peel(t, head_dim4);
    const std::int64_t head = peel(t, kv_heads);
    const std::int64_t j = peel(t, n);
    const std::int64_t seq = peel(t, batch);
    const std::int64_t kv = peel(t, 2);
    const std::int64_t layer = t;
    const std::int64_t at = ((((layer * 2 + kv) * batch + seq) * stride + j) * kv_heads + head) * head_dim4 + d4;
    const std::uint64_t s = synthetic::sequence_seed(seed, std::uint64_t(seq));
    // Steps before a sequence's start hold nothing an append reads.
    const std::int64_t position = begin + j - (starts.extent(0) > 0 ? starts(seq) : 0);
    Float4 out;
    for (int k = 0; k < 4; ++k)
      out.v[k] = data.value(s, std::uint32_t(layer), synthetic::Tensor(kv), std::uint64_t(position),
                                  std::uint32_t(head), std::uint32_t(4 * d4 + k));
    reinterpret_cast<Float4*>(stage.data())[at] = out;
  }
};

// Structured or recorded decode queries q[token][layer][seq][head][dim] (DataSource::query),
// one element per work item; head h reads KV head h / group. Token t of sequence seq sits at
// position first_position + t - starts(seq): first_position is the whole context's (every
// shard builds the same queries), starts are KVCache's steps (empty: all 0), so a ragged
// batch's shorter sequences query at their own positions.
template <class MemSpace>
struct GenerateQueries {
  View1D<float, MemSpace> q;
  DataSource data;
  std::uint64_t seed;
  std::int64_t layers, batch, heads, group, head_dim, first_position;
  View1D<const std::int64_t, MemSpace> starts;

  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    std::int64_t t = i;
    const std::int64_t d = peel(t, head_dim);
    const std::int64_t h = peel(t, heads);
    const std::int64_t seq = peel(t, batch);
    const std::int64_t layer = peel(t, layers);
    const std::int64_t position = first_position + t - (starts.extent(0) > 0 ? starts(seq) : 0);
    q(i) = data.query(synthetic::sequence_seed(seed, std::uint64_t(seq)), std::uint32_t(layer), std::uint32_t(h),
                      std::uint32_t(h / group), std::uint64_t(t), std::uint64_t(position), d);
  }
};

}  // namespace kvsim::kernels
