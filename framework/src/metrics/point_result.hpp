#pragma once
// What one experiment point measured: every field but the two below is declared in
// metrics.def, with its units, kind, better direction and reduction over ranks.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kvsim {

struct PointResult {
  ExperimentConfig config;  // the point as it ran (resolved)
  std::vector<std::vector<std::int64_t>> h2o_evicted;  // per sequence, in eviction order

#define KVSIM_METRIC(name, type, init, units, kind, better, reduce, series, doc) type name = init;
#define KVSIM_TIMED(name, units, kind, better, series, work, doc) double name = 0;
#define KVSIM_FIELD(name, type, init, reduce, doc) type name = init;
#define KVSIM_SERIES(name, phase, always, spread, doc) std::vector<double> name;
#define KVSIM_LAYERS(name, of, units, doc) std::vector<double> name;
#include "metrics/metrics.def"
};

}  // namespace kvsim
