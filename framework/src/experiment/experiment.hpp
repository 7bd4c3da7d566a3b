#pragma once
// One experiment point: fill the cache (token, chunk or bulk), retrieve it layer by layer,
// verify what came back, and report medians over repetitions.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "platform/bandwidth_probe.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "config/config.hpp"
#include "experiment/references.hpp"
#include "metrics/point_result.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

// Sets every fraction-of-ceiling figure of `r` from its measured rates and `bandwidth` (the
// run's best probe so far), flagging the ones above 1 (apply again after a re-probe).
void apply_ceilings(PointResult& r, const CopyBandwidth& bandwidth);

CacheDesign design_of(const ExperimentConfig& config);

// Bytes KVCache allocates for the point (the tests hold it to KVCache::allocated_bytes()).
std::int64_t predicted_cache_bytes(const ExperimentConfig& config);

// Bytes the point needs on the device: cache, dense retrieve buffer and staging.
std::int64_t predicted_device_bytes(const ExperimentConfig& config);

// Throws InputError when the point cannot fit the device, before allocating anything.
void check_fits_device(const ExperimentConfig& config);

// Positions [begin, end) of every sequence that context shard `shard` of `shards` holds: the
// fill split as evenly as it goes, in order.
struct ShardRange {
  std::int64_t begin = 0, end = 0;
};
ShardRange shard_range(const ExperimentConfig& config, int shard, int shards);
// The point as one shard runs it: its positions, a cache sized for them (and for the generated
// tokens on the last shard).
ExperimentConfig shard_config(const ExperimentConfig& config, int shard, int shards);

// Runs one point on the default execution space (experiment/run_point.hpp: on any) against the run's measured bandwidths (a
// group's: summed over its ranks). A group of context shards runs it together; every rank gets
// the group's figures. Throws RuntimeError if the retrieved data differ from the synthetic values.
// `phase`, where given, is told each phase as the point enters it ("fill 2/4", "decode 2/4",
// "retrieve", "verify", "quality reference", "prefill"): a progress line's, on the calling thread.
using PhaseReport = std::function<void(const std::string&)>;
PointResult run_point(const ExperimentConfig& config, std::int64_t point, const CopyBandwidth& bandwidth,
                      const Group& group = Group(), const PhaseReport& phase = {});

}  // namespace kvsim

