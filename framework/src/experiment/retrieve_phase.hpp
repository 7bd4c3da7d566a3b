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

// Sums of squares behind recon_rel_l2, this rank's.
struct ReconError {
  double err2 = 0, ref2 = 0;
};

// Retrieves and checks every layer against the recomputed source: this rank's mismatches,
// checksum (its terms carry absolute positions, so the shards' sum is the one-rank checksum)
// and largest error into `r`.
template <class Exec, class Out>
ReconError verify_all_layers(const Exec& exec, const ExperimentConfig& c, const KVCache<Exec>& cache,
                             const View1D<Out, MemSpaceOf<Exec>>& dense, PointResult& r) {
  ProfilingRegion region("kvsim::verify");
  ReconError e;
  for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
    // Poison first: an element the gather skipped cannot pass by holding last layer's value.
    Kokkos::deep_copy(exec, dense, kernels::poison_value<Out>());
    cache.retrieve_layer(layer, dense);
    const kernels::VerifyTally t = cache.verify_layer(layer, dense);
    r.mismatches += t.mismatches;
    r.checksum += t.checksum;
    e.err2 += t.err2;
    e.ref2 += t.ref2;
    r.recon_max_abs = std::max(r.recon_max_abs, t.max_abs);
  }
  return e;
}

// After the group's figures are in `r`: the reconstruction error from every rank's sums, and a
// RuntimeError on any mismatch (on every rank alike).
inline void judge_verification(PointResult& r, const ReconError& mine, const Group& group, std::int64_t point) {
  const double err2 = group.sum(mine.err2), ref2 = group.sum(mine.ref2);
  r.recon_rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
  if (r.mismatches != 0) {
    throw RuntimeError("verification failed: " + std::to_string(r.mismatches) +
                       " retrieved values differ from the encoded synthetic source (point " + std::to_string(point) + ")");
  }
  r.verified = true;
}

}  // namespace kvsim
