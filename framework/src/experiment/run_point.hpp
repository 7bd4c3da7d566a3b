#pragma once
// One point, on any execution space: the cache built from the resolved config, then the phases
// in order (fill with decode interleaved per repetition, retrieve, verify, prefill), then the
// accuracy bounds and ceilings. A group of context shards runs it together; every rank gets the
// group's figures.
#include <algorithm>
#include <vector>

#include "experiment/decode_phase.hpp"
#include "experiment/experiment.hpp"
#include "experiment/fill_phase.hpp"
#include "experiment/prefill_phase.hpp"
#include "experiment/recorded_data.hpp"
#include "experiment/references.hpp"
#include "experiment/retrieve_phase.hpp"
#include "experiment/staging.hpp"
#include "metrics/reduce.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "platform/device_info.hpp"

namespace kvsim {

template <class Exec, class Out>
PointResult run_point_on(const Exec& exec, const ExperimentConfig& global, std::int64_t point, const CopyBandwidth& bw,
                         const Group& group, const PhaseReport& phase) {
  ProfilingRegion region("kvsim::point");
  const auto enter = [&phase](const std::string& what) {
    if (phase) phase(what);
  };
  PointResult r;
  r.point = point;
  r.config = global;
  r.shards = group.shards();
  // This rank's part: all of the point, or one shard of every sequence's positions.
  const ExperimentConfig c = group.sharded() ? shard_config(global, group.shard(), group.shards()) : global;
  const bool appends_decode = group.shard() == group.shards() - 1;

  std::vector<std::int64_t> lengths = c.lengths;  // what the cache will have held: prefill + decode
  if (appends_decode)
    for (auto& len : lengths) len += c.decode_tokens;
  const RecordedValues<MemSpaceOf<Exec>> recorded(exec, c);  // data.kind: recorded only
  CacheDesign design = design_of(c);
  recorded.attach(design.data);
  const std::int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());  // the prefill
  // Token generation appends every sequence's next position at the same step (longest + t), so
  // shorter sequences start their fill later (KVCache's steps); a fill alone starts all at 0.
  std::vector<std::int64_t> starts(c.lengths.size(), 0);
  if (c.decode_tokens > 0)
    for (std::size_t s = 0; s < starts.size(); ++s) starts[s] = longest - c.lengths[s];
  KVCache<Exec> cache(exec, design, c.seed, lengths, starts);
  if (group.sharded()) cache.set_position_base(shard_range(global, group.shard(), group.shards()).begin);
  const bool retrieves = c.retrieve.mode != RetrieveMode::none;
  auto dense = retrieves ? cache.template make_dense<Out>("kvsim::retrieve_buffer") : View1D<Out, MemSpaceOf<Exec>>();
  const std::int64_t n_stage = stage_positions(c, cache.stage_bytes_per_position());
  auto stage = cache.make_stage(n_stage);
  // Every figure is first this rank's; reduce_over_group makes each the group's as metrics.def
  // declares (sums, maxima, the slowest rank's repetitions), and the figures derived from them
  // (rates, per-token times, errors) come after.
  r.capacity = cache.capacity();
  r.kv_cache_bytes = r.per_rank_cache_bytes = cache.allocated_bytes();
  r.bytes_per_position = cache.bytes_per_position();
  r.device_memory_used_bytes = device_memory_used_bytes();
  const std::int64_t context = global.fill.positions + global.decode_tokens;
  Decoder<Exec> decoder(exec, c, cache, longest, group, context);

  {
    ProfilingRegion fill_region("kvsim::fill");
    const std::int64_t reps = c.run.warmup + c.run.repetitions;
    for (std::int64_t rep = 0; rep < reps; ++rep) {
      check_interrupt();
      const std::string of = " " + std::to_string(rep + 1) + "/" + std::to_string(reps) + (rep < c.run.warmup ? " (warm-up)" : "");
      enter("fill" + of);
      cache.reset();
      const double seconds = time_fill(exec, c, cache, stage, n_stage, longest);
      if (rep >= c.run.warmup) r.fill_seconds.push_back(seconds);
      if (c.decode_tokens > 0) {
        enter("decode" + of);
        decoder.run(rep >= c.run.warmup);
      }
    }
  }
  if (c.decode_tokens > 0) decoder.record(r);
  for (auto len : lengths) r.appended_positions += len;
  for (std::int64_t s = 0; s < c.batch; ++s) r.valid_positions += cache.valid(s);
  r.evicted_positions = cache.evicted_positions();
  r.fill_bytes = cache.fill_bytes();
  r.fill_read_bytes = cache.fill_read_bytes();
  for (std::int64_t s = 0; s < c.batch && c.cache.policy == PolicyKind::h2o; ++s) r.h2o_evicted.push_back(cache.h2o_evicted(s));
  ReconError recon;
  if (retrieves) {
    enter("retrieve");
    r.retrieve_seconds = time_retrieve(exec, c, cache, dense);
    r.retrieve_bytes = c.model.layers * cache.template retrieve_bytes_per_layer<Out>();
    r.retrieve_read_bytes = c.model.layers * cache.retrieve_read_bytes_per_layer();
    if (c.retrieve.verify) {
      enter("verify");
      recon = verify_all_layers(exec, c, cache, dense, r);
    }
  }

  reduce_over_group(r, group);
  if (c.decode_tokens > 0) {
    enter("quality reference");
    decoder.derive(r);
  }
  const double fill_t = median(r.fill_seconds);
  r.fill_positions_per_s = double(r.appended_positions) / fill_t;
  r.fill_GBps = double(r.fill_bytes) / fill_t / 1e9;
  if (retrieves) {
    const double retrieve_t = median(r.retrieve_seconds);
    r.retrieve_ops_per_s = double(c.model.layers) / retrieve_t;
    r.retrieve_GBps = double(r.retrieve_bytes) / retrieve_t / 1e9;
    if (c.retrieve.verify) judge_verification(r, recon, group, point);
    if (c.prefill_chunk > 0) {
      enter("prefill");
      run_prefill(exec, c, cache, dense, r);
    }
  }
  check_error_bounds(c, r, point);
  apply_ceilings(r, bw);
  return r;
}

// The point on `exec`, with the dense retrieve buffer in the config's output precision.
template <class Exec>
PointResult run_point_on(const Exec& exec, const ExperimentConfig& c, std::int64_t point, const CopyBandwidth& bw,
                         const Group& group, const PhaseReport& phase = {}) {
  if (c.retrieve.output == codec::DType::fp16) return run_point_on<Exec, std::uint16_t>(exec, c, point, bw, group, phase);
  return run_point_on<Exec, float>(exec, c, point, bw, group, phase);
}

}  // namespace kvsim
