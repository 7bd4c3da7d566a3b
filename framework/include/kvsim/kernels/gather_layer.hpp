#pragma once
// Materialise one layer's valid K and V as dense fp32 in logical (oldest-first) order.
// A team copies a block of consecutive logical rows; in the ring those are at most two
// contiguous runs of slots, so the copy is two flat Float4 streams with no per-element
// index arithmetic beyond one compare.
#include "kvsim/kokkos_abstraction.hpp"

namespace kvsim::kernels {

template <class ExecSpace>
struct GatherLayerDense {
  using MemSpace = MemSpaceOf<ExecSpace>;
  using member_type = typename TeamPolicy<ExecSpace>::member_type;

  View5D<const float, MemSpace> storage;  // [layer][K|V][slot][kv_head][dim]
  View4D<float, MemSpace> out;            // [K|V][logical position][kv_head][dim]
  std::int64_t layer;
  std::int64_t valid;          // logical rows to copy
  std::int64_t first_slot;     // slot of the oldest position
  std::int64_t max_positions;  // ring size
  std::int64_t row4;           // Float4 per row
  std::int64_t rows_per_team;
  std::int64_t blocks;         // teams per tensor (K or V)

  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t kv = team.league_rank() / blocks;
    const std::int64_t first = (team.league_rank() % blocks) * rows_per_team;
    const std::int64_t nrows = (valid - first < rows_per_team) ? valid - first : rows_per_team;
    std::int64_t slot0 = first_slot + first;
    if (slot0 >= max_positions) slot0 -= max_positions;
    const std::int64_t split = ((max_positions - slot0 < nrows) ? max_positions - slot0 : nrows) * row4;
    const Float4* src = reinterpret_cast<const Float4*>(&storage(layer, kv, 0, 0, 0));
    Float4* dst = reinterpret_cast<Float4*>(&out(kv, first, 0, 0));
    const std::int64_t offset = slot0 * row4;
    // Rows past the ring's end restart at slot 0.
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, nrows * row4), [&](const std::int64_t i) {
      dst[i] = src[(i < split) ? offset + i : i - split];
    });
  }
};

}  // namespace kvsim::kernels
