#pragma once
// The retrieve (every layer of every sequence decoded into the dense buffer, oldest first) and
// its verification against the recomputed synthetic source.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "experiment/experiment.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/timing.hpp"
#include "platform/interrupt.hpp"
#include "sweep/parallel.hpp"

namespace kvsim {

// Seconds of one retrieve of every layer, per timed repetition.
template <class Exec, class Out>
std::vector<double> time_retrieve(const Exec& exec, const ExperimentConfig& c, const KVCache<Exec>& cache,
                                  const View1D<Out, MemSpaceOf<Exec>>& dense) {
  ProfilingRegion region("kvsim::retrieve");
  std::vector<double> seconds;
  for (std::int64_t rep = 0; rep < c.run.warmup + c.run.repetitions; ++rep) {
    check_interrupt();
    const double t = time_fenced(exec, [&] {
      for (std::int64_t layer = 0; layer < c.model.layers; ++layer) cache.retrieve_layer(layer, dense);
    });
    if (rep >= c.run.warmup) seconds.push_back(t);
  }
  return seconds;
}

// Retrieves and checks every layer: mismatches, checksum and reconstruction error over the
// group (checksum terms carry absolute positions, so the shards' sum is the one-rank checksum).
// Throws RuntimeError on any mismatch.
template <class Exec, class Out>
void verify_all_layers(const Exec& exec, const ExperimentConfig& c, const KVCache<Exec>& cache,
                       const View1D<Out, MemSpaceOf<Exec>>& dense, const Group& group, std::int64_t point, PointResult& r) {
  ProfilingRegion region("kvsim::verify");
  double err2 = 0, ref2 = 0;
  for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
    // Poison first: an element the gather skipped cannot pass by holding last layer's value.
    Kokkos::deep_copy(exec, dense, kernels::poison_value<Out>());
    cache.retrieve_layer(layer, dense);
    const kernels::VerifyTally t = cache.verify_layer(layer, dense);
    r.mismatches += t.mismatches;
    r.checksum += t.checksum;
    err2 += t.err2;
    ref2 += t.ref2;
    r.recon_max_abs = std::max(r.recon_max_abs, t.max_abs);
  }
  r.mismatches = std::uint64_t(group.sum(std::int64_t(r.mismatches)));
  r.checksum = group.sum_u64(r.checksum);
  err2 = group.sum(err2);
  ref2 = group.sum(ref2);
  r.recon_max_abs = group.max(r.recon_max_abs);
  r.recon_rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
  if (r.mismatches != 0) {
    throw RuntimeError("verification failed: " + std::to_string(r.mismatches) +
                       " retrieved values differ from the encoded synthetic source (point " + std::to_string(point) + ")");
  }
  r.verified = true;
}

}  // namespace kvsim
