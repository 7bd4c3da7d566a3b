#include <algorithm>

#include "experiment/experiment.hpp"

namespace kvsim {

ShardRange shard_range(const ExperimentConfig& c, int shard, int shards) {
  const std::int64_t n = c.fill.positions, base = n / shards, extra = n % shards;
  ShardRange s;
  s.begin = shard * base + std::min<std::int64_t>(shard, extra);
  s.end = s.begin + base + (shard < extra ? 1 : 0);
  return s;
}

ExperimentConfig shard_config(const ExperimentConfig& c, int shard, int shards) {
  ExperimentConfig s = c;
  const ShardRange range = shard_range(c, shard, shards);
  s.fill.positions = range.end - range.begin;
  s.lengths.assign(std::size_t(c.batch), s.fill.positions);
  // The last shard receives the generated tokens.
  s.cache.max_positions = s.fill.positions + (shard == shards - 1 ? c.decode_tokens : 0);
  if (s.fill.mode == FillMode::chunk) s.fill.chunk = std::min(s.fill.chunk, std::max<std::int64_t>(1, s.fill.positions));
  return s;
}

}  // namespace kvsim
