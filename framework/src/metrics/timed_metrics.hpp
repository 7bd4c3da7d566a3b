#pragma once
// The metrics taken from repeated timings (KVSIM_TIMED and KVSIM_SERIES of metrics.def): which
// repetition series each comes from and how a time turns into it. The result file's median,
// _min and _max columns, the spread warnings and post-processing's significance tests
// (through the columns' `series` attribute) all read these lists.
#include <vector>

#include "metrics/kinds.hpp"
#include "metrics/point_result.hpp"

namespace kvsim {

struct TimedMetric {
  const char* name;    // the summary column of the median
  const char* units;
  const char* series;  // the per-repetition series under /points/<i>/
  std::vector<double> PointResult::*seconds;
  // A rate is work / seconds (work in the metric's units times seconds); otherwise the metric
  // is seconds x work (a time per token, per chunk, in ms).
  bool rate;
  double (*work)(const PointResult&);
  Better better;
};

const std::vector<TimedMetric>& timed_metrics();

// The metric over repetition time `seconds`.
inline double timed_value(const TimedMetric& m, const PointResult& r, double seconds) {
  const double w = m.work(r);
  if (m.rate) return seconds > 0 ? w / seconds : 0.0;
  return w * seconds;
}

// The metric's smallest and largest value over the repetitions (for a rate the slowest
// repetition gives the smallest); {0, 0} if none ran.
struct TimedRange {
  double min = 0, max = 0;
};
TimedRange timed_range(const TimedMetric& m, const PointResult& r);

// Phase series whose spread (slowest / fastest repetition) is reported, and the name of that
// column: <phase>_spread (fill_spread, retrieve_spread, decode_spread, prefill_spread).
struct SpreadSeries {
  const char* name;
  const char* phase;
  std::vector<double> PointResult::*seconds;
  const char* series;  // the series' name (fill_seconds, ...)
};
const std::vector<SpreadSeries>& spread_series();
double spread_of(const std::vector<double>& seconds);  // max / min; 0 when empty

// Every per-repetition series a point stores (/points/<i>/<name>), in file order.
struct RepetitionSeries {
  const char* name;
  std::vector<double> PointResult::*seconds;
  bool always;  // stored even when empty (fill and retrieve)
  const char* units = "s";  // per-layer figures (KVSIM_LAYERS) are no seconds
};
const std::vector<RepetitionSeries>& repetition_series();

// Above this spread a point's timings are called unstable (printed and stored as a warning).
constexpr double kUnstableSpread = 1.5;

}  // namespace kvsim
