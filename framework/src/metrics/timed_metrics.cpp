#include "metrics/timed_metrics.hpp"

#include <algorithm>

namespace kvsim {

const std::vector<TimedMetric>& timed_metrics() {
  static const std::vector<TimedMetric> v{
#define KVSIM_TIMED(name, units, kind, better, series, work, doc)                      \
  {#name,                                                                              \
   units,                                                                              \
   #series,                                                                            \
   &PointResult::series,                                                               \
   Kind::kind == Kind::rate,                                                           \
   []([[maybe_unused]] const PointResult& r) { return double work; },                  \
   Better::better},
#include "metrics/metrics.def"
  };
  return v;
}

TimedRange timed_range(const TimedMetric& m, const PointResult& r) {
  const std::vector<double>& s = r.*m.seconds;
  if (s.empty()) return {};
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const double a = timed_value(m, r, *lo), b = timed_value(m, r, *hi);
  return {std::min(a, b), std::max(a, b)};
}

const std::vector<RepetitionSeries>& repetition_series() {
  static const std::vector<RepetitionSeries> v{
#define KVSIM_SERIES(name, phase, always, spread, doc) {#name, &PointResult::name, always},
#define KVSIM_LAYERS(name, of, units, doc) {#name, &PointResult::name, false, units},
#include "metrics/metrics.def"
  };
  return v;
}

const std::vector<SpreadSeries>& spread_series() {
  static const std::vector<SpreadSeries> v = [] {
    std::vector<SpreadSeries> out;
#define KVSIM_SERIES(name, phase, always, spread, doc) \
  if (spread) out.push_back({#phase "_spread", #phase, &PointResult::name, #name});
#include "metrics/metrics.def"
    return out;
  }();
  return v;
}

double spread_of(const std::vector<double>& seconds) {
  if (seconds.empty()) return 0.0;
  const auto [lo, hi] = std::minmax_element(seconds.begin(), seconds.end());
  return *lo > 0 ? *hi / *lo : 0.0;
}

}  // namespace kvsim
