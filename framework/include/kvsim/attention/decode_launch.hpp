#pragma once
// Launches decode attention over one layer of a stored cache: the GPU team kernels (lane groups,
// tiled; each merges its splits in its last team) or the serial kernel (on host backends the
// block kernel of decode_attention_host.hpp) and its merge launch.
#include <cmath>
#include <type_traits>

#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/decode_attention_host.hpp"
#include "kvsim/attention/decode_attention_lanes.hpp"
#include "kvsim/attention/decode_attention_mma.hpp"
#include "kvsim/attention/decode_plan.hpp"
#include "kvsim/attention/split_merge.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {
namespace detail {

template <class Kernel, class ExecSpace>
void launch_team_kernel(const ExecSpace& exec, const CacheDesign& d,
                        const kernels::AttentionInputs<MemSpaceOf<ExecSpace>>& in,
                        const AttentionWorkspace<MemSpaceOf<ExecSpace>>& ws,
                        const View1D<float, MemSpaceOf<ExecSpace>>& out, const View1D<float, MemSpaceOf<ExecSpace>>& lse) {
  using memory_space = MemSpaceOf<ExecSpace>;
  auto policy = light_weight(typename Kernel::Policy(exec, d.batch * d.kv_heads * ws.splits, ws.team_size));
  policy.set_scratch_size(0, Kokkos::PerTeam(Kernel::scratch_bytes(ws.team_size, ws.lanes, d.head_dim, ws.splits)));
  const Kernel kernel{in, kernels::SplitMerge<memory_space>(ws.partials, ws.arrivals, out, lse), ws.lanes};
  Kokkos::parallel_for("kvsim::decode_attention", policy, kernel);
}

// The tensor-core kernel: league (head block, seq, kv_head, split), 4 warps a team.
template <codec::DType D, class ExecSpace>
void launch_mma(const ExecSpace& exec, const CacheDesign& d, const kernels::AttentionInputs<MemSpaceOf<ExecSpace>>& in,
                const AttentionWorkspace<MemSpaceOf<ExecSpace>>& ws, const View1D<float, MemSpaceOf<ExecSpace>>& out,
                const View1D<float, MemSpaceOf<ExecSpace>>& lse, std::int64_t g, kernels::RowWalk walk) {
  using kernels::RowWalk;
  using memory_space = MemSpaceOf<ExecSpace>;
  if constexpr (mma::Operand<D>::covered) {
    const int rows = kernels::mma_decode_rows(g);
    const std::int64_t inner = d.batch * d.kv_heads * ws.splits, blocks = g / rows;
    KVSIM_REQUIRE(blocks * inner < (std::int64_t(1) << 31), "decode attention: ", blocks * inner, " teams exceed a launch");
    const auto run = [&](auto hd, auto wk) {
      using Kernel = kernels::DecodeAttentionMma<ExecSpace, D, decltype(hd)::value, decltype(wk)::value>;
      auto policy = light_weight(typename Kernel::Policy(exec, blocks * inner, ws.team_size));
      policy.set_scratch_size(0, Kokkos::PerTeam(Kernel::scratch_bytes(ws.splits, rows)));
      const Kernel kernel{in, kernels::SplitMerge<memory_space>(ws.partials, ws.arrivals, out, lse), rows, int(inner)};
      Kokkos::parallel_for("kvsim::decode_attention", policy, kernel);
    };
    const auto with_walk = [&](auto hd) {
      if (walk == RowWalk::direct) run(hd, std::integral_constant<RowWalk, RowWalk::direct>{});
      else if (walk == RowWalk::paged) run(hd, std::integral_constant<RowWalk, RowWalk::paged>{});
      else run(hd, std::integral_constant<RowWalk, RowWalk::general>{});
    };
    KVSIM_REQUIRE(d.head_dim == 64 || d.head_dim == 128, "decode attention kernel mma: head_dim 64 or 128, got ", d.head_dim);
    if (d.head_dim == 64) with_walk(std::integral_constant<int, 64>{});
    else with_walk(std::integral_constant<int, 128>{});
  } else {
    KVSIM_REQUIRE(false, "decode attention kernel mma does not cover ", codec::name(D));
  }
}

// walk: how the kernel instance finds rows (kernels::RowWalk); the tiled kernel has no paged
// walk of its own and takes the general one there.
template <codec::DType D, class ExecSpace>
void launch_gpu(const ExecSpace& exec, const CacheDesign& d, const kernels::AttentionInputs<MemSpaceOf<ExecSpace>>& in,
                const AttentionWorkspace<MemSpaceOf<ExecSpace>>& ws, const View1D<float, MemSpaceOf<ExecSpace>>& out,
                const View1D<float, MemSpaceOf<ExecSpace>>& lse, std::int64_t g, kernels::RowWalk walk) {
  using kernels::RowWalk;
  const bool direct = walk == RowWalk::direct;
  if (ws.kernel == AttentionKernel::mma) return launch_mma<D>(exec, d, in, ws, out, lse, g, walk);
  with_group(g, [&](auto gc) {
    constexpr int G = decltype(gc)::value;
    if (ws.kernel == AttentionKernel::lane_groups) {
      if (direct) launch_team_kernel<kernels::DecodeAttentionLanes<ExecSpace, D, G, RowWalk::direct>>(exec, d, in, ws, out, lse);
      else if (walk == RowWalk::paged)
        launch_team_kernel<kernels::DecodeAttentionLanes<ExecSpace, D, G, RowWalk::paged>>(exec, d, in, ws, out, lse);
      else launch_team_kernel<kernels::DecodeAttentionLanes<ExecSpace, D, G, RowWalk::general>>(exec, d, in, ws, out, lse);
    } else {
      if (direct) launch_team_kernel<kernels::DecodeAttentionTiled<ExecSpace, D, G, true>>(exec, d, in, ws, out, lse);
      else launch_team_kernel<kernels::DecodeAttentionTiled<ExecSpace, D, G, false>>(exec, d, in, ws, out, lse);
    }
  });
}

}  // namespace detail

// softmax(q K^T / sqrt(head_dim)) V of every sequence and query head over layer `layer`, in
// place: q and out are [seq][head][head_dim] fp32. If given, lse [seq][head] receives the log
// of each softmax denominator (with its max), which is what merging context shards needs.
template <class ExecSpace>
void decode_attention(const ExecSpace& exec, const CacheDesign& d, const StoredCache<MemSpaceOf<ExecSpace>>& cache,
                      kernels::RowWalk walk, std::int64_t layer, const View1D<const float, MemSpaceOf<ExecSpace>>& q,
                      const View1D<float, MemSpaceOf<ExecSpace>>& out, const AttentionWorkspace<MemSpaceOf<ExecSpace>>& ws,
                      const View1D<float, MemSpaceOf<ExecSpace>>& lse) {
  using memory_space = MemSpaceOf<ExecSpace>;
  const std::int64_t heads = d.query_heads();
  KVSIM_REQUIRE(std::int64_t(q.extent(0)) == d.batch * heads * d.head_dim && out.extent(0) == q.extent(0),
                "query/output buffers have the wrong size");
  KVSIM_REQUIRE(lse.extent(0) == 0 || std::int64_t(lse.extent(0)) == d.batch * heads, "lse buffer has the wrong size");
  const kernels::AttentionInputs<memory_space> in{cache,     q,        layer, heads, ws.splits,
                                                  1.0f / std::sqrt(float(d.head_dim)), ws.align};
  codec::dispatch(d.dtype, [&](auto tag) {
    constexpr codec::DType D = decltype(tag)::value;
    if (ws.kernel != AttentionKernel::serial) {
      detail::launch_gpu<D>(exec, d, in, ws, out, lse, heads / d.kv_heads, walk);
    } else {
      if constexpr (std::is_same<memory_space, Kokkos::HostSpace>::value) {
        KVSIM_REQUIRE(ws.kv_per_item > 0 && d.kv_heads % ws.kv_per_item == 0, "attention workspace: ",
                      ws.kv_per_item, " KV heads per work item do not divide ", d.kv_heads);
        // Host backends: the block kernel, one item per (seq, chunk of KV heads, split).
        Kokkos::parallel_for("kvsim::decode_attention_host",
                             RangePolicy<ExecSpace>(exec, 0, d.batch * (d.kv_heads / ws.kv_per_item) * ws.splits),
                             kernels::DecodeAttentionHost<ExecSpace, D>{in, ws.partials, kernels::host_isa(), ws.kv_per_item});
      } else {
        Kokkos::parallel_for("kvsim::decode_attention", light_weight(RangePolicy<ExecSpace>(exec, 0, d.batch * heads * ws.splits)),
                             kernels::DecodeAttentionSerial<ExecSpace, D>{in, ws.partials});
      }
      Kokkos::parallel_for("kvsim::attention_merge", light_weight(RangePolicy<ExecSpace>(exec, 0, d.batch * heads * d.head_dim)),
                           kernels::MergePartials<memory_space>{ws.partials, out, d.head_dim, lse});
    }
  });
}

}  // namespace kvsim
