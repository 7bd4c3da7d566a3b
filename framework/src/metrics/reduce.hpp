#pragma once
// A context-shard group's figures from its ranks' own: each metric's declared reduction
// (metrics.def) applied over the group. Collective over the group; a no-op for a group of one.
#include "metrics/point_result.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

// sum / max / min over the ranks as declared; `same` and `derived` metrics are left as they are
// (derived ones are computed afterwards from the reduced figures), and every per-repetition
// series becomes its element-wise maximum (the group's repetition lasts as long as its slowest
// rank). Call it once, on every rank of the group, in the same order.
void reduce_over_group(PointResult& r, const Group& group);

}  // namespace kvsim
