#pragma once
// How decode attention runs for a cache on a backend: which kernel (resolve_attention_kernel),
// how each sequence's rows are split across teams (plan_decode_attention), and the scratch the
// plan needs (make_attention_workspace). Host-side arithmetic only; the launches are in
// decode_launch.hpp.
#include <algorithm>
#include <string>
#include <type_traits>

#include "kvsim/attention/attention_kernel.hpp"
#include "kvsim/attention/decode_attention.hpp"
#include "kvsim/attention/host_block.hpp"
#include "kvsim/attention/decode_attention_lanes.hpp"
#include "kvsim/attention/decode_attention_mma.hpp"
#include "kvsim/attention/mma_fragments.hpp"
#include "kvsim/attention/split_merge.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

// Scratch of decode attention: one partial (max, sum, weighted V) per (seq, head, split).
template <class MemSpace>
struct AttentionWorkspace {
  kernels::AttentionPartials<MemSpace> partials;
  View1D<int, MemSpace> arrivals;  // GPU kernels: teams finished per (seq, kv_head)
  std::int64_t splits = 1;
  std::int64_t align = 1;  // split boundaries fall on whole steps of the kernel
  AttentionKernel kernel = AttentionKernel::serial;
  int team_size = 0;  // GPU kernels
  int lanes = 0;      // threads along head_dim per row
  std::int64_t kv_per_item = 1;  // host kernel: KV heads one work item walks together
};

// Calls fn(integral_constant G) for a query-head group size of 1, 2, 4 or 8.
template <class Fn>
void with_group(std::int64_t g, Fn&& fn) {
  switch (g) {
    case 1: fn(std::integral_constant<int, 1>{}); break;
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    default: fn(std::integral_constant<int, 8>{}); break;
  }
}

// The kernel `want` resolves to for this cache on this backend (automatic: tensor cores where
// the shape and the device (has_mma: compute capability 8.0+) allow, else lane groups, else
// tiled, else serial; host backends run the serial kernel).
inline AttentionKernel resolve_attention_kernel(const CacheDesign& d, AttentionKernel want, bool on_host, bool has_mma) {
  const std::int64_t g = d.query_heads() / d.kv_heads;
  const int bits = codec::bits(d.dtype);
  const auto covers = [&](AttentionKernel k) {
    return attention_kernel_covers(k, bits, d.head_dim, g, !on_host) && (k != AttentionKernel::mma || has_mma);
  };
  if (want == AttentionKernel::automatic)
    for (AttentionKernel k : {AttentionKernel::mma, AttentionKernel::lane_groups, AttentionKernel::tiled, AttentionKernel::serial})
      if (covers(k)) return k;
  KVSIM_REQUIRE(covers(want), "decode attention kernel '", attention_kernel_name(want), "' ",
                on_host && want != AttentionKernel::serial && want != AttentionKernel::automatic
                    ? std::string("needs a GPU build (this one runs on the host)")
                : want == AttentionKernel::mma && !has_mma && attention_kernel_covers(want, bits, d.head_dim, g, true)
                    ? std::string("needs a GPU of compute capability 8.0 or newer")
                    : "does not cover head_dim " + std::to_string(d.head_dim) + " of " + codec::name(d.dtype) +
                          " with " + std::to_string(g) + " query heads per KV head");
  return want;
}

// The workspace of `plan` for a cache of design d whose sequences hold up to `dense_rows` rows:
// splits_hint > 0 fixes the number of splits per sequence (benchmarks); 0 picks it.
template <class ExecSpace>
AttentionWorkspace<MemSpaceOf<ExecSpace>> make_attention_workspace(const ExecSpace& exec, const CacheDesign& d,
                                                                   std::int64_t dense_rows, std::int64_t splits_hint,
                                                                   AttentionKernel want) {
  using memory_space = MemSpaceOf<ExecSpace>;
  constexpr bool on_host = std::is_same<memory_space, Kokkos::HostSpace>::value;
  AttentionWorkspace<memory_space> ws;
  ws.kernel = resolve_attention_kernel(d, want, on_host, mma::device_has_mma<ExecSpace>());
  const std::int64_t heads = d.query_heads(), g = heads / d.kv_heads;
  const std::int64_t rows = std::max<std::int64_t>(1, dense_rows);
  const std::int64_t sms = std::max<std::int64_t>(1, ExecSpace().concurrency() / 2048);
  std::int64_t auto_splits;
  if (ws.kernel == AttentionKernel::mma) {
    using Shape = kernels::MmaDecodeShape;
    ws.team_size = Shape::team;
    ws.align = Shape::tile;
    // As for the other GPU kernels, whole waves of teams (the launch bound's teams a
    // multiprocessor), up to four for long contexts, but at least two steps a warp.
    const std::int64_t teams = d.batch * d.kv_heads * (g / kernels::mma_decode_rows(g));
    const std::int64_t one_wave = std::max<std::int64_t>(1, sms * Shape::min_teams / teams);
    const std::int64_t waves = std::clamp<std::int64_t>(rows / 512 / one_wave, 1, 4);
    auto_splits = std::clamp<std::int64_t>(waves * one_wave, 1, (rows + 2 * Shape::tile - 1) / (2 * Shape::tile));
  } else if (ws.kernel != AttentionKernel::serial) {
    std::int64_t tile = 1, teams_per_sm = 2;
    codec::dispatch(d.dtype, [&](auto tag) {
      constexpr codec::DType D = decltype(tag)::value;
      with_group(g, [&](auto gc) {
        constexpr int G = decltype(gc)::value;
        if (ws.kernel == AttentionKernel::lane_groups) {
          using Shape = kernels::LaneGroupShape<D, G>;
          ws.lanes = int(d.head_dim / Shape::W);
          ws.team_size = Shape::team;
          tile = std::int64_t(Shape::U) * (ws.team_size / ws.lanes);
          // Measured (H200, 7B, 4,096 positions, batch 1): two 128-thread teams a
          // multiprocessor (8 splits) beat 12, 16 and 32 splits: each team's pipeline fill and
          // epilogue is a fixed latency that shorter splits do not amortise.
          teams_per_sm = 2;
        } else {
          ws.lanes = int(d.head_dim / 8);
          ws.team_size = int(ws.lanes * (256 / ws.lanes));
          tile = std::int64_t(kernels::TileRows<D, G>::value) * (ws.team_size / ws.lanes);
        }
      });
    });
    ws.align = tile;
    // Whole waves of teams over the batch: one wave, or for long contexts up to four, about
    // 512 positions a team, since one team's walk is latency-bound but every split adds a
    // partial to write and merge. Never a fraction of a wave: some multiprocessors would hold
    // one team more than others and set the time (H200, 7B fp16, 4,096 positions: 8 splits
    // 0.83 ms a token, 9 splits 0.90-0.95 ms). Measured (docs/perf-notes.md): at 4,096
    // positions one wave beat 2 and 4; at 262,144 positions a GPU (H200, tiled kernel) 33
    // splits 82 ms a token, 9 splits 139 ms, 512 splits 102 ms. Never a split shorter than
    // one step.
    const std::int64_t one_wave = std::max<std::int64_t>(1, sms * teams_per_sm / (d.batch * d.kv_heads));
    const std::int64_t waves = std::clamp<std::int64_t>(rows / 512 / one_wave, 1, 4);
    auto_splits = std::clamp<std::int64_t>(waves * one_wave, 1, (rows + tile - 1) / tile);
  } else {
    KVSIM_REQUIRE(d.head_dim <= kernels::kMaxHeadDimSerial, "decode attention supports head_dim up to ",
                  kernels::kMaxHeadDimSerial, " on this backend, got ", d.head_dim);
    const std::int64_t threads = ExecSpace().concurrency();
    if constexpr (on_host) {
      // The host kernel's items are (seq, chunk of KV heads, split): at least 4 a thread so
      // uneven sequences balance, no split under 8 blocks (each costs a partial and its merge);
      // splits start on whole blocks. The chunks are as large as that allows (all KV heads at
      // the 7B shape): walking a block's heads together saves TLB misses (decode_attention_host).
      ws.align = kernels::host_block_rows(d.head_dim);
      const std::int64_t most = std::max<std::int64_t>(1, rows / (8 * ws.align)), want = 4 * threads;
      ws.kv_per_item = d.kv_heads;
      while (ws.kv_per_item % 2 == 0 && d.batch * (d.kv_heads / ws.kv_per_item) * most < want) ws.kv_per_item /= 2;
      if (d.batch * (d.kv_heads / ws.kv_per_item) * most < want) ws.kv_per_item = 1;
      const std::int64_t items = d.batch * (d.kv_heads / ws.kv_per_item);
      auto_splits = std::clamp<std::int64_t>((want + items - 1) / items, 1, most);
    } else {
      auto_splits = std::clamp<std::int64_t>((4 * threads + d.batch * heads - 1) / (d.batch * heads), 1,
                                             std::max<std::int64_t>(1, rows / 16));
    }
  }
  KVSIM_REQUIRE(splits_hint >= 0, "attention splits must be >= 0, got ", splits_hint);
  ws.splits = splits_hint > 0 ? splits_hint : auto_splits;
  // The GPU kernels' last team keeps two floats per split and query head of its group in
  // scratch: at most 32 KB of them.
  if (ws.team_size > 0) ws.splits = std::min<std::int64_t>(ws.splits, (8192 / g - 1) / 2);
  const std::int64_t n = d.batch * heads * ws.splits;
  auto wo = [&](const char* label) { return Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string(label)); };
  ws.partials = {View1D<float, memory_space>(wo("kvsim::attention::m"), n),
                 View1D<float, memory_space>(wo("kvsim::attention::l"), n),
                 View1D<float, memory_space>(wo("kvsim::attention::acc"), n * d.head_dim), ws.splits};
  // Zeroed once; the last team of every (seq, kv_head) (the tensor-core kernel: of every block
  // of query heads) sets its counter back to 0.
  ws.arrivals = View1D<int, memory_space>(Kokkos::view_alloc(exec, std::string("kvsim::attention::arrivals")),
                                          d.batch * heads);
  return ws;
}

}  // namespace kvsim
