#pragma once
// The fill: every sequence's positions appended from a staging buffer, one position, one chunk
// or everything per launch (fill.mode). Generating the source (the model's K/V projection) is
// not the cache's cost and stays outside the timed region.
#include <algorithm>
#include <vector>

#include "config/config.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/timing.hpp"
#include "platform/interrupt.hpp"

namespace kvsim {

// Seconds of one fill of append steps [0, longest) through `stage`, which holds n_stage steps
// (a sequence of length n starting at step longest - n when tokens are generated after: KVCache).
template <class Exec>
double time_fill(const Exec& exec, const ExperimentConfig& c, KVCache<Exec>& cache,
                 const typename KVCache<Exec>::stage_view& stage, std::int64_t n_stage, std::int64_t longest) {
  double seconds = 0;
  for (std::int64_t t0 = 0; t0 < longest; t0 += n_stage) {
    check_interrupt();  // per stage: a long repetition must not outlive a scheduler's grace period
    const std::int64_t n = std::min(n_stage, longest - t0);
    cache.generate_source(stage, t0, n);
    seconds += time_fenced(exec, [&] {
      if (c.fill.mode == FillMode::token) {
        for (std::int64_t p = t0; p < t0 + n; ++p) cache.append(stage, t0, p, p + 1);
      } else if (c.fill.mode == FillMode::chunk) {
        for (std::int64_t p = t0; p < t0 + n; p += c.fill.chunk) cache.append(stage, t0, p, std::min(p + c.fill.chunk, t0 + n));
      } else {
        cache.append(stage, t0, t0, t0 + n);
      }
    });
  }
  return seconds;
}

}  // namespace kvsim
