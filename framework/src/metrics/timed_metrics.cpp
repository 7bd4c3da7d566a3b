#include "metrics/timed_metrics.hpp"

#include <algorithm>

namespace kvsim {

namespace {
double tokens(const PointResult& r) { return double(r.config.decode_tokens); }
double ms_per_token(const PointResult& r) { return r.config.decode_tokens > 0 ? 1e3 / tokens(r) : 0.0; }
}  // namespace

const std::vector<TimedMetric>& timed_metrics() {
  using P = PointResult;
  static const std::vector<TimedMetric> v{
      {"fill_positions_per_s", "positions/s", "fill_seconds", &P::fill_seconds, true,
       [](const P& r) { return double(r.appended_positions); }},
      {"fill_GBps", "GB/s", "fill_seconds", &P::fill_seconds, true, [](const P& r) { return double(r.fill_bytes) / 1e9; }},
      {"retrieve_ops_per_s", "ops/s", "retrieve_seconds", &P::retrieve_seconds, true,
       [](const P& r) { return double(r.config.model.layers); }},
      {"retrieve_GBps", "GB/s", "retrieve_seconds", &P::retrieve_seconds, true,
       [](const P& r) { return double(r.retrieve_bytes) / 1e9; }},
      {"tokens_per_s", "tokens/s", "decode_seconds", &P::decode_seconds, true, tokens},
      {"append_ms", "ms/token", "append_seconds", &P::append_seconds, false, ms_per_token},
      {"attention_ms", "ms/token", "attention_seconds", &P::attention_seconds, false, ms_per_token},
      {"weights_ms", "ms/token", "weights_seconds", &P::weights_seconds, false, ms_per_token},
      {"attention_GBps", "GB/s", "attention_seconds", &P::attention_seconds, true,
       [](const P& r) { return double(r.attention_bytes) * tokens(r) / 1e9; }},
      {"prefill_ms", "ms/chunk", "prefill_seconds", &P::prefill_seconds, false, [](const P&) { return 1e3; }},
      {"prefill_TFLOPs", "TFLOP/s", "prefill_seconds", &P::prefill_seconds, true,
       [](const P& r) { return r.prefill_ms > 0 ? r.prefill_TFLOPs * r.prefill_ms * 1e-3 : 0.0; }},
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
  // The distinct series of the timed metrics, in their order.
  static const std::vector<RepetitionSeries> v = [] {
    std::vector<RepetitionSeries> out;
    for (const TimedMetric& m : timed_metrics()) {
      const bool seen = std::any_of(out.begin(), out.end(), [&](const RepetitionSeries& s) { return s.seconds == m.seconds; });
      if (!seen)
        out.push_back({m.series, m.seconds, m.seconds == &PointResult::fill_seconds || m.seconds == &PointResult::retrieve_seconds});
    }
    return out;
  }();
  return v;
}

const std::vector<SpreadSeries>& spread_series() {
  static const std::vector<SpreadSeries> v{{"fill_spread", "fill", &PointResult::fill_seconds},
                                           {"retrieve_spread", "retrieve", &PointResult::retrieve_seconds},
                                           {"decode_spread", "decode", &PointResult::decode_seconds},
                                           {"prefill_spread", "prefill", &PointResult::prefill_seconds}};
  return v;
}

double spread_of(const std::vector<double>& seconds) {
  if (seconds.empty()) return 0.0;
  const auto [lo, hi] = std::minmax_element(seconds.begin(), seconds.end());
  return *lo > 0 ? *hi / *lo : 0.0;
}

}  // namespace kvsim
