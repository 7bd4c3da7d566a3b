#pragma once
// One experiment point: fill the cache (token, chunk or bulk), retrieve it layer by layer,
// verify what came back, and report medians over repetitions.
#include <cstdint>
#include <string>
#include <vector>

#include "platform/bandwidth_probe.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "config/config.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

struct PointResult {
  std::int64_t point = 0;
  ExperimentConfig config;
  std::int64_t capacity = 0;          // slots per sequence the policy keeps
  std::int64_t valid_positions = 0;   // held after the fill, summed over the batch
  std::int64_t appended_positions = 0;  // positions appended per fill, summed over the batch
  std::int64_t evicted_positions = 0;   // appended but no longer held, summed over the batch
  std::int64_t kv_cache_bytes = 0;      // every byte the cache allocated
  std::int64_t bytes_per_position = 0;  // stored bytes of one position (all layers, K and V, scales)
  std::int64_t device_memory_used_bytes = 0;
  std::int64_t fill_bytes = 0;      // bytes read + written by one fill repetition (staging -> cache)
  std::int64_t fill_read_bytes = 0;
  std::int64_t retrieve_bytes = 0;  // bytes read + written by one retrieve repetition
  std::int64_t retrieve_read_bytes = 0;
  // Every repetition's time of each phase (after the warm-up); the figures below are medians
  // over them, and timed_metrics.hpp derives their fastest and slowest values.
  std::vector<double> fill_seconds;
  std::vector<double> retrieve_seconds;
  double fill_positions_per_s = 0;
  double fill_GBps = 0;
  double fill_fraction_of_copy = 0;
  double retrieve_ops_per_s = 0;
  double retrieve_GBps = 0;
  double retrieve_fraction_of_copy = 0;
  double fill_fraction_of_roofline = 0;      // floor time at the measured read/write rates / median time
  double retrieve_fraction_of_roofline = 0;
  bool verified = false;
  std::uint64_t mismatches = 0;
  std::uint64_t checksum = 0;
  double recon_rel_l2 = 0;   // ||retrieved - source|| / ||source|| over every retrieved value
  double recon_max_abs = 0;  // largest |retrieved - source|
  std::vector<std::vector<std::int64_t>> h2o_evicted;  // per sequence, in eviction order

  // Token generation (workload.decode.tokens): per token, one append of every layer, decode
  // attention over every layer, and optionally one read of model.weight_bytes. Phases are
  // timed with a fence around each, summed over the tokens of a repetition.
  std::vector<double> decode_seconds;  // per repetition: all tokens, all phases
  std::vector<double> append_seconds, attention_seconds, weights_seconds;  // per repetition, all tokens
  double tokens_per_s = 0;
  double append_ms = 0, attention_ms = 0, weights_ms = 0;  // per token, medians over repetitions
  std::int64_t attention_bytes = 0;  // cache (with scales and page tables), queries and outputs read/written per token
  double attention_GBps = 0;
  double attention_fraction_of_read = 0;  // attention_GBps / the measured read-only bandwidth
  double weights_GBps = 0;
  std::int64_t attention_splits = 0;  // position splits per sequence the attention ran with
  std::string attention_kernel;       // the decode-attention kernel that ran (attention_kernel.hpp)
  double attention_comm_ms = 0;       // context shards: merging the shards' outputs, per token (in attention_ms)

  // MPI: which rank's group ran the point, and how many shards it split the context into.
  std::int64_t rank = 0;
  std::int64_t shards = 1;
  std::int64_t per_rank_cache_bytes = 0;  // the largest shard's cache

  // Chunked prefill attention (workload.prefill.chunk) of the last C positions over every layer
  // and sequence after the fill; time per chunk, medians over repetitions.
  std::vector<double> prefill_seconds;  // per repetition: one chunk over every layer
  double prefill_ms = 0;
  double prefill_TFLOPs = 0;            // both gemms over the full C x N block, per second
  double gemm_TFLOPs = 0;               // the same run's square KokkosBlas::gemm probe (the ceiling)
  double prefill_fraction_of_gemm = 0;  // prefill_TFLOPs / gemm_TFLOPs
  double prefill_rel_err = -1;          // layer 0, seq 0, every head, last query row vs float64; -1: not run
  double attention_rel_err = -1;  // layer 0, last token: ||out - float64 exact|| / ||exact||; -1: not run

  // Fractions of a ceiling above 1 (the ceiling was measured too low): "name=value;...". Those
  // fractions are stored as NaN, never as a result.
  std::string ceiling_exceeded;
};

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
PointResult run_point(const ExperimentConfig& config, std::int64_t point, const CopyBandwidth& bandwidth,
                      const Group& group = Group());

}  // namespace kvsim

#include "experiment/references.hpp"  // the accuracy bounds points are held to
